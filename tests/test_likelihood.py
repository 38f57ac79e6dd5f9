"""Poisson NLL, gradient and Hessian against scipy.stats and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from reference import finite_diff_hessian, finite_diff_jacobian, poisson_nll
from scipy import stats
from scipy.special import gammaln, xlogy

from seufit.likelihood import (
    PoissonObjective,
    any_per_value,
    pearson_chi2,
    poisson_deviance,
)
from seufit.likelihood import poisson_nll as seufit_poisson_nll
from seufit.models import WEIBULL4

X = np.array([2.0, 4.0, 7.0, 10.0, 15.0, 25.0, 40.0, 60.0])
PHI = np.array([4e6, 4e6, 4e6, 2e6, 2e6, 1e6, 1e6, 1e6])
N = np.array([0, 0, 1, 5, 16, 31, 45, 48])

THETAS = [
    (1.2e-5, 3.0, 1.5, 15.0),
    (8e-5, 5.0, 0.6, 40.0),  # s < 1; LET 2 and 4 below threshold (zero counts)
    (3e-5, 0.5, 3.0, 8.0),
]


def test_nll_is_minus_scipy_logpmf_without_log_factorial():
    lam = np.array([0.3, 2.0, 7.5, 40.0, 1e-3])
    n = np.array([0, 1, 9, 33, 0])
    expected = -stats.poisson.logpmf(n, lam).sum() - gammaln(n + 1).sum()
    assert seufit_poisson_nll(lam, n) == pytest.approx(expected, rel=1e-13)


def test_zero_count_contributes_lambda():
    lam = np.array([0.0, 1e-300, 0.7, 12.0])
    assert seufit_poisson_nll(lam, np.zeros(4)) == pytest.approx(lam.sum(), rel=1e-15)


def test_nll_batched_over_last_axis():
    lam = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    n = np.array([1, 0, 2])
    out = seufit_poisson_nll(lam, n)
    assert out.shape == (2,)
    for k in range(2):
        assert out[k] == pytest.approx(lam[k].sum() - xlogy(n, lam[k]).sum(), rel=1e-14)


def test_deviance_and_pearson_from_formulas():
    lam = np.array([0.5, 3.0, 9.0, 20.0])
    n = np.array([0, 4, 7, 22])
    dev = 2 * np.sum(xlogy(n, n / lam) - (n - lam))
    assert poisson_deviance(lam, n) == pytest.approx(dev, rel=1e-13)
    # The deviance is twice the NLL gap to the saturated model.
    sat = seufit_poisson_nll(np.where(n > 0, n, 0.0), n)
    assert poisson_deviance(lam, n) == pytest.approx(2 * (seufit_poisson_nll(lam, n) - sat))
    assert pearson_chi2(lam, n) == pytest.approx(np.sum((n - lam) ** 2 / lam), rel=1e-13)


@pytest.mark.parametrize("theta", THETAS)
def test_objective_value_matches_independent_nll(theta):
    obj = PoissonObjective(WEIBULL4, X, PHI, N)
    nll = obj(np.asarray(theta)[None, :], order=0)[0][0]
    assert nll == pytest.approx(poisson_nll(theta, X, PHI, N), rel=1e-13)


@pytest.mark.parametrize("theta", THETAS)
def test_gradient_matches_finite_differences_of_reference(theta):
    obj = PoissonObjective(WEIBULL4, X, PHI, N)
    g = obj(np.asarray(theta)[None, :], order=1)[1][0]
    gfd = finite_diff_jacobian(lambda t: np.array([poisson_nll(t, X, PHI, N)]), theta)[0]
    np.testing.assert_allclose(g, gfd, rtol=1e-5, atol=1e-6 * np.abs(gfd).max())


@pytest.mark.parametrize("theta", THETAS)
def test_hessian_matches_finite_differences_of_gradient(theta):
    obj = PoissonObjective(WEIBULL4, X, PHI, N)
    H = obj(np.asarray(theta)[None, :], order=2)[2][0]
    np.testing.assert_array_equal(H, H.T)
    Hfd = finite_diff_hessian(lambda t: obj(t[None, :], order=1)[1][0], theta)
    D = np.abs(np.asarray(theta))  # compare on the scale-free matrix D H D
    np.testing.assert_allclose(H * np.outer(D, D), Hfd * np.outer(D, D), rtol=1e-5,
                               atol=1e-6 * np.abs(Hfd * np.outer(D, D)).max())


def test_hessian_matches_second_differences_of_reference_nll():
    """Looser check of the Hessian against the independent NLL alone (no seufit gradient)."""
    theta = np.array(THETAS[0])
    obj = PoissonObjective(WEIBULL4, X, PHI, N)
    H = obj(theta[None, :], order=2)[2][0]
    h = 1e-4 * np.abs(theta)
    Hfd = np.empty((4, 4))
    for i in range(4):
        for j in range(4):
            ei, ej = np.eye(4)[i] * h[i], np.eye(4)[j] * h[j]
            f = [poisson_nll(theta + a * ei + b * ej, X, PHI, N) for a, b in
                 ((1, 1), (1, -1), (-1, 1), (-1, -1))]
            Hfd[i, j] = (f[0] - f[1] - f[2] + f[3]) / (4 * h[i] * h[j])
    D = np.outer(np.abs(theta), np.abs(theta))
    np.testing.assert_allclose(H * D, Hfd * D, rtol=1e-3, atol=1e-4 * np.abs(H * D).max())


def test_batched_counts_select_rows():
    counts = np.vstack([N, N + 1, 2 * N])
    obj = PoissonObjective(WEIBULL4, X, PHI, counts)
    th = np.array([THETAS[0], THETAS[2]])
    nll, g, H = obj(th, order=2, rows=np.array([2, 1]))
    assert nll[0] == pytest.approx(poisson_nll(THETAS[0], X, PHI, counts[2]), rel=1e-13)
    assert nll[1] == pytest.approx(poisson_nll(THETAS[2], X, PHI, counts[1]), rel=1e-13)
    single = PoissonObjective(WEIBULL4, X, PHI, counts[1])(th[1:], order=2)
    np.testing.assert_allclose(g[1], single[1][0], rtol=1e-13)
    np.testing.assert_allclose(H[1], single[2][0], rtol=1e-13)


@pytest.mark.parametrize(
    "theta",
    [
        (1e-5, 7.0, 1.5, 15.0),  # let_th exactly at the LET of a run with events: lambda = 0
        (1e-5, 6.999999999, 0.1, 15.0),  # s = 0.1, a hair below that LET
        (1e-40, 1.0, 2.0, 5.0),  # expected counts ~1e-34
        (1e-120, 1.0, 2.0, 5.0),  # expected counts below the floor
        (1e-5, 0.0, 10.0, 0.1),  # huge (L - let_th)/w: exp(-z) underflows
    ],
)
def test_objective_never_returns_nan_or_inf(theta):
    obj = PoissonObjective(WEIBULL4, X, PHI, N)
    nll, g, H = obj(np.asarray(theta)[None, :], order=2)
    for arr in (nll, g, H):
        assert np.all(np.isfinite(arr)), arr
    # A run with events and a vanishing expectation costs a lot: far above any fit.
    assert nll[0] > poisson_nll(THETAS[0], X, PHI, N)


def test_kinks_mark_only_runs_in_each_datasets_likelihood():
    x = np.array([2.0, 5.0, 5.0, 10.0])
    N = np.array([[0.0, 3, 0, 4], [1.0, 0, 0, 2]])
    W = (N > 0).astype(float)
    j, kv, live = PoissonObjective(WEIBULL4, x, np.ones(4), N, W).kinks
    assert j == 1
    np.testing.assert_array_equal(kv, [2.0, 5.0, 10.0])
    # LET 5 has two runs: live in dataset 0 (one of them has events), dead in dataset 1.
    np.testing.assert_array_equal(live, [[False, True, True], [True, False, True]])
    # Without weights every run is in the likelihood: no mask.
    assert len(PoissonObjective(WEIBULL4, x, np.ones(4), N).kinks) == 2


@pytest.mark.parametrize("rows", [0, 1, 37])
def test_any_per_value_marks_each_distinct_let_where_any_of_its_runs_is_marked(rows):
    # Unsorted LETs, two of them repeated (three runs at 8, two at 2), one alone.
    x = np.array([8.0, 2.0, 30.0, 8.0, 2.0, 8.0, 15.0])
    mask = np.random.default_rng(rows).random((rows, x.size)) < 0.3
    values, out = any_per_value(x, mask)
    np.testing.assert_array_equal(values, [2.0, 8.0, 15.0, 30.0])
    assert out.shape == (rows, 4) and out.dtype == bool
    for b in range(rows):  # brute force, one value at a time
        for k, v in enumerate(values):
            assert out[b, k] == mask[b, x == v].any()
