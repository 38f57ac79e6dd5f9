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

# The NumPy path's constants, from where they are defined.  They reach the kernels as an
# argument (``_constants()``), not as globals: numba freezes globals at compile time and
# keys its on-disk cache on this file's content only, so a constant changed in another
# module would otherwise keep running from a stale cache.
from . import likelihood as _lik
from . import models as _models
from . import optimize as _opt

# Indices into the constants array.
(_LAM_FLOOR, _ZMAX, _EPS_ACT, _CAP_FL, _WMAX, _BP_MIN, _RO_REL, _DSNAP, _LS_REL,
 _LS_SHR, _LS_KINK, _LS_KREL, _LS_KFL) = range(13)


def _constants() -> np.ndarray:
    """The solver constants, read at call time from their modules (see above)."""
    return np.array([_lik.LAMBDA_FLOOR, _models._Z_LOG_MAX, _opt.EPS_ACTIVE, _opt.CAP_FLOOR,
                     _opt.LOGCAP_MAX_WIDTH, _opt.BREAKPOINT_MIN, _opt.ROUNDOFF_REL,
                     _models._D_SNAP, _opt.LS_RELEASED, _opt.LS_RELEASED_SHRINK,
                     _opt.LS_KINK_TRIALS, _opt.LS_KINK_RELEASED, _opt.LS_KINK_FLOOR])

try:  # pragma: no cover - exercised by the environment, not by a test
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover
    numba = None
    AVAILABLE = False


def _has_nrt_option() -> bool:
    """Whether this numba accepts ``_nrt=False`` (see ``_jit_nonrt``)."""
    try:
        from numba.core.cpu import CPUTargetOptions

        return hasattr(CPUTargetOptions, "_nrt")
    except Exception:  # pragma: no cover - numba's internals moved
        return False


_HAS_NRT_OPTION = AVAILABLE and _has_nrt_option()

__all__ = ["AVAILABLE", "solve_rows", "screen_topk", "profiled_nll", "profiled_nll_shared",
           "backend_info"]



def backend_info() -> str:
    """Short description of the solver backend, for provenance."""
    return f"numba {numba.__version__}" if AVAILABLE else "numpy"


def _jit(func):
    if not AVAILABLE:
        return func
    return numba.njit(cache=True, fastmath=False, nogil=True)(func)


def _jit_nonrt(func):
    # A kernel without numba's reference counting (its runtime, NRT): under NRT, every
    # array view and every array passed to an inlined helper costs an atomic increment and
    # decrement, and perf showed those two instructions taking 35-40 % of the solver's
    # cycles.  Such a kernel cannot allocate: its caller passes the scratch arrays (which
    # it keeps alive).  ``_nrt`` is numba's own (private) target option; where a numba
    # version lacks it, the kernel is compiled with NRT, the same results, slower.
    if not AVAILABLE:
        return func
    if not _HAS_NRT_OPTION:  # pragma: no cover - depends on the numba version
        return _jit(func)
    return numba.njit(cache=True, fastmath=False, nogil=True, _nrt=False,
                      error_model="numpy")(func)


def _jit_inline(func):
    # Small helpers taking arrays: inlined at the numba IR level, otherwise every call
    # pays reference counting on its array arguments (measured: +50 % per evaluation).
    if not AVAILABLE:
        return func
    return numba.njit(cache=True, fastmath=False, nogil=True, inline="always")(func)


@_jit_inline
def _kink_internal(v, kind_j, cap_j, hi_ij, cap_floor):
    """A kink value in internal coordinates; NaN when it is outside (above the cap)."""
    if kind_j == 1:
        return math.log(v) if v > 0.0 else np.nan
    if kind_j == 2:
        gap = cap_j - v
        if gap > cap_floor * math.exp(hi_ij):  # exp(hi_ij): the box width
            return math.log(gap)
        return np.nan
    return v


@_jit_inline
def _kink_side(v, kvi):
    """Where ``v`` sits among the kinks ``kvi`` (NaN: none): twice the number of kinks
    below it, plus one on a kink (``optimize._kink_side``)."""
    code = 0
    for k in kvi:
        e = 1e-9 * max(abs(k), 1.0)
        if v > k + e:
            code += 2
        elif v >= k - e:
            code += 1
    return code


@_jit_inline
def _pin_place(v, kvi, lo, hi):
    """Where the kink parameter ``v`` sits, within the pin tolerance (1e-9 of its box
    width): 2 on a bound, 1 on one of the live kinks ``kvi`` (internal coordinates, NaN:
    none), else 0 (``optimize._pin_place``)."""
    w_r = max(hi - lo, 1e-12)
    e_r = 1e-9 * (w_r if math.isfinite(w_r) else 1.0)
    if v <= lo + e_r or v >= hi - e_r:
        return 2
    for k in kvi:
        if abs(v - k) <= e_r:
            return 1
    return 0


@_jit_inline
def _release_pin(pinned, kj, released, phi, kvi, lo_i, hi_i):
    """Release the kink parameter's pin, once (``released``: already done), where it sits
    on a live kink, not on a bound.  Returns whether it did (``optimize.minimize_batch``)."""
    if kj < 0 or released or not pinned[kj] or _pin_place(phi[kj], kvi, lo_i[kj],
                                                          hi_i[kj]) != 1:
        return False
    pinned[kj] = False
    return True


@_jit_inline
def _unit_curve(d, s, logw, z_max):
    """The Weibull at unit sigma_sat a distance ``d > 0`` above the threshold:
    ``(ell, z, 1 - exp(-z), exp(-z))`` with ell = log(d / w), z = exp(s ell) (capped).

    1 - exp(-z) and exp(-z) come from one transcendental, each to about 1e-16 relative:
    expm1 where z < 1 (exp(-z) = 1 - that is above 0.36 there), exp where z >= 1
    (1 - exp(-z) is above 0.63).
    """
    ell = math.log(d) - logw
    z = math.exp(min(s * ell, z_max))
    if z < 1.0:
        ome = -math.expm1(-z)
        return ell, z, ome, 1.0 - ome
    # exp(-z) is exactly 0 beyond z = 745.13; glibc gets there through its underflow path
    # (errno; perf: 1-2 % of the solver's samples, and its slow path): 0 directly.
    ez = math.exp(-z) if z < 746.0 else 0.0
    return ell, z, 1.0 - ez, ez


