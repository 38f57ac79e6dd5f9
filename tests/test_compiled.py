"""The compiled solver path (``seufit._compiled``) against the NumPy path and references."""

from __future__ import annotations

import numpy as np
import pytest
from reference import brute_force_nll, brute_force_profiled, finite_diff_hessian, poisson_nll_grad

from seufit import _compiled
from seufit.likelihood import PoissonObjective
from seufit.models import WEIBULL4, Weibull4, clip_inside
from seufit.optimize import backend_name, minimize_batch, solver_backend

pytestmark = pytest.mark.skipif(not _compiled.AVAILABLE, reason="numba not importable")

LET = np.array([1.5, 3.0, 6.0, 10.0, 20.0, 30.0, 45.0, 60.0])
FLUENCE = np.full(LET.size, 1e7)
INF4 = np.full(4, np.inf)
# _weibull_nll's conditional-sigma_sat arguments, switched off (prof, a_lo, a_hi, scratch)
NO_RESET = (False, 0.0, 0.0, np.empty((4, LET.size)), _compiled._constants(), np.empty(4))


def _problems(n_sets: int, seed: int, scale: float = 1.0):
    """Simulated count vectors over a range of regimes (sparse to dense, s < 1 and > 1)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n_sets:
        theta = np.array([10 ** rng.uniform(-6.5, -5.5) * scale, rng.uniform(0.0, 8.0),
                          rng.uniform(0.5, 4.0), rng.uniform(5.0, 40.0)])
        lam = WEIBULL4.value(theta[None], LET)[0] * FLUENCE
        N = rng.poisson(lam)
        if np.unique(LET[N > 0]).size >= 4:
            out.append(N)
    return np.array(out, float)


def _fit_rows(counts, zeros, starts_per_row=6, seed=0):
    """Every dataset from the MLE-like start and random starts; both solver paths."""
    rng = np.random.default_rng(seed)
    W = (counts > 0).astype(float) if zeros == "exclude" else np.ones_like(counts)
    lo, hi = WEIBULL4.batch_bounds(LET, counts, FLUENCE, W)
    obj = PoissonObjective(WEIBULL4, LET, FLUENCE, counts, W)
    m = len(counts)
    row = np.repeat(np.arange(m), starts_per_row)
    u = rng.uniform(size=(row.size, 4))
    th0 = lo[row] + u * (hi[row] - lo[row])
    th0[:, 0] = lo[row, 0] * (hi[row, 0] / lo[row, 0]) ** u[:, 0]
    th0 = clip_inside(th0, lo[row], hi[row])
    kw = dict(rows=row, kinks=obj.kinks, tol=1e-10)
    fast = minimize_batch(obj, th0, lo[row], hi[row], WEIBULL4.transforms, **kw)
    with solver_backend("numpy"):
        ref = minimize_batch(obj, th0, lo[row], hi[row], WEIBULL4.transforms, **kw)
    return obj, row, lo, hi, fast, ref


@pytest.mark.parametrize("zeros", ["exclude", "include"])
def test_both_paths_reach_the_same_best_optimum_per_dataset(zeros):
    counts = _problems(40, seed=3)
    obj, row, lo, hi, fast, ref = _fit_rows(counts, zeros)
    assert fast.converged.mean() > 0.9 and ref.converged.mean() > 0.9
    best_fast = np.full(len(counts), np.inf)
    best_ref = np.full(len(counts), np.inf)
    np.minimum.at(best_fast, row, np.where(fast.converged, fast.fun, np.inf))
    np.minimum.at(best_ref, row, np.where(ref.converged, ref.fun, np.inf))
    np.testing.assert_allclose(best_fast, best_ref, rtol=0, atol=1e-7)
    # Per row (same start), the two paths mostly land on the same local optimum.
    same = np.abs(fast.fun - ref.fun) < 1e-7
    assert same.mean() > 0.9
    # The returned value is the objective at the returned point.
    f_check = obj(fast.theta, 0, row)[0]
    np.testing.assert_allclose(fast.fun, f_check, rtol=1e-13, atol=1e-9)
    # (log coordinates: exp(log(bound)) may differ from the bound in the last bit)
    assert np.all(fast.theta >= lo[row] * (1 - 1e-14))
    assert np.all(fast.theta <= hi[row] * (1 + 1e-14))


def test_best_optimum_matches_an_independent_brute_force_minimum():
    counts = _problems(6, seed=11)
    obj, row, lo, hi, fast, _ = _fit_rows(counts, "exclude", starts_per_row=12, seed=1)
    for i, N in enumerate(counts):
        m = N > 0
        best = np.min(np.where(fast.converged & (row == i), fast.fun, np.inf))
        ref = brute_force_nll(LET[m], FLUENCE[m], N[m], lo[i], hi[i], n_starts=30, seed=i)[0]
        assert best <= ref + 1e-6


def test_rows_do_not_depend_on_the_other_rows_of_the_call():
    counts = _problems(12, seed=5)
    obj, row, lo, hi, fast, _ = _fit_rows(counts, "exclude", starts_per_row=3)
    rng = np.random.default_rng(0)
    th0 = clip_inside(lo[row] + rng.uniform(size=(row.size, 4)) * (hi[row] - lo[row]),
                      lo[row], hi[row])
    whole = minimize_batch(obj, th0, lo[row], hi[row], WEIBULL4.transforms, rows=row,
                           kinks=obj.kinks)
    for part in np.array_split(np.arange(row.size), 5)[::-1]:
        r = minimize_batch(obj, th0[part], lo[row[part]], hi[row[part]], WEIBULL4.transforms,
                           rows=row[part], kinks=obj.kinks)
        np.testing.assert_array_equal(r.theta, whole.theta[part])
        np.testing.assert_array_equal(r.fun, whole.fun[part])
        np.testing.assert_array_equal(r.status, whole.status[part])


def test_kernel_value_gradient_and_hessian_match_independent_formulas():
    rng = np.random.default_rng(2)
    x = LET.copy()
    for _ in range(20):
        theta = np.array([10 ** rng.uniform(-7, -5), rng.uniform(0, 1.4), rng.uniform(0.3, 5),
                          rng.uniform(2, 80)])
        N = rng.poisson(WEIBULL4.value(theta[None], x)[0] * FLUENCE).astype(float)
        W = np.ones_like(N)
        phi = np.array([np.log(theta[0]), theta[1], np.log(theta[2]), np.log(theta[3])])
        is_log = np.array([1, 0, 1, 1])  # let_th linear here; logcap checked below
        g = np.zeros(4)
        H = np.zeros((4, 4))
        dth = np.full(4, np.nan)
        f = _compiled._weibull_nll(phi, is_log, INF4, -INF4, x, FLUENCE, N, W, 2, g, H,
                                   np.empty(4), np.empty((4, 4)), *NO_RESET[:-1], dth)
        # d theta / d phi for the caller's chain rule: theta for log, 1 for linear
        np.testing.assert_allclose(dth, [theta[0], 1.0, theta[2], theta[3]], rtol=1e-15)
        cap = np.array([np.inf, 1.5, np.inf, np.inf])
        phi_c = phi.copy()
        phi_c[1] = np.log(cap[1] - theta[1])
        dth_c = np.full(4, np.nan)
        f_c = _compiled._weibull_nll(phi_c, np.array([1, 2, 1, 1]), cap, -INF4, x, FLUENCE, N,
                                     W, 2, g.copy(), H.copy(), np.empty(4), np.empty((4, 4)),
                                     *NO_RESET[:-1], dth_c)
        assert f_c == pytest.approx(f, rel=1e-13)
        # logcap: theta = cap - exp(phi), d theta / d phi = -(cap - theta)
        assert dth_c[1] == pytest.approx(-(cap[1] - theta[1]), rel=1e-13)
        H = np.triu(H) + np.triu(H, 1).T
        f_ref, g_ref = poisson_nll_grad(theta, x, FLUENCE, N)
        assert f == pytest.approx(f_ref, rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(g, g_ref, rtol=1e-7, atol=1e-9 * np.abs(g_ref).max())
        # Hessian: the exact one of the NumPy path (models.derivatives) to round-off, and
        # independent central differences of the reference gradient to their accuracy.
        H_np = PoissonObjective(WEIBULL4, x, FLUENCE, N)(theta[None], 2)[2][0]
        H_fd = finite_diff_hessian(lambda t, N=N: poisson_nll_grad(t, x, FLUENCE, N)[1], theta)
        scale = np.sqrt(np.outer(np.abs(np.diag(H_np)), np.abs(np.diag(H_np)))) + 1e-300
        np.testing.assert_allclose(H / scale, H_np / scale, atol=1e-10)
        np.testing.assert_allclose(H / scale, H_fd / scale, atol=1e-3)


def test_weights_leave_runs_out_exactly():
    counts = _problems(1, seed=9)[0]
    W = (counts > 0).astype(float)
    phi = np.array([np.log(1e-6), 0.5, np.log(2.0), np.log(10.0)])
    is_log = np.array([1, 0, 1, 1])
    g, H = np.zeros(4), np.zeros((4, 4))
    scratch = (np.empty(4), np.empty((4, 4)), *NO_RESET)
    f_w = _compiled._weibull_nll(phi, is_log, INF4, -INF4, LET, FLUENCE, counts, W, 0, g, H,
                                 *scratch)
    m = W > 0
    f_sub = _compiled._weibull_nll(phi, is_log, INF4, -INF4, LET[m], FLUENCE[m], counts[m], W[m],
                                   0, g, H,
                                 *scratch)
    assert f_w == f_sub


def test_fixed_parameters_stay_fixed_as_in_profiles():
    counts = _problems(4, seed=13)
    W = np.ones_like(counts)
    lo, hi = WEIBULL4.batch_bounds(LET, counts, FLUENCE, W)
    obj = PoissonObjective(WEIBULL4, LET, FLUENCE, counts, W)
    th0 = clip_inside(0.5 * (lo + hi), lo, hi)
    lo2, hi2 = lo.copy(), hi.copy()
    lo2[:, 2] = hi2[:, 2] = th0[:, 2]  # s fixed, as a profile point
    r = minimize_batch(obj, th0, lo2, hi2, WEIBULL4.transforms, kinks=obj.kinks)
    with solver_backend("numpy"):
        ref = minimize_batch(obj, th0, lo2, hi2, WEIBULL4.transforms, kinks=obj.kinks)
    np.testing.assert_array_equal(r.theta[:, 2], th0[:, 2])
    np.testing.assert_allclose(r.fun, ref.fun, rtol=0, atol=1e-7)


def test_dispatch_only_for_the_builtin_weibull_poisson_objective():
    class Shifted(Weibull4):
        def derivatives(self, theta, x, order=2):
            return super().derivatives(theta, x, order)

    counts = _problems(1, seed=1)
    obj = PoissonObjective(Shifted(), LET, FLUENCE, counts)
    from seufit.optimize import _compiled_spec

    with solver_backend("auto"):  # whatever SEUFIT_SOLVER says
        assert _compiled_spec(obj, 4, np.zeros(1, int)) is None
        assert _compiled_spec(PoissonObjective(WEIBULL4, LET, FLUENCE, counts), 4,
                              np.zeros(1, int)) is not None
        assert backend_name().startswith("numba")
    with solver_backend("numpy"):
        assert backend_name() == "numpy"
        assert _compiled_spec(PoissonObjective(WEIBULL4, LET, FLUENCE, counts), 4,
                              np.zeros(1, int)) is None
    with pytest.raises(ValueError, match="auto or numpy"):
        with solver_backend("gpu"):
            pass


def _symmetric(rng, p, k):
    """A symmetric p x p matrix with eigenvalues over 16 decades, every 10th k with a
    repeated one."""
    Q = np.linalg.qr(rng.normal(size=(p, p)))[0]
    lam = rng.normal(size=p) * 10.0 ** rng.uniform(-8, 8, size=p)
    if k % 10 == 0:
        lam[1] = lam[0]  # repeated eigenvalue
    A = (Q * lam) @ Q.T
    return 0.5 * (A + A.T)


def _assert_eigen(A, evals, evecs):
    """Eigenvalues as LAPACK's, A V = V diag(evals), V orthonormal."""
    ref = np.linalg.eigvalsh(A)
    np.testing.assert_allclose(np.sort(evals), ref, rtol=0, atol=1e-13 * np.abs(ref).max())
    np.testing.assert_allclose(A @ evecs, evecs * evals, rtol=0, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_allclose(evecs.T @ evecs, np.eye(len(A)), atol=1e-13)


def test_jacobi_eigendecomposition_matches_lapack():
    rng = np.random.default_rng(4)
    evals, evecs, work = np.empty(4), np.empty((4, 4)), np.empty((4, 4))
    for k in range(200):
        A = _symmetric(rng, 4, k)
        garbage = A.copy()  # the routine reads the upper triangle only
        garbage[np.tril_indices(4, -1)] = np.nan
        _compiled._sym_eig(garbage, evals, evecs, work)
        _assert_eigen(A, evals, evecs)


def test_scalar_jacobi_3x3_is_the_array_form_and_matches_lapack():
    # _eig3 (the profiled step's) does _sym_eig's rotations on scalars: the same numbers.
    rng = np.random.default_rng(5)
    evals, evecs, work = np.empty(3), np.empty((3, 3)), np.empty((3, 3))
    for k in range(300):
        A = _symmetric(rng, 3, k)
        if k % 7 == 0:
            A[0, 1] = A[1, 0] = 0.0  # a pair already zero: no rotation
        out = _compiled._eig3(A[0, 0], A[0, 1], A[0, 2], A[1, 1], A[1, 2], A[2, 2])
        ev, V = np.array(out[:3]), np.array(out[3:]).reshape(3, 3)
        _compiled._sym_eig(A, evals, evecs, work)
        assert np.array_equal(ev, evals) and np.array_equal(V, evecs)
        _assert_eigen(A, ev, V)


def test_cholesky_step_is_the_newton_step_and_refuses_an_indefinite_matrix():
    rng = np.random.default_rng(6)
    step = np.empty(4)
    n_refused = 0
    for k in range(300):
        Q = np.linalg.qr(rng.normal(size=(4, 4)))[0]
        lam = np.abs(rng.normal(size=4)) * 10.0 ** rng.uniform(-6, 6, size=4)
        if k % 3 == 0:
            lam[k % 4] *= -1.0  # indefinite
        A = (Q * lam) @ Q.T
        A = 0.5 * (A + A.T)
        garbage = A.copy()  # the routine reads the lower triangle only
        garbage[np.triu_indices(4, 1)] = np.nan
        g = rng.normal(size=4)
        ok = _compiled._cholesky_step(garbage, g, step)
        # Positive definite to the routine's pivot floor (1e-12 of the largest diagonal)
        assert ok == bool(lam.min() > 0), lam
        n_refused += not ok
        if ok:
            newton = -np.linalg.solve(A, g)
            cond = lam.max() / lam.min()
            np.testing.assert_allclose(step, newton, rtol=0,
                                       atol=1e-14 * cond * np.abs(newton).max())
    assert n_refused == 100


@pytest.mark.parametrize("zeros", ["exclude", "include"])
def test_compiled_screen_matches_the_matrix_product_version(zeros):
    counts = _problems(30, seed=21)
    W = (counts > 0).astype(float) if zeros == "exclude" else np.ones_like(counts)
    lo, hi = WEIBULL4.batch_bounds(LET, counts, FLUENCE, W)
    obj = PoissonObjective(WEIBULL4, LET, FLUENCE, counts, W)
    grid = WEIBULL4.screen_grid((lo.min(axis=0), hi.max(axis=0)))
    pts, nll = WEIBULL4.screen(obj, counts, W, lo, hi, grid, 5)
    with solver_backend("numpy"):
        pts_np, nll_np = WEIBULL4.screen(obj, counts, W, lo, hi, grid, 5)
    assert pts.shape == (30, 5, 4) and np.all(np.diff(nll, axis=1) >= 0)
    np.testing.assert_allclose(nll, nll_np, rtol=1e-12)
    np.testing.assert_allclose(pts, pts_np, rtol=1e-12)
    # Each reported value is the NLL at the reported point (sigma_sat at its optimum).
    rows = np.repeat(np.arange(30), 5)
    f = obj(pts.reshape(-1, 4), 0, rows)[0].reshape(30, 5)
    finite = np.isfinite(nll)
    np.testing.assert_allclose(nll[finite], f[finite], rtol=1e-10)
    # Brute force: no grid point inside the box beats the best one reported.
    for b in range(0, 30, 7):
        inside = np.all((grid[:, 1:] >= lo[b, 1:]) & (grid[:, 1:] <= hi[b, 1:]), axis=1)
        th = grid[inside].copy()
        S = WEIBULL4.value(np.column_stack([np.ones(len(th)), th[:, 1:]]), LET) * FLUENCE
        A = np.clip((W[b] * counts[b]).sum() / (S * W[b]).sum(axis=1), lo[b, 0], hi[b, 0])
        th[:, 0] = A
        f_all = obj(th, 0, np.full(len(th), b))[0]
        assert nll[b, 0] <= f_all.min() + 1e-9 * max(1.0, abs(f_all.min()))


@pytest.mark.parametrize("weights", ["exclude", "fractional"])
def test_compiled_screen_clips_sigma_sat_as_the_matrix_product_version(weights):
    # A narrow sigma_sat box: the conditional optimum of most grid points lies outside it,
    # above or below, where the kernel takes the bound's log instead of log(total / D).
    # Fractional weights are no 0/1 pattern: every dataset then gets its own sums.
    counts = _problems(30, seed=22)
    W = ((counts > 0).astype(float) if weights == "exclude"
         else np.random.default_rng(3).uniform(0.2, 1.0, counts.shape))
    lo, hi = WEIBULL4.batch_bounds(LET, counts, FLUENCE, (counts > 0).astype(float))
    mid = np.sqrt(lo[:, 0] * hi[:, 0])
    lo[:, 0], hi[:, 0] = 0.8 * mid, 1.25 * mid
    obj = PoissonObjective(WEIBULL4, LET, FLUENCE, counts, W)
    grid = WEIBULL4.screen_grid((lo.min(axis=0), hi.max(axis=0)))
    pts, nll = WEIBULL4.screen(obj, counts, W, lo, hi, grid, 40)
    with solver_backend("numpy"):
        pts_np, nll_np = WEIBULL4.screen(obj, counts, W, lo, hi, grid, 40)
    np.testing.assert_allclose(nll, nll_np, rtol=1e-12, atol=1e-11)  # (sums of terms ~100)
    np.testing.assert_allclose(pts, pts_np, rtol=1e-12)
    # Both bounds are reached among the reported points (the check covers both branches).
    assert np.any(pts[..., 0] == lo[:, None, 0]) and np.any(pts[..., 0] == hi[:, None, 0])


def test_weight_patterns_group_equal_rows_and_leave_other_weights_alone():
    W = np.array([[1, 0, 1], [1, 1, 1], [1, 0, 1], [0, 0, 1], [1, 1, 1.0]])
    pat, idx = _compiled.weight_patterns(W)
    assert len(pat) == 3
    np.testing.assert_array_equal(pat[idx], W)
    # Any other weights: each row is its own pattern.
    Wf = W * 0.5
    pat, idx = _compiled.weight_patterns(Wf)
    np.testing.assert_array_equal(pat, Wf)
    np.testing.assert_array_equal(idx, np.arange(5))
    # Too many runs to pack into one integer: each row its own pattern too.
    Wl = np.ones((3, 63))
    pat, idx = _compiled.weight_patterns(Wl)
    assert len(pat) == 3 and np.array_equal(idx, np.arange(3))


def test_results_record_which_solver_path_ran():
    import seufit

    with solver_backend("auto"):  # whatever SEUFIT_SOLVER says
        fr = seufit.fit("example:mle_article")
    assert fr.provenance["solver"].startswith("numba ")
    assert fr.provenance["versions"]["numba"]
    with solver_backend("numpy"):
        fr_np = seufit.fit("example:mle_article")
    assert fr_np.provenance["solver"] == "numpy"
    # same optimum, to the convergence tolerance
    assert abs(fr.nll - fr_np.nll) < 1e-8


def test_kernel_sets_sigma_sat_to_its_closed_form_conditional_optimum():
    # Poisson NLL in A for a fixed shape S: A sum(W S E) - sum(W N) log A + const, lowest at
    # A = sum(W N) / sum(W S E).  Checked by hand, against Model.scale_optimum, and by the
    # NLL being no lower at A (1 +- 1e-4).
    counts = _problems(5, seed=21)
    for N in counts:
        W = (N > 0).astype(float)
        theta = np.array([3e-6, 0.7, 1.4, 12.0])
        unit = WEIBULL4.value(np.array([[1.0, *theta[1:]]]), LET)[0]
        a_hand = np.sum(W * N) / np.sum(W * unit * FLUENCE)
        a_model = WEIBULL4.scale_optimum(theta[None], LET, FLUENCE, N, W)[0]
        assert a_model == pytest.approx(a_hand, rel=1e-14)
        phi = np.array([np.log(theta[0]), theta[1], np.log(theta[2]), np.log(theta[3])])
        kind = np.array([1, 0, 1, 1])
        g, H, dth = np.zeros(4), np.zeros((4, 4)), np.zeros(4)
        f = _compiled._weibull_nll(phi, kind, INF4, -INF4, LET, FLUENCE, N, W, 2, g, H,
                                   np.empty(4), np.empty((4, 4)), True, -50.0, 50.0,
                                   np.empty((4, LET.size)), _compiled._constants(), dth)
        assert np.exp(phi[0]) == pytest.approx(a_hand, rel=1e-13)
        assert dth[0] == pytest.approx(a_hand, rel=1e-13)  # sigma_sat at its optimum
        assert abs(g[0]) * a_hand < 1e-9 * np.sum(N)  # stationary in sigma_sat
        f_ref = poisson_nll_grad(np.array([a_hand, *theta[1:]]), LET[W > 0], FLUENCE[W > 0],
                                 N[W > 0])[0]
        assert f == pytest.approx(f_ref, rel=1e-13)
        for k in (1 - 1e-4, 1 + 1e-4):
            t = np.array([a_hand * k, *theta[1:]])
            assert poisson_nll_grad(t, LET[W > 0], FLUENCE[W > 0], N[W > 0])[0] > f
        # clipped to the box (internal coordinates)
        phi2 = phi.copy()
        _compiled._weibull_nll(phi2, kind, INF4, -INF4, LET, FLUENCE, N, W, 0, g, H,
                               np.empty(4), np.empty((4, 4)), True, -50.0,
                               np.log(a_hand) - 0.5, np.empty((4, LET.size)),
                               _compiled._constants(), dth)
        assert phi2[0] == np.log(a_hand) - 0.5


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_scale_reset_reaches_the_same_optima(backend):
    counts = _problems(300, seed=9)
    W = (counts > 0).astype(float)
    lo, hi = WEIBULL4.batch_bounds(LET, counts, FLUENCE, W)
    obj = PoissonObjective(WEIBULL4, LET, FLUENCE, counts, W)
    rows = np.arange(len(counts))
    th0 = clip_inside(np.tile([2e-6, 0.5, 1.5, 15.0], (len(counts), 1)), lo, hi)
    kw = dict(rows=rows, kinks=obj.kinks, tol=1e-10)
    with solver_backend(backend):
        on = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, **kw)
        off = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, scale_reset=False, **kw)
    both = on.converged & off.converged
    assert both.mean() > 0.9
    # Same local optimum from the same start in most rows.  From this poor common start
    # the reset lands in a lower one more often than not (measured: 28 rows against 13;
    # on 1,200 problems of four seeds 112 against 56, though 30 problems can go either way).
    same = np.abs(on.fun - off.fun) < 1e-7
    assert same[both].mean() > 0.8
    assert np.sum(on.fun < off.fun - 1e-7) >= np.sum(off.fun < on.fun - 1e-7)


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_scale_reset_saves_evaluations_from_a_warm_start(backend):
    # The bootstrap's case: replicates of one curve, started at that curve.
    theta = np.array([2e-6, 1.0, 1.5, 15.0])
    lam = WEIBULL4.value(theta[None], LET)[0] * FLUENCE
    C = np.random.default_rng(1).poisson(lam, size=(200, LET.size)).astype(float)
    W = (C > 0).astype(float)
    lo, hi = WEIBULL4.batch_bounds(LET, C, FLUENCE, W)
    obj = PoissonObjective(WEIBULL4, LET, FLUENCE, C, W)
    th0 = clip_inside(np.tile(theta, (len(C), 1)), lo, hi)
    kw = dict(rows=np.arange(len(C)), kinks=obj.kinks)
    with solver_backend(backend):
        on = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, **kw)
        off = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, scale_reset=False, **kw)
    assert np.mean(np.abs(on.fun - off.fun) < 1e-7) > 0.95
    assert on.n_eval.sum() < 0.97 * off.n_eval.sum()  # measured: 8 % fewer (compiled)


