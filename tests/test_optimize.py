"""The batched projected-Newton solver on problems with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from iminuit import Minuit

from seufit.likelihood import PoissonObjective
from seufit.models import WEIBULL4, UserModel
from seufit.optimize import STATUS, minimize_batch, minimize_lbfgsb

X = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
PHI = np.array([1e6, 2e6, 1e6, 5e5, 5e5])
N = np.array([3, 9, 14, 12, 20])

LINEAR = UserModel(names=("a",), func=lambda x, t: t[:, :1] * x[None, :],
                   jac=lambda x, t: np.broadcast_to(x[None, :, None], (t.shape[0], x.size, 1)),
                   hess=lambda x, t: np.zeros((t.shape[0], x.size, 1, 1)),
                   bounds=([1e-9], [1e-4]), transforms=("log",))


def _a_hat(counts):
    """Closed-form MLE of sigma = a * L: sum N / sum(L * exposure)."""
    return counts.sum(axis=-1) / np.sum(X * PHI)


def test_one_parameter_closed_form_in_log_coordinates():
    obj = PoissonObjective(LINEAR, X, PHI, N)
    starts = np.array([[1e-9], [3e-8], [1e-6], [9e-5]])
    r = minimize_batch(obj, starts, [1e-9], [1e-4], LINEAR.transforms)
    assert r.theta.shape == (4, 1)
    # Convergence is judged in NLL units (tol 1e-10): the NLL is within 1e-9 of the
    # optimum, the parameter within sqrt(2e-9 / N_tot) relative.
    best = obj(np.array([[_a_hat(N)]]), 0)[0][0]
    np.testing.assert_allclose(r.fun, best, rtol=0, atol=1e-9)
    assert np.all(r.fun >= best - 1e-12)
    np.testing.assert_allclose(r.theta[:, 0], _a_hat(N), rtol=1e-5)
    assert np.all(r.converged) and np.all(r.status == 0)
    assert not r.at_lower.any() and not r.at_upper.any()


def test_rows_fit_different_datasets_at_once():
    counts = np.vstack([N, 2 * N, N + 5, np.ones(5, int)])
    obj = PoissonObjective(LINEAR, X, PHI, counts)
    rows = np.array([3, 0, 2, 1, 1])
    r = minimize_batch(obj, np.full((5, 1), 1e-6), [1e-9], [1e-4], ("log",), rows=rows)
    np.testing.assert_allclose(r.theta[:, 0], _a_hat(counts[rows]), rtol=1e-5)
    best = obj(_a_hat(counts[rows])[:, None], 0, rows)[0]
    np.testing.assert_allclose(r.fun, best, rtol=0, atol=1e-9)
    assert np.all(r.converged)


def test_optimum_outside_the_box_lands_on_the_bound():
    obj = PoissonObjective(LINEAR, X, PHI, N)
    a = float(_a_hat(N))
    r = minimize_batch(obj, [[0.2 * a], [0.5 * a]], [1e-9], [0.5 * a], ("log",))
    np.testing.assert_allclose(r.theta[:, 0], 0.5 * a, rtol=1e-12)
    assert r.at_upper.all() and not r.at_lower.any()
    assert np.all(r.converged)
    r = minimize_batch(obj, [[3 * a]], [2 * a], [1e-4], ("log",))
    np.testing.assert_allclose(r.theta[:, 0], 2 * a, rtol=1e-12)
    assert r.at_lower.all()


TWO = UserModel(names=("a", "b"),
                func=lambda x, t: t[:, :1] * (1 - np.exp(-x[None, :] / t[:, 1:2])),
                bounds=([1e-8, 0.1], [1e-3, 100.0]), transforms=("log", "log"))


def _nll_two(a, b, counts=N):
    lam = a * (1 - np.exp(-X / b)) * PHI
    return float(np.sum(lam - counts * np.log(lam)))


def test_two_parameters_against_iminuit():
    m = Minuit(lambda la, lb: _nll_two(np.exp(la), np.exp(lb)), la=np.log(1e-5), lb=np.log(3.0))
    m.errordef = Minuit.LIKELIHOOD
    m.tol = 1e-6
    m.migrad()
    assert m.valid
    obj = PoissonObjective(TWO, X, PHI, N)
    r = minimize_batch(obj, [[1e-7, 0.2], [1e-4, 50.0]], *TWO.bounds, TWO.transforms)
    ref = _nll_two(np.exp(m.values["la"]), np.exp(m.values["lb"]))
    assert np.all(r.fun <= ref + 1e-8)
    np.testing.assert_allclose(r.fun, ref, atol=1e-7)
    np.testing.assert_allclose(r.theta[:, 1], np.exp(m.values["lb"]), rtol=1e-4)


def test_fixed_parameter_stays_fixed():
    obj = PoissonObjective(TWO, X, PHI, N)
    r = minimize_batch(obj, [[1e-6, 4.0]], [1e-8, 4.0], [1e-3, 4.0], TWO.transforms)
    assert r.theta[0, 1] == pytest.approx(4.0, rel=1e-15)
    # With b fixed, a has a closed form.
    shape = (1 - np.exp(-X / 4.0)) * PHI
    assert r.theta[0, 0] == pytest.approx(N.sum() / shape.sum(), rel=1e-5)


def test_fixed_parameter_is_not_reported_at_a_bound():
    obj = PoissonObjective(TWO, X, PHI, N)
    r = minimize_batch(obj, [[1e-6, 4.0]], [1e-8, 4.0], [1e-3, 4.0], TWO.transforms)
    assert not r.at_lower[0, 1] and not r.at_upper[0, 1]


def test_non_finite_start_is_flagged_not_converged():
    def objective(theta, order, rows):
        f = np.where(theta[:, 0] > 5.0, np.nan, (theta[:, 0] - 1.0) ** 2)
        g = 2 * (theta - 1.0)
        H = np.full((theta.shape[0], 1, 1), 2.0)
        return f, g, H

    r = minimize_batch(objective, [[7.0], [3.0]], [-10.0], [10.0], ("linear",))
    assert STATUS[int(r.status[0])] == "non_finite" and not r.converged[0]
    assert r.converged[1] and r.theta[1, 0] == pytest.approx(1.0, abs=1e-8)
    assert np.all(np.isfinite(r.theta))


def test_lbfgsb_reference_stops_short_on_a_raw_1e_6_parameter():
    """The articles' recipe: success reported, yet the NLL is above the closed-form optimum."""
    obj = PoissonObjective(LINEAR, X, PHI, N)
    a = float(_a_hat(N))
    best = obj(np.array([[a]]), 0)[0][0]
    r = minimize_lbfgsb(lambda t: obj(t[None, :], 0)[0][0], [1.5 * a], [1e-9], [1e-4])
    assert 1e-9 <= r.x[0] <= 1e-4
    assert r.fun >= best - 1e-12
    # Documented fact (a 1-parameter problem!): "converged", NLL gap > 1e-5.
    assert r.success
    assert r.fun - best > 1e-5