@_jit_inline
def _weibull_nll(phi, kind, cap, low, x, expo, N, W, order, g, H, J, Hm, prof, a_lo, a_hi, S,
                 cst, dth):
    """Poisson NLL of the Weibull model at internal coordinates ``phi``.

    With ``order == 2`` also fills ``g`` (4,) and the upper triangle of ``H`` (4, 4):
    gradient and Hessian in *physical* parameters (the caller applies the chain rule).
    ``J`` (4,) and ``Hm`` (4, 4) are scratch.  Runs with weight 0 are left out.
    ``kind``: per parameter 0 linear, 1 log, 2 log(cap - theta) with ``cap`` (4,) the
    row's upper bounds and ``low`` (4,) its lower ones (see ``optimize._Coords``).

    With ``prof`` (sigma_sat in log coordinates, free), ``phi[0]`` is first replaced by
    sigma_sat's conditional optimum at this shape, clipped to ``[a_lo, a_hi]`` (internal),
    as ``optimize._scale_reset`` does on the NumPy path.  ``S`` (4, n) is scratch.
    ``cst``: :func:`_constants`.  With ``order == 2``, ``dth`` (4,) receives d theta / d phi
    per parameter for the caller's chain rule (the exponentials are computed here anyway).
    """
    z_max = cst[_ZMAX]
    # Written out, not through a helper: a call per parameter costs reference counting
    # on its array arguments (measured +40 % per evaluation).  Only let_th (index 1) can
    # be "logcap"; the dispatch admits the Weibull's own transforms only.
    if kind[1] == 2:
        e1 = math.exp(phi[1])
        L0 = max(cap[1] - e1, low[1])
        dL = -e1
    else:
        L0 = math.exp(phi[1]) if kind[1] == 1 else phi[1]
        dL = L0 if kind[1] == 1 else 1.0
    s = math.exp(phi[2]) if kind[2] == 1 else phi[2]
    w = math.exp(phi[3]) if kind[3] == 1 else phi[3]
    if order == 2:
        for i in range(4):
            g[i] = 0.0
            for j in range(4):
                H[i, j] = 0.0
        # (log and logcap: d theta / d phi is exp(phi) and -exp(phi))
        dth[1] = dL
        dth[2] = s if kind[2] == 1 else 1.0
        dth[3] = w if kind[3] == 1 else 1.0
    # log w straight from the coordinate where it is one: exp then log would put two
    # transcendentals' latency on the critical path of every evaluation.
    logw = phi[3] if kind[3] == 1 else math.log(w)
    inv_w = 1.0 / w
    # First pass: the curve at unit sigma_sat per run, kept in S for the second pass (and,
    # with prof, the sums that give sigma_sat's conditional optimum).
    D = 0.0
    tot = 0.0
    for i in range(x.shape[0]):
        wi = W[i]
        if wi == 0.0:
            continue
        d = x[i] - L0
        if d > cst[_DSNAP] * abs(x[i]):  # (models._D_SNAP: above by more than round-off)
            ell, z, ome, ez = _unit_curve(d, s, logw, z_max)
        else:
            ell = -logw
            z = 0.0
            ome = 0.0
            ez = 0.0  # (kills the derivatives below the threshold)
        S[0, i] = ell
        S[1, i] = z
        S[2, i] = ome
        S[3, i] = ez
        D += wi * ome * expo[i]
        tot += wi * N[i]
    have_A = False
    if prof and D > 0.0 and tot > 0.0:
        ratio = tot / D
        v = math.log(ratio)
        if v < a_lo:
            phi[0] = a_lo
        elif v > a_hi:
            phi[0] = a_hi
        else:
            # The conditional optimum itself, not exp(log(.)) of it: the logarithm is
            # then off the critical path (it only sets the coordinate).
            phi[0] = v
            A = ratio
            have_A = True
    if not have_A:
        A = math.exp(phi[0]) if kind[0] == 1 else phi[0]
    if order == 2:
        dth[0] = A if kind[0] == 1 else 1.0
    total = 0.0
    for i in range(x.shape[0]):
        wi = W[i]
        if wi == 0.0:
            continue
        d = x[i] - L0
        above = d > cst[_DSNAP] * abs(x[i])
        ell = S[0, i]
        z = S[1, i]
        ome = S[2, i]
        lam = A * ome * expo[i]
        lam_safe = max(lam, cst[_LAM_FLOOR])
        n = N[i]
        term = lam
        if n > 0.0:
            term -= n * math.log(lam_safe)
        total += wi * term
        if order < 2:
            continue
        r = (1.0 - n / lam_safe) * wi
        wgt = n / (lam_safe * lam_safe) * wi
        Ez = S[3, i]
        ds = max(d if above else 1.0, 1e-100)
        z_ds = z / ds
        zL0 = -s * z_ds
        zs = z * ell
        zw = -s * z * inv_w
        AE = A * Ez
        e = expo[i]
        # J: d lambda / d theta (the Jacobian of sigma times the exposure)
        J[0] = ome * e
        J[1] = AE * zL0 * e
        J[2] = AE * zs * e
        J[3] = AE * zw * e
        for p in range(4):
            g[p] += r * J[p]
        # Second derivatives of sigma: sigma_0k = E z_k, sigma_ij = A E (z_ij - z_i z_j).
        sl1 = s * ell + 1.0
        Hm[0, 0] = 0.0
        Hm[0, 1] = Ez * zL0
        Hm[0, 2] = Ez * zs
        Hm[0, 3] = Ez * zw
        Hm[1, 1] = AE * (s * (s - 1.0) * z_ds / ds - zL0 * zL0)
        Hm[1, 2] = AE * (-sl1 * z_ds - zL0 * zs)
        Hm[1, 3] = AE * (s * s * z_ds * inv_w - zL0 * zw)
        Hm[2, 2] = AE * (z * ell * ell - zs * zs)
        Hm[2, 3] = AE * (-sl1 * z * inv_w - zs * zw)
        Hm[3, 3] = AE * (s * (s + 1.0) * z * inv_w * inv_w - zw * zw)
        re = r * e
        for p in range(4):
            wj = wgt * J[p]
            for q in range(p, 4):
                H[p, q] += wj * J[q] + re * Hm[p, q]
        # (the lower triangle is mirrored by the caller)
    return total