def test_both_paths_take_the_same_steps_with_the_scale_reset():
    # Same method in both paths: Newton iterations per row agree on most rows (evaluations
    # differ by design: the kernel reuses the derivatives of an accepted full step).
    counts = _problems(20, seed=4)
    obj, row, lo, hi, fast, ref = _fit_rows(counts, "exclude", starts_per_row=2)
    assert np.mean(fast.n_iter == ref.n_iter) > 0.8


def test_first_backtrack_is_the_breakpoint_of_the_full_step():
    from seufit.optimize import BREAKPOINT_MIN, _first_backtrack

    ph = np.array([[0.0, 0.0], [0.0, 0.9], [0.0, 0.0], [0.0, 1.0 - 1e-9]])
    move = np.array([[4.0, 0.1], [0.0, 1.0], [0.1, 0.1], [0.0, 1.0]])
    lo, hi = np.full((4, 2), -1.0), np.full((4, 2), 1.0)
    # row 0: leaves at 1/4; row 1: at 0.1; row 2: stays inside (1/2); row 3: already on
    # the bound (breakpoint 1e-9 < BREAKPOINT_MIN: plain halving along the projection)
    assert 1e-9 < BREAKPOINT_MIN
    expect = np.array([0.25, 0.1, 0.5, 0.5])
    np.testing.assert_allclose(_first_backtrack(ph, move, lo, hi), expect, rtol=1e-12)
    for i in range(4):
        push = np.zeros(2)
        got = _compiled._first_backtrack(ph[i], move[i], push, lo[i], hi[i], BREAKPOINT_MIN)
        assert got == pytest.approx(expect[i], rel=1e-12)
    # A pushed variable (epsilon-active) moves by its push, not its (zero) Newton step.
    got = _compiled._first_backtrack(np.array([0.0, 0.0]), np.zeros(2), np.array([0.0, 2.0]),
                                     lo[0], hi[0], BREAKPOINT_MIN)
    assert got == pytest.approx(0.5)  # push 2 leaves at 1/2: not below 1/2, halving