# -- regressions from the numerical review --------------------------------------------------
def _sparse_include():
    from pathlib import Path

    import seufit

    d = seufit.load(Path(__file__).parent / "data" / "sparse_zeros.csv")
    return d, PoissonObjective(WEIBULL4, d.let, d.exposure, d.events)


def test_pinning_never_freezes_a_box_variable_whose_gradient_points_inward():
    # This start once ended with s pinned at 0.1 and let_th on the zero-run kink,
    # 3.8 NLL units above the optimum, yet reported converged.
    import seufit

    d, obj = _sparse_include()
    lo, hi = WEIBULL4.default_bounds(d.let, d.events, d.exposure)
    th0 = [[2.8363464992378656e-05, 0.86245349755481238, 5.4280146518902184, 6.7327821359674278]]
    r = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, kinks=obj.kinks)
    best = seufit.fit(d, zeros="include").nll
    assert not r.converged[0] or r.fun[0] <= best + 1e-6


def test_a_step_never_lands_on_the_let_th_cap():
    # The cap is the lowest LET with events: there that run's expected count is 0.
    import seufit

    d = seufit.load("example:mle_article")
    obj = PoissonObjective(WEIBULL4, d.let, d.exposure, d.events)
    lo, hi = WEIBULL4.default_bounds(d.let, d.events, d.exposure)
    th0 = [[3.4537931242646525e-05, 1.0838474096805439, 0.44072671339150665, 5.2553799128345418]]
    r = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, kinks=obj.kinks)
    assert r.theta[0, 1] < hi[1]
    assert not (r.converged[0] and r.at_upper[0, 1])
    assert r.fun[0] == pytest.approx(seufit.fit(d).nll, abs=1e-6)


