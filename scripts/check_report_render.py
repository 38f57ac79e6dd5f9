#!/usr/bin/env python3
"""Open a seufit report.html in headless Chromium and check that it renders.

Usage::

    python scripts/check_report_render.py REPORT_DIR [--screenshot out.png] [--chromium PATH]

Chromium (Debian's ``chromium`` package) loads ``REPORT_DIR/report.html`` from
the file system with networking, sync and component updates off, runs the
page's own script and dumps the DOM.  The page's script sets, once the window
has loaded, ``data-render="ok"`` on ``<body>`` when every ``<img>`` decoded
(``naturalWidth > 0``), and the counts ``data-images-total``,
``data-images-loaded`` and ``data-tables``.  The check passes when the
render mark is ``ok``, at least one image and the expected tables are there,
and the DOM holds the report's sections.

Exit codes: 0 rendered, 1 a check failed, 2 bad usage or Chromium missing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SECTIONS = ("result", "checks", "decisions", "gof", "intervals", "bootstrap", "likelihood",
            "data", "repro")
MIN_TABLES = 6  # result or limits, data checks, fit checks, decisions, options, versions
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


@dataclass
class RenderResult:
    """Outcome of one render check."""

    ok: bool
    render: str | None
    images_total: int
    images_loaded: int
    tables: int
    problems: list[str] = field(default_factory=list)
    screenshot: Path | None = None

    def summary(self) -> str:
        """One line for the terminal."""
        state = "OK" if self.ok else "FAILED"
        text = (f"render check {state}: mark {self.render!r}, images "
                f"{self.images_loaded}/{self.images_total} decoded, {self.tables} tables")
        if self.problems:
            text += "; " + "; ".join(self.problems)
        return text


def find_chromium(explicit: str | None = None) -> str | None:
    """Path of a Chromium binary, or None."""
    if explicit:
        return explicit if Path(explicit).exists() or shutil.which(explicit) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _flags(profile: Path) -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--virtual-time-budget=10000"]


def _attr(dom: str, name: str) -> str | None:
    m = re.search(r"<body[^>]*\s" + re.escape(name) + r'="([^"]*)"', dom)
    return m.group(1) if m else None


def _crop(path: Path) -> None:
    """Cut the blank space below the page off a screenshot (needs Pillow; else kept)."""
    try:
        from PIL import Image, ImageChops
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return
    if not path.is_file():
        return
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    bg = Image.new("RGB", rgb.size, rgb.getpixel((rgb.width - 1, rgb.height - 1)))
    box = ImageChops.difference(rgb, bg).getbbox()
    if box and box[3] < rgb.height:
        rgb.crop((0, 0, rgb.width, min(rgb.height, box[3] + 20))).save(path)


def check_report(report_dir: str | Path, *, screenshot: str | Path | None = None,
                 chromium: str | None = None, timeout: float = 120.0,
                 height: int = 14000) -> RenderResult:
    """Render ``report_dir/report.html`` headless and check tables and images.

    Parameters
    ----------
    report_dir : path
        A directory written by ``seufit analyze``.
    screenshot : path, optional
        Also write a PNG screenshot there, 1280 px wide and ``height`` px tall
        (tall enough for the whole report; the blank bottom is cropped when
        Pillow is available).
    chromium : str, optional
        The browser binary (default: the first of chromium, chromium-browser,
        google-chrome on the PATH).
    timeout : float
        Seconds per Chromium run.
    height : int
        Window height of the screenshot.

    Returns
    -------
    RenderResult

    Raises
    ------
    FileNotFoundError
        No report.html, or no Chromium.
    """
    page = Path(report_dir) / "report.html"
    if not page.is_file():
        raise FileNotFoundError(f"{page}: no such file")
    binary = find_chromium(chromium)
    if binary is None:
        raise FileNotFoundError("no Chromium found (Debian: apt-get install chromium)")
    url = page.resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="seufit-chromium-") as prof:
        proc = subprocess.run([binary, *_flags(Path(prof)), "--dump-dom", url],
                              capture_output=True, text=True, timeout=timeout, check=False)
        dom = proc.stdout
        shot = None
        if screenshot is not None:
            shot = Path(screenshot).resolve()
            # Tall window: the whole report in one image.
            subprocess.run([binary, *_flags(Path(prof)), f"--screenshot={shot}",
                            f"--window-size=1280,{int(height)}", url], capture_output=True,
                           text=True, timeout=timeout, check=False)
            _crop(shot)
    problems = []
    if proc.returncode != 0 or not dom.strip():
        problems.append(f"chromium exited with {proc.returncode}: "
                        + (proc.stderr.strip().splitlines() or ["no output"])[-1])
    render = _attr(dom, "data-render")
    total = int(_attr(dom, "data-images-total") or 0)
    loaded = int(_attr(dom, "data-images-loaded") or 0)
    tables = int(_attr(dom, "data-tables") or 0)
    if render != "ok":
        problems.append(f"page script reports {render!r}" if render else
                        "the page script did not run (no data-render mark)")
    if total < 1:
        problems.append("no image in the page")
    if loaded != total:
        problems.append(f"{total - loaded} image(s) did not decode")
    if tables < MIN_TABLES:
        problems.append(f"only {tables} tables (expected at least {MIN_TABLES})")
    missing = [s for s in SECTIONS if f'id="{s}"' not in dom]
    if missing:
        problems.append("missing sections: " + ", ".join(missing))
    if screenshot is not None and (shot is None or not shot.is_file()):
        problems.append("no screenshot written")
    return RenderResult(ok=not problems, render=render, images_total=total,
                        images_loaded=loaded, tables=tables, problems=problems,
                        screenshot=shot)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report_dir", help="directory written by seufit analyze")
    ap.add_argument("--screenshot", help="write a full-page PNG screenshot here")
    ap.add_argument("--chromium", help="Chromium binary (default: found on the PATH)")
    ap.add_argument("--height", type=int, default=14000, help="screenshot height in pixels")
    args = ap.parse_args(argv)
    try:
        res = check_report(args.report_dir, screenshot=args.screenshot, chromium=args.chromium,
                           height=args.height)
    except FileNotFoundError as exc:
        print(f"check_report_render: {exc}", file=sys.stderr)
        return 2
    print(res.summary())
    if res.screenshot:
        print(f"screenshot: {res.screenshot}")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