def test_kernels_read_the_solver_constants_at_call_time(monkeypatch):
    # numba keys its disk cache on _compiled.py's content only: constants frozen into a
    # cached kernel would survive a change in optimize.py.  They are passed at run time,
    # so the kernel follows the NumPy path when one changes.
    from seufit import optimize

    counts = _problems(10, seed=2)
    base = _fit_rows(counts, "exclude", starts_per_row=2)
    monkeypatch.setattr(optimize, "EPS_ACTIVE", 1e-9)
    monkeypatch.setattr(optimize, "BREAKPOINT_MIN", 0.6)  # never: plain halving
    changed = _fit_rows(counts, "exclude", starts_per_row=2)
    assert np.any(changed[4].n_iter != base[4].n_iter)  # the kernel saw the new values
    assert np.mean(changed[4].n_iter == changed[5].n_iter) > 0.8  # as the NumPy path did


@pytest.mark.parametrize("solver", ["auto", "numpy"])
def test_a_run_left_out_adds_no_kink(solver):
    # A replicate's zero-event run under zeros="exclude" has weight 0: the solver must
    # follow the same path as on the data without that run.  Stopping a let_th step at
    # that run's LET (a kink only when the run is in the likelihood) costs iterations.
    counts = _problems(60, seed=4)
    W = (counts > 0).astype(float)
    lo, hi = WEIBULL4.batch_bounds(LET, counts, FLUENCE, W)
    has = np.flatnonzero((counts[:, :3] == 0).any(axis=1) & (counts[:, 3:] > 0).all(axis=1))
    assert has.size >= 5
    obj = PoissonObjective(WEIBULL4, LET, FLUENCE, counts, W)
    rng = np.random.default_rng(1)
    rows = np.repeat(has, 4)
    u = rng.uniform(size=(rows.size, 4))
    th0 = clip_inside(lo[rows] + u * (hi[rows] - lo[rows]), lo[rows], hi[rows])
    with solver_backend(solver):
        full = minimize_batch(obj, th0, lo[rows], hi[rows], WEIBULL4.transforms, rows=rows,
                              kinks=obj.kinks)
        every = minimize_batch(obj, th0, lo[rows], hi[rows], WEIBULL4.transforms, rows=rows,
                               kinks=obj.kinks[:2])  # every LET taken as a kink
        same = []
        for i, d in enumerate(rows):
            m = counts[d] > 0
            red = PoissonObjective(WEIBULL4, LET[m], FLUENCE[m], counts[d, m])
            r = minimize_batch(red, th0[i:i + 1], lo[d], hi[d], WEIBULL4.transforms,
                               kinks=red.kinks)
            same.append(full.n_iter[i] == r.n_iter[0]
                        and np.allclose(full.theta[i], r.theta[0], rtol=1e-8, atol=0.0))
            if solver == "numpy" and not same[-1]:
                # The NumPy path sums the weight-0 terms too: round-off differs, and on a
                # flat ridge (55-63 iterations, sigma_sat on its bound) that moves the path
                # a little: 3 of 144 rows, same NLL to 2e-7.
                assert abs(full.fun[i] - r.fun[0]) < 1e-6
    assert np.all(same) if solver == "auto" else np.mean(same) > 0.95
    # The dead kinks do change the path when taken as kinks (the check above can fail):
    # 72 % of the rows take another number of iterations then.
    assert np.mean(every.n_iter != full.n_iter) > 0.5


