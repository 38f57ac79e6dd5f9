"""Thresholds of the bootstrap diagnostics, each hit from both sides.

The bootstrap article's levels: success rate > 98 % excellent, 95-98 % good, 90-95 %
marginal, < 90 % poor (the last two flagged); skewness |s| < 0.5 ideal, 0.5-1.0
acceptable, > 1.0 concerning (the last two flagged); the covariance flagged unstable
when an SE or a correlation changes by more than 10 % between the two halves of the
draws; a pair with |r| > 0.8 flagged weakly identifiable.  BCa is also flagged when
more than ``TIES_FLAG`` of the replicates tie with an estimate.

The draws are synthetic and built so that the statistic under test lands where it is
meant to (checked in each helper), and every other diagnostic stays quiet.  Nothing is
fitted: the whole module runs in well under a second.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import ndtri
from scipy.stats import skew

from seufit.uncertainty.bootstrap import (
    _diagnostics,
    _raw_result,
    _status,
    _summarise,
)

FAILED = 2  # any non-zero cause of estimator.FAILURE_CAUSES: a failed replicate


def _stub(draws_all, cause=None, theta_hat=None, names=None, **kw):
    """A minimal BootstrapResult around synthetic draws, as ``load_bootstrap`` builds one.

    Parameters
    ----------
    draws_all : ndarray, shape (n, p)
        Every replicate (NaN rows where ``cause`` says it failed).
    cause : ndarray of int, optional
        Failure cause per replicate; default all successful.
    theta_hat : ndarray, optional
        The estimate; default the mean of the successful draws.
    names : tuple of str, optional
        Parameter names; default ``a, b, ...``.
    **kw
        Other fields of the result (e.g. ``counts``, ``let_span``).

    Returns
    -------
    BootstrapResult
        Unsummarised: ``_diagnostics`` or ``_summarise`` fill in the rest.
    """
    draws_all = np.asarray(draws_all, float)
    n, p = draws_all.shape
    cause = np.zeros(n, int) if cause is None else np.asarray(cause)
    if theta_hat is None:
        theta_hat = np.nanmean(draws_all, axis=0)
    fields = dict(counts=np.zeros((n, 1)), nll=np.zeros(n), lam_hat=np.ones(1),
                  let=np.ones(1), exposure=np.ones(1), seed=0, config="full",
                  config_reason="synthetic", tol=1e-9, zeros="exclude", hessian_se=None)
    fields.update(kw)
    return _raw_result(names=names or tuple("abcd"[:p]), units=("",) * p,
                       theta_hat=np.asarray(theta_hat, float), draws_all=draws_all,
                       cause=cause, **fields)


def _diagnose(r, corr=None):
    """``_diagnostics`` of ``r`` with the SE and correlation ``_summarise`` would pass.

    Parameters
    ----------
    r : BootstrapResult
        From ``_stub``.
    corr : ndarray, optional
        Overrides the correlation matrix (the identifiability check reads only this).

    Returns
    -------
    dict
        The diagnostics.
    """
    D = r.draws
    cov = np.atleast_2d(np.cov(D, rowvar=False, ddof=1))
    se = np.sqrt(np.diag(cov))
    if corr is None:
        corr = cov / np.outer(se, se)
    return _diagnostics(r, D, se, np.asarray(corr, float))


def _symmetric(m):
    """``m`` normal scores, symmetric about 0: sample skewness 0 up to round-off."""
    z = ndtri((np.arange(m) + 0.5) / m)
    return 0.5 * (z - z[::-1])  # exactly antisymmetric, whatever ndtri's round-off


def _flags(d, start):
    """The flags of diagnostics ``d`` starting with ``start``."""
    return [f for f in d["flags"] if f.startswith(start)]


# -- success rate ----------------------------------------------------------------------

@pytest.mark.parametrize("rate, status", [
    (1.0, "excellent"), (0.981, "excellent"),
    (0.98, "good"), (0.95, "good"),  # both ends of 95-98 % are good
    (0.949, "marginal"), (0.90, "marginal"),
    (0.899, "poor"), (0.0, "poor"),
])
def test_status_levels_at_each_boundary(rate, status):
    """The article's levels of the success rate, just above and at each boundary."""
    assert _status(rate) == status


