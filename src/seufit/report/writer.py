"""Write the report directory of an analysis, atomically.

Layout of ``DIR``::

    report.html              one self-contained page (figures embedded)
    report.json              every number; byte-identical for the same data, options, seed
    report.txt               the plain-text summary (``str(analysis)``)
    figures/<name>.png|.svg  cross_section, residuals, bootstrap_histograms,
                             bootstrap_pairs, profile, sweep (those that apply)
    bootstrap_draws.npz      every replicate, its counts, seed and configuration

Atomicity: everything is built in a hidden temporary sibling directory
(``.DIR.partial-XXXX``), flushed to disk, and only then renamed to ``DIR``.  An
existing report at ``DIR`` is moved aside first and removed after the rename;
if the rename fails it is put back.  A crash or an interrupt therefore leaves
either the old report, or the new one, or no report, never a half-written
directory under the report's name (at worst a hidden ``.partial`` directory).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .._io import to_jsonable, write_atomic
from ..analysis import SCHEMA, Analysis

__all__ = ["write_report", "ReportError", "is_report_dir", "report_files", "REPORT_FILES"]

REPORT_FILES = ("report.html", "report.json", "report.txt")


class ReportError(ValueError):
    """The report cannot be written where asked (one line, for the command line)."""


def is_report_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a directory holding a seufit analysis report.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    bool
        True when ``path/report.json`` exists and declares the seufit analysis schema.
    """
    p = Path(path) / "report.json"
    try:
        with open(p, encoding="utf-8") as fh:
            head = json.load(fh)
    except (OSError, ValueError):
        return False
    prefix = SCHEMA.split("/")[0]
    return isinstance(head, dict) and str(head.get("schema", "")).startswith(prefix)


def _check_target(target: Path) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise ReportError(f"{target}: exists and is not a directory")
    if any(target.iterdir()) and not is_report_dir(target):
        raise ReportError(f"{target}: exists, is not empty and is not a seufit report; choose "
                          "another output directory or remove it")
    # A report is replaced as a whole: only if the folder holds nothing but report files,
    # so that data or notes someone put beside a report are never deleted.
    own = set(REPORT_FILES) | {"figures", "bootstrap_draws.npz"}
    other = sorted(p.name for p in target.iterdir() if p.name not in own)
    # ... and the same inside figures/: a file put there by hand would go with the report.
    figs = target / "figures"
    if figs.is_dir():
        from .html import FIGURE_ORDER

        known = {f"{k}{ext}" for k in FIGURE_ORDER for ext in (".png", ".svg")}
        other += sorted(f"figures/{p.name}" for p in figs.iterdir() if p.name not in known)
    elif figs.exists():
        other.append("figures (not a directory)")
    if other:
        raise ReportError(f"{target}: holds a seufit report and other files ({', '.join(other[:3])}"
                          f"{', ...' if len(other) > 3 else ''}); choose another output directory")


def _fsync_tree(root: Path) -> None:
    """Flush every file, then every directory, of ``root`` to disk."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        try:
            fd = os.open(dirpath, os.O_RDONLY)
        except OSError:  # pragma: no cover - platforms without directory fds
            continue
        try:
            os.fsync(fd)
        except OSError:  # pragma: no cover
            pass
        finally:
            os.close(fd)


def _commit(tmp: Path, target: Path) -> None:
    """Rename the finished ``tmp`` to ``target``, replacing an old report."""
    if not target.exists():
        os.rename(tmp, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _save_figure(fig, stem: Path, dpi: int) -> tuple[Path, Path]:
    """PNG and SVG of one figure (a seam the crash tests interrupt)."""
    from .figures import save_figure

    png, svg = save_figure(fig, stem, dpi=dpi)
    return png, svg


# Figure groups with a rough relative rendering cost: each group is made by one process
# (the bootstrap pair is built together).
_GROUPS = ((("bootstrap_histograms", "bootstrap_pairs"), 2.2), (("sweep",), 1.1),
           (("cross_section",), 0.9), (("profile",), 0.8), (("residuals",), 0.4))
_PARENT_EXTRA = 0.4  # the parent also writes the draws, report.json and report.txt
_FORKED: dict = {}  # the analysis, inherited by forked workers (never pickled)


def _render_groups(groups: Sequence[tuple[str, ...]], folder: str, dpi: int
                   ) -> tuple[list, dict]:
    """Make and save groups of figures; (key, title, caption) of each, and failures."""
    from .html import make_figures

    a = _FORKED["analysis"]
    meta, failed = [], {}
    for keys in groups:
        figs, bad = make_figures(a, keys)
        failed.update(bad)
        for f in figs:
            _save_figure(f.figure, Path(folder) / f.key, dpi)
            meta.append((f.key, f.title, f.caption))
    return meta, failed


def _partition(keys: Sequence[str], workers: int) -> list[list[tuple[str, ...]]]:
    """Split the figure groups into ``workers`` bins of similar cost; bin 0 is the parent's."""
    cost = {}
    for g, c in _GROUPS:
        g = tuple(k for k in g if k in keys)
        if g:
            cost[g] = c
    for k in keys:
        if not any(k in g for g in cost):
            cost[(k,)] = 1.0
    bins: list[list[tuple[str, ...]]] = [[] for _ in range(max(1, workers))]
    load = [_PARENT_EXTRA] + [0.0] * (len(bins) - 1)
    for g in sorted(cost, key=lambda g: -cost[g]):
        i = min(range(len(bins)), key=lambda j: load[j])
        bins[i].append(g)
        load[i] += cost[g]
    return bins


