"""One batched, box-constrained second-order solver for every fit in seufit.

``minimize_batch`` fits B problems at once (multi-start, bootstrap replicates,
profile points): a projected Newton method (Bertsekas 1982) on internal
coordinates (log for scale parameters), with eigenvalue-modified Hessians where
the curvature is not positive and a backtracking Armijo search along the
projected path.  Each row carries its own bounds, convergence flag and counters.

``minimize_lbfgsb`` is the articles' recipe (scipy L-BFGS-B on raw parameters,
finite-difference gradients), kept as the reference that benchmarks compare to.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

__all__ = ["BatchResult", "minimize_batch", "minimize_lbfgsb", "STATUS", "solver_backend",
           "backend_name", "kink_escape_points"]

# "auto": the compiled path (``_compiled``) for the Weibull / Poisson objective when numba
# is importable, NumPy otherwise; "numpy" forces the array path (reference, benchmarks).
# SEUFIT_SOLVER=numpy sets the default for a whole process tree (workers included).
_BACKEND = {"name": os.environ.get("SEUFIT_SOLVER", "auto")}


@contextmanager
def solver_backend(name: str):
    """Temporarily force the solver path: ``"auto"`` or ``"numpy"``."""
    if name not in ("auto", "numpy"):
        raise ValueError(f"solver backend must be auto or numpy, got {name!r}")
    old = _BACKEND["name"]
    _BACKEND["name"] = name
    try:
        yield
    finally:
        _BACKEND["name"] = old


def _setting() -> str:
    name = _BACKEND["name"]
    if name not in ("auto", "numpy"):  # a mistyped SEUFIT_SOLVER must not pass silently
        raise ValueError(f"SEUFIT_SOLVER must be auto or numpy, got {name!r}")
    return name


def compiled_enabled() -> bool:
    """True when the compiled kernels are used (numba importable, NumPy path not forced)."""
    from . import _compiled

    return _setting() != "numpy" and _compiled.AVAILABLE


def compiled_applies(model) -> bool:
    """True when the compiled kernel implements ``model``'s formula: the built-in Weibull
    (not a subclass that changes its formula) in its own coordinates."""
    from .models import Weibull4

    return (isinstance(model, Weibull4) and type(model).derivatives is Weibull4.derivatives
            and tuple(model.transforms) == Weibull4.transforms)


def backend_name(model=None) -> str:
    """The solver path of Poisson fits (of ``model``, when given), for provenance."""
    from . import _compiled

    if not compiled_enabled() or (model is not None and not compiled_applies(model)):
        return "numpy"
    return _compiled.backend_info()

# Relative distance (of the box width, internal coordinates) within which a variable
# whose gradient points out of the box is held on its bound (the epsilon-active set).
EPS_ACTIVE = 1e-5
# After a rejected full step that left the box, the line search's next trial is the
# step to the first bound it crosses (the breakpoint) when that lies in this range
# (below it the variable is already on its bound: plain halving along the projection).
BREAKPOINT_MIN = 1e-6
# A predicted gain (half the Newton decrement) below 1e3 * tol, or below this fraction of
# |NLL|, is at round-off level: a step cannot show it, and the row counts as converged.
# The relative part matters only for huge counts (|NLL| > 1e6; 38 million events give
# |NLL| ~ 6e8, where the NLL's round-off is ~1e-7 and the absolute test alone stalled
# 20 % of the replicates); 1e-13 is ten times the gain a line search step must show.
ROUNDOFF_REL = 1e-13

# Row status codes.  "joined": the row came within ``near_radius`` of the known optimum
# it was given (``minimize_batch(near=...)``) and stopped there, as a duplicate of it.
STATUS = {0: "converged", 1: "max_iter", 2: "stalled", 3: "non_finite", 4: "joined"}
# A row joins a known optimum when every internal coordinate (log sigma_sat,
# log(cap - let_th), log s, log w) is within NEAR_RADIUS of it, its NLL is at most
# NEAR_EXCESS above it, and no kink of let_th lies between them (docs/bootstrap.md).
# Measured against the same estimator without joins (5,000 replicates x 2 seeds of the
# three examples and the 30-event dataset, both zero policies): 0.1 and 0.01 lost no
# replicate's optimum; 0.3 lost 1-2 per 5,000 with zeros="include", and a radius of 0.1
# without the NLL condition lost one there (a start passing by, 0.25 NLL above).
# A kink parameter's pin is released once at convergence (see minimize_batch); the line
# searches after that backtrack by LS_RELEASED_SHRINK, at most LS_RELEASED trials (down
# to 1e-13 of the first): a step off the kink that pays is tiny when it exists, and a
# row whose kink is its optimum would otherwise spend 40 halvings to find that out.
LS_RELEASED = 14
LS_RELEASED_SHRINK = 0.1
# A row on a live kink whose step lowers the kink parameter below it, with the model's
# one-sided slope there infinite (Model.steep_kink: the Weibull with s < 1, where a
# zero-event run at that LET switches on as (let - let_th)^s), gets at most this many
# trials: arbitrarily short steps cannot pay there, so halving 40 times only delays the
# pin that follows.  Only zeros="include" has live kinks.  Measured on 8,000 replicates
# (the 30-event dataset and bootstrap_article, 2 seeds each, docs/bootstrap.md): every
# NLL within 1e-11 of the 40-trial search, the same misses, about a fifth less time.
LS_KINK_TRIALS = 8
# The same search after a released pin (see LS_RELEASED) gets one trial, the full step:
# the 8,000 replicates' NLLs were bit for bit those of the 14-trial search.
LS_KINK_RELEASED = 1
# A search that lowers the kink parameter from a live kink stops once the next trial's
# first-order gain, alpha times the Newton decrement, is below the round-off level of the
# NLL (ROUNDOFF_REL, 1e3 x tol): with s just above 1 the run switching on below the kink
# is nearly as steep as with s < 1, and the search crept down 30-40 halvings to accept
# gains of 1e-13 (docs/bootstrap.md).  LS_KINK_FLOOR scales that level (0: rule off).
LS_KINK_FLOOR = 1.0
NEAR_RADIUS = 0.1
NEAR_EXCESS = 1e-2
# A row already this far below the known optimum has beaten it: it goes on.
NEAR_BELOW = 1e-6


@dataclass(frozen=True)
class BatchResult:
    """Per-row outcome of :func:`minimize_batch`.

    Attributes
    ----------
    theta : (B, p) parameters in physical units.
    fun : (B,) objective at ``theta``.
    converged : (B,) True where the Newton decrement and projected gradient are small.
    status : (B,) codes, see ``STATUS``.
    n_iter, n_eval : (B,) Newton iterations and objective evaluations.
    proj_grad : (B,) infinity norm of the projected gradient, internal coordinates.
    at_lower, at_upper : (B, p) parameters on a bound (bound active at the optimum).
    """

    theta: np.ndarray
    fun: np.ndarray
    converged: np.ndarray
    status: np.ndarray
    n_iter: np.ndarray
    n_eval: np.ndarray
    proj_grad: np.ndarray
    at_lower: np.ndarray
    at_upper: np.ndarray


def _cholesky_solve(H: np.ndarray, g: np.ndarray):
    """Solve H x = g for a batch of small matrices, vectorised over the batch.

    Returns ``(x, ok)``; ``ok`` is False where H is not (numerically) positive
    definite, and x is meaningless there.  One LAPACK call per 4x4 matrix (what
    ``numpy.linalg`` does) costs more than the arithmetic, hence this loop over
    the matrix size instead of the batch.
    """
    B, p = g.shape
    L = np.zeros_like(H)
    ok = np.ones(B, bool)
    scale = np.maximum(np.max(np.abs(np.diagonal(H, axis1=1, axis2=2)), axis=1), 1e-300)
    for j in range(p):
        d = H[:, j, j] - np.sum(L[:, j, :j] ** 2, axis=1)
        ok &= d > 1e-12 * scale
        ljj = np.sqrt(np.where(ok, d, 1.0))
        L[:, j, j] = ljj
        for i in range(j + 1, p):
            L[:, i, j] = (H[:, i, j] - np.sum(L[:, i, :j] * L[:, j, :j], axis=1)) / ljj
    y = np.empty_like(g)
    for i in range(p):
        y[:, i] = (g[:, i] - np.sum(L[:, i, :i] * y[:, :i], axis=1)) / L[:, i, i]
    x = np.empty_like(g)
    for i in reversed(range(p)):
        x[:, i] = (y[:, i] - np.sum(L[:, i + 1:, i] * x[:, i + 1:], axis=1)) / L[:, i, i]
    return x, ok


# Kinds of internal coordinate: phi = theta, log(theta), or log(upper - theta).
_KIND = {"linear": 0, "log": 1, "logcap": 2}
# "logcap": the wall of the coordinate sits this fraction of the box width below the
# upper bound (the Weibull threshold cap, where a run with events gets lambda = 0).
CAP_FLOOR = 1e-9
_CAP_FIXED = -800.0
# A wider box (user bounds) falls back to linear: the Hessian in log(upper - theta) scales
# like the width squared, and from a width of 1e6 on the solver stalled in a review test.
LOGCAP_MAX_WIDTH = 1e4


class _Coords:
    """Internal coordinates of a batch, per row.

    ``"logcap"`` (the Weibull threshold) is phi = log(upper - theta): near the lowest
    LET with events the NLL rises like a barrier in theta, and Newton steps in theta
    crawl there (sparse replicates whose optimum sits a few 1e-6 below the cap), while
    in phi the model is smooth (z = exp(s (phi - log w)) for that run).  A parameter
    whose bounds are not finite, or further apart than ``LOGCAP_MAX_WIDTH``, in some row
    falls back to ``"linear"`` for the whole batch.
    """

    def __init__(self, transforms, lo, hi):
        kind = np.array([_KIND[t] for t in transforms])
        for j in np.flatnonzero(kind == 2):
            if not (np.all(np.isfinite(hi[:, j])) and np.all(np.isfinite(lo[:, j]))
                    and np.all(hi[:, j] - lo[:, j] <= LOGCAP_MAX_WIDTH)):
                kind[j] = 0
        self.kind, self.lo, self.hi = kind, lo, hi
        self.log, self.cap = kind == 1, kind == 2
        width = hi - lo
        self.capfix = self.cap[None, :] & ~(width > 0)
        lo_i, hi_i = lo.copy(), hi.copy()
        with np.errstate(divide="ignore"):
            lo_i[:, self.log] = np.log(lo[:, self.log])
            hi_i[:, self.log] = np.log(hi[:, self.log])
            wc = np.where(width[:, self.cap] > 0, width[:, self.cap], 1.0)
            lo_i[:, self.cap] = np.log(CAP_FLOOR * wc)
            hi_i[:, self.cap] = np.log(wc)
        # A fixed threshold sits on its upper bound: exp(-800) is exactly 0 in float64, so
        # phi = -800 gives upper - 0 (a finite value keeps step arithmetic free of NaN).
        lo_i[self.capfix] = hi_i[self.capfix] = _CAP_FIXED
        self.lo_i, self.hi_i = lo_i, hi_i
        # Scale of the relative tolerances near a bound (epsilon-active set, bound flags):
        # the internal width; for logcap, 1, so that they are relative distances to the
        # cap and, at the lower end, the same fraction of the physical width as linear.
        # Capped at LOGCAP_MAX_WIDTH: in a very wide linear box (let_th under user bounds of
        # 1e8) 1e-5 of the width is far from "near the bound" (1e3 there), and the
        # epsilon-active set pushed the threshold across the curve, then stalled.
        w = np.minimum(hi_i - lo_i, LOGCAP_MAX_WIDTH)
        self.width_i = np.where(self.cap[None, :], 1.0,
                                np.where(np.isfinite(w), np.maximum(w, 1e-12), 1.0))

    def internal(self, theta, r):
        out = np.array(theta, float, copy=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, self.log] = np.log(theta[:, self.log])
            out[:, self.cap] = np.log(np.maximum(self.hi[r][:, self.cap] - theta[:, self.cap],
                                                 0.0))
        out[self.capfix[r]] = _CAP_FIXED
        return out

    def physical(self, phi, r):
        out = np.array(phi, float, copy=True)
        out[:, self.log] = np.exp(phi[:, self.log])
        # At phi = log(width) (theta's lower bound), hi - exp(phi) misses the bound by
        # round-off (8.9e-16 instead of 0 for let_th): the bound itself is returned there.
        lo_c = self.lo[r][:, self.cap]
        val = np.maximum(self.hi[r][:, self.cap] - np.exp(phi[:, self.cap]), lo_c)
        out[:, self.cap] = np.where(phi[:, self.cap] >= self.hi_i[r][:, self.cap], lo_c, val)
        return out

    def slopes(self, theta, r):
        """d theta / d phi and d2 theta / d phi2, each (m, p)."""
        d1 = np.ones_like(theta)
        d2 = np.zeros_like(theta)
        d1[:, self.log] = d2[:, self.log] = theta[:, self.log]
        d1[:, self.cap] = d2[:, self.cap] = theta[:, self.cap] - self.hi[r][:, self.cap]
        return d1, d2

    def derivatives(self, theta, r, g, H):
        """Gradient and Hessian ``g (m, p)``, ``H (m, p, p)`` (physical units) in internal
        coordinates, by the chain rule."""
        d1, d2 = self.slopes(theta, r)
        Hi = H * d1[:, :, None] * d1[:, None, :]
        diag = np.arange(theta.shape[1])
        Hi[:, diag, diag] += g * d2
        return g * d1, Hi

    def kinks(self, j, kv, r):
        """Kink values of parameter ``j`` in internal coordinates, (m, K); NaN if outside."""
        kv = np.asarray(kv, float)[None, :]
        if self.kind[j] == 1:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.broadcast_to(np.log(kv), (len(r), kv.size))
        if self.kind[j] == 2:
            gap = self.hi[r][:, j, None] - kv
            floor = CAP_FLOOR * (self.hi[r][:, j, None] - self.lo[r][:, j, None])
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(gap > floor, np.log(np.where(gap > 0, gap, 1.0)), np.nan)
        return np.broadcast_to(kv, (len(r), kv.size))


def minimize_batch(
    objective,
    theta0: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    transforms: tuple[str, ...],
    *,
    rows: np.ndarray | None = None,
    kinks: tuple[int, np.ndarray] | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
    scale_reset: bool = True,
    near: np.ndarray | None = None,
    near_fun: np.ndarray | None = None,
    near_radius: float | None = None,
) -> BatchResult:
    """Minimise a batch of smooth objectives under box constraints.

    Parameters
    ----------
    objective : callable
        ``objective(theta, order, rows) -> (f, grad, hess)`` with ``theta`` of
        shape ``(m, p)``; ``rows`` are indices into the batch (for per-row data).
    theta0 : (B, p)
        Starting points, inside the box.
    lower, upper : (p,) or (B, p)
        Bounds in physical units; ``lower == upper`` fixes a parameter.
    transforms : tuple of {"log", "linear", "logcap"}
        Internal coordinate per parameter: theta, log(theta) or log(upper - theta)
        (see ``_Coords``).
    rows : (B,) int, optional
        Dataset index of each row, passed through to ``objective``.
    kinks : (index, values) or (index, values, live), optional
        A parameter and the values where the objective has a kink (the
        Weibull threshold at each tested LET: for s < 1 the one-sided slope is
        infinite there).  A step stops at the next kink on its way; a row that
        cannot descend while sitting on a kink keeps the parameter there.  ``live (D, K)``
        (or ``(1, K)``) marks the values that are kinks of dataset D's objective
        (``rows``); the others are ignored for that dataset.
    tol : float
        Convergence when the predicted decrease (half the Newton decrement) is
        below ``tol`` NLL units with positive curvature, or the projected
        gradient vanishes.
    max_iter : int
        Newton iterations per row.
    scale_reset : bool
        Where the objective has a multiplicative scale parameter in log coordinates
        (``objective.scale_index``, e.g. sigma_sat with a Poisson likelihood), put it at
        its closed-form conditional optimum at the start and at every trial point of the
        line search (rows where it is not fixed).  That lowers the objective (except
        where a run with events has an expected count below the likelihood's floor, far
        from any optimum), and it cuts the Newton iterations along the sigma_sat-w
        ridge of curves that do not saturate (docs/bootstrap.md).
    near : (B, p), optional
        A known optimum of each row's objective (physical units; a row of NaN: none),
        e.g. the result of another start on the same dataset.  A row stops, with status
        4 ("joined"), at the first iterate whose internal coordinates are all within
        ``near_radius`` of it, between the same two kinks, with an NLL at most
        ``NEAR_EXCESS`` above ``near_fun`` and at most ``NEAR_BELOW`` below it (a
        row lower than that has beaten it): from there it would converge to that
        optimum, which the caller already has.  Its ``theta`` and ``fun`` are that
        iterate's.  A known point on a kink is not joined.
    near_fun : (B,), optional
        The NLL of ``near`` (default: no condition on the row's NLL).
    near_radius : float, optional
        See ``near``; default ``NEAR_RADIUS`` (read at call time).

    Returns
    -------
    BatchResult
    """
    theta0 = np.atleast_2d(np.asarray(theta0, float))
    B, p = theta0.shape
    lo = np.broadcast_to(np.asarray(lower, float), (B, p))
    hi = np.broadcast_to(np.asarray(upper, float), (B, p))
    co = _Coords(transforms, lo, hi)
    lo_i, hi_i = co.lo_i, co.hi_i
    fixed = lo_i >= hi_i
    data_rows = np.arange(B) if rows is None else np.asarray(rows)
    every = np.arange(B)

    phi = np.clip(co.internal(np.clip(theta0, lo, hi), every), lo_i, hi_i)
    js = getattr(objective, "scale_index", None) if scale_reset else None
    steep_kink = getattr(getattr(objective, "model", None), "steep_kink", None)
    if js is not None and co.kind[js] != 1:
        js = None
    live_rows = None
    if kinks is not None:
        kinks, live_rows = _split_kinks(kinks, data_rows)
    near_i = None
    near_radius = NEAR_RADIUS if near_radius is None else float(near_radius)
    # Without near_fun, no condition on the row's NLL.
    near_f = np.zeros(B) if near_fun is None else np.broadcast_to(
        np.asarray(near_fun, float), (B,))
    j_excess, j_below = (np.inf, np.inf) if near_fun is None else (NEAR_EXCESS, NEAR_BELOW)
    if near is not None:
        near = np.broadcast_to(np.asarray(near, float), (B, p))
        ok = np.isfinite(near).all(axis=1)
        near_i = np.full((B, p), np.nan)
        near_i[ok] = np.clip(co.internal(near[ok], every[ok]), lo_i[ok], hi_i[ok])
    spec = _compiled_spec(objective, p, data_rows)
    if near_i is not None and kinks is not None and spec is None:
        kvi_all = _live(co.kinks(kinks[0], kinks[1], every), live_rows, every)
        near_side = _kink_side(near_i[:, kinks[0]], kvi_all)
        # A point pinned on a kink is no smooth optimum: another row there may leave the
        # kink on the other side.  (The compiled kernel drops such a point itself.)
        near_i[near_side % 2 == 1] = np.nan
    if spec is not None:
        from ._compiled import solve_rows

        N, W, drow = spec
        phi, f, proj_grad, status, n_iter, n_eval, act_lo, act_hi = solve_rows(
            objective.x, objective.exposure, N, W, phi, lo_i, hi_i, co.kind, lo, hi, drow,
            kinks, tol, max_iter, scale_reset=js == 0, live=live_rows, near=near_i,
            near_f=near_f, radius=near_radius, excess=j_excess, below=j_below)
        return _result(phi, f, status, n_iter, n_eval, proj_grad, act_lo, act_hi, fixed, co)
    if js is not None:
        _scale_reset(objective, co, phi, every, data_rows, js, fixed)
    f = objective(co.physical(phi, every), 0, data_rows)[0].copy()
    n_eval = np.ones(B, int)
    n_iter = np.zeros(B, int)
    status = np.full(B, 1, int)
    proj_grad = np.full(B, np.inf)
    act_lo = np.zeros((B, p), bool)
    act_hi = np.zeros((B, p), bool)
    # The kink parameter, pinned on a kink after a failed line search: for s < 1 its
    # one-sided slope is infinite there, so the gradient computed there cannot be trusted.
    pinned = np.zeros((B, p), bool)
    # That pin is provisional: it was set where the line search failed, with the other
    # parameters not yet converged.  At convergence it is released once, and the row goes
    # on if a step off the kink now pays (a row stuck on the kink of a zero-event run with
    # its optimum a hair below it, s near 1 when pinned).
    released = np.zeros(B, bool)
    active = np.flatnonzero(np.isfinite(f))
    status[~np.isfinite(f)] = 3
    eye = np.eye(p)

    for _ in range(max_iter):
        if near_i is not None and active.size:
            # (NaN, no known optimum: never within the radius)
            joined = np.all(np.abs(phi[active] - near_i[active]) < near_radius, axis=1)
            joined &= ((f[active] <= near_f[active] + j_excess)
                       & (f[active] >= near_f[active] - j_below))
            if kinks is not None:
                # A known optimum beyond a kink is not this row's to join: the line
                # search stops at the kink, and the other side may hold another optimum.
                kj = kinks[0]
                joined &= (_kink_side(phi[active, kj], kvi_all[active])
                           == near_side[active])
            status[active[joined]] = 4
            active = active[~joined]
        if active.size == 0:
            break
        a = active
        ph = phi[a]
        th = co.physical(ph, a)
        fa, g, H = objective(th, 2, data_rows[a])
        n_eval[a] += 1
        n_iter[a] += 1
        # Chain rule to internal coordinates.
        gi, Hi = co.derivatives(th, a, g, H)
        # epsilon-active set (Bertsekas 1982): a variable within EPS_ACTIVE of a bound, its
        # gradient pointing out, leaves the Newton system and is moved onto the bound.
        # Without this, a start a hair inside a bound (clip_inside) takes a Newton step
        # along the bound that the projection bends into nonsense.
        eps_a = EPS_ACTIVE * co.width_i[a]
        on_lo = (ph <= lo_i[a] + eps_a) & (gi > 0)
        on_hi = (ph >= hi_i[a] - eps_a) & (gi < 0)
        free = ~(on_lo | on_hi | fixed[a] | pinned[a])
        act_lo[a], act_hi[a] = on_lo, on_hi
        pushed = (on_lo | on_hi) & ~(fixed[a] | pinned[a])
        push = np.where(pushed, np.where(on_lo, lo_i[a], hi_i[a]) - ph, 0.0)
        gf = np.where(free, gi, 0.0)
        pg = np.max(np.abs(gf), axis=1)
        proj_grad[a] = pg
        mask2 = free[:, :, None] & free[:, None, :]
        Hf = np.where(mask2, Hi, eye)
        g_used = np.where(free | pushed, gi, 0.0)
        if not np.all(np.isfinite(Hf)) or not np.all(np.isfinite(g_used)):
            bad = ~(np.isfinite(Hf).all(axis=(1, 2)) & np.isfinite(g_used).all(axis=1))
            Hf[bad] = eye
            gf[bad] = 0.0
            push[bad] = 0.0
            status[a[bad]] = 3
        push_dec = -np.sum(np.where(pushed, gi, 0.0) * push, axis=1)
        # Newton step by Cholesky where the curvature is positive (most rows); elsewhere
        # eigenvalue modification (|lambda| with a floor) gives a descent direction.
        step, posdef = _cholesky_solve(Hf, gf)
        step = -step
        bad = np.flatnonzero(~posdef)
        if js == 0:
            # sigma_sat at its conditional optimum: the eigenvalues modified are those of the
            # Hessian profiled over it (_profiled_step); the others' as they are.
            use = ~fixed[a[bad], 0] & (Hf[bad, 0, 0] > 0)
            prof = bad[use]
            bad = bad[~use]
            if prof.size:
                step[prof], posdef[prof] = _profiled_step(Hf[prof], gf[prof])
        if bad.size:
            step[bad], posdef[bad] = _modified_step(Hf[bad], gf[bad])
        step = np.where(free, step, 0.0)
        decrement = -np.sum(gf * step, axis=1) + push_dec
        # Round-off level of a predicted gain (ROUNDOFF_REL)
        floor = np.maximum(1e3 * tol, ROUNDOFF_REL * np.abs(f[a]))
        done = ((posdef & (0.5 * decrement < tol)) | ((pg < 1e-13) & (push_dec < tol)))
        done &= status[a] != 3
        status[a[done]] = 0
        # Line search for the rest.
        go = ~done & (status[a] != 3)
        idx = np.flatnonzero(go)
        alpha = np.ones(idx.size)
        accepted = np.zeros(idx.size, bool)
        f_old = f[a[idx]]
        new_phi = ph[idx].copy()
        new_f = f_old.copy()
        pending = np.arange(idx.size)
        step_lo = lo_i[a[idx]]
        step_hi = hi_i[a[idx]]
        if kinks is not None:
            # Stop at the next kink in the direction of travel (not the one we sit on).
            kj, kv = kinks
            kvi = _live(co.kinks(kj, kv, a[idx]), live_rows, a[idx])
            cur = ph[idx, kj][:, None]
            e_k = 1e-9 * np.maximum(np.abs(cur), 1.0)
            below = np.where(kvi < cur - e_k, kvi, -np.inf).max(axis=1)
            above = np.where(kvi > cur + e_k, kvi, np.inf).min(axis=1)
            step_lo = step_lo.copy()
            step_hi = step_hi.copy()
            step_lo[:, kj] = np.maximum(step_lo[:, kj], below)
            step_hi[:, kj] = np.minimum(step_hi[:, kj], above)
            if co.kind[kj] == 0:
                # A linear kink parameter's upper bound is a wall (the threshold cap: a
                # run with events gets lambda = 0 there), so a step stops short of it.
                cap = hi_i[a[idx], kj]
                with np.errstate(invalid="ignore"):
                    width = cap - lo_i[a[idx], kj]
                    # (an infinite lower bound: a unit width, not a wall at -inf)
                    width = np.where(np.isfinite(width), width, 1.0)
                    wall = cap - CAP_FLOOR * np.maximum(width, 1e-12)
                step_hi[:, kj] = np.minimum(step_hi[:, kj], np.where(np.isfinite(cap), wall,
                                                                     np.inf))
        n_trials = np.full(idx.size, 40)
        # Rows stepping down from a live kink (kvi, kj: the step box's, above): both kink
        # rules of the search below apply to them only.
        kdown = (np.zeros(idx.size, bool) if kinks is None
                 else _kink_down(ph[idx, kj], step[idx, kj] + push[idx, kj], kvi,
                                 lo_i[a[idx], kj], hi_i[a[idx], kj], co.kind[kj]))
        for _ls in range(40):
            if pending.size == 0:
                break
            k = idx[pending]
            # (pushed variables have step 0, free ones push 0; the push shrinks with alpha
            # too, so that a push that overshoots can be backtracked)
            move = alpha[pending, None] * (step[k] + push[k])
            trial = np.clip(ph[k] + move, step_lo[pending], step_hi[pending])
            g_k = np.where(pushed[k], gi[k], gf[k])
            armijo = f_old[pending] + 1e-4 * np.sum(g_k * (trial - ph[k]), axis=1)
            if js is not None:
                _scale_reset(objective, co, trial, a[k], data_rows, js, fixed)
            ft = objective(co.physical(trial, a[k]), 0, data_rows[a[k]])[0]
            n_eval[a[k]] += 1
            # Real progress required: a step that only shuffles round-off counts as a failure,
            # so that a row sitting on a kink gets the parameter pinned there.
            gain = f_old[pending] - ft
            ok = np.isfinite(ft) & (ft <= armijo) & (gain > 1e-14 * np.maximum(1.0, np.abs(ft)))
            acc = pending[ok]
            accepted[acc] = True
            new_phi[acc] = trial[ok]
            new_f[acc] = ft[ok]
            fail = pending[~ok]
            if _ls == 0:
                kf = idx[fail]
                alpha[fail] = _first_backtrack(ph[kf], step[kf] + push[kf], step_lo[fail],
                                               step_hi[fail])
                kd = fail[kdown[fail]]
                if steep_kink is not None and kd.size:
                    # s < 1 (Model.steep_kink): no short step below the kink can pay
                    rk = idx[kd]
                    steep = kd[np.asarray(steep_kink(co.physical(ph[rk], a[rk])), bool)]
                    n_trials[steep] = np.where(released[a[idx[steep]]], LS_KINK_RELEASED,
                                               LS_KINK_TRIALS)
            else:
                # after a released pin: tenths, LS_RELEASED trials (as the kernel)
                alpha[fail] *= np.where(released[a[idx[fail]]], LS_RELEASED_SHRINK, 0.5)
            # A predicted gain at round-off level cannot be found by backtracking; such a
            # row ends as converged below either way, so it stops searching now.
            pending = pending[~ok & (0.5 * decrement[k] >= floor[k])]
            if _ls + 1 >= LS_RELEASED:
                pending = pending[~released[a[idx[pending]]]]
            pending = pending[_ls + 1 < n_trials[pending]]
            kp = idx[pending]
            pending = pending[~kdown[pending]
                              | (alpha[pending] * decrement[kp] >= LS_KINK_FLOOR * floor[kp])]
        rows_ok = a[idx[accepted]]
        phi[rows_ok] = new_phi[accepted]
        f[rows_ok] = new_f[accepted]
        # A row whose step cannot decrease f is at a kink or at round-off level.
        stuck = a[idx[~accepted]]
        small = (0.5 * decrement[idx[~accepted]]) < floor[idx[~accepted]]
        status[stuck[small]] = 0
        # Not small: pin free variables sitting on a bound and try again; stall if none.
        rest = stuck[~small]
        # Only the kink parameter is pinned, and only on a kink or a bound: there its
        # one-sided slope can be infinite.  Any other variable keeps the usual active set.
        on_b = np.zeros((rest.size, p), bool)
        if kinks is not None:
            kj, kv = kinks
            place = _pin_place(phi[rest, kj], _live(co.kinks(kj, kv, rest), live_rows, rest),
                               lo_i[rest, kj], hi_i[rest, kj])
            on_b[:, kj] = (place > 0) & ~fixed[rest, kj]
        newpin = on_b & ~pinned[rest]
        can = newpin.any(axis=1)
        pinned[rest[can]] |= newpin[can]
        status[rest[~can]] = 2
        retry = np.zeros(B, bool)
        retry[rest[can]] = True
        # Tiny accepted changes with a small decrement also mean convergence.
        tiny = accepted & (np.abs(f_old - new_f) <= 1e-15 * np.maximum(1.0, np.abs(f_old)))
        tiny &= (0.5 * decrement[idx]) < floor[idx]
        status[a[idx[tiny]]] = 0
        still = np.ones(a.size, bool)
        still[done] = False
        still[idx[~accepted]] = retry[a[idx[~accepted]]]
        still[idx[tiny]] = False
        still &= status[a] != 3
        active = a[still]
        if kinks is not None:
            kj = kinks[0]
            conv = a[status[a] == 0]
            conv = conv[pinned[conv, kj] & ~released[conv]]
            if conv.size:
                back = conv[_pin_place(phi[conv, kj],
                                       _live(co.kinks(kj, kinks[1], conv), live_rows, conv),
                                       lo_i[conv, kj], hi_i[conv, kj]) == 1]
                pinned[back, kj] = False
                released[back] = True
                status[back] = 1
                active = np.union1d(active, back)

    return _result(phi, f, status, n_iter, n_eval, proj_grad, act_lo, act_hi, fixed, co)


# Step lengths (internal coordinates, along a unit eigenvector) of the trial points that
# ``kink_escape_points`` offers: the descent along the negative curvature can start with
# a first-order cost, so short and long steps are both tried (docs/bootstrap.md).
ESCAPE_STEPS = np.geomspace(2.0, 1e-4, 8)


def kink_escape_points(
    objective,
    theta: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    transforms: tuple[str, ...],
    kinks: tuple,
    rows: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Trial points off kink saddles: converged points whose kink parameter sits on a live
    kink where the objective curves down on the kink's upper side.

    A row that cannot descend on a kink keeps its kink parameter there (see
    ``minimize_batch``), and its other parameters converge with it held.  Where the
    Hessian on the upper side (the one the objective computes on the kink), with the
    scale parameter profiled out, has a negative eigenvalue, raising the kink parameter
    while the others follow that eigenvector can pay at second order although no
    gradient step does: the solver stops at a saddle.  This offers the points at
    ``ESCAPE_STEPS`` along that eigenvector, with the kink parameter rising, inside the
    box and below the next kink; the caller evaluates them and solves again from the
    best one where it is lower.

    Parameters
    ----------
    objective : callable
        As for :func:`minimize_batch`; ``objective.scale_index`` (optional) is profiled.
    theta : (m, p)
        Converged points, physical units.
    lower, upper : (m, p)
        Their bounds.
    transforms : tuple of str
        Internal coordinates, as for :func:`minimize_batch`.
    kinks : (index, values, live)
        As for :func:`minimize_batch`; ``live`` per dataset of ``rows``.
    rows : (m,) int
        Dataset index of each point, passed to ``objective``.

    Returns
    -------
    which : (k,) int
        Indices into ``theta`` of the points at a kink saddle.
    points : (k, S, p)
        Their trial points, physical units (S = ``len(ESCAPE_STEPS)``).
    """
    theta = np.atleast_2d(np.asarray(theta, float))
    m, p = theta.shape
    none = np.zeros(0, int), np.zeros((0, ESCAPE_STEPS.size, p))
    rows = np.asarray(rows)
    (kj, kv), live = _split_kinks(kinks, rows)
    co = _Coords(transforms, np.asarray(lower, float), np.asarray(upper, float))
    every = np.arange(m)
    phi = co.internal(theta, every)
    kvi = _live(co.kinks(kj, kv, every), live, every)
    fixed = co.lo_i >= co.hi_i
    on = np.flatnonzero((_pin_place(phi[:, kj], kvi, co.lo_i[:, kj], co.hi_i[:, kj]) == 1)
                        & ~fixed[:, kj])
    if on.size == 0:
        return none
    th, ph = theta[on], phi[on]
    _, g, H = objective(th, 2, rows[on])
    Hi = co.derivatives(th, on, g, H)[1]
    eps = EPS_ACTIVE * co.width_i[on]
    free = ~((ph <= co.lo_i[on] + eps) | (ph >= co.hi_i[on] - eps) | fixed[on])
    js = getattr(objective, "scale_index", None)
    keep = np.ones(p, bool)
    if js is not None:
        # The scale parameter at its conditional optimum (the caller evaluates the points
        # that way): its curvature is the sum of the expected counts, so the Schur
        # complement is the Hessian along the others with it following.
        h00 = Hi[:, js, js]
        sf = free[:, js] & (h00 > 0)
        inv = np.where(sf, 1.0 / np.where(sf, h00, 1.0), 0.0)
        Hi = Hi - inv[:, None, None] * Hi[:, :, js, None] * Hi[:, None, js, :]
        keep[js] = False
    ks = np.flatnonzero(keep)
    Hs = Hi[:, ks][:, :, ks]
    fr = free[:, ks]
    # Parameters on a bound leave the eigenproblem: their rows and columns are zero, so a
    # negative eigenvalue's eigenvector has no part along them.
    both = fr[:, :, None] & fr[:, None, :]
    Hs = np.where(both, Hs, 0.0)
    finite = np.all(np.isfinite(Hs), axis=(1, 2))
    Hs[~finite] = 0.0
    evals, evecs = np.linalg.eigh(Hs)
    scale = np.maximum(np.max(np.abs(evals), axis=1), 1e-300)
    saddle = finite & (evals[:, 0] < -1e-8 * scale)
    if not saddle.any():
        return none
    v = evecs[:, :, 0]
    idx = np.flatnonzero(saddle)
    d = np.zeros((idx.size, p))
    d[:, ks] = v[idx]
    # The kink parameter rises (for "logcap", log(cap - theta) falls): its lower side is
    # where a run switches on, the kink the row is held by.
    up = -1.0 if co.kind[kj] == 2 else 1.0
    sign = np.where(d[:, kj] * up < 0, -1.0, 1.0)
    d *= sign[:, None]
    r = on[idx]
    pts = ph[idx, None, :] + ESCAPE_STEPS[None, :, None] * d[:, None, :]
    pts = np.clip(pts, co.lo_i[r, None, :], co.hi_i[r, None, :])
    # below the next kink on the way up (internal coordinates: above, or below for logcap)
    cur = ph[idx, kj, None]
    e_k = 1e-9 * np.maximum(np.abs(cur), 1.0)
    k_r = kvi[r]
    if up > 0:
        nxt = np.where(k_r > cur + e_k, k_r, np.inf).min(axis=1)
        pts[:, :, kj] = np.minimum(pts[:, :, kj], nxt[:, None])
    else:
        nxt = np.where(k_r < cur - e_k, k_r, -np.inf).max(axis=1)
        pts[:, :, kj] = np.maximum(pts[:, :, kj], nxt[:, None])
    S = ESCAPE_STEPS.size
    phys = co.physical(pts.reshape(-1, p), np.repeat(r, S)).reshape(idx.size, S, p)
    return r, phys


def _result(phi, f, status, n_iter, n_eval, proj_grad, act_lo, act_hi, fixed, co):
    lo_i, hi_i = co.lo_i, co.hi_i
    theta = co.physical(phi, np.arange(len(phi)))
    # Bound flags only make sense where the fit converged onto the bound.
    # (at most 1e-7 in internal units: on an absurdly wide user box a relative tolerance
    # would flag interior points)
    eps_b = 1e-7 * np.minimum(co.width_i, 1.0)
    at_lo = ((phi <= lo_i + eps_b) | (act_lo & (phi <= lo_i + 1e-6))) & ~fixed
    at_hi = ((phi >= hi_i - eps_b) | (act_hi & (phi >= hi_i - 1e-6))) & ~fixed
    # phi = log(upper - theta) runs the other way: its lower bound is theta's upper one.
    at_lo[:, co.cap], at_hi[:, co.cap] = at_hi[:, co.cap], at_lo[:, co.cap].copy()
    return BatchResult(
        theta=theta,
        fun=f,
        converged=status == 0,
        status=status,
        n_iter=n_iter,
        n_eval=n_eval,
        proj_grad=proj_grad,
        at_lower=at_lo,
        at_upper=at_hi,
    )


def _modified_step(H, g):
    """Newton step with the eigenvalues of ``H`` replaced by their absolute values (with a
    floor): a descent direction where ``H`` is indefinite.  Also returns where ``H`` is
    positive definite."""
    evals, evecs = np.linalg.eigh(H)
    scale = np.maximum(np.abs(evals).max(axis=1, keepdims=True), 1e-12)
    posdef = evals.min(axis=1) > 1e-12 * scale[:, 0]
    lam_mod = np.maximum(np.abs(evals), 1e-8 * scale)
    coef = np.einsum("bpk,bp->bk", evecs, g) / lam_mod
    return -np.einsum("bpk,bk->bp", evecs, coef), posdef


def _profiled_step(H, g):
    """:func:`_modified_step` on the Schur complement of ``H[0, 0]`` (the Hessian profiled
    over parameter 0, whose curvature is positive), then parameter 0's step by back
    substitution.  A descent direction: g.step = -g0^2 / H00 - gs' Hs_mod^-1 gs."""
    h00 = H[:, 0, 0]
    h = H[:, 1:, 0]
    Hs = H[:, 1:, 1:] - h[:, :, None] * h[:, None, :] / h00[:, None, None]
    gs = g[:, 1:] - h * (g[:, 0] / h00)[:, None]
    d, posdef = _modified_step(Hs, gs)
    d0 = -(g[:, 0] + np.sum(h * d, axis=1)) / h00
    return np.concatenate([d0[:, None], d], axis=1), posdef


def _split_kinks(kinks, data_rows):
    """``(index, values)`` and the per-row mask of live kinks ``(B, K)`` (None: all live)."""
    if len(kinks) == 2:
        return kinks, None
    j, kv, live = kinks
    live = np.atleast_2d(np.asarray(live, bool))
    if live.shape[0] == 1:
        return (j, kv), np.broadcast_to(live, (data_rows.size, live.shape[1]))
    return (j, kv), live[data_rows]


def _pin_place(v, kvi, lo, hi):
    """Where each kink parameter ``v (m,)`` sits, within the pin tolerance (1e-9 of its
    box width): 2 on a bound, 1 on one of its live kinks ``kvi (m, K)`` (internal
    coordinates, NaN: none), else 0."""
    w_r = np.maximum(hi - lo, 1e-12)
    e_r = 1e-9 * np.where(np.isfinite(w_r), w_r, 1.0)
    gap = np.abs(v[:, None] - kvi)
    on_kink = np.min(np.where(np.isnan(gap), np.inf, gap), axis=1) <= e_r
    on_bound = (v <= lo + e_r) | (v >= hi - e_r)
    return np.where(on_bound, 2, np.where(on_kink, 1, 0))


def _kink_side(v, kvi):
    """Where each ``v (B,)`` sits among its row's kinks ``kvi (B, K)`` (NaN: none): twice
    the number of kinks below it, plus one on a kink (within 1e-9 relative)."""
    e = 1e-9 * np.maximum(np.abs(kvi), 1.0)
    with np.errstate(invalid="ignore"):
        return (2 * np.sum(v[:, None] > kvi + e, axis=1)
                + np.sum((v[:, None] >= kvi - e) & (v[:, None] <= kvi + e), axis=1))


def _live(kvi, live_rows, r):
    """Kink values ``kvi`` of rows ``r`` with the dead ones (see ``_split_kinks``) as NaN."""
    return kvi if live_rows is None else np.where(live_rows[r], kvi, np.nan)


def _kink_down(v, move, kvi, lo, hi, kind):
    """Rows whose kink parameter ``v (m,)`` (internal coordinates) sits on one of its live
    kinks ``kvi (m, K)`` and whose step ``move (m,)`` lowers it in physical units (for
    ``kind`` 2, log(cap - theta), the internal coordinate rises).  A pinned parameter has
    no move.  Both kink rules of the line search (``LS_KINK_TRIALS``, ``LS_KINK_FLOOR``)
    apply to these rows only."""
    down = (move > 0) if kind == 2 else (move < 0)
    return (_pin_place(v, kvi, lo, hi) == 1) & down

def _first_backtrack(ph, move, s_lo, s_hi):
    """Step length after a rejected full step, per row: the first breakpoint when the full
    step left the box and the breakpoint lies in (BREAKPOINT_MIN, 1/2); else 1/2.

    Beyond the breakpoint the projection bends the step along the bound; when that bent
    step fails, halving lands just short of the bound again and again, one iteration
    each.  At the breakpoint the variable reaches its bound, and the epsilon-active set
    takes it out at the next iteration.
    """
    end = ph + move
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where((move > 0) & (end > s_hi), (s_hi - ph) / move,
                         np.where((move < 0) & (end < s_lo), (s_lo - ph) / move, 1.0))
    a_b = np.minimum(ratio.min(axis=1), 1.0)
    return np.where((a_b > BREAKPOINT_MIN) & (a_b < 0.5), a_b, 0.5)


def _scale_reset(objective, co, phi, r, data_rows, j, fixed):
    """Put the scale parameter ``j`` of ``phi`` (rows ``r`` of the batch) at its conditional
    optimum, clipped to the box, in place; rows where it is fixed are left alone.

    The compiled kernel does the same inside its objective evaluation.
    """
    opt = objective.scale_optimum(co.physical(phi, r), data_rows[r])
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.clip(np.log(opt), co.lo_i[r, j], co.hi_i[r, j])
    ok = (opt > 0) & ~fixed[r, j]  # NaN (model 0 at every run) compares False
    phi[ok, j] = v[ok]


def _compiled_spec(objective, p, data_rows):
    """Counts, weights and dataset rows for the compiled path, or None when it does not apply.

    It applies to the Poisson objective of the built-in Weibull model (not a subclass
    that changes its formula) when numba is importable and the NumPy path is not forced.
    """
    from .likelihood import PoissonObjective

    if (not compiled_enabled() or type(objective) is not PoissonObjective or p != 4
            or not compiled_applies(objective.model)):
        return None
    N = np.asarray(objective.counts, float)
    W = np.ones(N.shape[-1]) if objective.weights is None else np.asarray(objective.weights, float)
    if N.ndim == 1 and W.ndim == 1:
        N, W = N[None, :], W[None, :]
        drow = np.zeros(data_rows.size, np.int64)
    else:
        shape = N.shape if N.ndim == 2 else W.shape
        N, W = np.broadcast_to(N, shape), np.broadcast_to(W, shape)
        drow = data_rows
    if N.shape[1] != objective.x.size or (drow.size and (drow.min() < 0
                                                        or drow.max() >= N.shape[0])):
        return None  # the NumPy path raises its own error for rows out of range
    return N, W, drow


def minimize_lbfgsb(nll_scalar, theta0, lower, upper, *, ftol=1e-10, gtol=1e-8, maxiter=10000):
    """The articles' fit: scipy L-BFGS-B on raw parameters, finite-difference gradients.

    Kept as a reference only: with sigma_sat ~ 1e-6 the problem is badly scaled
    and the method stops short of the optimum while reporting success.
    """
    from scipy.optimize import minimize

    return minimize(
        nll_scalar,
        np.asarray(theta0, float),
        method="L-BFGS-B",
        bounds=list(zip(lower, upper)),
        options={"maxiter": maxiter, "ftol": ftol, "gtol": gtol},
    )