def test_non_finite_gradient_is_reported_not_converged():
    def obj(th, order, rows):
        t = th[:, 0]
        f = (t - 3) ** 2
        if order == 0:
            return f, None, None
        g = np.where(t >= 1, 2 * (t - 3), np.nan)[:, None]
        return f, g, np.full((len(t), 1, 1), 2.0)

    r = minimize_batch(obj, np.array([[0.5], [2.0]]), [0.0], [10.0], ("linear",))
    assert r.status[0] == 3 and not r.converged[0]
    assert r.converged[1] and r.theta[1, 0] == pytest.approx(3.0)


# -- review findings on the logcap coordinate and the compiled path ----------------------
def _mle_article():
    import seufit

    d = seufit.load("example:mle_article")
    return d, seufit.fit(d)


def _solve_with_threshold_bounds(backend, lower, upper, start):
    """The mle_article data from let_th = ``start``, let_th's bounds replaced (None: the
    data fit's)."""
    from seufit.optimize import solver_backend

    d, fr = _mle_article()
    lo, hi = fr.bounds[0].copy(), fr.bounds[1].copy()
    lo[1] = lo[1] if lower is None else lower
    hi[1] = hi[1] if upper is None else upper
    obj = PoissonObjective(WEIBULL4, d.let, d.exposure, d.events)
    th0 = fr.theta.copy()
    th0[1] = start
    with solver_backend(backend):
        r = minimize_batch(obj, th0[None], lo, hi, WEIBULL4.transforms, kinks=obj.kinks)
    assert r.converged[0]
    assert r.fun[0] == pytest.approx(fr.nll, abs=1e-6)
    return r


@pytest.mark.parametrize("backend", ["auto", "numpy"])
@pytest.mark.parametrize("upper", [1e3, 1e8, np.inf])
def test_wide_or_infinite_threshold_upper_bound_still_reaches_the_optimum(backend, upper):
    r = _solve_with_threshold_bounds(backend, None, upper, 4.0)
    assert not r.at_lower[0, 1] and not r.at_upper[0, 1]  # interior, whatever the box


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_infinite_lower_bound_of_a_linear_threshold_does_not_wall_it_in(backend):
    # The step box of a linear kink parameter stops short of its upper bound by a
    # fraction of the width; with an infinite lower bound that wall sat at -inf and
    # let_th could not move (found in review; fit() itself rejects such bounds).
    _solve_with_threshold_bounds(backend, -np.inf, None, 0.5)


def test_fit_rejects_infinite_bounds_of_the_weibull_in_one_line():
    import seufit

    d, fr = _mle_article()
    lo, hi = fr.bounds
    for k, side in ((1, 0), (1, 1)):
        b = [lo.copy(), hi.copy()]
        b[side][k] = -np.inf if side == 0 else np.inf
        with pytest.raises(ValueError, match="must be finite: let_th"):
            seufit.fit(d, bounds=tuple(b))
    with pytest.raises(ValueError, match="lower above upper"):
        seufit.fit(d, bounds=(hi, lo))


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_rows_out_of_range_raise_on_both_paths(backend):
    from seufit.optimize import solver_backend

    d, fr = _mle_article()
    obj = PoissonObjective(WEIBULL4, d.let, d.exposure, d.events[None, :])
    lo, hi = fr.bounds
    with solver_backend(backend), pytest.raises(IndexError):
        minimize_batch(obj, np.repeat(fr.theta[None], 3, axis=0), lo, hi, WEIBULL4.transforms,
                       rows=np.array([0, 1, 2]), kinks=obj.kinks)