@pytest.mark.parametrize("n_ok, status, flagged", [
    (981, "excellent", False), (980, "good", False), (950, "good", False),
    (949, "marginal", True), (900, "marginal", True), (899, "poor", True),
])
def test_success_rate_status_and_flag_in_the_diagnostics(n_ok, status, flagged):
    """The rate is counted over every replicate; marginal and poor are flagged."""
    n = 1000  # n_ok / 1000 is the same double as the literal rate (950 / 1000 == 0.95)
    cause = np.where(np.arange(n) < n_ok, 0, FAILED)
    draws = np.where(cause[:, None] == 0, _symmetric(n)[:, None], np.nan)
    d = _diagnose(_stub(draws, cause))
    assert d["success"] == {"rate": n_ok / n, "status": status}
    assert _flags(d, "success rate") == (
        [f"success rate {100 * n_ok / n:.1f} % is {status}"] if flagged else [])


def test_summarise_counts_failures_in_the_rate_and_skips_their_nan_draws():
    """Through ``_summarise``: 51 failures of 1,000 are marginal, and their NaN rows do not
    reach the other diagnostics (the SE, the skewness, the stability stay finite)."""
    r = _weibull_stub(np.random.default_rng(5), n=1000)
    cause = np.where(np.arange(1000) < 949, 0, FAILED)
    draws = np.where(cause[:, None] == 0, r.draws_all, np.nan)
    d = _summarise(replace(r, draws_all=draws, cause=cause), cl=0.95, ci="percentile")
    assert d.diagnostics["success"] == {"rate": 0.949, "status": "marginal"}
    assert _flags(d.diagnostics, "success rate") == ["success rate 94.9 % is marginal"]
    assert np.all(np.isfinite(d.se))
    assert all(np.isfinite(v["skewness"]) for v in d.diagnostics["skewness"].values())
    assert all(np.isfinite(v)
               for v in d.diagnostics["stability"]["se_relative_change"].values())


# -- skewness --------------------------------------------------------------------------

def _skewed(target, m=200):
    """Draws whose sample skewness (scipy's, as the code computes it) is ``target``.

    z + c (z**2 - 1) on symmetric normal scores z has skewness 0 at c = 0 rising with c;
    c is solved for to round-off.  The sample is repeated twice so that the two halves
    of the draws are identical: the stability check then stays quiet.
    """
    z = _symmetric(m)

    def sample(c):
        x = z + c * (z**2 - 1)
        return np.r_[x, x]

    c = 0.0
    if target != 0:  # (at 0 the root is c = 0 itself, where brentq sees no sign change)
        c = brentq(lambda c: skew(sample(c)) - abs(target), 0.0, 2.0, xtol=1e-15)
    x = sample(c) if target >= 0 else -sample(c)  # mirrored: the skewness changes sign
    assert skew(x) == pytest.approx(target, abs=1e-10)  # the construction is exact
    return x[:, None]


@pytest.mark.parametrize("target, level", [
    (0.0, "ideal"), (0.499, "ideal"), (-0.499, "ideal"),
    (0.501, "acceptable"), (-0.501, "acceptable"),  # |s|: the sign does not matter
    (0.999, "acceptable"), (-0.999, "acceptable"),
    (1.001, "concerning"), (-1.001, "concerning"),
])
def test_skewness_levels_just_below_and_above_0_5_and_1(target, level):
    """|s| < 0.5 ideal (not flagged), 0.5-1.0 acceptable, > 1.0 concerning (both flagged)."""
    d = _diagnose(_stub(_skewed(target)))
    entry = d["skewness"]["a"]
    assert entry["status"] == level
    assert entry["skewness"] == pytest.approx(target, abs=1e-10)
    expected = [] if level == "ideal" else [f"a: skewness {target:+.2f} ({level})"]
    assert _flags(d, "a: skewness") == expected
    assert d["flags"] == expected  # nothing else fires on these draws