def test_profiled_step_is_newton_when_positive_and_the_same_on_both_paths():
    # sigma_sat eliminated (Schur complement), the profiled Hessian's eigenvalues modified.
    from seufit.optimize import _modified_step, _profiled_step

    rng = np.random.default_rng(3)
    A = rng.normal(size=(400, 4, 4))
    H = A + A.transpose(0, 2, 1)
    H[:, 0, 0] = np.abs(H[:, 0, 0]) + 4.0  # sigma_sat's curvature is positive
    g = rng.normal(size=(400, 4))
    step, posdef = _profiled_step(H, g)
    assert 0 < posdef.sum() < 400
    # Positive definite: the Newton step itself.
    newton = -np.linalg.solve(H[posdef], g[posdef][..., None])[..., 0]
    np.testing.assert_allclose(step[posdef], newton, rtol=1e-9, atol=1e-12)
    # Otherwise a descent direction, and not the 4 x 4 modification's step.
    assert np.all(np.sum(g * step, axis=1) < 0)
    full = _modified_step(H[~posdef], g[~posdef])[0]
    assert np.all(np.abs(full - step[~posdef]).max(axis=1) > 1e-6)
    # The kernel's helper gives the same steps.
    st = np.empty(4)
    for i in range(len(H)):
        ok = _compiled._profiled_step(H[i].copy(), g[i].copy(), st)
        assert ok == posdef[i]
        np.testing.assert_allclose(st, step[i], rtol=1e-9, atol=1e-12 * np.abs(step[i]).max())


