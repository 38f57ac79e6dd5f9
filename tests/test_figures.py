"""Report figures: files written atomically, PNG decodes, SVG holds the expected elements."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import imread

import seufit
import seufit.report.figures as figures_module
from seufit.gof import goodness_of_fit
from seufit.report.figures import (
    bootstrap_figures,
    cross_section_figure,
    residuals_figure,
    save_figure,
)


def _data(let, events, fluence=1e7):
    let = np.asarray(let, float)
    return seufit.load(pd.DataFrame({"let": let, "fluence": np.broadcast_to(fluence, let.shape),
                                     "events": events, "run": [f"r{i}" for i in range(len(let))]}))


ZERO_LET = [0.5, 1, 2, 5, 10, 20, 40, 60]
ZERO_EV = [0, 0, 3, 0, 30, 60, 80, 85]


@pytest.fixture(scope="module")
def cic():
    return seufit.fit("example:cic_mpa_stubs")


@pytest.fixture(scope="module")
def zeros_excluded():
    return seufit.fit(_data(ZERO_LET, ZERO_EV))


def _ids(svg_text: str, prefix: str) -> set[str]:
    return set(re.findall(rf'id="({prefix}[^"]*)"', svg_text))


def _check_png(path, width_in, height_in, dpi=120):
    img = imread(path)
    h, w = img.shape[:2]
    assert abs(w - width_in * dpi) <= 2 and abs(h - height_in * dpi) <= 2
    assert img[..., :3].std() > 0.05  # not a blank canvas


def test_cross_section_files(tmp_path, cic):
    grid = np.geomspace(1.0, 80.0, 50)
    c = cic.predict(grid)
    fig = cross_section_figure(cic, band=(grid, 0.8 * c, 1.25 * c), cl=0.9,
                               band_label="pointwise 90 % bootstrap band")
    assert isinstance(fig, Figure)
    png, svg = save_figure(fig, tmp_path / "xs")
    assert png.name == "xs.png" and svg.name == "xs.svg"
    _check_png(png, 7.5, 5.2)
    text = svg.read_text()
    assert "exact 90 % two-sided (Garwood) interval" in text
    assert "pointwise 90 % bootstrap band" in text
    assert "Weibull4 fit (Poisson maximum likelihood)" in text
    assert "(at bound)" in text  # w of the CIC fit sits on its upper bound
    # The parameter box gives each value its unit (SVG text keeps the box's lines).
    assert re.search(r"σ_sat = [-0-9.e]+ cm2/device", text)
    assert re.search(r"W = [-0-9.e]+ MeV cm2/mg", text)
    assert _ids(text, "seufit-errorbar-fit-") == {"seufit-errorbar-fit-0"}
    assert not _ids(text, "seufit-upper-limit-")
    # Atomic writes leave no temporary file behind.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xs.png", "xs.svg"]


@pytest.mark.parametrize("zeros, where", [("exclude", "excluded from the fit"),
                                          ("include", "in the fit")])
def test_zero_event_arrows(tmp_path, zeros, where):
    r = seufit.fit(_data(ZERO_LET, ZERO_EV), zeros=zeros)
    _, svg = save_figure(cross_section_figure(r), tmp_path / f"z_{zeros}")
    text = svg.read_text()
    # One arrow per zero-event run, at the indices of the zero runs.
    assert _ids(text, "seufit-upper-limit-[0-9]") == {f"seufit-upper-limit-{i}"
                                                      for i in (0, 1, 3)}
    assert f"95 % two-sided upper limit (3.69/fluence), {where}" in text


def test_no_curve_figure(tmp_path):
    r = seufit.fit(_data([1.0, 5.0, 20.0, 60.0], [0, 0, 0, 0]))
    fig = cross_section_figure(r)
    png, svg = save_figure(fig, tmp_path / "none")
    _check_png(png, 7.5, 5.2)
    text = svg.read_text()
    assert "no curve fitted" in text and len(_ids(text, "seufit-upper-limit-[0-9]")) == 4
    assert "maximum likelihood" not in text


def test_band_validation(cic):
    with pytest.raises(ValueError):
        cross_section_figure(cic, band=(np.arange(3.0), np.ones(2), np.ones(3)))
    with pytest.raises(ValueError):
        cross_section_figure(cic, cl=95)


def test_residuals_figure(tmp_path, cic, zeros_excluded):
    png, svg = save_figure(residuals_figure(goodness_of_fit(cic)), tmp_path / "res")
    _check_png(png, 7.5, 4.0)
    text = svg.read_text()
    assert "run 2" in text  # the flagged run is labelled
    assert "deviance 14.6 on 6 dof" in text
    _, svg = save_figure(residuals_figure(goodness_of_fit(zeros_excluded)), tmp_path / "res0")
    text = svg.read_text()
    assert "runs not in the fit" in text and "r3 (not fitted)" in text


def test_bootstrap_figures(tmp_path, cic):
    rng = np.random.default_rng(0)
    draws = cic.theta * (1 + 0.1 * rng.standard_normal((6000, 4)))
    draws[:10, 2] = np.nan  # failed replicates are dropped
    intervals = {"s": (0.6, 0.8), "w": (100.0, 140.0)}
    hist, pairs = bootstrap_figures(draws, cic.names, cic.theta, intervals,
                                    interval_label="95 % percentile", units=cic._units())
    assert len(hist.axes) == 4 and len(pairs.axes) == 16
    # The scatter panels show a subsample of at most 5000 points.
    scat = [ln for ax in pairs.axes for ln in ax.get_lines() if ln.get_marker() == "."]
    assert len(scat) == 6 and all(len(ln.get_xdata()) == 5000 for ln in scat)
    h_png, h_svg = save_figure(hist, tmp_path / "hist")
    p_png, p_svg = save_figure(pairs, tmp_path / "pairs")
    _check_png(h_png, 8.0, 5.8)
    assert imread(p_png).shape[0] > 800
    htext = h_svg.read_text()
    assert "95 % percentile" in htext and "5990 replicates" in htext
    assert "cm²/device" in htext
    ptext = p_svg.read_text()
    assert len(re.findall(r"r = [+-]\d\.\d\d", ptext)) == 6
    assert "5000 of 5990 replicates shown" in ptext


def test_bootstrap_pairs_share_axes():
    # Outliers of "b" sit in the full draws but (with a 60-point subsample) not in the
    # scatters; the interval of "c" is wider than its draws.  Every panel of a column must
    # still read off the same x range and every scatter of a row the same y range.
    rng = np.random.default_rng(3)
    draws = np.column_stack([rng.normal(1.0, 0.1, 3000), rng.normal(5.0, 0.2, 3000),
                             rng.normal(-2.0, 0.05, 3000)])
    draws[[7, 1500, 2999], 1] = [9.0, 9.5, 1.0]
    draws[11, 0] = np.inf  # dropped with its row
    mle = np.array([1.02, 5.1, -2.0])
    intervals = {"a": (0.8, 1.2), "b": (4.6, 5.4), "c": (-2.5, -1.1)}
    _, pairs = bootstrap_figures(draws, ["a", "b", "c"], mle, intervals, max_points=60)
    p = 3
    axes = np.array(pairs.axes).reshape(p, p)
    pairs.canvas.draw()  # final layout: tick positions as drawn
    finite = draws[np.all(np.isfinite(draws), axis=1)]
    for k in range(p):
        col = [axes[i, k] for i in range(k, p)]
        xlim = col[0].get_xlim()
        assert all(ax.get_xlim() == xlim for ax in col)
        # The bottom row's tick labels hold for the whole column.
        assert all(np.array_equal(ax.get_xticks(), col[-1].get_xticks()) for ax in col)
        row = [axes[k, j] for j in range(k)]
        assert all(ax.get_ylim() == axes[k, 0].get_ylim() for ax in row)
        assert all(np.array_equal(ax.get_yticks(), axes[k, 0].get_yticks()) for ax in row)
        marked = np.r_[finite[:, k], mle[k], intervals["abc"[k]]]
        lims = [xlim] + [axes[k, j].get_ylim() for j in range(k)]
        for lo, hi in lims:
            assert lo < marked.min() and marked.max() < hi
    # The diagonal histograms keep their own count axis.
    assert axes[1, 1].get_ylim() != axes[1, 0].get_ylim()


def test_bootstrap_figures_validation():
    with pytest.raises(ValueError):
        bootstrap_figures(np.ones((10, 3)), ["a", "b"])
    with pytest.raises(ValueError):
        bootstrap_figures(np.full((10, 2), np.nan), ["a", "b"])


def test_save_figure_suffix_and_reproducible(tmp_path, cic):
    fig = cross_section_figure(cic)
    a = save_figure(fig, tmp_path / "a.png")
    assert [p.name for p in a] == ["a.png", "a.svg"]
    b = save_figure(fig, str(tmp_path / "sub" / "b"))  # folders are created
    assert a[1].read_bytes() == b[1].read_bytes()  # no timestamp, fixed ids
    assert a[0].read_bytes() == b[0].read_bytes()


def test_no_pyplot_state(cic):
    # pyplot keeps global figure state: the module must neither import nor need it.
    tree = ast.parse(Path(figures_module.__file__).read_text(encoding="utf-8"))
    imported = {n.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for n in node.names}
    imported |= {node.module or "" for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert not any("pyplot" in name for name in imported)
    assert isinstance(cross_section_figure(cic).canvas, FigureCanvasAgg)
