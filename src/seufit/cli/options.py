"""Options shared by several commands."""

from __future__ import annotations

import math
import os
from pathlib import Path

import click

from ..data import example_path, load
from ..fit import FitResult


def _first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (the writer creates the rest); a
    dangling symlink counts as existing (nothing can be created through it)."""
    while not (path.exists() or path.is_symlink()) and path != path.parent:
        path = path.parent
    return path


def _check_parent(parent: Path, value: str, verb: str) -> None:
    """Fail before any work when ``value`` cannot be made in ``parent``: checked at parse
    time, a bad output name costs the user a one-line error, not a finished run."""
    base = _first_existing(parent)
    if not base.is_dir():
        raise click.BadParameter(f"cannot {verb} {value}: {base} is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise click.BadParameter(f"cannot {verb} {value}: no permission in {base}")


def output_file(suffixes: tuple[str, ...] = ()):
    """Click callback for an output file: not a directory, creatable, and (if given) one
    of ``suffixes``."""

    def check(ctx, param, value):
        if value is None:
            return value
        path = Path(value)
        # "out/" names a directory even before it exists (Path would drop the slash).
        if path.is_dir() or value.endswith(("/", os.sep)):
            raise click.BadParameter(f"{value} names a directory, not a file")
        if suffixes and path.suffix.lower() not in suffixes:
            raise click.BadParameter(f"{value}: the file name must end in "
                                     + (" or ".join(suffixes) if len(suffixes) < 3 else
                                        "one of " + ", ".join(suffixes)))
        _check_parent(path.parent, value, "write")
        return value

    return check


def output_dir(ctx, param, value):
    """Click callback for an output directory: not a file, creatable."""
    if value is None:
        return value
    path = Path(value)
    if (path.exists() or path.is_symlink()) and not path.is_dir():
        raise click.BadParameter(f"{value} exists and is not a directory")
    # The report is built next to its target and renamed into place: the parent must be
    # writable, even when the target exists already.
    _check_parent(path.resolve().parent if path.exists() else path.parent, value, "create")
    return value


def _finite_level(ctx, param, value):
    # FloatRange lets NaN through (every comparison with it is False).
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number between 0 and 1")
    return value


data_argument = click.argument("data", metavar="DATA")
zeros_option = click.option(
    "--zeros", type=click.Choice(["exclude", "include"]), default="exclude", show_default=True,
    help="Zero-event runs: left out and reported as upper limits, or kept in the likelihood.")
cl_option = click.option(
    "--cl", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
    show_default=True, callback=_finite_level, help="Confidence level.")
tilt_option = click.option(
    "--no-tilt", "no_tilt", is_flag=True,
    help="Do not apply the tilt correction (LET/cos, fluence*cos).")
json_option = click.option("--json", "json_path", type=click.Path(), callback=output_file(),
                           help="Write the result as JSON to this file.")
seed_option = click.option(
    "--seed", type=click.IntRange(min=0), default=None,
    help="Seed of every random draw; a fresh one is drawn and recorded when omitted.")
# Upper limits of the sample counts: far above any use (the articles' bootstrap takes
# 20,000 replicates, the sweep 1e6 samples), so that a typo (-n 1e12) fails at once
# instead of running for hours.  A sweep keeps every sample (~40 bytes each: 4 GB at the
# cap), so a smaller machine can still run out of memory: that is one line too.
MAX_BOOT = 10_000_000
MAX_SWEEP = 100_000_000


def n_boot_zero_or_range(ctx: click.Context, param: click.Parameter,
                         value: int | None) -> int | None:
    """``analyze --n-boot``: 0 (no bootstrap) or 20 to :data:`MAX_BOOT`, checked at parse
    time like ``bootstrap -n``."""
    if value is not None and value != 0 and not 20 <= value <= MAX_BOOT:
        raise click.BadParameter(f"must be 0 (no bootstrap) or from 20 to {MAX_BOOT:,}, "
                                 f"got {value}")
    return value


def _jobs(ctx, param, value):
    if value is not None and value != -1 and value < 1:
        raise click.BadParameter(f"must be -1 (all cores) or a positive number, got {value}")
    return value


jobs_option = click.option(
    "--jobs", type=int, default=1, show_default=True, callback=_jobs,
    help="Parallel workers of the bootstrap (-1: all cores); results are identical for any value.")


def read(data: str, no_tilt: bool):
    return load(data, tilt=not no_tilt)


def _same(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:  # hard links, bind mounts
        return os.path.samefile(a, b)
    except OSError:
        return False


def distinct_outputs(data: str, **outputs: str | None) -> None:
    """Refuse output files that are the input data or one another, before any work.

    ``outputs`` maps option names (``json``, ``csv``, ...) to the paths given (None:
    not asked for).  Writing one over the data would destroy the measurement; two
    outputs on one path would leave only the last one, silently.
    """
    given = [(f"--{k.replace('_', '-')}", Path(v)) for k, v in outputs.items() if v]
    src = example_path(data) if data.startswith("example:") else Path(data)
    for i, (opt, path) in enumerate(given):
        if _same(path, src):
            raise click.UsageError(f"{opt} {path} is the input data file; choose another name")
        for opt2, path2 in given[:i]:
            if _same(path, path2):
                raise click.UsageError(f"{opt2} and {opt} name the same file ({path}); give "
                                       "each output its own name")


def fit_context(fr: FitResult) -> list[str]:
    """Lines saying which fit a bootstrap, profile or sweep starts from, and every note
    of the data and the fit (skipped comment lines, duplicate rows, tilt, a bound...):
    the commands built on a fit must not hide what ``seufit fit`` would say."""
    n_fit = int(fr.fit_mask.sum())
    line = (f"fit: {fr.variant} MLE, NLL {fr.nll:.6f}; {n_fit} of {fr.data.n_runs} runs in "
            "the likelihood")
    if n_fit < fr.data.n_runs:
        line += f" ({fr.data.n_runs - n_fit} zero-event run(s) left out: zeros={fr.zeros})"
    return [line] + [f"note: {m}" for m in fr.messages]


def with_fit_messages(result: dict, fr: FitResult) -> dict:
    """A result's JSON with the notes of its data and fit under ``fit_messages``."""
    return {**result, "fit_messages": list(fr.messages)}