@_jit_inline
def _cholesky_step(Hf, gf, step):
    """step = -Hf^-1 gf by Cholesky for a 4 x 4 ``Hf`` (lower triangle read); False where
    Hf is not (numerically) positive definite.

    Written out on scalars: the loop form over small arrays costs three times as much
    (measured 0.105 vs 0.034 us), for the same operations in the same order.
    """
    h00 = Hf[0, 0]
    h11 = Hf[1, 1]
    h22 = Hf[2, 2]
    h33 = Hf[3, 3]
    scale = max(max(max(max(0.0, abs(h00)), abs(h11)), abs(h22)), abs(h33))
    thr = 1e-12 * max(scale, 1e-300)
    if not (h00 > thr):
        return False
    l00 = math.sqrt(h00)
    l10 = Hf[1, 0] / l00
    l20 = Hf[2, 0] / l00
    l30 = Hf[3, 0] / l00
    d = h11 - l10 * l10
    if not (d > thr):
        return False
    l11 = math.sqrt(d)
    l21 = (Hf[2, 1] - l20 * l10) / l11
    l31 = (Hf[3, 1] - l30 * l10) / l11
    d = h22 - l20 * l20 - l21 * l21
    if not (d > thr):
        return False
    l22 = math.sqrt(d)
    l32 = (Hf[3, 2] - l30 * l20 - l31 * l21) / l22
    d = h33 - l30 * l30 - l31 * l31 - l32 * l32
    if not (d > thr):
        return False
    l33 = math.sqrt(d)
    # L y = g, then L^T x = y; the step is -x
    y0 = gf[0] / l00
    y1 = (gf[1] - l10 * y0) / l11
    y2 = (gf[2] - l20 * y0 - l21 * y1) / l22
    y3 = (gf[3] - l30 * y0 - l31 * y1 - l32 * y2) / l33
    x3 = y3 / l33
    x2 = (y2 - l32 * x3) / l22
    x1 = (y1 - l21 * x2 - l31 * x3) / l11
    x0 = (y0 - l10 * x1 - l20 * x2 - l30 * x3) / l00
    step[0] = -x0
    step[1] = -x1
    step[2] = -x2
    step[3] = -x3
    return True


@_jit
def _sym_eig(A_in, evals, evecs, A):
    """Eigenvalues and eigenvectors (columns) of a small symmetric matrix, cyclic Jacobi.

    For the 4 x 4 Hessians here a few sweeps reach machine precision; a LAPACK call
    (np.linalg.eigh) costs more in allocation and dispatch than the whole iteration.
    A rotation updates the upper triangle only (the matrix stays symmetric), a quarter
    less work than rotating the full matrix from both sides.  ``A`` is scratch.
    Checked against numpy.linalg.eigh in the tests.
    """
    p = A_in.shape[0]
    for i in range(p):
        for j in range(p):
            A[i, j] = A_in[i, j]
            evecs[i, j] = 1.0 if i == j else 0.0
    for _sweep in range(60):
        off = 0.0
        diag = 0.0
        for i in range(p):
            diag += A[i, i] * A[i, i]
            for j in range(i + 1, p):
                off += A[i, j] * A[i, j]
        if off <= 1e-32 * diag or off == 0.0:
            break
        for i in range(p - 1):
            for j in range(i + 1, p):
                apq = A[i, j]
                if apq == 0.0:
                    continue
                theta = (A[j, j] - A[i, i]) / (2.0 * apq)
                if abs(theta) > 1e150:
                    t = 0.5 / theta
                else:
                    t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                    if theta < 0.0:
                        t = -t
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                # The rotation zeroes A[i, j]: the diagonal moves by t * apq.
                A[i, i] -= t * apq
                A[j, j] += t * apq
                A[i, j] = 0.0
                for k in range(p):
                    if k == i or k == j:
                        continue
                    aki = A[k, i] if k < i else A[i, k]
                    akj = A[k, j] if k < j else A[j, k]
                    ni = c * aki - s * akj
                    nj = s * aki + c * akj
                    if k < i:
                        A[k, i] = ni
                    else:
                        A[i, k] = ni
                    if k < j:
                        A[k, j] = nj
                    else:
                        A[j, k] = nj
                for k in range(p):  # V <- V P
                    vkp = evecs[k, i]
                    vkq = evecs[k, j]
                    evecs[k, i] = c * vkp - s * vkq
                    evecs[k, j] = s * vkp + c * vkq
    for i in range(p):
        evals[i] = A[i, i]


@_jit_inline
def _modified_step(A, g, step, evals, evecs, Awork):
    """``optimize._modified_step`` for one matrix: the Newton step ``step`` with the
    eigenvalues of ``A`` replaced by their absolute values (with a floor), a descent
    direction where ``A`` is indefinite; returns whether ``A`` is positive definite.
    ``evals``, ``evecs`` and ``Awork`` are scratch of ``A``'s size."""
    p = g.shape[0]
    _sym_eig(A, evals, evecs, Awork)
    scale = 1e-12
    emin = np.inf
    for k in range(p):
        scale = max(scale, abs(evals[k]))
        emin = min(emin, evals[k])
    for a in range(p):
        step[a] = 0.0
    for k in range(p):
        c = 0.0
        for a in range(p):
            c += evecs[a, k] * g[a]
        c /= max(abs(evals[k]), 1e-8 * scale)
        for a in range(p):
            step[a] -= evecs[a, k] * c
    return emin > 1e-12 * scale


