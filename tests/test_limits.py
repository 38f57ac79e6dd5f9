"""Exact (Garwood) Poisson intervals and zero-event upper limits."""

from __future__ import annotations

import numpy as np
import pytest
from reference import poisson_lower_root, poisson_upper_root

from seufit.limits import UpperLimit, garwood_interval, upper_limit

# The MLE article's table "Poisson 95% CI", as printed.
ARTICLE_TABLE = {
    3: (0.6, 8.8),
    10: (4.8, 18.4),
    25: (16.2, 36.8),
    50: (37.1, 66.0),
    100: (81.4, 121.6),
}
# Two printed upper ends are wrong at the printed rounding.  The exact Garwood values,
# confirmed by Brent root finding on scipy.stats.poisson (test below), are
# 25 -> 36.905 (prints as 36.9, not 36.8) and 50 -> 65.919 (65.9, not 66.0).
ARTICLE_MISPRINTS = {25: (16.2, 36.9), 50: (37.1, 65.9)}


@pytest.mark.parametrize("n", sorted(ARTICLE_TABLE))
def test_article_table_to_printed_decimals(n):
    expected = ARTICLE_MISPRINTS.get(n, ARTICLE_TABLE[n])
    lo, hi = garwood_interval(n, 0.95)
    assert round(float(lo), 1) == expected[0]
    assert round(float(hi), 1) == expected[1]


@pytest.mark.parametrize("n", sorted(ARTICLE_MISPRINTS))
def test_article_misprints_are_misprints(n):
    """The printed value disagrees with an independent root-finding at its own rounding."""
    printed = ARTICLE_TABLE[n][1]
    exact = poisson_upper_root(n, 0.025)
    assert round(exact, 1) != printed
    assert round(exact, 1) == ARTICLE_MISPRINTS[n][1]


@pytest.mark.parametrize("cl", [0.68, 0.9, 0.95, 0.99])
@pytest.mark.parametrize("n", [1, 2, 3, 7, 10, 25, 50, 100, 400])
def test_garwood_matches_root_finding(n, cl):
    a = (1 - cl) / 2
    lo, hi = garwood_interval(n, cl)
    assert float(lo) == pytest.approx(poisson_lower_root(n, a), rel=1e-9)
    assert float(hi) == pytest.approx(poisson_upper_root(n, a), rel=1e-9)


def test_garwood_is_vectorised_and_zero_has_lower_zero():
    n = np.array([0, 1, 5])
    lo, hi = garwood_interval(n)
    assert lo.shape == hi.shape == (3,)
    assert lo[0] == 0.0
    assert np.all(np.diff(hi) > 0) and np.all(lo < n + 1e-12) and np.all(hi > n)


def test_zero_events_two_sided_is_the_articles_3_7():
    # P(N = 0 | mu) = exp(-mu) = 0.025: mu = ln 40.
    assert float(upper_limit(0, 0.95, "two-sided")) == pytest.approx(np.log(40.0), rel=1e-12)
    assert round(float(upper_limit(0)), 3) == 3.689
    assert round(float(upper_limit(0)), 1) == 3.7
    assert float(garwood_interval(0)[1]) == pytest.approx(float(upper_limit(0)), rel=1e-14)


def test_zero_events_one_sided_is_3_0():
    assert float(upper_limit(0, 0.95, "one-sided")) == pytest.approx(np.log(20.0), rel=1e-12)
    assert round(float(upper_limit(0, 0.95, "one-sided")), 3) == 2.996


@pytest.mark.parametrize("cl", [0.5, 0.9, 0.95, 0.99, 0.999])
@pytest.mark.parametrize("sided", ["two-sided", "one-sided"])
def test_upper_limit_is_root_of_poisson_cdf(cl, sided):
    alpha = (1 - cl) / 2 if sided == "two-sided" else 1 - cl
    for n in (0, 1, 4, 30):
        assert float(upper_limit(n, cl, sided)) == pytest.approx(poisson_upper_root(n, alpha),
                                                                 rel=1e-9)


@pytest.mark.parametrize(("cl", "sided"), [(0.0, "two-sided"), (1.0, "one-sided"),
                                           (1.5, "two-sided"), (0.95, "upper")])
def test_bad_level_or_sidedness_raises(cl, sided):
    with pytest.raises(ValueError):
        upper_limit(0, cl, sided)


def test_upper_limit_record():
    u = UpperLimit(let=2.0, fluence=1e6, sigma_upper=3.689e-6, cl=0.95, sided="two-sided",
                   events_upper=3.689, label="run 1")
    assert u.curve_below is None
    assert UpperLimit(**{**u.__dict__, "sigma_fit": 3.0e-6}).curve_below is True
    assert UpperLimit(**{**u.__dict__, "sigma_fit": 4.0e-6}).curve_below is False
    d = u.to_dict()
    assert {"let", "fluence", "sigma_upper", "cl", "sided", "curve_below"} <= set(d)
    assert "95 % two-sided" in u.describe()


def test_per_bit_limits_say_what_they_are_divided_by_and_their_unit():
    import pandas as pd

    import seufit
    from seufit.limits import zero_event_limits

    df = pd.DataFrame({"let": [1.0, 5.0], "fluence": [1e7, 2e7], "events": [0, 3],
                       "bits": [1024.0, 1024.0]})
    (u,) = zero_event_limits(seufit.load(df), 0.95, "one-sided")
    # -ln(0.05) = 2.996 events over fluence x bits, per bit
    assert u.sigma_upper == pytest.approx(-np.log(0.05) / (1e7 * 1024), rel=1e-12)
    assert u.bits == 1024 and u.unit == "cm2/bit"
    text = u.describe()
    assert "cm2/bit" in text and "3/(fluence x bits)" in text and "1024 bits" in text
    (dev,) = zero_event_limits(seufit.load(df.drop(columns="bits")), 0.95, "two-sided")
    assert dev.bits is None and dev.describe().endswith("3.69/fluence)")
    assert "cm2/device" in dev.describe()


