"""The fmin + Delta Monte Carlo sweep: envelope, reproducibility, warnings, export, plots."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import seufit
from seufit.uncertainty.profile import ONE_SIGMA, fit_xy, profile
from seufit.uncertainty.sweep import SweepResult, SweepWarning, samples_needed, sweep

EXAMPLES = ("cic_mpa_stubs", "mle_article", "bootstrap_article")
X = np.arange(10.0, 151.0)
LINEAR = seufit.UserModel(names=("a", "b"), func=lambda x, t: t[:, :1] * x + t[:, 1:2],
                          bounds=([-1.0, -50.0], [1.0, 80.0]))


@pytest.fixture(scope="module")
def fits():
    return {ex: seufit.fit(f"example:{ex}") for ex in EXAMPLES}


@pytest.fixture(scope="module")
def linear():
    return fit_xy(X, np.random.default_rng(21).poisson(0.1 * X + 10), LINEAR)


@pytest.mark.parametrize("ex", EXAMPLES)
def test_envelope_inside_profile_and_close_to_it(ex, fits):
    """No sample under the threshold may lie outside the exact profile interval, and
    2e5 Latin-hypercube samples in the default box already cover 85 % of it."""
    res = sweep(fits[ex], 200_000, method="lhs", seed=1)
    prof = res.profile
    assert prof is not None and res.box_source == "profile"
    tol = 1e-9 * np.maximum(np.abs(prof.ci_high), 1.0)
    assert np.all(res.ci_low >= prof.ci_low - tol)
    assert np.all(res.ci_high <= prof.ci_high + tol)
    assert np.all(res.coverage >= 0.85), res.coverage
    assert res.n_below > res.n_needed
    # the default box holds the whole profile interval with a margin
    lo, hi = res.box
    assert np.all(lo <= prof.ci_low) and np.all(hi >= prof.ci_high)


def test_flags_follow_the_profile(fits):
    res = sweep(fits["cic_mpa_stubs"], 100_000, seed=2, warn=False)
    names = res.names
    assert res.low_at_bound[names.index("let_th")]
    assert res.high_at_bound[names.index("w")]
    assert not res.low_at_bound[names.index("sigma_sat")]
    assert not res.high_at_edge[names.index("sigma_sat")]


def test_reproducible_and_independent_of_chunk(fits):
    fr = fits["mle_article"]
    a = sweep(fr, 30_000, seed=5, chunk=7_000, warn=False)
    b = sweep(fr, 30_000, seed=5, chunk=100_000, warn=False)
    assert np.array_equal(a.samples, b.samples)
    assert np.allclose(a.values, b.values, rtol=0, atol=1e-9)
    assert np.array_equal(a.ci_low, b.ci_low) and a.n_below == b.n_below
    c = sweep(fr, 30_000, seed=6, warn=False)
    assert not np.array_equal(a.samples, c.samples)
    d = sweep(fr, 1_000, seed=None, warn=False)
    assert isinstance(d.seed, int) and d.provenance["seed"] == d.seed


def test_latin_hypercube_is_stratified(linear):
    n = 2_000
    res = sweep(linear, n, method="lhs", seed=3, warn=False)
    lo, hi = res.box
    u = (res.samples - lo) / (hi - lo)
    for k in range(u.shape[1]):
        strata = np.floor(u[:, k] * n).astype(int)
        assert np.array_equal(np.sort(strata), np.arange(n))


def test_values_are_the_statistic(linear):
    res = sweep(linear, 5_000, seed=4, warn=False)
    lam = res.samples[:, :1] * X + res.samples[:, 1:2]
    y = linear.fit_data.events
    ref = np.sum(lam - y * np.log(lam), axis=1)
    assert res.values == pytest.approx(ref, rel=1e-12)
    assert res.fun_min == pytest.approx(linear.nll, rel=1e-12)


def test_one_sigma_sweep_approaches_hessian(linear):
    res = sweep(linear, 200_000, cl=ONE_SIGMA, seed=8)
    half = 0.5 * (res.ci_high - res.ci_low)
    assert half == pytest.approx(linear.se, rel=0.03)
    assert np.all(half <= linear.se * 1.01)


def test_warns_with_the_number_needed(fits):
    with pytest.warns(SweepWarning, match=r"about 5732 are needed.*use n of about"):
        res = sweep(fits["mle_article"], 20_000, box="bounds", seed=1)
    assert 0 < res.n_below < res.n_needed
    msg = [m for m in res.messages if "are needed" in m][0]
    more = int(msg.split("use n of about ")[1].split()[0])
    assert more == int(np.ceil(20_000 * 5732 / res.n_below))
    with pytest.warns(SweepWarning, match="no sample"):
        sweep(fits["mle_article"], 50, box="bounds", seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sweep(fits["mle_article"], 200_000, seed=1)  # default box: no warning


def test_warns_when_the_box_cuts_the_envelope(fits):
    fr = fits["mle_article"]
    prof = profile(fr, 0.95, params=("s",))
    lo, hi = prof.interval("s")
    with pytest.warns(SweepWarning, match="box edge for s"):
        res = sweep(fr, 100_000, seed=1, box={"s": (lo, 0.5 * (lo + hi))})
    assert res.high_at_edge[2] and not res.high_at_bound[2]


def test_samples_needed_formula_and_monte_carlo():
    assert [samples_needed(p) for p in (1, 2, 3, 4)] == [119, 449, 1624, 5732]
    # p = 2: with M = samples_needed(2) uniform points in a disk, the largest x
    # reaches 0.95 with probability 0.95 (binomial test over 400 trials)
    rng = np.random.default_rng(0)
    M = samples_needed(2)
    hits = 0
    for _ in range(400):
        r = np.sqrt(rng.random(M))
        phi = rng.random(M) * 2 * np.pi
        hits += (r * np.cos(phi)).max() >= 0.95
    assert stats.binomtest(hits, 400, 0.95).pvalue > 1e-3


def test_other_statistics_and_lhs(linear):
    for stat in ("ls", "pearson", "negbin"):
        res = sweep(linear, 50_000, statistic=stat, method="lhs", seed=2, warn=False)
        prof = res.profile
        assert prof.statistic.name == stat
        assert np.all(res.ci_low >= prof.ci_low - 1e-9)
        assert np.all(res.ci_high <= prof.ci_high + 1e-9)
        assert np.all(res.coverage > 0.9)


def test_csv_json_text(tmp_path, fits):
    res = sweep(fits["bootstrap_article"], 20_000, seed=9, warn=False)
    assert isinstance(res, SweepResult)
    path = res.to_csv(tmp_path / "s.csv")
    df = pd.read_csv(path)
    assert list(df.columns) == [*res.names, "statistic", "delta"]
    assert len(df) == 20_000
    assert (df["delta"] <= res.delta).sum() == res.n_below
    # Written in full: the file reloads bit for bit.
    np.testing.assert_array_equal(df[list(res.names)].to_numpy(), res.samples)
    np.testing.assert_array_equal(df["statistic"].to_numpy(), res.values)
    below = res.to_frame(below_only=True)
    assert len(below) == res.n_below
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["n_below_threshold"] == res.n_below and d["delta"] == pytest.approx(1.9207, 1e-4)
    for v in d["parameters"].values():
        assert {"value", "ci_low", "ci_high", "low_at_bound", "high_at_bound"} <= set(v)
    assert "±" not in str(res) and "under the threshold" in str(res)
    assert "<table" in res._repr_html_()


def test_bad_arguments(fits):
    fr = fits["mle_article"]
    with pytest.raises(ValueError, match="method"):
        sweep(fr, 10, method="sobol")
    with pytest.raises(ValueError):
        sweep(fr, 0)
    with pytest.raises(ValueError, match="box"):
        sweep(fr, 10, box="nowhere")
    with pytest.raises(ValueError, match="unknown parameter"):
        sweep(fr, 10, box={"q": (0, 1)})
    with pytest.raises(ValueError):
        sweep(fr, 10, box=([0, 0, 0, 0], [1, 1, 1]))


def test_plots(tmp_path, fits):
    pytest.importorskip("matplotlib")
    from seufit.report.likelihood_plots import plot_profile, plot_surface, plot_sweep

    res = sweep(fits["mle_article"], 20_000, seed=1, warn=False)
    for fn, kw in ((plot_sweep, {"pair": ("let_th", "s")}), (plot_surface, {})):
        p = tmp_path / f"{fn.__name__}.png"
        if fn is plot_surface:
            fig = fn(res, ("let_th", "s"), p)
        else:
            fig = fn(res, p, **kw)
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(fig.axes) >= 2
    p = tmp_path / "profile.svg"
    fig = plot_profile(res.profile, p, sweep=res)
    assert p.read_text().lstrip().startswith("<?xml")
    assert len(fig.axes) == 4
    with pytest.raises(ValueError):
        plot_surface(res, ("s", "s"))


def test_envelope_always_holds_the_fitted_estimate():
    import seufit

    fr = seufit.fit("example:bootstrap_article")
    sw = seufit.sweep(fr, n=1, seed=1, warn=False)
    assert np.all(sw.ci_low <= fr.theta) and np.all(fr.theta <= sw.ci_high)


@pytest.mark.filterwarnings("ignore::seufit.uncertainty.sweep.SweepWarning")
def test_a_given_profile_gives_the_same_sweep_and_analyze_names_its_box():
    fr = seufit.fit("example:mle_article")
    prof = profile(fr, 0.95)
    own = sweep(fr, 3000, seed=4, box="profile")
    given = sweep(fr, 3000, seed=4, box="profile", profile_result=prof)
    np.testing.assert_array_equal(given.box[0], own.box[0])
    np.testing.assert_array_equal(given.ci_high, own.ci_high)
    assert given.box_source == "profile" and given.profile is prof
    with pytest.raises(ValueError, match="profile_result"):
        sweep(fr, 100, seed=4, profile_result=profile(fr, 0.9, params=["s"]))
    # Another fit's profile (bootstrap_article under include, for its exclude fit).
    exc = seufit.fit("example:bootstrap_article")
    inc = seufit.fit("example:bootstrap_article", zeros="include")
    assert not np.array_equal(exc.theta, inc.theta)
    with pytest.raises(ValueError, match="of this fit"):
        sweep(exc, 100, seed=4, profile_result=profile(inc, 0.95))
    # analyze hands its profile over: the record says "profile", not "user"
    a = seufit.analyze("example:mle_article", seed=1, n_boot=0, n_sweep=3000)
    assert a.sweep.box_source == "profile" and a.sweep.profile is a.profile