@_jit_inline
def _rotation(app, aqq, apq):
    """The Jacobi rotation (t, c, s) that zeroes ``apq`` between diagonal entries ``app``
    and ``aqq`` (as in :func:`_sym_eig`)."""
    theta = (aqq - app) / (2.0 * apq)
    if abs(theta) > 1e150:
        t = 0.5 / theta
    else:
        t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
        if theta < 0.0:
            t = -t
    c = 1.0 / math.sqrt(t * t + 1.0)
    return t, c, t * c


@_jit_inline
def _turn(c, s, a, b):
    """The pair ``(a, b)`` rotated by the Jacobi rotation (c, s): ``(c a - s b, s a + c b)``."""
    return c * a - s * b, s * a + c * b


@_jit_inline
def _eig3(a00, a01, a02, a11, a12, a22):
    """:func:`_sym_eig` for a 3 x 3 matrix given by its upper triangle, on scalars (the
    same rotations in the same order; a third less time than the array form).

    Returns the eigenvalues ``(e0, e1, e2)`` then the eigenvector matrix row by row
    (``v[a, k]``: component a of eigenvector k).
    """
    v00, v01, v02 = 1.0, 0.0, 0.0
    v10, v11, v12 = 0.0, 1.0, 0.0
    v20, v21, v22 = 0.0, 0.0, 1.0
    for _sweep in range(60):
        diag = a00 * a00
        off = a01 * a01
        off += a02 * a02
        diag += a11 * a11
        off += a12 * a12
        diag += a22 * a22
        if off <= 1e-32 * diag or off == 0.0:
            break
        if a01 != 0.0:  # pair (0, 1); the third index is 2
            t, c, s = _rotation(a00, a11, a01)
            a00 -= t * a01
            a11 += t * a01
            a01 = 0.0
            a02, a12 = _turn(c, s, a02, a12)
            v00, v01 = _turn(c, s, v00, v01)
            v10, v11 = _turn(c, s, v10, v11)
            v20, v21 = _turn(c, s, v20, v21)
        if a02 != 0.0:  # pair (0, 2); the third index is 1
            t, c, s = _rotation(a00, a22, a02)
            a00 -= t * a02
            a22 += t * a02
            a02 = 0.0
            a01, a12 = _turn(c, s, a01, a12)
            v00, v02 = _turn(c, s, v00, v02)
            v10, v12 = _turn(c, s, v10, v12)
            v20, v22 = _turn(c, s, v20, v22)
        if a12 != 0.0:  # pair (1, 2); the third index is 0
            t, c, s = _rotation(a11, a22, a12)
            a11 -= t * a12
            a22 += t * a12
            a12 = 0.0
            a01, a02 = _turn(c, s, a01, a02)
            v01, v02 = _turn(c, s, v01, v02)
            v11, v12 = _turn(c, s, v11, v12)
            v21, v22 = _turn(c, s, v21, v22)
    return a00, a11, a22, v00, v01, v02, v10, v11, v12, v20, v21, v22


@_jit_inline
def _profiled_step(Hf, gf, step):
    """``optimize._profiled_step`` for one 4 x 4 matrix: :func:`_modified_step` on the Schur
    complement of ``Hf[0, 0]`` (sigma_sat eliminated: its curvature, the sum of the
    expected counts, is positive), then sigma_sat's step by back substitution.  Fills
    ``step``; returns whether the complement is positive definite.

    On scalars with :func:`_eig3` (0.23 vs 0.39 us per call for the array form, the same
    operations in the same order).
    """
    h00 = Hf[0, 0]
    g0 = gf[0]
    h10 = Hf[1, 0]
    h20 = Hf[2, 0]
    h30 = Hf[3, 0]
    r0 = gf[1] - h10 * g0 / h00
    r1 = gf[2] - h20 * g0 / h00
    r2 = gf[3] - h30 * g0 / h00
    e0, e1, e2, v00, v01, v02, v10, v11, v12, v20, v21, v22 = _eig3(
        Hf[1, 1] - h10 * Hf[0, 1] / h00, Hf[1, 2] - h10 * Hf[0, 2] / h00,
        Hf[1, 3] - h10 * Hf[0, 3] / h00, Hf[2, 2] - h20 * Hf[0, 2] / h00,
        Hf[2, 3] - h20 * Hf[0, 3] / h00, Hf[3, 3] - h30 * Hf[0, 3] / h00)
    scale = max(max(max(1e-12, abs(e0)), abs(e1)), abs(e2))
    floor = 1e-8 * scale
    # Each eigen-direction's Newton component with |eigenvalue| (floored)
    c = (0.0 + v00 * r0 + v10 * r1 + v20 * r2) / max(abs(e0), floor)
    t0, t1, t2 = -v00 * c, -v10 * c, -v20 * c
    c = (0.0 + v01 * r0 + v11 * r1 + v21 * r2) / max(abs(e1), floor)
    t0, t1, t2 = t0 - v01 * c, t1 - v11 * c, t2 - v21 * c
    c = (0.0 + v02 * r0 + v12 * r1 + v22 * r2) / max(abs(e2), floor)
    t0, t1, t2 = t0 - v02 * c, t1 - v12 * c, t2 - v22 * c
    step[1] = t0
    step[2] = t1
    step[3] = t2
    step[0] = -(g0 + Hf[0, 1] * t0 + Hf[0, 2] * t1 + Hf[0, 3] * t2) / h00
    return min(min(e0, e1), e2) > 1e-12 * scale


@_jit_inline
def _kink_down(v, move, kvi, lo, hi, kind_j):
    """Whether the kink parameter ``v`` sits on a live kink and ``move`` lowers it
    (``optimize._kink_down``)."""
    down = move > 0.0 if kind_j == 2 else move < 0.0
    return down and _pin_place(v, kvi, lo, hi) == 1


@_jit_inline
def _roundoff(tol, f, cst):
    """Round-off level of a predicted gain at NLL ``f`` (``optimize.ROUNDOFF_REL``)."""
    return max(1e3 * tol, cst[_RO_REL] * abs(f))