def test_fixed_threshold_under_logcap_sits_exactly_on_its_value():
    d, fr = _mle_article()
    lo, hi = fr.bounds
    obj = PoissonObjective(WEIBULL4, d.let, d.exposure, d.events)
    L, H = lo.copy(), hi.copy()
    L[1] = H[1] = 1.0
    r = minimize_batch(obj, fr.theta[None], L, H, WEIBULL4.transforms, kinks=obj.kinks)
    assert r.theta[0, 1] == 1.0 and r.converged[0]
    assert not r.at_lower[0, 1] and not r.at_upper[0, 1]


def test_mistyped_solver_setting_is_a_one_line_error(monkeypatch, capsys):
    from seufit import optimize
    from seufit.cli import main

    monkeypatch.setitem(optimize._BACKEND, "name", "gpu")  # as SEUFIT_SOLVER=gpu
    assert main(["fit", "example:mle_article"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SEUFIT_SOLVER must be auto or numpy" in err[0]



# A row joins a known optimum (minimize_batch(near=...)): the sparse replicate below, with
# zero-event runs kept (include), so LET 2 (no events there) is a live kink of let_th.
SP_LET = np.array([2.0, 4.0, 8.0, 14.0, 22.0, 35.0, 50.0, 70.0])
SP_PHI = np.full(SP_LET.size, 1e7)
SP_N = np.array([0, 2, 2, 10, 5, 5, 10, 4.0])


def _replicate_with_a_kink():
    N = SP_N[None]
    lo, hi = WEIBULL4.batch_bounds(SP_LET, N, SP_PHI, np.ones_like(N))
    return PoissonObjective(WEIBULL4, SP_LET, SP_PHI, SP_N, np.ones_like(SP_N)), lo[0], hi[0]


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_a_row_that_reaches_a_known_optimum_joins_it(backend):
    from seufit.optimize import solver_backend

    obj, lo, hi = _replicate_with_a_kink()
    th0 = np.array([[5.3e-7, 3.0, 0.9, 6.7], [5.3e-7, 3.5, 2.0, 20.0], [5.3e-7, 2.5, 0.5, 4.0]])
    kw = dict(kinks=obj.kinks, tol=1e-10)
    with solver_backend(backend):
        free = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, **kw)
        assert free.converged.all()
        best = np.argmin(free.fun)
        known = np.tile(free.theta[best], (3, 1))
        kf = np.full(3, free.fun[best])
        joined = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, near=known, near_fun=kf,
                                **kw)
        # Without its NLL, no condition on the row's: the same joins.
        no_f = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, near=known, **kw)
        # A start at the known optimum itself joins before its first iteration.
        at = minimize_batch(obj, known[:1], lo, hi, WEIBULL4.transforms, near=known[:1],
                            near_fun=kf[:1], **kw)
        # No known optimum (NaN): exactly the plain solve.
        nan = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, near=np.full((3, 4), np.nan),
                             near_fun=kf, **kw)
    same = np.abs(free.fun - free.fun[best]) < 1e-9
    assert same.sum() >= 2  # the case needs rows that end at the same optimum
    assert np.all(joined.status[same] == 4) and STATUS[4] == "joined"
    np.testing.assert_array_equal(no_f.status, joined.status)
    assert np.all(joined.n_iter[same] < free.n_iter[same])
    # joined where every internal coordinate was within the radius (0.1): physical ratio
    ratio = joined.theta[same] / known[same]
    assert np.all(np.abs(np.log(ratio[:, [0, 2, 3]])) < 0.1)
    assert np.all(joined.fun[same] <= kf[same] + 1e-2)
    assert at.status[0] == 4 and at.n_iter[0] == 0
    for k in ("theta", "fun", "status", "n_iter"):
        np.testing.assert_array_equal(getattr(nan, k), getattr(free, k))


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_a_known_point_on_a_kink_or_beyond_one_or_far_above_is_not_joined(backend):
    from seufit.optimize import solver_backend

    obj, lo, hi = _replicate_with_a_kink()
    kw = dict(kinks=obj.kinks, tol=1e-10)
    # Found in review of the rule: this replicate's optimum lies just below the kink at 2,
    # where a start on the kink used to stop (pinned; since released at convergence, it
    # goes on too).  Starts at 1 and 3 in the intervals next to it, given the point on the
    # kink (3.5e-5 higher) as known, must not join it.
    th0 = np.array([[5.3458e-7, 2.0, 0.8965, 6.6848], [5.3458e-7, 1.0, 0.8965, 6.6848],
                    [5.3458e-7, 3.0, 0.8965, 6.6848]])
    with solver_backend(backend):
        free = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, **kw)
        assert free.converged.all() and np.ptp(free.fun) < 1e-9
        on_kink = free.theta[1].copy()
        on_kink[1] = 2.0
        f_on = obj(on_kink[None], 0, None)[0][0]
        assert f_on > free.fun[1] + 1e-5
        r = minimize_batch(obj, th0[1:], lo, hi, WEIBULL4.transforms, near=np.tile(on_kink, (2, 1)),
                           near_fun=np.full(2, f_on), **kw)
        np.testing.assert_array_equal(r.fun, free.fun[1:])
        # Within the radius of a point on the other side of a kink: no join; same side: join.
        # (sigma_sat at its conditional optimum, where the scale reset puts the row)
        x = np.array([[1.0, 1.99, 0.8965, 6.6848]])
        x[0, 0] = SP_N.sum() / np.sum(WEIBULL4.value(x, SP_LET)[0] * SP_PHI)
        f_x = obj(x, 0, None)[0]
        across = x.copy()
        across[0, 1] = 2.01
        beside = x.copy()
        beside[0, 1] = 1.985
        r_across = minimize_batch(obj, x, lo, hi, WEIBULL4.transforms, near=across,
                                  near_fun=f_x, **kw)
        r_beside = minimize_batch(obj, x, lo, hi, WEIBULL4.transforms, near=beside,
                                  near_fun=f_x, **kw)
        # ... one far below the row's value (by more than NEAR_EXCESS = 0.01): no join;
        r_above = minimize_batch(obj, x, lo, hi, WEIBULL4.transforms, near=beside,
                                 near_fun=f_x - 0.02, **kw)
        # ... one above it (by more than NEAR_BELOW = 1e-6): the row has beaten it, no join.
        r_below = minimize_batch(obj, x, lo, hi, WEIBULL4.transforms, near=beside,
                                 near_fun=f_x + 0.005, **kw)
    assert r_beside.status[0] == 4 and r_beside.n_iter[0] == 0
    for r in (r_across, r_above, r_below):
        assert r.status[0] != 4 and r.n_iter[0] > 0


