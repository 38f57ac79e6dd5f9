"""The report directory: contents, self-contained HTML, reproducibility, atomic writing, render."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import seufit
import seufit.report.html as html_module
from seufit.analysis import analyze
from seufit.report.writer import ReportError, is_report_dir, report_files, write_report

FAST = {"n_boot": 300, "n_sweep": 20_000}
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_report_render.py"


@pytest.fixture(scope="module")
def cic():
    return analyze("example:cic_mpa_stubs", seed=21, **FAST)


@pytest.fixture(scope="module")
def report(cic, tmp_path_factory):
    return write_report(cic, tmp_path_factory.mktemp("rep") / "cic",
                        command="seufit analyze example:cic_mpa_stubs -o cic --seed 21")


@pytest.fixture(scope="module")
def small():
    """A fitted analysis with two figures only: quick to write."""
    return analyze("example:mle_article", seed=2, n_boot=0, profile=False)


@pytest.fixture(scope="module")
def all_zero_report(tmp_path_factory):
    d = seufit.load(pd.DataFrame({"let": [1.0, 5, 10, 20], "fluence": 1e7,
                                  "events": [0, 0, 0, 0]}))
    return write_report(analyze(d, seed=1, **FAST), tmp_path_factory.mktemp("rep") / "zero")


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def test_directory_contents(report):
    listed = set(report_files(report))
    assert listed == _files(report)
    for f in ("report.html", "report.json", "report.txt", "bootstrap_draws.npz"):
        assert f in listed
    for key in html_module.FIGURE_ORDER:
        png = (report / "figures" / f"{key}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert (report / "figures" / f"{key}.svg").read_text()[:200].find("<svg") >= 0
    assert is_report_dir(report)
    draws = seufit.load_bootstrap(report / "bootstrap_draws.npz")
    assert draws.seed == 21 and draws.n_boot == 300


def test_json_has_every_number(report, cic):
    d = json.loads((report / "report.json").read_text())
    assert d["seed"] == 21 and d["verdict"]["status"] == cic.status
    assert d["bootstrap"]["n_boot"] == 300
    assert d["bootstrap"]["acceleration"]["method"] == "regression"
    assert d["fit"]["parameters"]["w"]["value"] == pytest.approx(cic.params["w"])
    assert set(d["report"]["figures"]) == set(html_module.FIGURE_ORDER)
    assert d["report"]["missing_figures"] == {}
    assert str(report) not in (report / "report.json").read_text()  # no absolute paths


def test_html_is_self_contained(report):
    page = (report / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from outside
    assert "<link" not in page and "@import" not in page
    assert page.count('src="data:image/png;base64,') == len(html_module.FIGURE_ORDER)
    # Checks coloured by status, decisions with reasons, the chosen interval marked.
    assert 'class="s-WARNING"' in page and 'class="s-PASS"' in page
    assert "<style>" in page and "--fail" in page
    assert "★" in page and 'class="chosen"' in page
    for dec in ("curve", "zeros", "variant", "bootstrap", "interval", "goodness_of_fit"):
        assert f'<td class="mono">{dec}</td>' in page
    assert "BCa acceleration a" in page and "slopes from the regression" in page
    # Reproducibility block.
    for part in ("seed", "21", "input sha256", "Command line as run",
                 "seufit analyze example:cic_mpa_stubs -o cic --seed 21", "numpy", "matplotlib",
                 "--seed 21 --n-boot 300 --n-sweep 20000"):
        assert part in page, part
    sha = json.loads((report / "report.json").read_text())["input"]["sha256"]
    assert sha in page


def test_all_zero_report(all_zero_report):
    page = (all_zero_report / "report.html").read_text()
    assert "No curve can be fitted" in page and "upper limits" in page
    assert "the runs pooled at and above each LET (dashed staircase)" in page
    d = json.loads((all_zero_report / "report.json").read_text())
    assert d["report"]["figures"].keys() == {"cross_section"}
    assert "bootstrap_pairs" in d["report"]["missing_figures"]
    assert "bootstrap_draws.npz" not in report_files(all_zero_report)


def test_same_seed_same_bytes(report, tmp_path):
    again = analyze("example:cic_mpa_stubs", seed=21, **FAST)
    b = write_report(again, tmp_path / "b", workers=2,
                     command="seufit analyze example:cic_mpa_stubs -o cic --seed 21")
    files = sorted(_files(report))
    assert "bootstrap_draws.npz" in files  # the archive too (no zip timestamps)
    for f in files:
        assert (report / f).read_bytes() == (b / f).read_bytes(), f


def test_write_is_atomic(small, tmp_path, monkeypatch):
    target = tmp_path / "out"

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(html_module, "render_report", boom)
    with pytest.raises(RuntimeError):
        write_report(small, target, workers=1)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # no partial directory left behind
    monkeypatch.undo()

    write_report(small, target, workers=1)
    before = {f: (target / f).read_bytes() for f in _files(target)}
    monkeypatch.setattr(html_module, "render_report", boom)
    with pytest.raises(RuntimeError):
        write_report(small, target, workers=1)
    assert {f: (target / f).read_bytes() for f in _files(target)} == before  # old one intact
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_interrupt_while_figures_render(small, tmp_path, monkeypatch):
    import seufit.report.writer as writer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "_save_figure", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(small, tmp_path / "out", workers=1)
    assert list(tmp_path.iterdir()) == []


def test_interrupt_with_figure_workers_running(cic, tmp_path, monkeypatch):
    from seufit.uncertainty.bootstrap import BootstrapResult

    def interrupted(self, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(BootstrapResult, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(cic, tmp_path / "out", workers=2)
    time.sleep(0.2)  # a stray worker would write here now
    assert list(tmp_path.iterdir()) == []


def test_replaces_a_report_refuses_other_directories(small, tmp_path):
    out = write_report(small, tmp_path / "r", workers=1)
    write_report(small, out, workers=1)  # a report is replaced as a whole
    assert is_report_dir(out)
    # ... but never together with files that are not the report's: they are kept.
    (out / "mydata.csv").write_text("let,fluence,events\n")
    with pytest.raises(ReportError, match="other files"):
        write_report(small, out, workers=1)
    assert (out / "mydata.csv").exists()
    (out / "mydata.csv").unlink()
    # ... nor with such a file inside figures/ (the figures go with the report).
    (out / "figures" / "base.csv").write_text("let,fluence,events\n")
    with pytest.raises(ReportError, match="figures/base.csv"):
        write_report(small, out, workers=1)
    assert (out / "figures" / "base.csv").exists()
    (out / "figures" / "base.csv").unlink()
    write_report(small, out, workers=1)  # its own figures alone: replaced
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(ReportError, match="not a seufit report"):
        write_report(small, other)
    assert (other / "notes.txt").read_text() == "keep me"
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(ReportError, match="not a directory"):
        write_report(small, afile)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert is_report_dir(write_report(small, empty, workers=1))


def test_failed_figure_is_reported_not_fatal(small, tmp_path, monkeypatch):
    import seufit.report.figures as figures

    def broken(*args, **kwargs):
        raise RuntimeError("no residual plot today")

    monkeypatch.setattr(figures, "residuals_figure", broken)
    out = write_report(small, tmp_path / "r", workers=1)
    d = json.loads((out / "report.json").read_text())
    assert "no residual plot today" in d["report"]["missing_figures"]["residuals"]
    assert list(d["report"]["figures"]) == ["cross_section"]
    assert not (out / "figures" / "residuals.png").exists()
    assert "<img" in (out / "report.html").read_text()


def _load_script():
    if "check_report_render" in sys.modules:
        return sys.modules["check_report_render"]
    spec = importlib.util.spec_from_file_location("check_report_render", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["check_report_render"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_render_in_headless_chromium(report, all_zero_report, tmp_path):
    check = _load_script()
    if check.find_chromium() is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium); the headless "
                    "render check needs it")
    res = check.check_report(report, screenshot=tmp_path / "shot.png")
    assert res.ok, res.summary()
    assert res.images_total == res.images_loaded == len(html_module.FIGURE_ORDER)
    assert res.tables >= 10 and res.screenshot.stat().st_size > 10_000
    zero = check.check_report(all_zero_report)
    assert zero.ok, zero.summary()


def test_render_check_detects_a_broken_image(report, tmp_path):
    check = _load_script()
    if check.find_chromium() is None:
        pytest.skip("chromium not installed (Debian: apt-get install chromium)")
    broken = tmp_path / "broken"
    broken.mkdir()
    page = (report / "report.html").read_text()
    page = page.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1)
    (broken / "report.html").write_text(page)
    res = check.check_report(broken)
    assert not res.ok and res.images_loaded == res.images_total - 1


def test_units_per_bit_in_report(tmp_path):
    rng = np.random.default_rng(4)
    let = np.array([2.0, 5, 10, 20, 40, 60, 80])
    lam = 1e-9 * -np.expm1(-((let - 1) / 15) ** 1.5) * 1e7 * 1e4
    d = seufit.load(pd.DataFrame({"let": let, "fluence": 1e7, "events": rng.poisson(lam),
                                  "bits": 1e4}))
    out = write_report(analyze(d, seed=1, n_boot=0, profile=False), tmp_path / "bit",
                       workers=1)
    page = (out / "report.html").read_text()
    assert "cm2/bit" in page
    # The bit count behind "per bit" is in the runs table and the JSON, and the exposure
    # (fluence x bits) reproduces each cross-section.
    assert "<th>bits</th>" in page and "σ per bit = events / (fluence × bits)" in page
    runs = json.loads((out / "report.json").read_text())["input"]["runs"]
    for r in runs:
        assert r["bits"] == 1e4 and r["exposure"] == pytest.approx(r["fluence"] * 1e4)
        assert r["cross_section"] == pytest.approx(r["events"] / r["exposure"], rel=1e-12)


def test_tilted_runs_show_logged_and_effective_fluence(report, cic):
    # Run 3 of cic_mpa_stubs: Ne at 30 degrees, logged fluence 3.81e6, effective 3.30e6.
    page = (report / "report.html").read_text()
    assert "fluence (logged)" in page and "fluence (effective)" in page
    row = json.loads((report / "report.json").read_text())["input"]["runs"][2]
    assert row["angle"] == 30 and row["fluence_nominal"] == 3810000
    assert row["fluence"] == pytest.approx(3810000 * np.cos(np.radians(30)), rel=1e-12)


def test_cross_section_caption_explains_a_band_that_falls_to_zero(cic):
    # bootstrap_article: its lowest LET with events sits below the threshold of more than
    # 2.5 % of the replicate fits, so the band's lower edge is 0 there.
    art = analyze("example:bootstrap_article", seed=1, n_boot=2000, profile=False,
                  n_sweep=0)
    lo = np.asarray(art.bootstrap.band["low"])
    assert (lo == 0).any()
    cap = html_module.make_figure(art, "cross_section").caption
    assert "where 1 run(s) had events, the band's lower edge is 0" in cap
    assert "at least 2.5 % of the replicate fits" in cap
    # cic_mpa_stubs: a lower edge of 0 only below its lowest LET with events: no note.
    b = cic.bootstrap.band
    lmin_hit = cic.data.let[cic.data.events > 0].min()
    zero = np.asarray(b["low"]) == 0
    assert zero.any() and np.asarray(b["let"])[zero].max() < lmin_hit
    assert "lower edge is 0" not in html_module.make_figure(cic, "cross_section").caption


def test_result_section_gives_sigma_at_the_top_let_and_the_caveats(report, cic):
    page = (report / "report.html").read_text()
    result = page[page.index('<section id="result">'):page.index("</section>",
                                                               page.index('id="result"'))]
    assert "sigma at the highest tested LET (" in result
    assert "Caveats on these intervals." in result and "w at its upper bound" in result
