"""Compiled fast path of the batched solver for the Weibull / Poisson objective.

``minimize_batch`` (``optimize.py``) is the one solver of seufit; for a
:class:`~seufit.likelihood.PoissonObjective` of the built-in Weibull model it hands
the rows to :func:`solve_rows` below, the same projected Newton method (same
internal coordinates, active sets, kink handling, Armijo search and stopping
rules) written row by row and compiled with numba.  The NumPy path pays array
overhead per Newton step that dwarfs the arithmetic of a 4-parameter, ~10-run
problem; here a row costs a few microseconds.  ``tests/test_compiled.py`` checks
both paths reach the same optima.

Rows are independent, so a row's result cannot depend on which other rows share
the call (chunk size, workers).  No fastmath: inf/NaN handling follows IEEE, as in
the NumPy path.

When numba is not importable, ``AVAILABLE`` is False and the NumPy path is used.
"""

from __future__ import annotations

import math

import numpy as np

try:  # pragma: no cover - exercised by the environment, not by a test
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover
    numba = None
    AVAILABLE = False

__all__ = ["AVAILABLE", "solve_rows", "backend_info"]

_Z_LOG_MAX = 700.0  # as models._Z_LOG_MAX
_LAMBDA_FLOOR = 1e-100  # as likelihood.LAMBDA_FLOOR
EPS_ACTIVE = 1e-5  # as optimize.EPS_ACTIVE: relative distance of the epsilon-active set


def backend_info() -> str:
    """Short description of the solver backend, for provenance."""
    return f"numba {numba.__version__}" if AVAILABLE else "numpy"


def _jit(func):
    if not AVAILABLE:
        return func
    return numba.njit(cache=True, fastmath=False, nogil=True)(func)


@_jit
def _weibull_nll(phi, is_log, x, expo, N, W, order, g, H):
    """Poisson NLL of the Weibull model at internal coordinates ``phi``.

    With ``order == 2`` also fills ``g`` (4,) and ``H`` (4, 4): gradient and Hessian
    in *physical* parameters (the caller applies the chain rule).  Runs with weight 0
    are left out.  Returns the NLL (+inf when not finite is left to the caller).
    """
    A = math.exp(phi[0]) if is_log[0] else phi[0]
    L0 = math.exp(phi[1]) if is_log[1] else phi[1]
    s = math.exp(phi[2]) if is_log[2] else phi[2]
    w = math.exp(phi[3]) if is_log[3] else phi[3]
    if order == 2:
        for i in range(4):
            g[i] = 0.0
            for j in range(4):
                H[i, j] = 0.0
    logw = math.log(w)
    total = 0.0
    J = np.empty(4)
    Hm = np.empty((4, 4))
    for i in range(x.shape[0]):
        wi = W[i]
        if wi == 0.0:
            continue
        d = x[i] - L0
        above = d > 0.0
        if above:
            ell = math.log(d) - logw
            slog = min(s * ell, _Z_LOG_MAX)
            z = math.exp(slog)
            ome = -math.expm1(-z)
        else:
            ell = -logw
            z = 0.0
            ome = 0.0
        lam = A * ome * expo[i]
        lam_safe = max(lam, _LAMBDA_FLOOR)
        n = N[i]
        term = lam
        if n > 0.0:
            term -= n * math.log(lam_safe)
        total += wi * term
        if order < 2:
            continue
        r = (1.0 - n / lam_safe) * wi
        wgt = n / (lam_safe * lam_safe) * wi
        Ez = math.exp(-z) if above else 0.0
        ds = max(d if above else 1.0, 1e-100)
        zL0 = -s * z / ds
        zs = z * ell
        zw = -s * z / w
        AE = A * Ez
        J[0] = ome
        J[1] = AE * zL0
        J[2] = AE * zs
        J[3] = AE * zw
        e = expo[i]
        for p in range(4):
            g[p] += r * J[p] * e
        # Second derivatives of sigma: sigma_0k = E z_k, sigma_ij = A E (z_ij - z_i z_j).
        Hm[0, 0] = 0.0
        Hm[0, 1] = Ez * zL0
        Hm[0, 2] = Ez * zs
        Hm[0, 3] = Ez * zw
        Hm[1, 1] = AE * (s * (s - 1.0) * (z / ds) / ds - zL0 * zL0)
        Hm[1, 2] = AE * (-(s * ell + 1.0) * z / ds - zL0 * zs)
        Hm[1, 3] = AE * (s * s * z / (ds * w) - zL0 * zw)
        Hm[2, 2] = AE * (z * ell * ell - zs * zs)
        Hm[2, 3] = AE * (-(s * ell + 1.0) * z / w - zs * zw)
        Hm[3, 3] = AE * (s * (s + 1.0) * z / (w * w) - zw * zw)
        re = r * e
        for p in range(4):
            for q in range(p, 4):
                h = wgt * J[p] * e * J[q] * e + re * Hm[p, q]
                H[p, q] += h
        # (the lower triangle is mirrored by the caller)
    return total