# A kink saddle: replicate 1775 of the 30-event dataset's bootstrap under zeros="include"
# (seed 5) stopped at let_th = 4 (a zero-event run's LET), s 0.42, w on its upper bound;
# its optimum (tests/reference.brute_force_profiled) is 0.0009 lower at let_th 6.45.
SADDLE_N = np.array([0, 0, 2, 4, 5, 2, 4, 8.0])
SADDLE = np.array([1.1168111732e-06, 4.0, 0.42147411587, 136.0])


def _profiled(theta, n):
    """The NLL of each row with sigma_sat at its conditional optimum (independent code)."""
    from reference import _shape, poisson_nll

    out = []
    for t in theta:
        g = _shape(SP_LET, *t[1:])
        a = n.sum() / (g @ SP_PHI)
        out.append(poisson_nll(np.r_[a, t[1:]], SP_LET, SP_PHI, n))
    return np.array(out)


def test_kink_escape_points_leave_a_kink_saddle_upwards_and_lower():
    from seufit.optimize import ESCAPE_STEPS, kink_escape_points

    N = SADDLE_N[None]
    lo, hi = WEIBULL4.batch_bounds(SP_LET, N, SP_PHI, np.ones_like(N))
    obj = PoissonObjective(WEIBULL4, SP_LET, SP_PHI, N, np.ones_like(N))
    # the saddle; the same point a hair off the kink (no kink saddle); the data fit's MLE
    # of the 30-event dataset for these counts' neighbour (on the kink at 2, but a minimum)
    off = SADDLE.copy()
    off[1] = 3.9
    theta = np.vstack([SADDLE, off])
    which, pts = kink_escape_points(obj, theta, np.repeat(lo, 2, 0), np.repeat(hi, 2, 0),
                                    WEIBULL4.transforms, obj.kinks, rows=np.zeros(2, int))
    assert which.tolist() == [0]
    assert pts.shape == (1, ESCAPE_STEPS.size, 4)
    # every trial raises let_th, and stays below the next kink (8, the cap) and in the box
    assert np.all(pts[0, :, 1] > 4.0) and np.all(pts[0, :, 1] <= 8.0)
    assert np.all(pts[0, :, 1:] >= lo[0, 1:]) and np.all(pts[0, :, 1:] <= hi[0, 1:] * (1 + 1e-12))
    # and the best is lower than the saddle, by independent code: no local optimum there
    f = _profiled(pts[0], SADDLE_N)
    assert f.min() < _profiled(SADDLE[None], SADDLE_N)[0] - 1e-6

    # In linear let_th coordinates (the fallback for a very wide user box) the points rise
    # as well.  (The eigenvector depends on the coordinates off a stationary point: these
    # are not lower here.)
    lin = ("log", "linear", "log", "log")
    w_lin, pts_lin = kink_escape_points(obj, SADDLE[None], lo, hi, lin, obj.kinks,
                                        rows=np.zeros(1, int))
    assert w_lin.tolist() == [0]
    assert np.all(pts_lin[0, :, 1] > 4.0) and np.all(pts_lin[0, :, 1] <= 8.0)

    # A further zero-event run at LET 5 (a small fluence: the saddle stays) is a kink on
    # the way up: the trials stop there.
    let5 = np.r_[SP_LET, 5.0]
    n5 = np.r_[SADDLE_N, 0.0][None]
    obj5 = PoissonObjective(WEIBULL4, let5, np.r_[SP_PHI, 1e3], n5, np.ones_like(n5))
    w5, pts5 = kink_escape_points(obj5, SADDLE[None], lo, hi, WEIBULL4.transforms,
                                  obj5.kinks, rows=np.zeros(1, int))
    assert w5.tolist() == [0]
    assert np.all(pts5[0, :, 1] > 4.0) and np.all(pts5[0, :, 1] <= 5.0)
    assert np.any(pts5[0, :, 1] == 5.0)  # (the long steps would have gone beyond)
    w5l, pts5l = kink_escape_points(obj5, SADDLE[None], lo, hi, lin, obj5.kinks,
                                    rows=np.zeros(1, int))
    assert w5l.tolist() == [0]
    assert np.all(pts5l[0, :, 1] > 4.0) and np.all(pts5l[0, :, 1] <= 5.0)

    # The 30-event dataset's own MLE under include also sits on a kink (2) with negative
    # curvature on its upper side, but raising let_th costs at first order there: it is a
    # local optimum, and none of its trial points is lower (the caller keeps it).
    n_data = np.array([0, 2, 2, 4, 8, 3, 7, 4.0])
    lo_d, hi_d = WEIBULL4.batch_bounds(SP_LET, n_data[None], SP_PHI, np.ones((1, 8)))
    obj_d = PoissonObjective(WEIBULL4, SP_LET, SP_PHI, n_data[None], np.ones((1, 8)))
    mle = np.array([[5.3458221932e-07, 2.0, 0.8965324763, 6.6847494905]])
    w_d, pts_d = kink_escape_points(obj_d, mle, lo_d, hi_d, WEIBULL4.transforms, obj_d.kinks,
                                    rows=np.zeros(1, int))
    assert w_d.tolist() == [0]
    assert _profiled(pts_d[0], n_data).min() > _profiled(mle, n_data)[0]