def _include_replicate(counts, backend, let_th0=None):
    """A bootstrap_article replicate under zeros="include", solved from the data's MLE
    (let_th moved to ``let_th0``): the row's result and the brute-force optimum."""
    import seufit

    fr = seufit.fit("example:bootstrap_article", zeros="include")
    fd = fr.fit_data
    N = np.array([counts], float)
    W = np.ones_like(N)
    lo, hi = WEIBULL4.batch_bounds(fd.let, N, fd.exposure, W)
    obj = PoissonObjective(WEIBULL4, fd.let, fd.exposure, N, W)
    start = fr.theta.copy()
    if let_th0 is not None:
        start[1] = let_th0
    th0 = clip_inside(start[None, :], lo, hi)
    with solver_backend(backend):
        res = minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms, kinks=obj.kinks,
                             tol=1e-10, max_iter=100)
    return res, brute_force_profiled(fd.let, fd.exposure, N[0])


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_a_row_on_a_zero_run_kink_converges_instead_of_crawling(backend):
    # bootstrap_article under zeros="include": a replicate with no event at LET 1 and 2.
    # From the MLE (let_th = 1, a kink) the row settles on the kink at LET 2, which the
    # log(cap - let_th) coordinate reaches an ulp below 2: "above" by an ulp, the run had
    # a second derivative of 1e14 in let_th and the row gained 8e-6 NLL per iteration up
    # to the iteration limit.  Within models._D_SNAP of its LET the run is off: the row
    # pins let_th on the kink, and once the rest has converged it is released and leaves
    # the kink for its optimum at let_th = 2.86 (brute force).
    res, (ref_f, ref_th) = _include_replicate([0.0, 0.0, 11, 17, 28, 20, 29, 35], backend)
    assert res.converged[0] and res.n_iter[0] < 40
    assert res.fun[0] == pytest.approx(ref_f, abs=1e-9)  # the crawl stopped 1.09 above it
    assert res.theta[0, 1] == pytest.approx(ref_th[1], abs=1e-5)
    # The model: a run an ulp above let_th is off, one 1e-14 above it is on.
    x = np.array([2.0])
    assert WEIBULL4.value(np.array([[1.0, np.nextafter(2.0, 0.0), 0.1, 1.0]]), x)[0, 0] == 0.0
    assert WEIBULL4.value(np.array([[1.0, 2.0 - 1e-14, 0.1, 1.0]]), x)[0, 0] > 0.01