# -- limits pooled over runs, for a non-decreasing curve ---------------------------------

def _load(let, fluence, events, **extra):
    import pandas as pd

    import seufit

    return seufit.load(pd.DataFrame({"let": let, "fluence": fluence, "events": events,
                                     **extra}))


@pytest.mark.parametrize("sided, tail", [("one-sided", 0.05), ("two-sided", 0.025)])
def test_envelope_limits_pool_the_runs_at_and_above_each_let(sided, tail):
    from seufit.limits import envelope_limits

    let = [40.0, 5.0, 20.0, 5.0, 60.0]  # unsorted, with a repeated LET
    flu = [1e6, 2e6, 3e6, 4e6, 5e6]
    ev = [0, 0, 2, 0, 1]
    env = envelope_limits(_load(let, flu, ev), 0.95, sided)
    assert [e.let for e in env] == [5.0, 20.0, 40.0, 60.0]
    assert [e.n_runs for e in env] == [5, 3, 2, 1]
    assert [e.events for e in env] == [3, 3, 1, 1]
    pooled = [15e6, 9e6, 6e6, 5e6]
    assert [e.fluence for e in env] == pytest.approx(pooled)
    for e, x in zip(env, pooled, strict=True):
        # the exact limit of the pooled count, by root finding on the Poisson cdf
        assert e.sigma_upper == pytest.approx(poisson_upper_root(e.events, tail) / x, rel=1e-9)
        assert e.sided == sided and not e.per_bit
    # no events at all: the whole fluence, -ln(0.05) = 3.0 one-sided, 3.69 two-sided
    z = envelope_limits(_load(let, flu, [0] * 5), 0.95, sided)
    ul = -np.log(0.05) if sided == "one-sided" else 3.6889
    assert z[0].sigma_upper == pytest.approx(ul / 15e6, rel=1e-4)
    assert f"LET <= 5: sigma < {ul / 15e6:.3g} cm2/device (5 run(s)" in z[0].describe()


def test_envelope_limits_per_bit_divide_by_fluence_times_bits():
    from seufit.limits import envelope_limits

    (e,) = envelope_limits(_load([10.0], [1e7], [0], bits=[512.0]), 0.9, "one-sided")
    assert e.per_bit and e.unit == "cm2/bit" and e.exposure == 1e7 * 512
    assert e.sigma_upper == pytest.approx(-np.log(0.1) / (1e7 * 512), rel=1e-12)
    assert "(fluence x bits)" in e.describe() and "90 % one-sided" in e.describe()


def test_envelope_limits_cover_at_their_level():
    """Monte Carlo against the exact coverage: on a flat curve each pooled mean is known, so
    the rate at which a limit lies above the curve must match sum of Poisson(n; mu) over the
    counts n whose limit exceeds mu (within binomial tolerance); a limit at 90 % labelled
    95 % would miss it by about 5 points."""
    from scipy.stats import poisson

    from seufit.limits import envelope_limits

    rng = np.random.default_rng(11)
    let = np.array([2.0, 5.0, 10.0, 20.0, 40.0])
    flu = np.array([4e6, 3e6, 5e6, 2e6, 6e6])
    sigma = 2e-6  # flat: every run has the same cross-section
    n_sets = 4000
    N = rng.poisson(sigma * flu, size=(n_sets, 5))
    hits = np.zeros(5)
    for row in N:
        env = envelope_limits(_load(let, flu, row), 0.95, "one-sided")
        hits += [e.sigma_upper >= sigma for e in env]
    pooled = np.cumsum(flu[::-1])[::-1]  # runs at and above each LET
    for k, x in enumerate(pooled):
        mu = sigma * x
        n = np.arange(int(mu * 4) + 20)
        exact = poisson.pmf(n, mu)[upper_limit(n, 0.95, "one-sided") >= mu].sum()
        assert 0.95 <= exact < 0.98  # exact limits: at least the level
        tol = 3 * np.sqrt(exact * (1 - exact) / n_sets)
        assert abs(hits[k] / n_sets - exact) < tol, (k, hits[k] / n_sets, exact)


def test_envelope_limits_fail_for_a_curve_that_falls():
    from seufit.limits import envelope_limits

    rng = np.random.default_rng(12)
    let = np.array([2.0, 5.0, 10.0, 20.0, 40.0])
    flu = np.full(5, 2e6)
    dec = np.array([5e-6, 5e-7, 1e-7, 1e-7, 1e-7])
    miss = np.mean([envelope_limits(_load(let, flu, rng.poisson(dec * flu)), 0.95,
                                    "one-sided")[0].sigma_upper < dec[0] for _ in range(300)])
    assert miss > 0.9


def test_envelope_limits_use_the_tilted_let_and_fluence_and_merge_equal_lets():
    from seufit.limits import envelope_limits

    # 10 at 60 deg is effective LET 20 (to round-off), fluence 1e7 x cos 60 = 5e6.
    d = _load([10.0, 20.0, 5.0], [1e7, 1e7, 1e7], [0, 0, 0], angle=[60.0, 0.0, 0.0])
    env = envelope_limits(d, 0.95, "one-sided")
    assert [e.let for e in env] == pytest.approx([5.0, 20.0])
    assert [e.n_runs for e in env] == [3, 2]
    assert env[1].fluence == pytest.approx(1.5e7)
    assert env[1].sigma_upper == pytest.approx(-np.log(0.05) / 1.5e7)
