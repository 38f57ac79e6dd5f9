"""Sweep statistics on the NLL scale, against closed forms and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats
from scipy.special import gammaln

import seufit
from seufit.likelihood import pearson_chi2, poisson_nll
from seufit.statistics import (
    R_MAX,
    STATISTICS,
    Statistic,
    StatisticObjective,
    fit_statistic,
    least_squares,
    least_squares_nll,
    negbin_nll,
    pearson_nll,
)
from seufit.uncertainty.profile import fit_xy

X = np.arange(10.0, 151.0)
LINEAR = seufit.UserModel(names=("a", "b"), func=lambda x, t: t[:, :1] * x + t[:, 1:2],
                          bounds=([-1.0, -50.0], [1.0, 80.0]))


def linear_fit(y):
    return fit_xy(X, y, LINEAR)


def test_poisson_and_pearson_reuse_the_likelihood_module():
    rng = np.random.default_rng(0)
    lam = rng.uniform(0.5, 20, size=(5, 7))
    n = rng.poisson(6, size=7).astype(float)
    assert Statistic("poisson")(lam, n) == pytest.approx(poisson_nll(lam, n), rel=1e-14)
    assert pearson_nll(lam, n) == pytest.approx(0.5 * pearson_chi2(lam, n), rel=1e-14)
    assert Statistic("pearson")(lam, n) == pytest.approx(
        0.5 * np.sum((n - lam) ** 2 / lam, axis=1), rel=1e-12)


def test_least_squares_conversion_uses_the_minimum():
    rng = np.random.default_rng(3)
    y = rng.poisson(0.1 * X + 10)
    sf = fit_statistic(linear_fit(y), "ls")
    A = np.column_stack([X, np.ones_like(X)])
    beta, rss, *_ = np.linalg.lstsq(A, y.astype(float), rcond=None)
    assert sf.theta == pytest.approx(beta, rel=1e-7)
    assert sf.statistic.sigma2 == pytest.approx(rss[0] / X.size, rel=1e-8)
    # at the minimum the converted statistic is n / 2 (LS_min / (2 LS_min / n))
    assert sf.value == pytest.approx(X.size / 2, rel=1e-9)
    lam = (A @ beta)[None, :]
    assert least_squares(lam, y)[0] == pytest.approx(rss[0], rel=1e-9)
    assert least_squares_nll(lam, y, 2.0)[0] == pytest.approx(rss[0] / 4.0, rel=1e-9)


def test_negbin_matches_scipy_and_tends_to_poisson():
    rng = np.random.default_rng(1)
    lam = rng.uniform(0.1, 50, size=(4, 9))
    n = np.concatenate([[0.0], rng.poisson(10, size=8)])
    for r in (0.3, 2.0, 40.0):
        ref = -np.sum(stats.nbinom.logpmf(n, r, r / (r + lam)) + gammaln(n + 1), axis=1)
        assert negbin_nll(lam, n, r) == pytest.approx(ref, rel=1e-10)
    assert negbin_nll(lam, n, R_MAX) == pytest.approx(poisson_nll(lam, n), abs=1e-5)


def test_negbin_dispersion_fit_matches_a_joint_scipy_fit():
    """Over-dispersed counts: the profiled dispersion equals a joint (a, b, log r) fit."""
    rng = np.random.default_rng(7)
    mu = 0.1 * X + 10
    r_true = 5.0
    y = rng.negative_binomial(r_true, r_true / (r_true + mu))
    sf = fit_statistic(linear_fit(y), "negbin")

    def nll(v):
        a, b, lr = v
        m = a * X + b
        if np.any(m <= 0):
            return 1e300
        r = np.exp(lr)
        return -np.sum(stats.nbinom.logpmf(y, r, r / (r + m)) + gammaln(y + 1))

    best = min((optimize.minimize(nll, v0, method="Nelder-Mead",
                                  options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
                for v0 in ([0.1, 10, 1.0], [0.05, 15, 2.5])), key=lambda r: r.fun)
    assert sf.value == pytest.approx(best.fun, abs=1e-5)
    assert np.log(sf.statistic.dispersion) == pytest.approx(best.x[2], abs=2e-2)
    assert sf.theta == pytest.approx(best.x[:2], rel=2e-3)
    assert 2.0 < sf.statistic.dispersion < 15.0
    assert sf.note == ""


def test_negbin_without_overdispersion_says_so():
    y = np.round(0.1 * X + 10)  # under-dispersed: the size runs to its cap
    sf = fit_statistic(linear_fit(y), "negbin")
    assert sf.statistic.dispersion > 1e6
    assert "no over-dispersion" in sf.note


@pytest.mark.parametrize("name", STATISTICS)
def test_objective_derivatives_match_finite_differences(name):
    fr = seufit.fit("example:mle_article")
    d = fr.fit_data
    stat = Statistic(name, sigma2=3.0 if name == "ls" else None,
                     dispersion=8.0 if name == "negbin" else None)
    obj = StatisticObjective(stat, fr.model, d.let, d.exposure, d.events)
    th = np.array([8e-6, 2.5, 1.4, 18.0])
    f, g, H = obj(th[None, :], 2)
    h = 1e-6 * np.abs(th)
    g_fd = np.empty(4)
    H_fd = np.empty((4, 4))
    for k in range(4):
        tp, tm = th.copy(), th.copy()
        tp[k] += h[k]
        tm[k] -= h[k]
        g_fd[k] = (obj(tp[None], 0)[0][0] - obj(tm[None], 0)[0][0]) / (2 * h[k])
        H_fd[k] = (obj(tp[None], 1)[1][0] - obj(tm[None], 1)[1][0]) / (2 * h[k])
    scale = np.abs(th)
    assert g[0] * scale == pytest.approx(g_fd * scale, rel=1e-5, abs=1e-6)
    assert H[0] * np.outer(scale, scale) == pytest.approx(
        0.5 * (H_fd + H_fd.T) * np.outer(scale, scale), rel=1e-4, abs=1e-5)
    assert f[0] == pytest.approx(stat(fr.model.value(th[None], d.let) * d.exposure,
                                      d.events)[0], rel=1e-12)


def test_poisson_statistic_fit_is_the_fit():
    fr = seufit.fit("example:cic_mpa_stubs")
    sf = fit_statistic(fr, "poisson")
    assert sf.value == pytest.approx(fr.nll, rel=1e-14)
    assert np.array_equal(sf.theta, fr.theta)


def test_negative_means_are_walls():
    """A user model may go negative inside its box: such points are +inf, not -inf."""
    stat = Statistic("poisson")
    obj = StatisticObjective(stat, LINEAR, X, np.ones_like(X), np.full(X.size, 5.0))
    val, g, H = obj(np.array([[0.1, 10.0], [-0.5, 1.0]]), 2)
    assert np.isfinite(val[0]) and val[1] == np.inf
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(H))


def test_pearson_fit_reaches_the_minimum():
    y = np.random.default_rng(9).poisson(0.1 * X + 10)
    sf = fit_statistic(linear_fit(y), "pearson")

    def chi2_half(v):
        m = v[0] * X + v[1]
        return 0.5 * np.sum((y - m) ** 2 / m) if np.all(m > 0) else 1e300

    r = optimize.minimize(chi2_half, sf.theta * 1.01, method="Nelder-Mead",
                          options={"xatol": 1e-12, "fatol": 1e-13, "maxiter": 20000})
    assert sf.value == pytest.approx(r.fun, abs=1e-8)
    assert sf.value <= r.fun + 1e-9


def test_unknown_statistic():
    with pytest.raises(ValueError, match="statistic must be one of"):
        Statistic("chi")