@pytest.mark.parametrize("backend", ["auto", "numpy"])
@pytest.mark.parametrize("let_th0", [0.9, None])
def test_a_pin_on_a_kink_is_released_at_convergence(backend, let_th0):
    # bootstrap_article under zeros="include", a replicate whose optimum lies 2.7e-5 below
    # the zero-event run's LET (1).  Arriving there with s near 1, the step off the kink
    # does not pay and let_th is pinned on it; with s converged to 1.09 it does.  Without
    # the release the row converged on the kink, 1.6e-6 above its optimum.
    res, (ref_f, ref_th) = _include_replicate([0.0, 3, 4, 18, 21, 27, 39, 35], backend,
                                              let_th0)
    assert res.converged[0]
    assert res.fun[0] == pytest.approx(ref_f, abs=1e-9)
    assert 1.0 - res.theta[0, 1] == pytest.approx(1.0 - ref_th[1], rel=1e-2)


def _kink_trials_runs(zeros, backend, monkeypatch, s0=None, name="LS_KINK_TRIALS",
                      values=(8, 40)):
    """60 bootstrap_article replicates solved from the MLE (let_th = 1, on the zero-event
    run's LET; s moved to ``s0``) with the solver constant ``name`` at each of ``values``
    (default: LS_KINK_TRIALS at 8 and at 40, a plain 40-halving search)."""
    import seufit
    from seufit import optimize

    fr = seufit.fit("example:bootstrap_article", zeros="include")
    fd = fr.fit_data
    lam = fr.predict(fd.let) * fd.exposure
    N = np.random.default_rng(2).poisson(lam, size=(60, lam.size)).astype(float)
    W = np.ones_like(N) if zeros == "include" else (N > 0).astype(float)
    lo, hi = WEIBULL4.batch_bounds(fd.let, N, fd.exposure, W)
    obj = PoissonObjective(WEIBULL4, fd.let, fd.exposure, N, W)
    start = fr.theta.copy()
    if s0 is not None:
        start[2] = s0
    th0 = clip_inside(np.repeat(start[None, :], len(N), axis=0), lo, hi)
    out = []
    for k in values:
        monkeypatch.setattr(optimize, name, k)  # both paths read it per call
        with solver_backend(backend):
            out.append(minimize_batch(obj, th0, lo, hi, WEIBULL4.transforms,
                                      rows=np.arange(len(N)), kinks=obj.kinks, tol=1e-10))
    return out


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_a_steep_kink_search_gives_up_early_and_ends_in_the_same_place(backend, monkeypatch):
    # zeros="include": from let_th on a zero-event run's LET, a step lowering let_th below
    # it switches the run on as (LET - let_th)^s; with s < 1 no short step can pay, and
    # the search stops after LS_KINK_TRIALS trials instead of 40 (the pin follows either
    # way).  Same optima, about a fifth fewer evaluations.
    from seufit import optimize

    monkeypatch.setattr(optimize, "LS_KINK_FLOOR", 0.0)  # the trial cap alone
    short, full = _kink_trials_runs("include", backend, monkeypatch)
    assert short.converged.all() and full.converged.all()
    np.testing.assert_allclose(short.fun, full.fun, rtol=0, atol=1e-9)
    assert short.n_eval.sum() < 0.9 * full.n_eval.sum()


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_without_live_kinks_the_kink_trials_change_nothing(backend, monkeypatch):
    # zeros="exclude": a replicate's zero-event runs are out of its likelihood, so no
    # kink is live and every row runs exactly as before, bit for bit (from s = 0.7, where
    # a live kink at let_th = 1 would cut the search).
    short, full = _kink_trials_runs("exclude", backend, monkeypatch, s0=0.7)
    np.testing.assert_array_equal(short.fun, full.fun)
    np.testing.assert_array_equal(short.n_eval, full.n_eval)


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_a_released_pin_tries_one_step_down_a_steep_kink(backend, monkeypatch):
    # After a pin on the zero-event run's kink is released, a step down it with s < 1 gets
    # its full Newton step only (LS_KINK_RELEASED), not 14 trials by tenths: same optima.
    one, full = _kink_trials_runs("include", backend, monkeypatch, name="LS_KINK_RELEASED",
                                  values=(1, 14))
    assert one.converged.all() and full.converged.all()
    np.testing.assert_allclose(one.fun, full.fun, rtol=0, atol=1e-9)
    assert one.n_eval.sum() < full.n_eval.sum()