@_jit_inline
def _first_backtrack(phi, step, push, s_lo, s_hi, bp_min):
    """Step length after a rejected full step (``optimize._first_backtrack``, one row)."""
    a_b = 1.0
    for a in range(phi.shape[0]):
        m = push[a] if push[a] != 0.0 else step[a]
        if m > 0.0 and phi[a] + m > s_hi[a]:
            a_b = min(a_b, (s_hi[a] - phi[a]) / m)
        elif m < 0.0 and phi[a] + m < s_lo[a]:
            a_b = min(a_b, (s_lo[a] - phi[a]) / m)
    if bp_min < a_b < 0.5:
        return a_b
    return 0.5


@_jit_inline
def _solve_one(phi, lo_i, hi_i, kind, low, cap, x, expo, N, W, kj, kv, tol, max_iter, out_i, V,
               M, Bw, S, prof_on, cst, known, has_known, known_side, known_f, radius, join_excess,
               join_below):
    """Projected Newton on one row, in place on ``phi`` (internal coordinates).

    Mirrors ``optimize.minimize_batch`` step for step.  ``out_i`` receives
    (status, n_iter, n_eval); returns (f, proj_grad, act_lo, act_hi).  ``V`` (13, 4),
    ``M`` (7, 4, 4), ``Bw`` (5, 4) and ``S`` (4, n) are scratch (no allocation per row).
    ``prof_on``: sigma_sat at its conditional optimum at every evaluated point.
    ``known`` (4,): with ``has_known``, a known optimum of the row's objective (internal
    coordinates); the row stops with status 4 once every coordinate is within ``radius``
    of it, its NLL within ``[known_f - join_below, known_f + join_excess]`` and its kink
    parameter between the same two kinks (``known_side``, see ``_kink_side``;
    ``optimize.minimize_batch``).

    A line search's trials are evaluated with derivatives: when one is accepted, the next
    iteration reuses them (a backtracked acceptance would otherwise evaluate the same point
    again; derivatives add 0.07 us to a 0.31 us evaluation on the sparse dataset).
    """
    p = 4
    g, gi, gf, step, push, trial, s_lo, s_hi = V[0], V[1], V[2], V[3], V[4], V[5], V[6], V[7]
    g2, J, dth, evals, dth2 = V[8], V[9], V[10], V[11], V[12]
    H, Hi, Hf, H2, Hm, evecs, Hwork = M[0], M[1], M[2], M[3], M[4], M[5], M[6]
    free, fixed, pinned, act_lo, act_hi = Bw[0], Bw[1], Bw[2], Bw[3], Bw[4]
    for k in range(p):
        pinned[k] = False
        act_lo[k] = False
        act_hi[k] = False
        push[k] = 0.0
    for k in range(p):
        fixed[k] = lo_i[k] >= hi_i[k]
    # sigma_sat at its conditional optimum at every point evaluated (see _scale_reset)
    prof = kind[0] == 1 and not fixed[0] and prof_on
    # The start is evaluated with derivatives: the first iteration needs them.
    f = _weibull_nll(phi, kind, cap, low, x, expo, N, W, 2, g, H, J, Hm, prof, lo_i[0], hi_i[0],
                     S, cst, dth)
    have_derivs = True
    n_eval = 1
    n_iter = 0
    status = 1
    pg = np.inf
    # A pin on a kink is provisional: it was set where the line search failed, with the
    # other parameters not yet converged.  At convergence it is released once, and the
    # row goes on if a step off the kink now pays (optimize.minimize_batch).
    released = False
    # Any live kink in the row's box (none under zeros="exclude"): the kink-floor rule below
    # costs nothing without.
    any_kink = False
    if kj >= 0:
        for v in kv:
            if math.isfinite(v):
                any_kink = True
    if not math.isfinite(f):
        out_i[0], out_i[1], out_i[2] = 3, 0, 1
        return f, pg, act_lo, act_hi
    for _it in range(max_iter):
        if has_known:
            dmax = 0.0
            for a in range(p):
                dmax = max(dmax, abs(phi[a] - known[a]))
            # (not "below": that is a local of the kink search further down)
            if (dmax < radius and known_f - join_below <= f <= known_f + join_excess
                    and (kj < 0 or _kink_side(phi[kj], kv) == known_side)):
                status = 4
                break
        if not have_derivs:
            _weibull_nll(phi, kind, cap, low, x, expo, N, W, 2, g, H, J, Hm, prof, lo_i[0],
                         hi_i[0], S, cst, dth)
            n_eval += 1
        have_derivs = False
        n_iter += 1
        for a in range(p):
            for b in range(a + 1, p):
                H[b, a] = H[a, b]
        # Chain rule to internal coordinates (dth from the evaluation at phi); for log and
        # logcap d2 theta / d phi2 equals d theta / d phi (exp(phi) and -exp(phi)).
        for a in range(p):
            gi[a] = g[a] * dth[a]
            for b in range(p):
                Hi[a, b] = H[a, b] * dth[a] * dth[b]
            if kind[a] != 0:
                Hi[a, a] += gi[a]
        pg = 0.0
        finite = True
        push_dec = 0.0
        for a in range(p):
            # epsilon-active set (Bertsekas 1982): a variable within EPS_ACTIVE of a bound,
            # its gradient pointing out, leaves the Newton system and is moved onto the
            # bound.  Without this, a start a hair inside a bound (clip_inside) takes a
            # Newton step along the bound that the projection bends into nonsense.
            width = min(hi_i[a] - lo_i[a], cst[_WMAX])  # as optimize._Coords.width_i
            if kind[a] == 2:
                width = 1.0  # logcap: relative distance to the cap
            eps_a = cst[_EPS_ACT] * (max(width, 1e-12) if math.isfinite(width) else 1.0)
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
        if not posdef and prof and Hf[0, 0] > 0.0:
            # sigma_sat at its conditional optimum: modify the eigenvalues of the Hessian
            # profiled over it (optimize._profiled_step).
            posdef = _profiled_step(Hf, gf, step)
        elif not posdef:
            posdef = _modified_step(Hf, gf, step, evals, evecs, Hwork)
        dec = 0.0
        for a in range(p):
            if not free[a]:
                step[a] = 0.0
            dec -= gf[a] * step[a]
        dec += push_dec
        if status == 3:
            break
        if (posdef and 0.5 * dec < tol) or (pg < 1e-13 and push_dec < tol):
            if _release_pin(pinned, kj, released, phi, kv, lo_i, hi_i):
                released = True
                have_derivs = True  # g and H are still those at phi
                continue
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
            for v in kv:  # internal coordinates (NaN: outside the box)
                if v < cur - e_k and v > below:
                    below = v
                if v > cur + e_k and v < above:
                    above = v
            s_lo[kj] = max(s_lo[kj], below)
            s_hi[kj] = min(s_hi[kj], above)
            if kind[kj] == 0 and math.isfinite(hi_i[kj]):
                # A linear kink parameter's upper bound is a wall (the threshold cap: a
                # run with events gets lambda = 0 there), so a step stops short of it.
                top = hi_i[kj]
                width = top - lo_i[kj]
                if not math.isfinite(width):
                    width = 1.0  # as the NumPy path: no wall at -inf
                s_hi[kj] = min(s_hi[kj], top - cst[_CAP_FL] * max(width, 1e-12))
        alpha = 1.0
        accepted = False
        f_old = f
        f_new = f
        # After a released pin, backtrack by tenths: the step off the kink that pays is
        # tiny when it exists, and a row whose kink is its optimum fails every trial.
        n_ls, shrink = (int(cst[_LS_REL]), cst[_LS_SHR]) if released else (40, 0.5)
        n_trials = n_ls
        kdown = False  # set where the full step fails, below
        for _ls in range(n_ls):
            slope = 0.0
            for a in range(p):
                # epsilon-active variables move towards their bound, onto it at alpha = 1
                t = phi[a] + alpha * (push[a] if push[a] != 0.0 else step[a])
                t = min(max(t, s_lo[a]), s_hi[a])
                trial[a] = t
                slope += gi[a] * (t - phi[a]) if push[a] != 0.0 else gf[a] * (t - phi[a])
            first = _ls == 0
            ft = _weibull_nll(trial, kind, cap, low, x, expo, N, W, 2, g2, H2, J, Hm, prof,
                              lo_i[0], hi_i[0], S, cst, dth2)
            n_eval += 1
            armijo = f_old + 1e-4 * slope
            gain = f_old - ft
            # Real progress required: shuffling round-off counts as a failure, so that a
            # row sitting on a kink gets the parameter pinned there.
            if math.isfinite(ft) and ft <= armijo and gain > 1e-14 * max(1.0, abs(ft)):
                accepted = True
                f_new = ft
                have_derivs = True
                for a in range(p):
                    g[a] = g2[a]
                    dth[a] = dth2[a]
                    for b in range(p):
                        H[a, b] = H2[a, b]
                break
            if 0.5 * dec < _roundoff(tol, f_old, cst):
                # Predicted gain at round-off level: backtracking cannot help, and the
                # outcome below (converged, phi unchanged) is the same after 40 halvings.
                break
            if first:
                alpha = _first_backtrack(phi, step, push, s_lo, s_hi, cst[_BP_MIN])
                if any_kink:
                    # Down from a live kink: the search stops once the next trial's
                    # first-order gain is at round-off level (optimize.LS_KINK_FLOOR), and
                    # with s < 1 after LS_KINK_TRIALS (LS_KINK_RELEASED) trials.
                    kdown = _kink_down(phi[kj], push[kj] if push[kj] != 0.0 else step[kj],
                                       kv, lo_i[kj], hi_i[kj], kind[kj])
                    s_now = math.exp(phi[2]) if kind[2] == 1 else phi[2]
                    if kdown and s_now < 1.0:  # Weibull4.steep_kink
                        n_trials = min(n_trials,
                                       int(cst[_LS_KREL] if released else cst[_LS_KINK]))
            else:
                alpha *= shrink
            if _ls + 1 >= n_trials:
                break
            if kdown and alpha * dec < cst[_LS_KFL] * _roundoff(tol, f_old, cst):
                break
        if accepted:
            for a in range(p):
                phi[a] = trial[a]
            f = f_new
            if (abs(f_old - f_new) <= 1e-15 * max(1.0, abs(f_old))
                    and 0.5 * dec < _roundoff(tol, f_old, cst)):
                if _release_pin(pinned, kj, released, phi, kv, lo_i, hi_i):
                    released = True
                    continue
                status = 0
                break
            continue
        # No descent: at a kink or at round-off level.
        if 0.5 * dec < _roundoff(tol, f_old, cst):
            if _release_pin(pinned, kj, released, phi, kv, lo_i, hi_i):
                released = True
                have_derivs = True  # g and H are still those at phi
                continue
            status = 0
            break
        # Pin the kink parameter when it sits on a kink or a bound; else stalled.
        can = False
        if kj >= 0 and not fixed[kj] and not pinned[kj]:
            if _pin_place(phi[kj], kv, lo_i[kj], hi_i[kj]) > 0:
                pinned[kj] = True
                can = True
        if not can:
            status = 2
            break
    out_i[0] = status
    out_i[1] = n_iter
    out_i[2] = n_eval
    return f, pg, act_lo, act_hi


