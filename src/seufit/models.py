"""Cross-section models, vectorised over a batch of parameter vectors.

Every model maps a batch of parameter vectors ``theta`` of shape ``(B, p)`` and
abscissae ``x`` of shape ``(n,)`` to values of shape ``(B, n)``.  Derivatives
come as a Jacobian ``(B, n, p)`` and second derivatives ``(B, n, p, p)``.

The solver works on internal coordinates: parameters flagged ``"log"`` are
optimised as their logarithm, which removes the 1e-6 cm^2 scale of sigma_sat
and keeps shape and width positive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Model", "Weibull4", "UserModel", "WEIBULL4"]

# Weibull exponents are capped here: exp(-z) is exactly 0 in float64 well before.
_Z_LOG_MAX = 700.0
# A run counts as above the threshold when L - let_th exceeds this fraction of L (about 4
# ulp).  A let_th on a run's LET, reached through the solver's log(cap - let_th)
# coordinate, lands an ulp off it; "above" by an ulp, the run had a second derivative in
# let_th of 1e14 and the Newton steps shrank to a crawl (docs/bootstrap.md).
_D_SNAP = 1e-15


@dataclass(frozen=True)
class Model:
    """Base class of a cross-section (or generic mean) model.

    Subclasses implement :meth:`derivatives`.  ``transforms`` gives, per
    parameter, ``"log"`` or ``"linear"``: the internal coordinate of the solver.
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    transforms: tuple[str, ...]
    label: str = "model"
    # Index of a multiplicative scale parameter (the model is proportional to it), or
    # None.  With a Poisson likelihood its conditional optimum is closed-form
    # (:meth:`scale_optimum`), which the solver uses at every point it evaluates.
    scale_index: int | None = None

    @property
    def n_params(self) -> int:
        return len(self.names)

    def value(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Model values, shape ``(B, n)`` for ``theta`` of shape ``(B, p)``."""
        return self.derivatives(theta, x, order=0)[0]

    def derivatives(
        self, theta: np.ndarray, x: np.ndarray, order: int = 2
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Values, Jacobian and second derivatives up to ``order``."""
        raise NotImplementedError

    def default_bounds(self, x: np.ndarray, counts: np.ndarray, exposure: np.ndarray):
        """Box ``(lower, upper)`` derived from the data, each of shape ``(p,)``."""
        raise NotImplementedError

    def data_limits(self, x: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Hard limits the observed data put on each parameter, ``(p, 2)``.

        Beyond them the data's likelihood is exactly zero (an observed event where the
        model predicts none), so no interval needs to reach past them.  Generic models:
        none (infinite).
        """
        return np.tile([-np.inf, np.inf], (self.n_params, 1))

    def proportional_scale(self) -> int | None:
        """``scale_index`` where it holds for this model's own formula, else None.

        A subclass that overrides :meth:`derivatives` (a background term, say) without
        declaring ``scale_index`` itself inherits the parent's, though its model may no
        longer be proportional to that parameter: it gets None.
        """
        j = self.scale_index
        if j is None:
            return None
        owner = next((c for c in type(self).__mro__ if "scale_index" in vars(c)), None)
        if owner is None or type(self).derivatives is not owner.derivatives:
            return None
        return j

    def scale_optimum(self, theta, x, exposure, counts, weights) -> np.ndarray:
        """Conditional Poisson optimum of the scale parameter (``scale_index``), ``(m,)``.

        For a fixed shape S (the model at unit scale) the Poisson NLL is lowest at
        scale = sum W N / sum W S E (unclipped); NaN where the model is 0 at every run.
        ``counts`` and ``weights``: ``(n,)`` or ``(m, n)``.  (Where a run with events has
        an expected count below the likelihood's floor, the floored NLL's optimum differs.)
        """
        if self.scale_index is None:
            raise ValueError(f"{type(self).__name__} declares no scale parameter")
        unit = np.array(theta, float, copy=True)
        unit[:, self.scale_index] = 1.0
        W = np.broadcast_to(np.asarray(weights, float), (len(unit), len(x)))
        D = np.sum(self.value(unit, x) * exposure * W, axis=1)
        total = np.sum(np.broadcast_to(np.asarray(counts, float), W.shape) * W, axis=1)
        return np.where(D > 0, total / np.where(D > 0, D, 1.0), np.nan)

    def batch_bounds(self, x, counts, exposure, weights):
        """Bounds per dataset, ``(B, p)`` each, from counts ``(B, n)``; rows in a loop."""
        lo, hi = [], []
        for N, w in zip(np.asarray(counts, float), np.asarray(weights, float)):
            m = w > 0
            lo_r, hi_r = self.default_bounds(np.asarray(x)[m], N[m], np.asarray(exposure)[m])
            lo.append(lo_r)
            hi.append(hi_r)
        return np.array(lo), np.array(hi)

    def screen(self, objective, counts, weights, lower, upper, grid, k: int,
               chunk: int = 200_000):
        """The ``k`` best grid points of each dataset (moved into its box) and their NLL.

        Returns ``points (B, k, p)`` and ``nll (B, k)``, best first.  Generic version:
        the grid clipped into each box, evaluated through ``objective`` in chunks.
        """
        B, G = len(counts), len(grid)
        k = min(int(k), G)
        pts = np.repeat(np.asarray(grid, float)[None], B, axis=0)
        pts = clip_inside(pts, lower[:, None, :], upper[:, None, :])
        nll = np.empty((B, G))
        per = max(1, chunk // G)
        for s in range(0, B, per):
            e = min(s + per, B)
            rows = np.repeat(np.arange(s, e), G)
            nll[s:e] = objective(pts[s:e].reshape(-1, pts.shape[2]), 0, rows)[0].reshape(-1, G)
        best = _k_smallest(nll, k)
        rows = np.arange(B)[:, None]
        return pts[rows, best], nll[rows, best]

    def initial_guess(self, x, counts, exposure, bounds) -> np.ndarray:
        """One starting point, shape ``(p,)``."""
        lo, hi = bounds
        finite = np.isfinite(lo) & np.isfinite(hi)
        mid = 0.5 * (np.where(finite, lo, 0.0) + np.where(finite, hi, 0.0))
        return np.where(finite, mid, np.clip(1.0, lo, hi))

    def starts(self, x, counts, exposure, bounds) -> np.ndarray:
        """Extra starting points for a multi-start fit, shape ``(K, p)``."""
        return self.initial_guess(x, counts, exposure, bounds)[None, :]


@dataclass(frozen=True)
class Weibull4(Model):
    """Four-parameter Weibull cross-section.

    sigma(L) = sigma_sat * (1 - exp(-((L - let_th) / w) ** s)) for L > let_th,
    and 0 otherwise.  Parameters, in order: sigma_sat, let_th, s, w.
    """

    names: tuple[str, ...] = ("sigma_sat", "let_th", "s", "w")
    units: tuple[str, ...] = ("cm2", "MeV cm2/mg", "", "MeV cm2/mg")
    # let_th as log(cap - let_th): see optimize._Coords (sparse optima just below the cap)
    transforms: tuple[str, ...] = ("log", "logcap", "log", "log")
    label: str = "Weibull4"
    scale_index: int | None = 0
    kink_param: int = 1  # sigma is not smooth in let_th where let_th equals a tested LET

    @staticmethod
    def steep_kink(theta: np.ndarray) -> np.ndarray:
        """Rows of ``theta (B, 4)`` where a run switching on as let_th drops below its LET
        does so with an infinite slope, (LET - let_th)^s with s < 1 (for the solver's line
        search, ``optimize.LS_KINK_TRIALS``)."""
        return np.asarray(theta)[:, 2] < 1.0

    def derivatives(self, theta, x, order=2):
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        x = np.asarray(x, dtype=float)
        A = theta[:, 0:1]
        L0 = theta[:, 1:2]
        s = theta[:, 2:3]
        w = theta[:, 3:4]
        d = x[None, :] - L0
        above = d > _D_SNAP * np.abs(x)[None, :]
        # Safe logs: below threshold everything is forced to exactly 0 below.
        d_safe = np.where(above, d, 1.0)
        ell = np.log(d_safe) - np.log(w)  # log((L - L0)/w)
        slog = np.clip(s * ell, -np.inf, _Z_LOG_MAX)
        z = np.where(above, np.exp(slog), 0.0)
        one_minus_e = -np.expm1(-z)
        f = A * one_minus_e
        if order == 0:
            return f, None, None
        E = np.where(above, np.exp(-z), 0.0)  # 0 below threshold: kills derivatives
        # Slopes in let_th diverge as L -> let_th for s < 1; a floor on the distance far
        # below any physical LET difference keeps them finite.
        d_safe = np.maximum(d_safe, 1e-100)
        zL0 = -s * z / d_safe
        zs = z * ell
        zw = -s * z / w
        B, n = f.shape
        J = np.empty((B, n, 4))
        J[..., 0] = one_minus_e
        J[..., 1] = A * E * zL0
        J[..., 2] = A * E * zs
        J[..., 3] = A * E * zw
        if order == 1:
            return f, J, None
        zLL = s * (s - 1.0) * (z / d_safe) / d_safe  # d**2 would underflow for tiny d
        zLs = -(s * ell + 1.0) * z / d_safe
        zLw = s * s * z / (d_safe * w)
        zss = z * ell * ell
        zsw = -(s * ell + 1.0) * z / w
        zww = s * (s + 1.0) * z / (w * w)
        AE = A * E
        H = np.empty((B, n, 4, 4))
        H[..., 0, 0] = 0.0
        grads = (zL0, zs, zw)
        for k, gk in enumerate(grads, start=1):
            H[..., 0, k] = H[..., k, 0] = E * gk
        second = {(1, 1): zLL, (1, 2): zLs, (1, 3): zLw, (2, 2): zss, (2, 3): zsw, (3, 3): zww}
        for (i, j), zij in second.items():
            # sigma_ij = A * E * (z_ij - z_i z_j)
            val = AE * (zij - grads[i - 1] * grads[j - 1])
            H[..., i, j] = val
            H[..., j, i] = val
        return f, J, H

    def default_bounds(self, x, counts, exposure):
        """Bounds of the MLE article, with let_th capped at the lowest LET with events."""
        x = np.asarray(x, float)
        counts = np.asarray(counts, float)
        exposure = np.asarray(exposure, float)
        hit = counts > 0
        sig = counts[hit] / exposure[hit]
        smax = float(sig.max())
        lmin_hit = float(x[hit].min())
        span = float(x.max() - x.min())
        w_hi = max(2.0 * span, 1.0)  # a single-LET campaign still needs a non-empty box
        lo = np.array([0.5 * smax, 0.0, 0.1, 0.1])
        hi = np.array([10.0 * smax, lmin_hit, 10.0, w_hi])
        return lo, hi

    def data_limits(self, x, counts):
        """let_th below the lowest LET with events: the curve is 0 at and below let_th,
        where an observed event would have probability 0.  A subclass with its own formula
        (a background term, say) may allow events there: no limits unless it says so."""
        lim = super().data_limits(x, counts)
        hit = np.asarray(counts, float) > 0
        if type(self).derivatives is Weibull4.derivatives and hit.any():
            lim[1, 1] = float(np.asarray(x, float)[hit].min())
        return lim

    def batch_bounds(self, x, counts, exposure, weights):
        """:meth:`default_bounds` for many datasets at once (the bootstrap's rule)."""
        x = np.asarray(x, float)
        N = np.asarray(counts, float)
        used = np.asarray(weights, float) > 0
        hit = used & (N > 0)
        smax = np.where(hit, N / np.asarray(exposure, float), 0.0).max(axis=1)
        lmin_hit = np.where(hit, x, np.inf).min(axis=1)
        span = np.where(used, x, -np.inf).max(axis=1) - np.where(used, x, np.inf).min(axis=1)
        B = N.shape[0]
        lo = np.column_stack([0.5 * smax, np.zeros(B), np.full(B, 0.1), np.full(B, 0.1)])
        hi = np.column_stack([10.0 * smax, lmin_hit, np.full(B, 10.0), np.maximum(2 * span, 1.0)])
        return lo, hi

    def screen(self, objective, counts, weights, lower, upper, grid, k: int,
               chunk: int = 200_000):
        """Grid of (let_th, s, w) shared by all datasets, sigma_sat at its conditional optimum.

        With S_gi the unit-sigma_sat curve of grid point g at run i, sigma_sat
        A_bg = sum_i W N / sum_i W S E (clipped to the box) and
        NLL_bg = A_bg sum_i W S E - sum_i W N log(A_bg S E).  Points outside a
        dataset's box get an infinite NLL.  Returns the ``k`` best points per dataset
        ``(B, k, p)`` and their NLL ``(B, k)``, best first: compiled (one pass per
        dataset, no (B, G) array) when numba is importable, else two matrix products.
        """
        from . import _compiled
        from .likelihood import LAMBDA_FLOOR
        from .optimize import compiled_enabled

        x, E = objective.x, objective.exposure
        grid = np.asarray(grid, float)
        k = min(int(k), len(grid))
        unit = grid.copy()
        unit[:, 0] = 1.0
        SE = self.value(unit, x) * E  # (G, n)
        logSE = np.log(np.maximum(SE, LAMBDA_FLOOR))
        N = np.asarray(counts, float)
        W = np.broadcast_to(np.asarray(weights, float), N.shape)
        if compiled_enabled():
            idx, nll, A = _compiled.screen_topk(SE, logSE, grid, N, W, lower, upper, k)
        else:
            WN = N * W
            # einsum, not a BLAS matmul: BLAS blocks by batch size, so a row's result would
            # depend on how many rows share the call (and the bootstrap on its chunk size).
            D = np.einsum("bn,gn->bg", W, SE)
            total = WN.sum(axis=1)[:, None]
            A_all = np.clip(total / np.maximum(D, 1e-300), lower[:, None, 0], upper[:, None, 0])
            nll_all = A_all * D - total * np.log(A_all) - np.einsum("bn,gn->bg", WN, logSE)
            inside = np.all((grid[None, :, 1:] >= lower[:, None, 1:])
                            & (grid[None, :, 1:] <= upper[:, None, 1:]), axis=2)
            nll_all = np.where(inside, nll_all, np.inf)
            idx = _k_smallest(nll_all, k)
            rows = np.arange(len(N))[:, None]
            nll, A = nll_all[rows, idx], A_all[rows, idx]
        pts = grid[idx]
        pts[..., 0] = A
        return pts, nll

    def with_sigma_at_optimum(self, theta, x, exposure, counts, weights, lower, upper):
        """``theta (m, p)`` with sigma_sat at its conditional optimum for each row's data.

        For a fixed shape S (the curve at unit sigma_sat) the Poisson NLL is lowest at
        sigma_sat = sum W N / sum W S E, clipped a hair inside the box (its upper end
        where the curve is 0 at every run).  ``counts`` and ``weights``: ``(n,)`` or
        ``(m, n)``; ``lower``, ``upper``: ``(p,)`` or ``(m, p)``.
        """
        th = np.array(theta, float, copy=True)
        opt = self.scale_optimum(th, x, exposure, counts, weights)
        th[:, 0] = np.where(np.isnan(opt), np.inf, opt)
        th[:, 0] = clip_inside(th, lower, upper)[:, 0]
        return th

    def profiled_nll(self, objective, points, lower, upper):
        """NLL of each dataset's own points with sigma_sat at its conditional optimum.

        ``points (m, C, p)``: C points per dataset of ``objective`` (its counts and
        weights, ``(m, n)``), sigma_sat ignored; ``lower``, ``upper`` ``(m, p)``.
        Returns the points with sigma_sat set (:meth:`with_sigma_at_optimum`) and their
        NLL ``(m, C)``: compiled when the kernel applies, else through ``objective``.
        """
        from .optimize import compiled_applies, compiled_enabled

        m, C, p = points.shape
        N = np.broadcast_to(np.asarray(objective.counts, float), (m, objective.x.size))
        W = (np.ones_like(N) if objective.weights is None
             else np.broadcast_to(np.asarray(objective.weights, float), N.shape))
        if compiled_enabled() and compiled_applies(self):
            from . import _compiled

            # sigma_sat's range as clip_inside's (a hair inside its finite bounds)
            a_lo = clip_inside(np.full(m, -np.inf), lower[:, 0], upper[:, 0])
            a_hi = clip_inside(np.full(m, np.inf), lower[:, 0], upper[:, 0])
            return _compiled.profiled_nll(points, objective.x, objective.exposure, N, W,
                                          a_lo, a_hi)
        rows = np.repeat(np.arange(m), C)
        flat = self.with_sigma_at_optimum(points.reshape(-1, p), objective.x,
                                          objective.exposure, N[rows], W[rows], lower[rows],
                                          upper[rows])
        return flat.reshape(m, C, p), objective(flat, 0, rows)[0].reshape(m, C)

    def profiled_nll_shared(self, objective, points, group, lower, upper):
        """:meth:`profiled_nll` where datasets share their points: ``points (P, C, p)``,
        dataset b uses ``points[group[b]]``.

        The curves at unit sigma_sat are computed once per group, so a dataset costs one
        logarithm per point (sigma_sat's) instead of the model's functions at every run:
        NLL = A D - total log A - sum_i W N log(S_i E_i), with D = sum_i W S_i E_i and
        A = total / D clipped as in :meth:`profiled_nll`.  A dataset where some run with
        events would fall below the likelihood's floor at A is evaluated run by run.
        Returns ``(m, C, p)`` points with sigma_sat set and their NLL ``(m, C)``.
        """
        from .likelihood import LAMBDA_FLOOR
        from .optimize import compiled_applies, compiled_enabled

        x, E = objective.x, objective.exposure
        N = np.asarray(objective.counts, float)
        m, n = N.shape
        W = (np.ones_like(N) if objective.weights is None
             else np.broadcast_to(np.asarray(objective.weights, float), N.shape))
        P, C, p = points.shape
        unit = np.array(points, float, copy=True)
        unit[..., 0] = 1.0
        SE = (self.value(unit.reshape(-1, p), x) * E).reshape(P, C, n)
        logSE = np.log(np.maximum(SE, 1e-300))
        a_lo = clip_inside(np.full(m, -np.inf), lower[:, 0], upper[:, 0])[:, None]
        a_hi = clip_inside(np.full(m, np.inf), lower[:, 0], upper[:, 0])[:, None]
        if compiled_enabled() and compiled_applies(self):
            from . import _compiled

            # (5,000 sparse replicates x 16 points: 26 -> 8 ms per 20,000 for this method)
            A, nll = _compiled.profiled_nll_shared(SE, logSE, group, N, W, a_lo[:, 0],
                                                   a_hi[:, 0])
            out = points[group]
            out[..., 0] = A
            return out, nll
        WN = W * N
        total = WN.sum(axis=1)
        D = np.einsum("mcn,mn->mc", SE[group], W)
        with np.errstate(divide="ignore", invalid="ignore"):
            A = np.clip(np.where(D > 0, total[:, None] / D, np.inf), a_lo, a_hi)
            nll = A * D - total[:, None] * np.log(A) - np.einsum("mcn,mn->mc", logSE[group], WN)
        # Runs with events whose expected count A S E is below the floor: exact, run by run.
        hit_min = np.where(WN[:, None, :] > 0, SE[group], np.inf).min(axis=2)
        slow = ~(A * hit_min >= LAMBDA_FLOOR) | ~np.isfinite(nll)
        out = points[group]  # a copy (fancy indexing)
        out[..., 0] = A
        if slow.any():
            r, c = np.nonzero(slow)
            lam = A[r, c][:, None] * SE[group[r], c]
            term = lam - np.where(N[r] > 0, N[r] * np.log(np.maximum(lam, LAMBDA_FLOOR)), 0.0)
            nll[r, c] = np.sum(W[r] * term, axis=1)
        return out, nll

    def corner_points(self, lower, upper) -> np.ndarray:
        """Per-dataset screen points in the threshold corner, ``(B, 16, 4)``.

        With few events the likelihood can be lowest with let_th a hair below the
        lowest LET with events and s near its lower bound (a step-like curve).  That
        corner moves with each dataset's cap, so a grid shared by all datasets misses
        it: let_th at 1e-6 and 1e-4 of the box width below the cap, s at its lower
        bound and twice it, w on 4 log-spaced values.  sigma_sat is left at 1 (see
        :meth:`with_sigma_at_optimum`).
        """
        lo, hi = np.asarray(lower, float), np.asarray(upper, float)
        width = hi[:, 1] - lo[:, 1]
        l0 = hi[:, 1, None] - width[:, None] * np.array([1e-6, 1e-4])  # (B, 2)
        s = lo[:, 2, None] * np.array([1.0, 2.0])
        u = np.linspace(0.0, 1.0, 4)
        w = lo[:, 3, None] * (hi[:, 3, None] / lo[:, 3, None]) ** u  # (B, 4)
        B = len(lo)
        L, S, Wd = np.broadcast_arrays(l0[:, :, None, None], s[:, None, :, None],
                                       w[:, None, None, :])
        pts = np.stack([np.ones((B, 2, 2, 4)), L, S, Wd], axis=-1).reshape(B, 16, 4)
        # Shape parameters clipped into the box (e.g. s upper < 2 s lower).
        pts[..., 1:] = np.clip(pts[..., 1:], lo[:, None, 1:], hi[:, None, 1:])
        return pts

    def screen_grid(self, bounds) -> np.ndarray:
        """Dense (let_th, s, w) grid over the box for the bootstrap screen (768 points)."""
        lo, hi = bounds
        l0 = lo[1] + (hi[1] - lo[1]) * np.array([0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.97, 0.995])
        s = np.geomspace(0.15, 8.0, 12)
        w = np.geomspace(max(lo[3], 0.1), hi[3], 8)
        g = np.stack(np.meshgrid(l0, s, w, indexing="ij"), -1).reshape(-1, 3)
        return np.column_stack([np.full(len(g), 0.5 * (lo[0] + hi[0])), g])

    def initial_guess(self, x, counts, exposure, bounds):
        """Starting point of the MLE article, clipped into the box."""
        x = np.asarray(x, float)
        counts = np.asarray(counts, float)
        hit = counts > 0
        smax = float((counts[hit] / np.asarray(exposure, float)[hit]).max())
        lmin = float(x[hit].min())
        span = float(x.max() - x.min())
        lo, hi = bounds
        guess = np.array([1.2 * smax, max(0.0, lmin - 1.0), 2.0, max(span / 3.0, 0.1)])
        return clip_inside(guess, lo, hi)

    def starts(self, x, counts, exposure, bounds):
        """Grid of starts over (let_th, s, w); sigma_sat set to its conditional optimum."""
        lo, hi = bounds
        x = np.asarray(x, float)
        counts = np.asarray(counts, float)
        exposure = np.asarray(exposure, float)
        l0_grid = lo[1] + (hi[1] - lo[1]) * np.array([0.0, 0.5, 0.9, 0.99])
        s_grid = np.array([0.3, 0.7, 1.5, 3.0, 6.0])
        w_grid = np.geomspace(max(lo[3], 0.1), hi[3], 5)
        g = np.stack(np.meshgrid(l0_grid, s_grid, w_grid, indexing="ij"), -1).reshape(-1, 3)
        th = clip_inside(np.column_stack([np.ones(len(g)), g]), lo, hi)
        th = self.with_sigma_at_optimum(th, x, exposure, counts, 1.0, lo, hi)
        first = self.initial_guess(x, counts, exposure, bounds)[None, :]
        return np.vstack([first, th])


def _k_smallest(values: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` smallest values of each row, smallest first."""
    if k < values.shape[1]:
        part = np.argpartition(values, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(values.shape[1]), values.shape).copy()
    order = np.argsort(np.take_along_axis(values, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def clip_inside(theta, lo, hi, rel=1e-6):
    """Clip into the box, a hair inside finite bounds (the let_th cap makes NLL infinite)."""
    width = np.where(np.isfinite(hi - lo), hi - lo, 1.0)
    return np.clip(theta, lo + rel * width * (lo != 0), hi - rel * width)


@dataclass(frozen=True)
class UserModel(Model):
    """A model from any vectorised callable ``f(x, theta) -> (B, n)``.

    Parameters
    ----------
    func : callable
        ``func(x, theta)`` with ``x`` of shape ``(n,)`` and ``theta`` of shape
        ``(B, p)``; returns ``(B, n)``.
    names : sequence of str
        Parameter names.
    bounds : (lower, upper)
        Box of the parameters (finite bounds make sweeps and starts possible).
    jac : callable, optional
        ``jac(x, theta) -> (B, n, p)``.  Central differences otherwise.
    hess : callable, optional
        ``hess(x, theta) -> (B, n, p, p)``.  Differences of the Jacobian otherwise.
    initial : sequence of float, optional
        Starting point; the centre of the box otherwise.
    """

    func: Callable | None = None
    bounds: tuple[Sequence[float], Sequence[float]] | None = None
    jac: Callable | None = None
    hess: Callable | None = None
    initial: Sequence[float] | None = None
    units: tuple[str, ...] = field(default=())
    transforms: tuple[str, ...] = field(default=())
    label: str = "user model"

    def __post_init__(self):
        p = len(self.names)
        if not self.units:
            object.__setattr__(self, "units", ("",) * p)
        if not self.transforms:
            object.__setattr__(self, "transforms", ("linear",) * p)

    def derivatives(self, theta, x, order=2):
        theta = np.atleast_2d(np.asarray(theta, float))
        x = np.asarray(x, float)
        f = np.asarray(self.func(x, theta), float)
        if order == 0:
            return f, None, None
        J = self._jac(theta, x)
        if order == 1:
            return f, J, None
        if self.hess is not None:
            H = np.asarray(self.hess(x, theta), float)
        else:
            p = theta.shape[1]
            H = np.empty(f.shape + (p, p))
            for k in range(p):
                h = 1e-5 * np.maximum(np.abs(theta[:, k]), 1.0)
                tp, tm = theta.copy(), theta.copy()
                tp[:, k] += h
                tm[:, k] -= h
                H[..., k, :] = (self._jac(tp, x) - self._jac(tm, x)) / (2 * h[:, None, None])
            H = 0.5 * (H + np.swapaxes(H, -1, -2))
        return f, J, H

    def _jac(self, theta, x):
        if self.jac is not None:
            return np.asarray(self.jac(x, theta), float)
        p = theta.shape[1]
        cols = []
        for k in range(p):
            h = 1e-6 * np.maximum(np.abs(theta[:, k]), 1.0)
            tp, tm = theta.copy(), theta.copy()
            tp[:, k] += h
            tm[:, k] -= h
            cols.append((self.func(x, tp) - self.func(x, tm)) / (2 * h[:, None]))
        return np.stack(cols, axis=-1)

    def default_bounds(self, x, counts, exposure):
        lo, hi = self.bounds
        return np.asarray(lo, float), np.asarray(hi, float)

    def initial_guess(self, x, counts, exposure, bounds):
        if self.initial is not None:
            return np.asarray(self.initial, float)
        return super().initial_guess(x, counts, exposure, bounds)

    def starts(self, x, counts, exposure, bounds):
        lo, hi = bounds
        first = self.initial_guess(x, counts, exposure, bounds)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            return first[None, :]
        # A small Sobol-like grid: corners pulled in, plus the centre.
        p = len(lo)
        u = np.array(np.meshgrid(*[[0.25, 0.75]] * p, indexing="ij")).reshape(p, -1).T
        return np.vstack([first, lo + u * (hi - lo)])


WEIBULL4 = Weibull4()