@pytest.mark.parametrize("backend", ["auto", "numpy"])
@pytest.mark.parametrize("s0", [None, 1.05])
def test_a_search_down_a_kink_stops_at_round_off_gains(backend, s0, monkeypatch):
    # A search lowering let_th from a live kink stops once alpha x the Newton decrement is
    # below the NLL's round-off level (LS_KINK_FLOOR; 0 turns the rule off).  From s = 1.05
    # (the run below the kink nearly as steep as for s < 1) the 40 halvings used to creep
    # down to accept gains of 1e-13.  Optima within that level (1e3 x tol), fewer evaluations.
    on, off = _kink_trials_runs("include", backend, monkeypatch, s0=s0, name="LS_KINK_FLOOR",
                                values=(1.0, 0.0))
    assert on.converged.all() and off.converged.all()
    np.testing.assert_allclose(on.fun, off.fun, rtol=0, atol=1e-7)
    assert on.n_eval.sum() < 0.95 * off.n_eval.sum()


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_without_live_kinks_the_kink_floor_changes_nothing(backend, monkeypatch):
    on, off = _kink_trials_runs("exclude", backend, monkeypatch, s0=1.05, name="LS_KINK_FLOOR",
                                values=(1.0, 0.0))
    np.testing.assert_array_equal(on.fun, off.fun)
    np.testing.assert_array_equal(on.n_eval, off.n_eval)