@_jit_nonrt
def _solve_all(phi, lo_i, hi_i, kind, lows, caps, x, expo, N, W, data_row, kj, kv, live, tol,
               max_iter, prof_on, cst, near, near_f, radius, excess, below, fun, proj_grad, ints,
               act_lo, act_hi, V, S, M, Bw, kvi):
    # (V, S, M, Bw, kvi: scratch, allocated by the caller; see _jit_nonrt)
    for r in range(phi.shape[0]):
        d = data_row[r]
        phi_r, lo_r, hi_r, near_r = phi[r], lo_i[r], hi_i[r], near[r]
        if kj >= 0:  # the row's live kinks in internal coordinates (NaN: none), once per row
            for q in range(kv.shape[0]):
                if live[r, q]:
                    kvi[q] = _kink_internal(kv[q], kind[kj], caps[r, kj], hi_i[r, kj],
                                            cst[_CAP_FL])
                else:
                    kvi[q] = np.nan
        has_known = True
        for a in range(4):
            if not math.isfinite(near_r[a]):
                has_known = False
        side = _kink_side(near_r[kj], kvi) if kj >= 0 and has_known else 0
        if side % 2 == 1:
            # A known point pinned on a kink is no smooth optimum: another row there may
            # leave the kink on the other side (as optimize.minimize_batch drops it).
            has_known = False
        f, pg, alo, ahi = _solve_one(phi_r, lo_r, hi_r, kind, lows[r], caps[r], x, expo, N[d],
                                     W[d], kj, kvi, tol, max_iter, ints[r], V, M, Bw, S, prof_on,
                                     cst, near_r, has_known, side, near_f[r], radius, excess,
                                     below)
        fun[r] = f
        proj_grad[r] = pg
        for a in range(4):
            act_lo[r, a] = alo[a]
            act_hi[r, a] = ahi[a]