@_jit
def _cholesky_step(Hf, gf, step):
    """step = -Hf^-1 gf by Cholesky; False where Hf is not (numerically) positive definite."""
    p = gf.shape[0]
    L = np.zeros((p, p))
    scale = 0.0
    for j in range(p):
        scale = max(scale, abs(Hf[j, j]))
    scale = max(scale, 1e-300)
    for j in range(p):
        d = Hf[j, j]
        for k in range(j):
            d -= L[j, k] * L[j, k]
        if not (d > 1e-12 * scale):
            return False
        ljj = math.sqrt(d)
        L[j, j] = ljj
        for i in range(j + 1, p):
            v = Hf[i, j]
            for k in range(j):
                v -= L[i, k] * L[j, k]
            L[i, j] = v / ljj
    y = np.empty(p)
    for i in range(p):
        v = gf[i]
        for k in range(i):
            v -= L[i, k] * y[k]
        y[i] = v / L[i, i]
    for i in range(p - 1, -1, -1):
        v = y[i]
        for k in range(i + 1, p):
            v -= L[k, i] * step[k]
        step[i] = v / L[i, i]
    for i in range(p):
        step[i] = -step[i]
    return True


@_jit
def _solve_one(phi, lo_i, hi_i, is_log, x, expo, N, W, kj, kv, tol, max_iter, out_i):
    """Projected Newton on one row, in place on ``phi`` (internal coordinates).

    Mirrors ``optimize.minimize_batch`` step for step.  ``out_i`` receives
    (status, n_iter, n_eval); returns (f, proj_grad) and the bound flags through
    ``act`` arrays written by the caller from ``phi``.
    """
    p = 4
    g = np.zeros(p)
    H = np.zeros((p, p))
    gi = np.empty(p)
    Hi = np.empty((p, p))
    Hf = np.empty((p, p))
    gf = np.empty(p)
    step = np.empty(p)
    push = np.zeros(p)
    trial = np.empty(p)
    s_lo = np.empty(p)
    s_hi = np.empty(p)
    free = np.empty(p, np.bool_)
    fixed = np.empty(p, np.bool_)
    pinned = np.zeros(p, np.bool_)
    act_lo = np.zeros(p, np.bool_)
    act_hi = np.zeros(p, np.bool_)
    for k in range(p):
        fixed[k] = lo_i[k] >= hi_i[k]
    f = _weibull_nll(phi, is_log, x, expo, N, W, 0, g, H)
    n_eval = 1
    n_iter = 0
    status = 1
    pg = np.inf
    if not math.isfinite(f):
        out_i[0], out_i[1], out_i[2] = 3, 0, 1
        return f, pg, act_lo, act_hi
    for _it in range(max_iter):
        _weibull_nll(phi, is_log, x, expo, N, W, 2, g, H)
        n_eval += 1
        n_iter += 1
        for a in range(p):
            for b in range(a + 1, p):
                H[b, a] = H[a, b]
        # Chain rule to internal coordinates: d theta / d phi = theta for log parameters.
        for a in range(p):
            ta = math.exp(phi[a]) if is_log[a] else 1.0
            gi[a] = g[a] * ta
            for b in range(p):
                tb = math.exp(phi[b]) if is_log[b] else 1.0
                Hi[a, b] = H[a, b] * ta * tb
            if is_log[a]:
                Hi[a, a] += g[a] * ta
        pg = 0.0
        finite = True
        push_dec = 0.0
        for a in range(p):
            # epsilon-active set (Bertsekas 1982): a variable within EPS_ACTIVE of a bound,
            # its gradient pointing out, leaves the Newton system and is moved onto the
            # bound.  Without this, a start a hair inside a bound (clip_inside) takes a
            # Newton step along the bound that the projection bends into nonsense.
            width = hi_i[a] - lo_i[a]
            eps_a = EPS_ACTIVE * (max(width, 1e-12) if math.isfinite(width) else 1.0)
            on_lo = (phi[a] <= lo_i[a] + eps_a) and (gi[a] > 0)
            on_hi = (phi[a] >= hi_i[a] - eps_a) and (gi[a] < 0)
            act_lo[a] = on_lo
            act_hi[a] = on_hi
            free[a] = not (on_lo or on_hi or fixed[a] or pinned[a])
            gf[a] = gi[a] if free[a] else 0.0
            push[a] = 0.0
            if not (free[a] or fixed[a] or pinned[a]):
                push[a] = (lo_i[a] if on_lo else hi_i[a]) - phi[a]
                push_dec -= gi[a] * push[a]
            if not math.isfinite(gi[a]) and not (fixed[a] or pinned[a]):
                finite = False
        for a in range(p):
            for b in range(p):
                if free[a] and free[b]:
                    Hf[a, b] = Hi[a, b]
                    if not math.isfinite(Hf[a, b]):
                        finite = False
                else:
                    Hf[a, b] = 1.0 if a == b else 0.0
        if not finite:
            for a in range(p):
                gf[a] = 0.0
                for b in range(p):
                    Hf[a, b] = 1.0 if a == b else 0.0
            status = 3
        for a in range(p):
            pg = max(pg, abs(gf[a]))
        # Newton step by Cholesky where the curvature is positive; elsewhere eigenvalue
        # modification (|lambda| with a floor) gives a descent direction.
        posdef = _cholesky_step(Hf, gf, step)
        if not posdef:
            evals, evecs = np.linalg.eigh(Hf)
            scale = max(np.max(np.abs(evals)), 1e-12)
            posdef = evals.min() > 1e-12 * scale
            for a in range(p):
                step[a] = 0.0
            for k in range(p):
                c = 0.0
                for a in range(p):
                    c += evecs[a, k] * gf[a]
                c /= max(abs(evals[k]), 1e-8 * scale)
                for a in range(p):
                    step[a] -= evecs[a, k] * c
        dec = 0.0
        for a in range(p):
            if not free[a]:
                step[a] = 0.0
            dec -= gf[a] * step[a]
        dec += push_dec
        if status == 3:
            break
        if (posdef and 0.5 * dec < tol) or (pg < 1e-13 and push_dec < tol):
            status = 0
            break
        # Box of the line search; the kink parameter stops at the next kink on its way.
        for a in range(p):
            s_lo[a] = lo_i[a]
            s_hi[a] = hi_i[a]
        if kj >= 0:
            cur = phi[kj]
            e_k = 1e-9 * max(abs(cur), 1.0)
            below = -np.inf
            above = np.inf
            for v in kv:
                if v < cur - e_k and v > below:
                    below = v
                if v > cur + e_k and v < above:
                    above = v
            s_lo[kj] = max(s_lo[kj], below)
            cap = hi_i[kj]
            wall = cap - 1e-9 * max(cap - lo_i[kj], 1e-12)
            s_hi[kj] = min(min(s_hi[kj], above), wall)
        alpha = 1.0
        accepted = False
        f_old = f
        f_new = f
        for _ls in range(40):
            slope = 0.0
            for a in range(p):
                # epsilon-active variables go onto their bound whatever the step length
                t = phi[a] + (push[a] if push[a] != 0.0 else alpha * step[a])
                t = min(max(t, s_lo[a]), s_hi[a])
                trial[a] = t
                slope += gi[a] * (t - phi[a]) if push[a] != 0.0 else gf[a] * (t - phi[a])
            ft = _weibull_nll(trial, is_log, x, expo, N, W, 0, g, H)
            n_eval += 1
            armijo = f_old + 1e-4 * slope
            gain = f_old - ft
            # Real progress required: shuffling round-off counts as a failure, so that a
            # row sitting on a kink gets the parameter pinned there.
            if math.isfinite(ft) and ft <= armijo and gain > 1e-14 * max(1.0, abs(ft)):
                accepted = True
                f_new = ft
                break
            if 0.5 * dec < 1e3 * tol:
                # Predicted gain at round-off level: backtracking cannot help, and the
                # outcome below (converged, phi unchanged) is the same after 40 halvings.
                break
            alpha *= 0.5
        if accepted:
            for a in range(p):
                phi[a] = trial[a]
            f = f_new
            if abs(f_old - f_new) <= 1e-15 * max(1.0, abs(f_old)) and 0.5 * dec < 1e3 * tol:
                status = 0
                break
            continue
        # No descent: at a kink or at round-off level.
        if 0.5 * dec < 1e3 * tol:
            status = 0
            break
        # Pin the kink parameter when it sits on a kink or a bound; else stalled.
        can = False
        if kj >= 0 and not fixed[kj] and not pinned[kj]:
            w_r = max(hi_i[kj] - lo_i[kj], 1e-12)
            e_r = 1e-9 * (w_r if math.isfinite(w_r) else 1.0)
            near = (phi[kj] <= lo_i[kj] + e_r) or (phi[kj] >= hi_i[kj] - e_r)
            for v in kv:
                if abs(phi[kj] - v) <= e_r:
                    near = True
            if near:
                pinned[kj] = True
                can = True
        if not can:
            status = 2
            break
    out_i[0] = status
    out_i[1] = n_iter
    out_i[2] = n_eval
    return f, pg, act_lo, act_hi