# -- covariance stability --------------------------------------------------------------

def _halves_with_se_change(change, m=500):
    """Two parameters whose SEs change by exactly ``change`` between the halves.

    The second half is the first scaled by f about its mean, so the relative change
    |s1 - s2| / ((s1 + s2) / 2) = (f - 1) / ((1 + f) / 2) is ``change`` for
    f = (1 + change / 2) / (1 - change / 2), and the correlation does not move.
    """
    z = _symmetric(m)
    w = np.roll(z, m // 3)
    first = np.column_stack([z, 0.3 * z + w])
    f = (1 + change / 2) / (1 - change / 2)
    return np.vstack([first, 5.0 + f * first])  # the shift is irrelevant to the SE


@pytest.mark.parametrize("change, unstable", [
    (0.0, False), (0.09, False), (0.099, False), (0.101, True), (0.11, True),
])
def test_se_change_between_the_halves_flagged_above_10_percent(change, unstable):
    """An SE changing by 9.9 % between the halves is stable, by 10.1 % it is flagged."""
    d = _diagnose(_stub(_halves_with_se_change(change)))
    stab = d["stability"]
    for name in ("a", "b"):
        assert stab["se_relative_change"][name] == pytest.approx(change, abs=1e-12)
    assert stab["correlation_relative_change"]["a-b"] < 1e-9  # only the SEs move
    assert stab["stable"] is (not unstable)
    flag = _flags(d, "covariance unstable")
    assert flag == (["covariance unstable between the two halves of the draws (> 10 %): "
                     "a, b; increase the number of replicates"] if unstable else [])


def _with_correlation(r, m=500):
    """``m`` rows of two columns whose sample correlation is exactly ``r``.

    The columns are u and r u + sqrt(1 - r**2) v with u, v centred, orthogonal and of equal
    norm: their SEs are equal whatever ``r``, so only the correlation differs between
    halves built with two values of ``r``.
    """
    z = _symmetric(m)
    w = np.roll(z, m // 3)
    v = w - (w @ z) / (z @ z) * z  # Gram-Schmidt: centred too (z and w are)
    v *= np.linalg.norm(z) / np.linalg.norm(v)
    return np.column_stack([z, r * z + np.sqrt(1 - r**2) * v])


def _halves_with_correlations(r1, r2):
    """Draws whose first half has correlation ``r1``, second half ``r2``, equal SEs."""
    return np.vstack([_with_correlation(r1), _with_correlation(r2)])


@pytest.mark.parametrize("r1, r2, change, unstable", [
    # Relative to the mean correlation 0.5: 0.5 * (1 +/- c / 2) changes by c.
    (0.5 * 1.0495, 0.5 * 0.9505, 0.099, False),
    (0.5 * 1.0505, 0.5 * 0.9495, 0.101, True),
    (0.5 * 1.045, 0.5 * 0.955, 0.09, False),
    (0.5 * 1.055, 0.5 * 0.945, 0.11, True),
    # Near r = 0 the change is relative to 0.1, not to the tiny mean (which would make
    # 0.009 a 900 % change): 0.009 / 0.1 = 9 % stable, 0.011 / 0.1 = 11 % flagged.
    (0.005, -0.004, 0.09, False),
    (0.006, -0.005, 0.11, True),
])
def test_correlation_change_between_the_halves_flagged_above_10_percent(r1, r2, change,
                                                                        unstable):
    """A correlation changing by 9-9.9 % between the halves is stable, 10.1-11 % flagged."""
    d = _diagnose(_stub(_halves_with_correlations(r1, r2)))
    stab = d["stability"]
    assert stab["correlation_relative_change"]["a-b"] == pytest.approx(change, abs=1e-9)
    assert max(stab["se_relative_change"].values()) < 1e-9  # only the correlation moves
    assert stab["stable"] is (not unstable)
    assert _flags(d, "covariance unstable") == (
        ["covariance unstable between the two halves of the draws (> 10 %): a-b; "
         "increase the number of replicates"] if unstable else [])


# -- identifiability -------------------------------------------------------------------

@pytest.mark.parametrize("r, flagged", [
    (0.79, False), (-0.79, False), (0.8, False),  # the threshold itself is not flagged
    (0.81, True), (-0.81, True),  # |r|: a strong negative correlation counts too
])
def test_identifiability_flags_pairs_with_abs_r_above_0_8(r, flagged):
    """|r| > 0.8 makes a pair weakly identifiable; 0.79 and exactly 0.8 do not."""
    D = _halves_with_correlations(r, r)  # the real draws carry the same correlation
    d = _diagnose(_stub(D), corr=np.array([[1.0, r], [r, 1.0]]))
    pairs = [f"a-b r={r:+.2f}"] if flagged else []
    assert d["identifiability"] == {"strong_pairs": pairs, "threshold": 0.8}
    assert _flags(d, "strong correlation") == (
        [f"strong correlation (|r| > 0.8), weakly identifiable: a-b r={r:+.2f}"]
        if flagged else [])


def test_identifiability_lists_every_strong_pair_and_only_those():
    """Three parameters: the two pairs above 0.8 in |r| are listed, in order; 0.79 is not."""
    corr = np.array([[1.0, 0.81, -0.79], [0.81, 1.0, -0.85], [-0.79, -0.85, 1.0]])
    D = np.column_stack([_symmetric(400)] * 3)  # any draws: only corr is read here
    d = _diagnose(_stub(D), corr=corr)
    assert d["identifiability"]["strong_pairs"] == ["a-b r=+0.81", "b-c r=-0.85"]


# -- ties at the estimate --------------------------------------------------------------

def test_ties_at_estimate_count_draws_within_1e_9_relative_of_the_estimate():
    """Ties are the fraction of draws equal to the estimate to 1e-9 relative: 5e-10 off
    counts, 2e-9 off does not."""
    theta = 3.0
    D = theta + _symmetric(1000)  # none of these is within 1e-9 of 3.0
    D[:100] = theta  # exact ties, as on a bound or a kink
    D[100] = theta * (1 + 5e-10)
    D[101] = theta * (1 - 5e-10)
    D[102] = theta * (1 + 2e-9)
    D[103] = theta * (1 - 2e-9)
    d = _diagnose(_stub(D[:, None], theta_hat=[theta]))
    assert d["ties_at_estimate"] == {"a": 102 / 1000}


def _weibull_stub(rng, n=1000, ties=0):
    """Synthetic draws of the four Weibull parameters around a plausible estimate.

    ``ties`` replicates have let_th exactly at the estimate (as at a kink).  Counts and
    expected counts are synthetic too: ``_summarise`` needs them only for the
    acceleration.
    """
    theta = np.array([1e-6, 2.0, 1.5, 10.0])
    draws = theta * (1 + 0.05 * rng.standard_normal((n, 4)))
    draws[:ties, 1] = theta[1]
    lam = np.array([5.0, 20.0, 60.0, 120.0, 150.0])
    return _stub(draws, theta_hat=theta, names=("sigma_sat", "let_th", "s", "w"),
                 counts=rng.poisson(lam, (n, lam.size)), lam_hat=lam,
                 let=np.array([2.5, 5.0, 10.0, 30.0, 60.0]), exposure=np.full(5, 1e7),
                 let_span=(2.5, 60.0))


@pytest.mark.parametrize("ties, flagged", [(100, False), (101, True)])
def test_bca_flagged_when_more_than_ties_flag_of_the_replicates_tie(ties, flagged):
    """Through ``_summarise``: BCa is flagged when more than 10 % of the replicates tie with
    an estimate off a bound; exactly 10 % is not flagged."""
    r = _weibull_stub(np.random.default_rng(7), ties=ties)
    b = _summarise(r, cl=0.95, ci="bca")
    assert b.diagnostics["ties_at_estimate"]["let_th"] == ties / 1000
    assert b.diagnostics["ties_at_estimate"]["sigma_sat"] == 0.0
    tied = [f for f in b.diagnostics["flags"] if "tied at the estimate" in f]
    assert len(tied) == flagged
    if flagged:
        assert "(let_th: more than 10 %)" in tied[0]