def _c(a, dtype=float):
    """C-contiguous, writable, aligned: one compiled signature whatever the caller passed
    (a read-only broadcast view would otherwise compile a second specialisation)."""
    return np.require(a, dtype=dtype, requirements=["C", "W", "A"])


def solve_rows(x, expo, N, W, phi0, lo_i, hi_i, kind, lows, caps, data_row, kinks, tol,
               max_iter, scale_reset=True, live=None, near=None, near_f=None, radius=0.0,
               excess=0.0, below=0.0):
    """Run the compiled solver on every row.

    Parameters are internal coordinates (``phi0``, ``lo_i``, ``hi_i``: ``(R, 4)``);
    ``kind`` (4,) the coordinate of each parameter, ``lows`` and ``caps`` (R, 4) the
    physical bounds (see ``optimize._Coords``);
    ``N``, ``W``: ``(D, n)`` counts and weights per dataset, ``data_row (R,)`` the
    dataset of each row; ``kinks``: ``(index, values)`` or None, ``live (R, K)`` the kinks
    of each row's objective (None: all); ``scale_reset``: sigma_sat at its conditional
    optimum at every evaluated point; ``near (R, 4)``: a known optimum per row in internal
    coordinates (NaN: none; one on a kink is dropped), ``near_f (R,)`` its NLL, joined within
    ``radius``, ``excess`` above and ``below`` below it (status 4).

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
    live = np.ones((R, kv.size), np.bool_) if live is None else _c(live, np.bool_)
    near = np.full((R, 4), np.nan) if near is None else _c(near)
    near_f = np.full(R, np.inf) if near_f is None else _c(near_f)
    _solve_all(phi, _c(lo_i), _c(hi_i), _c(kind, np.int64), _c(lows), _c(caps), _c(x), _c(expo),
               _c(N), _c(W), _c(data_row, np.int64), kj, _c(kv), live, float(tol), int(max_iter),
               bool(scale_reset), _constants(), near, near_f, float(radius), float(excess),
               float(below), fun, proj_grad, ints, act_lo, act_hi, np.empty((13, 4)),
               np.empty((4, np.shape(x)[0])), np.empty((7, 4, 4)), np.empty((5, 4), np.bool_),
               np.empty(kv.shape[0]))
    return phi, fun, proj_grad, ints[:, 0], ints[:, 1], ints[:, 2], act_lo, act_hi


@_jit
def _screen_all(SE_T, logSE_T, gridT, N, W, Wp, pat, lo, hi, k, idx, best, A_out):
    n, G = SE_T.shape
    # sum_i W S E of every grid point depends on a dataset's weights only, and datasets
    # share a few weight patterns (which runs are left out): once per pattern, with its
    # log, so that a dataset's NLL needs no logarithm per grid point.
    P = Wp.shape[0]
    Dp = np.zeros((P, G))
    logDp = np.empty((P, G))
    for p in range(P):
        for i in range(n):
            wi = Wp[p, i]
            for gg in range(G):
                Dp[p, gg] += wi * SE_T[i, gg]
        for gg in range(G):
            logDp[p, gg] = math.log(max(Dp[p, gg], 1e-300))
    S2v = np.empty(G)
    val = np.empty(G)
    for b in range(N.shape[0]):
        total = 0.0
        for i in range(n):
            total += W[b, i] * N[b, i]
        # The sums over runs for every grid point at once: the inner loop runs over grid
        # points (independent, so it vectorises without reordering any sum; each point's
        # sum still adds the runs in order, as the NumPy version does).
        for gg in range(G):
            S2v[gg] = 0.0
        for i in range(n):
            wn = W[b, i] * N[b, i]
            if wn == 0.0:  # adds nothing (a run without events, or left out)
                continue
            for gg in range(G):
                S2v[gg] += wn * logSE_T[i, gg]
        # Each point's NLL in one pass, then the selection in another (a loop with one
        # branch per point instead of one with the box test, the NLL and the insertion).
        # sigma_sat at its conditional optimum A = total / D, clipped to the box: where it
        # is not clipped, A D = total and log A = log(total) - log(D).
        a_lo = lo[b, 0]
        a_hi = hi[b, 0]
        l_lo = math.log(a_lo) if a_lo > 0.0 else -np.inf
        l_hi = math.log(a_hi) if a_hi < np.inf else np.inf
        c0 = total - total * math.log(total)
        pb = pat[b]
        for gg in range(G):
            D = Dp[pb, gg]
            if total < a_lo * D:
                val[gg] = a_lo * D - total * l_lo - S2v[gg]
            elif total > a_hi * D:
                val[gg] = a_hi * D - total * l_hi - S2v[gg]
            else:
                val[gg] = c0 + total * logDp[pb, gg] - S2v[gg]
        for q in range(1, gridT.shape[0]):
            # (the grid transposed: each parameter's values contiguous, so that this test
            # vectorises; measured 0.9 -> 0.2 us per replicate on the sparse dataset)
            lq = lo[b, q]
            hq = hi[b, q]
            for gg in range(G):
                if gridT[q, gg] < lq or gridT[q, gg] > hq:
                    val[gg] = np.inf
        for j in range(k):
            idx[b, j] = -1
            best[b, j] = np.inf
            A_out[b, j] = hi[b, 0]
        # Keep the k best, best first; ties keep the lower grid index first; NaN sorts
        # last, as in the NumPy version (a NaN never passes "v < worst").
        filled = min(k, G)
        worst = np.inf
        for gg in range(G):
            v = val[gg]
            if gg < filled:
                if v != v:
                    v = np.inf
                pos = gg
            elif v < worst:
                pos = k - 1
            else:
                continue
            while pos > 0 and v < best[b, pos - 1]:
                best[b, pos] = best[b, pos - 1]
                idx[b, pos] = idx[b, pos - 1]
                pos -= 1
            best[b, pos] = v
            idx[b, pos] = gg
            worst = best[b, k - 1]
        for j in range(filled):  # sigma_sat of the kept points, as in the NumPy version
            if idx[b, j] >= 0:
                D = Dp[pb, idx[b, j]]
                A_out[b, j] = min(max(total / max(D, 1e-300), a_lo), a_hi)


def weight_patterns(W):
    """Distinct rows of the weights ``W (B, n)``: ``(patterns (P, n), index (B,))``.

    0/1 weights (the zero policies') are grouped (``likelihood.mask_patterns``); other
    weights make every row its own pattern.
    """
    W = np.asarray(W, float)
    if np.all((W == 0.0) | (W == 1.0)):
        groups = _lik.mask_patterns(W != 0.0)
        if groups is not None:
            return W[groups[0]], groups[1]
    return W, np.arange(W.shape[0])


def screen_topk(SE, logSE, grid, N, W, lo, hi, k):
    """The ``k`` best grid points per dataset for ``Weibull4.screen`` (same formulas).

    Returns grid indices ``(B, k)``, NLL ``(B, k)`` and sigma_sat ``(B, k)``, best first.
    """
    B = N.shape[0]
    idx = np.empty((B, k), np.int64)
    best = np.empty((B, k))
    A = np.empty((B, k))
    Wp, pat = weight_patterns(W)
    _screen_all(_c(SE.T), _c(logSE.T), _c(grid.T), _c(N), _c(W), _c(Wp), _c(pat, np.int64),
                _c(lo), _c(hi), int(k), idx, best, A)
    return idx, best, A


@_jit
def _profiled_all(pts, x, expo, N, W, a_lo, a_hi, cst, nll):
    m, C = pts.shape[0], pts.shape[1]
    n = x.shape[0]
    S = np.empty(n)
    z_max = cst[_ZMAX]
    floor = cst[_LAM_FLOOR]
    for b in range(m):
        total = 0.0
        for i in range(n):
            total += W[b, i] * N[b, i]
        for c in range(C):
            L0 = pts[b, c, 1]
            s = pts[b, c, 2]
            logw = math.log(pts[b, c, 3])
            D = 0.0
            for i in range(n):
                d = x[i] - L0
                # (a run left out costs nothing)
                if d > cst[_DSNAP] * abs(x[i]) and W[b, i] != 0.0:
                    S[i] = _unit_curve(d, s, logw, z_max)[2]
                else:
                    S[i] = 0.0
                D += W[b, i] * S[i] * expo[i]
            A = total / D if D > 0.0 else np.inf
            A = min(max(A, a_lo[b]), a_hi[b])
            pts[b, c, 0] = A
            f = 0.0
            for i in range(n):
                if W[b, i] == 0.0:
                    continue
                lam = A * S[i] * expo[i]
                term = lam
                if N[b, i] > 0.0:
                    term -= N[b, i] * math.log(max(lam, floor))
                f += W[b, i] * term
            nll[b, c] = f


def profiled_nll(pts, x, expo, N, W, a_lo, a_hi):
    """``Weibull4.profiled_nll`` compiled: ``pts (m, C, 4)`` get sigma_sat at its
    conditional optimum, clipped to ``[a_lo, a_hi] (m,)``; returns them and the NLL ``(m, C)``."""
    pts = np.array(pts, float, copy=True, order="C")
    nll = np.empty(pts.shape[:2])
    _profiled_all(pts, _c(x), _c(expo), _c(N), _c(W), _c(a_lo), _c(a_hi), _constants(), nll)
    return pts, nll


@_jit
def _profiled_shared_all(SE, logSE, group, N, W, a_lo, a_hi, floor, A_out, nll):
    m, n = N.shape
    C = SE.shape[1]
    for b in range(m):
        g = group[b]
        total = 0.0
        for i in range(n):
            total += W[b, i] * N[b, i]
        for c in range(C):
            D = 0.0
            s = 0.0
            hit_min = np.inf
            for i in range(n):
                wn = W[b, i] * N[b, i]
                se = SE[g, c, i]
                D += W[b, i] * se
                s += wn * logSE[g, c, i]
                if wn > 0.0:
                    hit_min = min(hit_min, se)
            A = total / D if D > 0.0 else np.inf
            A = min(max(A, a_lo[b]), a_hi[b])
            f = A * D - total * math.log(A) - s
            if not (A * hit_min >= floor) or not math.isfinite(f):
                # A run with events below the likelihood's floor: run by run
                f = 0.0
                for i in range(n):
                    lam = A * SE[g, c, i]
                    term = lam
                    if N[b, i] > 0.0:
                        term -= N[b, i] * math.log(max(lam, floor))
                    f += W[b, i] * term
            A_out[b, c] = A
            nll[b, c] = f


def profiled_nll_shared(SE, logSE, group, N, W, a_lo, a_hi):
    """``Weibull4.profiled_nll_shared`` compiled, from the curves at unit sigma_sat times
    the exposure ``SE (P, C, n)`` and their logarithm: sigma_sat ``(m, C)`` and NLL
    ``(m, C)`` of dataset b at its group's points ``group[b]`` (the same formulas)."""
    m = N.shape[0]
    C = SE.shape[1]
    A = np.empty((m, C))
    nll = np.empty((m, C))
    _profiled_shared_all(_c(SE), _c(logSE), _c(group, np.int64), _c(N), _c(W), _c(a_lo),
                         _c(a_hi), float(_lik.LAMBDA_FLOOR), A, nll)
    return A, nll