def _start_workers(bins: list[list[tuple[str, ...]]], folder: Path, dpi: int):
    """Fork one process per non-empty bin after the first; (executor, futures) or None."""
    jobs = [b for b in bins[1:] if b]
    if not jobs:
        return None
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    try:
        ctx = mp.get_context("fork")
        ex = ProcessPoolExecutor(len(jobs), mp_context=ctx)
        futs = [(b, ex.submit(_render_groups, b, str(folder), dpi)) for b in jobs]
    except (ValueError, OSError):  # no fork on this platform, or no process: serial
        return None
    return ex, futs


def _build(a: Analysis, root: Path, command: str | None, dpi: int, workers: int) -> list[str]:
    """Write every file of the report into ``root``; return their relative paths.

    The figures are rendered by ``workers`` processes (this one included): the
    forked workers start first, this process writes the draws and report.json
    and renders its own share, then report.html embeds every PNG.
    """
    from .html import ReportFigure, figure_plan, render_report

    folder = root / "figures"
    folder.mkdir()
    keys, missing = figure_plan(a)
    bins = _partition(keys, workers)
    _FORKED["analysis"] = a
    started = None
    try:
        started = _start_workers(bins, folder, dpi) if workers > 1 else None
        mine = bins[0] if started else [g for b in bins for g in b]
        files: list[str] = ["report.html", "report.json", "report.txt"]
        if a.bootstrap is not None:
            a.bootstrap.save(root / "bootstrap_draws.npz")
        meta, failed = _render_groups(mine, str(folder), dpi)
        for groups, fut in (started[1] if started else []):
            try:
                m, f = fut.result()
            except Exception:  # noqa: BLE001 - a lost worker: redo its share here
                m, f = _render_groups(groups, str(folder), dpi)
            meta += m
            failed.update(f)
    finally:
        # Always wait for the workers: none may write into the directory after it is
        # committed or removed.
        if started:
            started[0].shutdown(wait=True, cancel_futures=True)
        _FORKED.clear()
    missing.update(failed)
    made = {k: (t, c) for k, t, c in meta}
    images: dict[str, bytes] = {}
    figs, fig_meta = [], {}
    for key in keys:
        if key not in made:
            continue
        title, caption = made[key]
        images[key] = (folder / f"{key}.png").read_bytes()
        rel = [f"figures/{key}.png", f"figures/{key}.svg"]
        files += rel
        figs.append(ReportFigure(key, title, caption, None))
        fig_meta[key] = {"title": title, "caption": caption, "png": rel[0], "svg": rel[1]}
    if a.bootstrap is not None:
        files.append("bootstrap_draws.npz")
    record = a.to_dict()
    record["report"] = to_jsonable({"files": files, "figures": fig_meta,
                                    "missing_figures": {k: missing[k] for k in sorted(missing)}})
    write_atomic(root / "report.json", json.dumps(record, indent=2) + "\n")
    write_atomic(root / "report.txt", str(a) + "\n")
    page = render_report(a, images, figures=figs, missing=missing, command=command, files=files)
    write_atomic(root / "report.html", page)
    return files


def write_report(a: Analysis, directory: str | os.PathLike, *, command: str | None = None,
                 dpi: int = 120, workers: int | None = None) -> Path:
    """Write the report directory of an analysis, atomically.

    Parameters
    ----------
    a : Analysis
    directory : path-like
        Target directory.  It may not exist yet (parents are created), be
        empty, or hold an earlier seufit report, which is replaced; anything
        else is refused.
    command : str, optional
        The command line as run, for the reproducibility block of report.html
        (report.json records the canonical reproduction command instead, so
        that it does not depend on the output directory).
    dpi : int
        Resolution of the PNG figures.
    workers : int, optional
        Processes that render the figures, this one included (the others are
        forked, so nothing is pickled; POSIX only).  Default: the number of
        CPUs, at most 4; 1 renders them all here.  The files do not depend on it.

    Returns
    -------
    pathlib.Path
        The report directory.

    Raises
    ------
    ReportError
        ``directory`` is a file, a non-empty directory that is not a report, or
        its parent cannot be written.
    """
    target = Path(directory)
    if target.name in ("", ".", ".."):
        target = target.resolve()
    _check_target(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    except OSError as exc:
        raise ReportError(f"{target}: cannot write the report here "
                          f"({exc.strerror or exc})") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        if workers is None:
            workers = min(os.cpu_count() or 1, 4)
        _build(a, tmp, command, dpi, int(workers))
        _fsync_tree(tmp)
        _check_target(target)  # still safe to replace?
        _commit(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def report_files(directory: str | os.PathLike) -> Sequence[str]:
    """Files listed in a report's ``report.json`` (for tests and tools)."""
    with open(Path(directory) / "report.json", encoding="utf-8") as fh:
        return tuple(json.load(fh)["report"]["files"])