@_jit
def _solve_all(phi, lo_i, hi_i, is_log, x, expo, N, W, data_row, kj, kv, tol, max_iter,
               fun, proj_grad, ints, act_lo, act_hi):
    for r in range(phi.shape[0]):
        d = data_row[r]
        f, pg, alo, ahi = _solve_one(phi[r], lo_i[r], hi_i[r], is_log, x, expo, N[d], W[d], kj,
                                     kv, tol, max_iter, ints[r])
        fun[r] = f
        proj_grad[r] = pg
        for a in range(4):
            act_lo[r, a] = alo[a]
            act_hi[r, a] = ahi[a]


def solve_rows(x, expo, N, W, phi0, lo_i, hi_i, is_log, data_row, kinks, tol, max_iter):
    """Run the compiled solver on every row.

    Parameters are internal coordinates (``phi0``, ``lo_i``, ``hi_i``: ``(R, 4)``);
    ``N``, ``W``: ``(D, n)`` counts and weights per dataset, ``data_row (R,)`` the
    dataset of each row; ``kinks``: ``(index, values)`` or None.

    Returns ``phi, fun, proj_grad, status, n_iter, n_eval, act_lo, act_hi``.
    """
    R = phi0.shape[0]
    phi = np.array(phi0, float, copy=True, order="C")
    fun = np.empty(R)
    proj_grad = np.empty(R)
    ints = np.zeros((R, 3), np.int64)
    act_lo = np.zeros((R, 4), np.bool_)
    act_hi = np.zeros((R, 4), np.bool_)
    kj, kv = (-1, np.empty(0)) if kinks is None else (int(kinks[0]), np.asarray(kinks[1], float))
    _solve_all(phi, np.ascontiguousarray(lo_i, float), np.ascontiguousarray(hi_i, float),
               np.asarray(is_log, np.bool_), np.ascontiguousarray(x, float),
               np.ascontiguousarray(expo, float), np.ascontiguousarray(N, float),
               np.ascontiguousarray(W, float), np.ascontiguousarray(data_row, np.int64), kj,
               np.ascontiguousarray(kv), float(tol), int(max_iter), fun, proj_grad, ints,
               act_lo, act_hi)
    return phi, fun, proj_grad, ints[:, 0], ints[:, 1], ints[:, 2], act_lo, act_hi
