"""Weibull4 values and analytic derivatives against independent references."""

from __future__ import annotations

import numpy as np
import pytest
from reference import finite_diff_hessian, finite_diff_jacobian, weibull

from seufit.models import WEIBULL4, UserModel, Weibull4

X = np.array([0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 15.0, 30.0, 60.0])

# (sigma_sat, let_th, s, w): s < 1, s > 1, s = 1, several LETs below let_th.
POINTS = [
    (1e-6, 0.7, 0.4, 5.0),
    (3e-5, 1.5, 0.8, 12.0),
    (2e-6, 2.5, 1.0, 7.0),
    (5e-5, 4.0, 2.5, 20.0),
    (1e-4, 6.5, 6.0, 30.0),
]


def _model_value(theta, x):
    return WEIBULL4.value(np.asarray(theta)[None, :], x)[0]


def _model_jac(theta, x):
    return WEIBULL4.derivatives(np.asarray(theta)[None, :], x, order=1)[1][0]


def _assert_close_by_column(a, b, rtol):
    """Relative agreement per parameter column, scaled by the column's largest entry."""
    scale = np.max(np.abs(b), axis=tuple(range(b.ndim - 1)), keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    np.testing.assert_allclose(a / scale, b / scale, rtol=0, atol=rtol)


@pytest.mark.parametrize("theta", POINTS)
def test_value_matches_reference_formula(theta):
    np.testing.assert_allclose(_model_value(theta, X), weibull(X, *theta), rtol=1e-13, atol=0)


def test_value_is_batched_over_parameter_vectors():
    th = np.array(POINTS)
    f = WEIBULL4.value(th, X)
    assert f.shape == (len(POINTS), X.size)
    for k, t in enumerate(POINTS):
        np.testing.assert_allclose(f[k], weibull(X, *t), rtol=1e-13)


@pytest.mark.parametrize("theta", POINTS)
def test_jacobian_matches_finite_differences(theta):
    # Keep the abscissae away from the kink so that central differences are valid.
    x = X[np.abs(X - theta[1]) > 0.05]
    J = _model_jac(theta, x)
    Jfd = finite_diff_jacobian(lambda t: weibull(x, *t), theta, rel=1e-6)
    _assert_close_by_column(J, Jfd, 1e-5)
    # Below threshold every derivative is exactly 0.
    below = x <= theta[1]
    assert np.all(J[below] == 0.0)


@pytest.mark.parametrize("theta", POINTS)
def test_second_derivatives_match_finite_differences(theta):
    x = X[np.abs(X - theta[1]) > 0.05]
    H = WEIBULL4.derivatives(np.asarray(theta)[None, :], x, order=2)[2][0]
    Hfd = finite_diff_hessian(lambda t: _model_jac(t, x), theta, rel=1e-6)
    assert H.shape == (x.size, 4, 4)
    np.testing.assert_array_equal(H, np.swapaxes(H, -1, -2))
    scale = np.max(np.abs(Hfd), axis=0, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    np.testing.assert_allclose(H / scale, Hfd / scale, rtol=0, atol=1e-5)


@pytest.mark.parametrize("s", [0.3, 0.9, 1.7, 4.0])
def test_derivatives_just_above_threshold(s):
    """LET a hair above let_th: the let_th derivative is large for s < 1 but exact."""
    theta = np.array([2e-5, 3.0, s, 10.0])
    d = 1e-4
    x = np.array([3.0 + d, 3.0 + 3 * d, 3.0 + 10 * d])
    J = _model_jac(theta, x)
    # Steps of 1e-7 absolute stay on the same side of the threshold (d >= 1e-4).
    cols = []
    for k in range(4):
        h = 1e-7 * max(abs(theta[k]), 1.0) if k else 1e-7 * theta[0]
        tp, tm = theta.copy(), theta.copy()
        tp[k] += h
        tm[k] -= h
        cols.append((weibull(x, *tp) - weibull(x, *tm)) / (2 * h))
    Jfd = np.stack(cols, axis=-1)
    np.testing.assert_allclose(J, Jfd, rtol=1e-5, atol=0)
    # Exact value of d sigma / d let_th at this point.
    z = ((x - 3.0) / 10.0) ** s
    exact = -2e-5 * np.exp(-z) * s * z / (x - 3.0)
    np.testing.assert_allclose(J[:, 1], exact, rtol=1e-12)


EXTREME = [
    # (theta, x): LET exactly at let_th, s at its lower bound 0.1, huge (L - let_th)/w,
    # sigma_sat tiny, LET a few ulps above let_th.
    ((1e-5, 2.0, 0.1, 1.0), [2.0, 2.0 + 1e-15, 2.0 + 1e-9, 3.0, 80.0]),
    ((1e-5, 0.0, 10.0, 0.1), [1e-12, 1e-6, 1.0, 1e4, 1e6]),
    ((1e-5, 0.0, 0.1, 0.1), [1e-12, 1e-6, 1.0, 1e4, 1e6]),
    ((1e-5, 0.0, 0.1, 1e3), [1e-12, 1e-6, 1.0, 1e4, 1e6]),
    ((1e-300, 1.0, 3.0, 5.0), [0.5, 1.0, 1.0 + 2e-16, 2.0, 100.0]),
    ((1e-2, 5.0, 10.0, 1e3), [5.0, np.nextafter(5.0, 6.0), 6.0, 100.0]),
]


@pytest.mark.parametrize(("theta", "x"), EXTREME)
def test_no_nan_or_inf_at_extreme_points(theta, x):
    x = np.asarray(x, float)
    f, J, H = WEIBULL4.derivatives(np.asarray(theta)[None, :], x, order=2)
    for arr in (f, J, H):
        assert np.all(np.isfinite(arr)), arr
    assert np.all(f >= 0) and np.all(f <= theta[0])
    at = x <= theta[1]
    assert np.all(f[0, at] == 0) and np.all(J[0, at] == 0) and np.all(H[0, at] == 0)


def test_no_nan_for_subnormal_distance_above_threshold():
    theta = np.array([[1e-5, 0.0, 10.0, 0.1], [1e-5, 0.0, 0.1, 0.1]])
    _, _, H = WEIBULL4.derivatives(theta, np.array([1e-300, 1.0]), order=2)
    assert np.all(np.isfinite(H))


def test_default_bounds_follow_the_article_with_let_th_capped():
    x = np.array([1.0, 2.0, 5.0, 10.0, 40.0])
    n = np.array([0, 0, 4, 10, 30])
    phi = np.array([1e6, 1e6, 2e6, 1e6, 1e6])
    lo, hi = WEIBULL4.default_bounds(x, n, phi)
    smax = 30 / 1e6
    np.testing.assert_allclose(lo, [0.5 * smax, 0.0, 0.1, 0.1])
    # let_th capped at the lowest LET *with events* (5), not the lowest LET (1).
    np.testing.assert_allclose(hi, [10 * smax, 5.0, 10.0, 2 * (40.0 - 1.0)])


def test_starts_are_inside_the_box_and_finite():
    x = np.array([1.0, 2.0, 5.0, 10.0, 40.0])
    n = np.array([1, 3, 4, 10, 30])
    phi = np.full(5, 1e6)
    lo, hi = WEIBULL4.default_bounds(x, n, phi)
    st = WEIBULL4.starts(x, n, phi, (lo, hi))
    assert st.shape[1] == 4 and st.shape[0] > 10
    assert np.all(np.isfinite(st))
    assert np.all(st >= lo) and np.all(st <= hi)
    # let_th strictly below its cap, where the NLL is finite.
    assert np.all(st[:, 1] < hi[1])


def test_user_model_finite_difference_derivatives():
    m = UserModel(names=("a", "b"), func=lambda x, t: t[:, :1] * np.exp(-t[:, 1:2] * x),
                  bounds=([0, 0], [10, 10]))
    th = np.array([[2.0, 0.3]])
    x = np.array([0.5, 1.0, 4.0])
    _, J, H = m.derivatives(th, x)
    e = np.exp(-0.3 * x)
    np.testing.assert_allclose(J[0, :, 0], e, rtol=1e-7)
    np.testing.assert_allclose(J[0, :, 1], -2.0 * x * e, rtol=1e-7)
    # Differences of a differenced Jacobian: a few 1e-5 of relative error at most.
    np.testing.assert_allclose(H[0, :, 0, 1], -x * e, rtol=1e-4)
    np.testing.assert_allclose(H[0, :, 1, 1], 2.0 * x * x * e, rtol=1e-4)
    np.testing.assert_allclose(H[0, :, 0, 0], 0.0, atol=1e-4)


def test_model_is_frozen():
    with pytest.raises(AttributeError):
        Weibull4().label = "other"


def test_start_grid_carries_the_conditional_sigma_sat():
    # Each grid start has sigma_sat = N_tot / sum(S E) for its own shape (clipped into the
    # box); computing S from the clipped start instead of the unit curve put them all on
    # the upper bound.
    x = np.array([2.0, 5.0, 10.0, 20.0, 40.0])
    E = np.full(5, 1e7)
    N = np.array([1.0, 8.0, 30.0, 55.0, 60.0])
    lo, hi = WEIBULL4.default_bounds(x, N, E)
    st = WEIBULL4.starts(x, N, E, (lo, hi))[1:]
    unit = st.copy()
    unit[:, 0] = 1.0
    A = N.sum() / (WEIBULL4.value(unit, x) * E).sum(axis=1)
    inside = (A > lo[0]) & (A < hi[0])
    assert inside.sum() > len(st) // 2
    np.testing.assert_allclose(st[inside, 0], A[inside], rtol=1e-12)
    assert np.all(st[~inside, 0] >= lo[0]) and np.all(st[~inside, 0] <= hi[0])


def test_scale_reset_only_for_a_model_proportional_to_its_scale():
    # A Weibull4 subclass with a known background term is no longer proportional to
    # sigma_sat: it must not inherit the solver's closed-form sigma_sat reset (a review
    # found such a fit stalled, 97 of 101 starts, and its bootstrap failed).
    from dataclasses import dataclass

    import pandas as pd

    import seufit
    from seufit.likelihood import PoissonObjective
    from seufit.optimize import minimize_batch

    @dataclass(frozen=True)
    class WithBackground(Weibull4):
        bg: float = 2e-7

        def derivatives(self, theta, x, order=2):
            f, J, H = super().derivatives(theta, x, order)
            return f + self.bg, J, H

    @dataclass(frozen=True)
    class Scaled(Weibull4):  # still proportional, and says so
        scale_index: int | None = 0

        def derivatives(self, theta, x, order=2):
            return super().derivatives(theta, x, order)

    let = np.array([1.5, 3.0, 6.0, 10.0, 20.0, 30.0, 45.0, 60.0])
    phi = np.full(let.size, 1e7)
    model = WithBackground()
    n = np.random.default_rng(3).poisson(
        model.value(np.array([[2e-6, 2.0, 1.5, 15.0]]), let)[0] * phi).astype(float)
    assert PoissonObjective(WEIBULL4, let, phi, n).scale_index == 0
    assert PoissonObjective(model, let, phi, n).scale_index is None
    assert PoissonObjective(Scaled(), let, phi, n).scale_index == 0
    with pytest.raises(ValueError, match="no scale parameter"):
        UserModel(func=lambda x, th: th[:, :1] * x[None, :], names=("a",)).scale_optimum(
            np.ones((1, 1)), let, phi, n, np.ones_like(n))

    fr = seufit.fit(pd.DataFrame({"let": let, "fluence": phi, "events": n}), model=model,
                    zeros="include")
    obj = PoissonObjective(model, let, phi, n)
    lo, hi = model.default_bounds(let, n, phi)
    ref = minimize_batch(obj, model.starts(let, n, phi, (lo, hi)), lo, hi, model.transforms,
                         kinks=obj.kinks, scale_reset=False)
    assert fr.converged
    assert fr.nll == pytest.approx(np.min(np.where(ref.converged, ref.fun, np.inf)), abs=1e-6)


def _three_datasets():
    """Three datasets (one run left out of the second's likelihood); the third's sigma_sat
    box is too narrow for its conditional optimum.  Returns x, E, lo, hi, objective."""
    from seufit.likelihood import PoissonObjective

    x = np.array([4.0, 8.0, 14.0, 22.0, 35.0, 50.0, 70.0])
    E = np.full(x.size, 1e7)
    N = np.array([[2, 1, 7, 4, 6, 4, 8], [0, 3, 5, 4, 9, 6, 7], [1, 2, 3, 5, 8, 9, 9.0]])
    W = (N > 0).astype(float)
    lo, hi = WEIBULL4.batch_bounds(x, N, E, W)
    hi[2, 0] = 1.2 * lo[2, 0]
    return x, E, lo, hi, PoissonObjective(WEIBULL4, x, E, N, W)


def test_profiled_nll_is_the_same_compiled_and_in_numpy_and_clips_sigma_sat():
    # The corner points of _three_datasets: the third's conditional optimum of sigma_sat
    # is clipped a hair inside its box (clip_inside), on both paths.
    from seufit.models import clip_inside
    from seufit.optimize import solver_backend

    _, _, lo, hi, obj = _three_datasets()
    pts = WEIBULL4.corner_points(lo, hi)
    out = {}
    for solver in ("auto", "numpy"):
        with solver_backend(solver):
            out[solver] = WEIBULL4.profiled_nll(obj, pts, lo, hi)
    np.testing.assert_allclose(out["auto"][0], out["numpy"][0], rtol=1e-12)
    np.testing.assert_allclose(out["auto"][1], out["numpy"][1], rtol=1e-12)
    a_hi = clip_inside(np.array([np.inf]), lo[2, :1], hi[2, :1])[0]
    assert np.all(out["auto"][0][2, :, 0] == a_hi)  # clipped: the optimum is above
    np.testing.assert_array_equal(out["auto"][0][..., 1:], pts[..., 1:])  # shapes unchanged


def test_profiled_nll_shared_is_profiled_nll_of_each_datasets_group_points():
    # Datasets 0 and 2 of _three_datasets share points (group 0), dataset 1 has its own
    # (group 1).  Group 0's last point sits a hair below the run with events at LET 4
    # with a steep curve: dataset 0's expected count there is below the likelihood's
    # floor, where the NLL is not A D - total log A - sum W N log(S E) and each run is
    # taken in turn.
    from seufit.likelihood import LAMBDA_FLOOR
    from seufit.optimize import solver_backend

    x, E, lo, hi, obj = _three_datasets()
    pts = np.array([[[1.0, 1.0, 1.5, 20.0], [1.0, 3.0, 0.5, 5.0], [1.0, 4.0 - 1e-12, 10.0, 100.0]],
                    [[1.0, 2.0, 2.0, 10.0], [1.0, 5.0, 0.5, 3.0], [1.0, 7.9, 0.2, 1.0]]])
    group = np.array([0, 1, 0])
    with solver_backend("numpy"):  # the reference: the model's functions at every run
        ref_pts, ref = WEIBULL4.profiled_nll(obj, pts[group], lo, hi)
    lam = ref_pts[0, 2, 0] * WEIBULL4.value(np.r_[1.0, ref_pts[0, 2, 1:]][None], x)[0] * E
    assert lam[0] < LAMBDA_FLOOR  # the floor case is covered
    for solver in ("auto", "numpy"):  # compiled (where numba is) and NumPy
        with solver_backend(solver):
            got_pts, got = WEIBULL4.profiled_nll_shared(obj, pts, group, lo, hi)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(got_pts, ref_pts, rtol=1e-12)
        assert got_pts[2, 0, 0] < hi[2, 0]  # clipped inside, as profiled_nll does