def test_steep_kink_is_s_below_one():
    th = np.array([[1e-6, 1.0, 0.5, 10.0], [1e-6, 1.0, 1.0, 10.0], [1e-6, 1.0, 2.0, 10.0]])
    assert WEIBULL4.steep_kink(th).tolist() == [True, False, False]


@pytest.mark.parametrize("path", ["kernel", "numpy"])
def test_the_kink_rules_apply_only_to_a_step_down_from_a_live_kink(path):
    # A row at let_th = 1 (internal log(cap - let_th), cap 2), a live kink there; its step
    # lowers let_th (internal coordinate up) or raises it.  The trial cap for s < 1 and the
    # round-off stop both take these rows only (with s: Weibull4.steep_kink, tested above).
    from seufit import optimize
    from seufit.optimize import _Coords

    lo, hi = np.array([[1e-7, 0.0, 0.1, 0.1]]), np.array([[1e-4, 2.0, 10.0, 100.0]])
    co = _Coords(WEIBULL4.transforms, lo, hi)

    def down(move=0.3, let_th=1.0, live=(True, True)):
        v = co.internal(np.array([[1e-5, let_th, 0.5, 10.0]]), np.arange(1))[0, 1]
        kvi = np.where(live, co.kinks(1, np.array([0.5, 1.0]), np.arange(1))[0], np.nan)
        if path == "numpy":
            return bool(optimize._kink_down(np.array([v]), np.array([move]), kvi[None, :],
                                            co.lo_i[:, 1], co.hi_i[:, 1], co.kind[1])[0])
        return bool(_compiled._kink_down(v, move, kvi, co.lo_i[0, 1], co.hi_i[0, 1],
                                         co.kind[1]))

    assert down()
    assert not down(move=-0.3)  # moving up, away from the run: smooth
    assert not down(move=0.0)  # a pinned parameter does not move
    assert not down(let_th=0.8)  # not on a kink
    assert not down(live=(True, False))  # a kink of no run in the likelihood
