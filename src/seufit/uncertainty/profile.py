"""Exact profile-likelihood intervals (what MINOS computes), for the Weibull and any model.

For parameter k the profile is ``P_k(t) = min f(theta)`` over the other parameters
with ``theta_k = t``; the interval at level ``cl`` is the set where
``P_k(t) - f_min <= delta = z^2 / 2`` (1/2 for one sigma, 1.92 for 95 %).  It is
the exact form of the "fmin + 1/2" sweep of :mod:`seufit.uncertainty.sweep`: the
sweep's envelope converges to this profile as the number of samples grows.

How it is computed
------------------
1. A grid per parameter, in the solver's internal coordinates (log for scale
   parameters), spaced in units of the Wald half-width.  Every grid point of every
   parameter is one row of ONE :func:`seufit.optimize.minimize_batch` call, the
   profiled parameter held by ``lower == upper``; each point starts from the
   quadratic prediction of the conditional minimum, from the MLE and from the
   fit's other local optima, and keeps the lowest.
2. Two sweeps along the grid (outward, then inward), each point warm-started from
   its neighbour's solution, keeping the lower value; points that did not converge
   or break monotonicity get the model's full multi-start grid plus random starts.
   A point that is not the true conditional minimum would shift the interval.
3. Where no grid point crosses the threshold, the grid is extended outward until
   it does or the parameter bound is reached (a one-sided result, flagged).
4. Each endpoint is a root of ``sqrt(2 (P_k(t) - f_min)) = z``, found by a
   bracketing Illinois (regula falsi) iteration in which every evaluation is a
   batched conditional minimisation (all endpoints at once); the signed root of
   the profile is nearly linear in ``t``, so a few iterations reach 1e-9 in NLL.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm

from .._format import html_block, text_table
from .._provenance import fit_options, provenance, zeros_clause
from ..data import TestData
from ..fit import fit, require_fit
from ..optimize import minimize_batch
from ..statistics import Statistic, fit_statistic

__all__ = [
    "ONE_SIGMA",
    "ProfileCurve",
    "ProfileResult",
    "delta_for",
    "profile",
    "profile_reference",
    "xy_data",
    "fit_xy",
]

ONE_SIGMA = float(norm.cdf(1.0) - norm.cdf(-1.0))  # cl of a one-sigma interval (Delta = 1/2)
# Grid offsets in units of the expected (Wald) distance from the MLE to the endpoint.
_GRID = (0.3, 0.6, 0.85, 1.0, 1.15, 1.4, 2.0, 3.0)
_MAX_EXTEND = 24  # outward extensions (x1.5 each) before an endpoint is declared failed
_MONO_TOL = 1e-6  # NLL units a profile may dip going outward before a point is re-started
_ACCEPTS_KINKS = "kinks" in inspect.signature(minimize_batch).parameters


def delta_for(cl: float) -> float:
    """Threshold ``Delta = z^2 / 2`` above the minimum NLL for a two-sided level ``cl``.

    ``delta_for(ONE_SIGMA) == 0.5`` and ``delta_for(0.95) == 1.9207``.
    """
    if not 0.0 < cl < 1.0:
        raise ValueError(f"cl must be between 0 and 1, got {cl}")
    z = float(norm.ppf(0.5 + 0.5 * cl))
    return 0.5 * z * z


# --------------------------------------------------------------------------- user data
def xy_data(x, y, exposure=None, *, name: str = "<x, y data>") -> TestData:
    """Wrap plain ``(x, y)`` counts as :class:`seufit.TestData` for a user model.

    The fit computes ``lambda_i = f(x_i; theta) * exposure_i``; with the default
    exposure of 1 the model predicts the counts ``y`` directly, as in the linear
    example ``y = a x + b`` of the likelihood-sweep article.

    Parameters
    ----------
    x : array_like (n,)
        Abscissae (stored in the ``let`` field; they need not be LETs).
    y : array_like (n,)
        Observed counts (whole numbers >= 0).
    exposure : array_like (n,), optional
        Multiplier of the model (default 1).
    name : str
        Label used in reports.

    Returns
    -------
    TestData
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"x and y must be 1-D and of the same length, got {x.shape}, {y.shape}")
    if np.any(y < 0) or np.any(y != np.round(y)):
        raise ValueError("y must hold counts: whole numbers >= 0")
    expo = np.ones_like(x) if exposure is None else np.broadcast_to(
        np.asarray(exposure, float), x.shape).copy()
    if np.any(expo <= 0):
        raise ValueError("exposure must be positive")
    import hashlib

    digest = hashlib.sha256(np.concatenate([x, y, expo]).tobytes()).hexdigest()
    return TestData(let=x, fluence=expo, events=y, let_nominal=x, fluence_nominal=expo,
                    angle=np.zeros_like(x), source=name, sha256=digest, tilt_corrected=False)


def fit_xy(x, y, model, *, exposure=None, zeros: str = "include", cl: float = 0.95,
           name: str = "<x, y data>"):
    """Poisson MLE of a user model on plain ``(x, y)`` counts; a :class:`seufit.FitResult`.

    Thin wrapper of :func:`seufit.fit` over :func:`xy_data`, so that the fit,
    :func:`profile` and :func:`seufit.uncertainty.sweep.sweep` run unchanged.
    Zero counts stay in the likelihood by default (the SEU convention of leaving
    them out as upper limits is specific to cross-section curves).
    """
    return fit(xy_data(x, y, exposure, name=name), model=model, zeros=zeros, cl=cl)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class ProfileCurve:
    """The profile of one parameter on its grid (ascending values, MLE included).

    Attributes
    ----------
    name : str
    values : (m,) parameter values.
    fun : (m,) statistic at the conditional minimum.
    delta : (m,) ``fun`` minus the reference minimum.
    theta : (m, p) the conditional minimisers.
    converged : (m,) solver convergence of each point.
    valid : (m,) converged and consistent with its neighbours (no sign of a missed
        conditional minimum after the extra starts).
    """

    name: str
    values: np.ndarray
    fun: np.ndarray
    delta: np.ndarray
    theta: np.ndarray
    converged: np.ndarray
    valid: np.ndarray

    def to_dict(self) -> dict:
        return {"values": self.values.tolist(), "delta": self.delta.tolist(),
                "converged": self.converged.tolist(), "valid": self.valid.tolist()}


@dataclass(frozen=True, eq=False)
class ProfileResult:
    """Profile-likelihood intervals of a fit.

    Intervals are estimate with [low, high]; ``low_at_bound`` / ``high_at_bound``
    mark one-sided results, where the profile stays under the threshold up to the
    parameter's bound.  ``low_status`` / ``high_status`` are ``"root"`` (endpoint
    found by root finding), ``"bound"`` or ``"failed"``.
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    params: tuple[str, ...]
    theta: np.ndarray
    fun_min: float
    cl: float
    delta: float
    statistic: Statistic
    ci_low: np.ndarray
    ci_high: np.ndarray
    low_at_bound: np.ndarray
    high_at_bound: np.ndarray
    low_status: tuple[str, ...]
    high_status: tuple[str, ...]
    low_valid: np.ndarray
    high_valid: np.ndarray
    curves: tuple[ProfileCurve, ...]
    bounds: tuple[np.ndarray, np.ndarray]
    n_rows: int
    n_batches: int
    model: str
    source: str
    messages: tuple[str, ...] = ()
    provenance: dict = field(default_factory=dict)

    def interval(self, name: str) -> tuple[float, float]:
        """``(low, high)`` of one profiled parameter."""
        i = self.params.index(name)
        return float(self.ci_low[i]), float(self.ci_high[i])

    def curve(self, name: str) -> ProfileCurve:
        return self.curves[self.params.index(name)]

    @property
    def valid(self) -> bool:
        """Every endpoint found and valid, and every profile point inside the intervals.

        Points past an endpoint cannot move it and do not count here (their own
        flags are in :attr:`curves`).
        """
        if "failed" in self.low_status + self.high_status:
            return False
        if not (np.all(self.low_valid) and np.all(self.high_valid)):
            return False
        for i, c in enumerate(self.curves):
            inside = (c.values >= self.ci_low[i]) & (c.values <= self.ci_high[i])
            if not np.all(c.valid[inside]):
                return False
        return True

    def _rows(self) -> list[list]:
        rows = []
        for i, name in enumerate(self.params):
            k = self.names.index(name)
            c = self.curves[i]
            notes = []
            if self.low_at_bound[i]:
                notes.append("low end at bound")
            if self.high_at_bound[i]:
                notes.append("high end at bound")
            for side, st, ok in (("low", self.low_status[i], self.low_valid[i]),
                                 ("high", self.high_status[i], self.high_valid[i])):
                if st == "failed":
                    notes.append(f"{side} end not found")
                elif not ok:
                    notes.append(f"{side} end uncertain")
            rows.append([name, self.theta[k], self.ci_low[i], self.ci_high[i], self.units[k],
                         f"{int(c.valid.sum())}/{c.valid.size}", "; ".join(notes)])
        return rows

    def _headers(self) -> list[str]:
        lvl = f"{100 * self.cl:.4g} %"
        return ["parameter", "value", f"{lvl} low", "high", "unit", "valid points", ""]

    def __str__(self) -> str:
        out = [f"seufit profile likelihood ({self.statistic.label}) -- {self.source}, "
               f"{self.model}{zeros_clause(self.provenance)}",
               f"  level {100 * self.cl:.4g} %: Delta = {self.delta:.4g} above the minimum "
               f"{self.fun_min:.6f}",
               text_table(self._headers(), self._rows())]
        out += [f"  note: {m}" for m in self.messages]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        cap = (f"profile likelihood ({self.statistic.label}), {100 * self.cl:.4g} % level, "
               f"Delta = {self.delta:.4g}")
        return html_block(f"{self.model} profile likelihood", self.source, self._headers(),
                          self._rows(), cap, self.messages)

    def to_dict(self) -> dict:
        """JSON-safe dictionary: intervals, method details and the profile curves."""
        params = {}
        for i, name in enumerate(self.params):
            k = self.names.index(name)
            params[name] = {
                "value": float(self.theta[k]), "ci_low": _f(self.ci_low[i]),
                "ci_high": _f(self.ci_high[i]), "low_at_bound": bool(self.low_at_bound[i]),
                "high_at_bound": bool(self.high_at_bound[i]), "low_status": self.low_status[i],
                "high_status": self.high_status[i], "low_valid": bool(self.low_valid[i]),
                "high_valid": bool(self.high_valid[i]), "unit": self.units[k],
                "bounds": [float(self.bounds[0][k]), float(self.bounds[1][k])],
            }
        return {
            "method": "profile likelihood",
            "model": self.model,
            "statistic": self.statistic.to_dict(),
            "cl": self.cl,
            "level": self.cl,
            "delta": self.delta,
            "minimum": self.fun_min,
            "parameters": params,
            "valid": self.valid,
            "n_solver_rows": self.n_rows,
            "n_batches": self.n_batches,
            "points": {c.name: c.to_dict() for c in self.curves},
            "messages": list(self.messages),
            "provenance": self.provenance,
        }


def _f(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


# --------------------------------------------------------------------------- engine
class _Engine:
    """Batched conditional minimisation in the solver's internal coordinates."""

    def __init__(self, objective, transforms, lo, hi, theta_hat, tol=1e-10, max_iter=40):
        self.obj = objective
        self.transforms = tuple(transforms)
        self.is_log = np.array([t == "log" for t in self.transforms])
        self.lo = np.asarray(lo, float)
        self.hi = np.asarray(hi, float)
        self.p = self.lo.size
        self.lo_i = self.to_int(self.lo)
        self.hi_i = self.to_int(self.hi)
        self.tol = tol
        self.max_iter = max_iter
        self.kinks = getattr(objective, "kinks", None) if _ACCEPTS_KINKS else None
        self.phi_hat = self.to_int(np.asarray(theta_hat, float))
        self.n_rows = 0
        self.n_batches = 0

    def to_int(self, theta):
        theta = np.asarray(theta, float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.is_log, np.log(np.where(self.is_log, theta, 1.0)), theta)

    def to_phys(self, phi):
        phi = np.asarray(phi, float)
        return np.where(self.is_log, np.exp(np.where(self.is_log, phi, 0.0)), phi)

    def inside(self, phi):
        """Clip into the box a hair inside (the let_th cap makes the NLL enormous)."""
        width = self.hi_i - self.lo_i
        eps = np.where(np.isfinite(width), 1e-9 * width, 0.0)
        return np.clip(phi, self.lo_i + eps, self.hi_i - eps)

    def solve(self, k, t, starts, max_iter=None):
        """Conditional minima with ``phi[k] = t``, best of several starts per row.

        Parameters
        ----------
        k : (B,) int, t : (B,) internal values, starts : (B, S, p) internal.

        Returns
        -------
        theta (B, p) physical, fun (B,), converged (B,)
        """
        k = np.asarray(k, int)
        t = np.asarray(t, float)
        B, S, p = starts.shape
        st = self.inside(starts)
        b = np.arange(B)
        st[b, :, k] = t[:, None]
        tp = self.to_phys(st[b, 0, :])[b, k]  # the fixed values, physical
        lo = np.broadcast_to(self.lo, (B, S, p)).copy()
        hi = np.broadcast_to(self.hi, (B, S, p)).copy()
        lo[b, :, k] = tp[:, None]
        hi[b, :, k] = tp[:, None]
        theta0 = self.to_phys(st)
        theta0[b, :, k] = tp[:, None]
        kw = {"kinks": self.kinks} if self.kinks is not None else {}
        res = minimize_batch(self.obj, theta0.reshape(-1, p), lo.reshape(-1, p),
                             hi.reshape(-1, p), self.transforms, tol=self.tol,
                             max_iter=self.max_iter if max_iter is None else max_iter, **kw)
        self.n_rows += B * S
        self.n_batches += 1
        fun = np.where(np.isfinite(res.fun), res.fun, np.inf).reshape(B, S)
        conv = res.converged.reshape(B, S)
        # Lowest value; a converged start within round-off of it is preferred.
        best = np.argmin(fun, axis=1)
        fmin = fun[b, best]
        near = conv & (fun <= fmin[:, None] + 1e-9 * np.maximum(1.0, np.abs(fmin[:, None])))
        pick = np.where(near.any(axis=1), np.argmax(near, axis=1), best)
        th = res.theta.reshape(B, S, p)[b, pick]
        th[b, k] = tp
        return th, fun[b, pick], conv[b, pick]


@dataclass
class _Point:
    t: float  # internal value of the profiled parameter
    theta: np.ndarray
    fun: float
    conv: bool
    valid: bool = True


@dataclass
class _Side:
    k: int
    sign: int  # -1 low side, +1 high side
    points: list = field(default_factory=list)  # outward order
    done: bool = False  # no room to extend (MLE or last point on the bound)
    status: str = ""
    end: float = np.nan
    root_valid: bool = True
    jump: bool = False  # the profile jumps across the threshold at the end


def _quadratic(engine, objective, theta_hat, delta):
    """Wald half-widths (internal coordinates) and conditional-minimum slopes."""
    p = engine.p
    _, g, H = objective(theta_hat[None, :], 2)
    g, H = g[0], H[0]
    is_log = engine.is_log
    dth = np.where(is_log, theta_hat, 1.0)
    Hi = H * dth[:, None] * dth[None, :]
    Hi[np.arange(p), np.arange(p)] += np.where(is_log, g * theta_hat, 0.0)
    phi = engine.phi_hat
    width = engine.hi_i - engine.lo_i
    eps = 1e-7 * np.where(np.isfinite(width), width, 1.0)
    free = ~((phi <= engine.lo_i + eps) | (phi >= engine.hi_i - eps))
    z = np.sqrt(2.0 * delta)
    w = np.full(p, np.nan)
    slopes = np.zeros((p, p))  # slopes[k, j] = d phi_j / d phi_k along the conditional minimum
    F = np.flatnonzero(free)
    if np.all(np.isfinite(Hi)) and F.size:
        HF = Hi[np.ix_(F, F)]
        try:
            ev = np.linalg.eigvalsh(HF)
            if ev.min() > 1e-12 * max(abs(ev).max(), 1e-300):
                C = np.linalg.inv(HF)
                w[F] = z * np.sqrt(np.diag(C))
                for a, k in enumerate(F):
                    slopes[k, F] = C[:, a] / C[a, a]
        except np.linalg.LinAlgError:
            pass
    for k in range(p):
        if not np.isfinite(w[k]) or w[k] <= 0:
            hk = Hi[k, k] if np.isfinite(Hi[k, k]) else 0.0
            if hk > 0:
                w[k] = z / np.sqrt(hk)
            elif np.isfinite(width[k]):
                w[k] = 0.05 * width[k]
            else:
                w[k] = 0.1 * max(1.0, abs(phi[k]))
        # A Wald width far beyond the box says nothing useful about the grid.
        if np.isfinite(width[k]) and width[k] > 0:
            w[k] = min(w[k], width[k])
        slopes[k, k] = 1.0
    return w, slopes


def profile(
    fit_result,
    cl: float = 0.95,
    params=None,
    *,
    statistic: str | Statistic = "poisson",
    grid: tuple[float, ...] = _GRID,
    tol: float = 1e-9,
    seed: int = 0,
) -> ProfileResult:
    """Profile-likelihood interval of each parameter at level ``cl``.

    Parameters
    ----------
    fit_result : FitResult
        A fitted result of :func:`seufit.fit` (Weibull4 or any user model).
    cl : float
        Two-sided level; the threshold is ``Delta = z^2 / 2`` (:func:`delta_for`).
        Use :data:`ONE_SIGMA` for the one-sigma (Delta = 1/2) interval.
    params : sequence of str, optional
        Parameters to profile (default all).
    statistic : str or Statistic
        ``poisson`` (default) or another statistic of :mod:`seufit.statistics`;
        its minimum is found first and its nuisance (``ls`` variance, ``negbin``
        dispersion) held at the estimate.
    grid : tuple of float
        Grid offsets per side, in units of the Wald distance to the endpoint.
    tol : float
        Accuracy of the endpoints in NLL units (|P(t) - f_min - Delta|).
    seed : int
        Seed of the random extra starts used where a point looks wrong.

    Returns
    -------
    ProfileResult
    """
    require_fit(fit_result, "seufit.profile")
    if getattr(fit_result, "theta", None) is None:
        raise ValueError("the fit has no estimate: there is no likelihood to profile")
    delta = delta_for(cl)
    names = tuple(fit_result.model.names)
    if params is None:
        params = names
    params = tuple([params] if isinstance(params, str) else params)
    unknown = [q for q in params if q not in names]
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; the model has "
                         f"{', '.join(names)}")
    sfit = fit_statistic(fit_result, statistic)
    model = fit_result.model
    lo, hi = (np.asarray(b, float) for b in fit_result.bounds)
    theta_hat = np.asarray(sfit.theta, float)
    f_hat = float(sfit.value)
    eng = _Engine(sfit.objective, model.transforms, lo, hi, theta_hat)
    messages: list[str] = [sfit.note] if sfit.note else []
    if not sfit.converged:
        messages.append("the minimum of the statistic was not reached cleanly (solver did not "
                        "converge): intervals may be off")
    w, slopes = _quadratic(eng, sfit.objective, theta_hat, delta)
    phi_hat = eng.phi_hat
    extra = []
    if fit_result.local_optima is not None and len(fit_result.local_optima):
        # Only basins that reach under the threshold can move an endpoint.
        lopt = np.atleast_2d(fit_result.local_optima)
        vals = sfit.objective(lopt, 0)[0]
        extra = [eng.to_int(t) for t, v in zip(lopt, vals, strict=True)
                 if v <= f_hat + delta and not np.allclose(t, theta_hat)][:4]

    def standard_starts(k, t):
        """Quadratic prediction, the MLE and the other local optima, with phi[k] = t."""
        pred = phi_hat + slopes[k] * (t - phi_hat[k])
        return np.array([pred, phi_hat] + extra)

    sides = [_Side(k=names.index(q), sign=s) for q in params for s in (-1, 1)]

    def offsets_for(side, us):
        k = side.k
        out = []
        for u in us:
            t = phi_hat[k] + side.sign * u * w[k]
            bound = eng.lo_i[k] if side.sign < 0 else eng.hi_i[k]
            if (t - bound) * side.sign >= 0:
                if np.isfinite(bound):
                    out.append(bound)
                side.done = True
                break
            out.append(t)
        return out

    # --- pass 1: all grid points of all parameters, one batch --------------------
    width_i = eng.hi_i - eng.lo_i
    for side in sides:
        k = side.k
        bound = eng.lo_i[k] if side.sign < 0 else eng.hi_i[k]
        if abs(phi_hat[k] - bound) <= 1e-7 * (width_i[k] if np.isfinite(width_i[k]) else 1.0):
            side.done = True  # the estimate sits on this bound: nothing to profile here
    jobs = []
    for side in sides:
        if side.done:
            continue
        for t in offsets_for(side, grid):
            jobs.append((side, t))
    # Short on iterations: a start crawling towards the let_th cap far out is not worth
    # 100 Newton steps; relevant points that stop short are re-run below.
    _run(eng, jobs, standard_starts, max_iter=25)

    # --- neighbour warm-start passes --------------------------------------------
    _chain(eng, sides, phi_hat, f_hat + delta)

    # --- extensions until every side crosses the threshold or reaches its bound ---
    f_ref = min(f_hat, _min_fun(sides))
    nxt = grid[-1]
    for _ in range(_MAX_EXTEND):
        need = [s for s in sides if not s.done and not _crossed(s, f_ref + delta)]
        if not need:
            break
        nxt *= 1.5
        jobs = []
        for s in need:
            ts = offsets_for(s, [nxt])
            if ts and (not s.points or (ts[0] - s.points[-1].t) * s.sign > 0):
                jobs.append((s, ts[0]))
        if not jobs:
            break

        _run(eng, jobs, standard_starts, neighbour=True)
        f_ref = min(f_ref, _min_fun(sides))

    # --- validity: non-converged or non-monotone points get many more starts ------
    f_ref = min(f_hat, _min_fun(sides))
    pool = _start_pool(fit_result, eng, seed)
    flagged = _flag(sides, f_ref, f_ref + delta)
    if flagged:
        jobs = [(s, s.points[j].t) for s, j in flagged]
        _run(eng, jobs, standard_starts, neighbour=True, pool=pool, replace=True, max_iter=100)
        _chain(eng, sides, phi_hat, f_ref + delta)
        f_ref = min(f_hat, _min_fun(sides))
        for s, j in _flag(sides, f_ref, f_ref + delta):
            s.points[j].valid = False
    _mark_far(sides, f_ref + delta)
    if f_ref < f_hat - 1e-6:
        messages.append(f"the profile found a statistic value {f_hat - f_ref:.3g} below the fit's "
                        "minimum: the fit missed the optimum; Delta is measured from the lower "
                        "value")

    # --- endpoints ----------------------------------------------------------------
    _endpoints(eng, sides, phi_hat, f_ref, delta, tol, standard_starts)

    ci_low, ci_high, lab, hab, lst, hst, curves = [], [], [], [], [], [], []
    lval, hval = [], []
    for q in params:
        k = names.index(q)
        low, high = [s for s in sides if s.k == k]
        for s, ends, flags, stats, vals in ((low, ci_low, lab, lst, lval),
                                            (high, ci_high, hab, hst, hval)):
            ends.append(float(eng.to_phys(np.full(eng.p, s.end))[k]) if np.isfinite(s.end)
                        else np.nan)
            flags.append(s.status == "bound")
            stats.append(s.status)
            vals.append(s.status != "failed" and s.root_valid)
            if s.status == "failed":
                messages.append(f"{q}: the {'lower' if s.sign < 0 else 'upper'} end was not "
                                "found (the profile neither crosses the threshold nor reaches a "
                                "finite bound)")
            elif s.status == "bound":
                messages.append(f"{q}: one-sided -- the profile stays under the threshold up to "
                                f"the {'lower' if s.sign < 0 else 'upper'} bound")
            side_name = "lower" if s.sign < 0 else "upper"
            if s.jump:
                messages.append(f"{q}: the profile jumps across the threshold at the {side_name} "
                                "end (a discontinuity, or a conditional minimum not found "
                                "beyond it): the end is uncertain")
            elif not s.root_valid:
                messages.append(f"{q}: the {side_name} endpoint rests on a conditional "
                                "minimisation that did not converge or hit the iteration cap")
        curves.append(_curve(eng, q, k, low, high, theta_hat, f_hat, f_ref))
        c = curves[-1]
        lo_e = ci_low[-1] if np.isfinite(ci_low[-1]) else -np.inf
        hi_e = ci_high[-1] if np.isfinite(ci_high[-1]) else np.inf
        inside = (c.values >= lo_e) & (c.values <= hi_e)
        bad_in = int((~c.valid & inside).sum())
        bad_out = int((~c.valid & ~inside).sum())
        if bad_in:
            messages.append(f"{q}: {bad_in} profile point(s) inside the interval not valid (no "
                            "convergence or not the lowest conditional minimum found)")
        if bad_out:
            messages.append(f"{q}: {bad_out} profile point(s) beyond the endpoints not valid "
                            "(no convergence or inconsistent with a neighbour; they do not move "
                            "the interval)")
        if _dips(low, f_ref + delta) or _dips(high, f_ref + delta):
            messages.append(f"{q}: the profile comes back under the threshold beyond an "
                            "endpoint: the likelihood region is not an interval")

    options = {"cl": cl, "params": list(params), "statistic": sfit.statistic.to_dict(),
               "grid": list(grid), "tol": tol, "seed": seed, "model": model.label,
               **fit_options(fit_result)}
    units = list(model.units)
    if names[:1] == ("sigma_sat",) and hasattr(fit_result.data, "sigma_unit"):
        units[0] = fit_result.data.sigma_unit
    return ProfileResult(
        names=names, units=tuple(units), params=params, theta=theta_hat, fun_min=f_ref, cl=cl,
        delta=delta, statistic=sfit.statistic, ci_low=np.array(ci_low),
        ci_high=np.array(ci_high), low_at_bound=np.array(lab, bool),
        high_at_bound=np.array(hab, bool), low_status=tuple(lst), high_status=tuple(hst),
        low_valid=np.array(lval, bool), high_valid=np.array(hval, bool), curves=tuple(curves),
        bounds=(lo, hi), n_rows=eng.n_rows, n_batches=eng.n_batches,
        model=model.label, source=fit_result.data.source, messages=tuple(messages),
        provenance=provenance(fit_result.data, options, seed, solver="numpy"))


# --------------------------------------------------------------------------- helpers
def _min_fun(sides) -> float:
    vals = [pt.fun for s in sides for pt in s.points]
    return min(vals) if vals else np.inf


def _crossed(side, thr) -> bool:
    return any(pt.fun >= thr for pt in side.points)


def _dips(side, thr) -> bool:
    above = False
    for pt in side.points:
        if pt.fun >= thr:
            above = True
        elif above:
            return True
    return False


def _insert(side, pt):
    """Add a point in outward order; at an existing value keep the lower statistic."""
    for q in side.points:
        if q.t == pt.t:
            if pt.fun < q.fun:
                q.theta, q.fun, q.conv, q.valid = pt.theta, pt.fun, pt.conv, pt.valid
            return
    side.points.append(pt)
    side.points.sort(key=lambda q: q.t * side.sign)


def _run(eng, jobs, standard_starts, *, neighbour=False, pool=None, replace=False,
         max_iter=None):
    """Solve a list of (side, t) jobs as one batch; add or improve the points."""
    if not jobs:
        return
    starts = []
    for side, t in jobs:
        st = [*standard_starts(side.k, t)]
        if neighbour and side.points:
            # nearest existing points on either side in t
            ts = np.array([pt.t for pt in side.points])
            order = np.argsort(np.abs(ts - t))
            for j in order[:2]:
                st.append(eng.to_int(side.points[j].theta))
            # continuation: the conditional minimum extrapolated from the two inner points
            inner = [pt for pt in side.points if (pt.t - t) * side.sign < 0]
            if len(inner) >= 2 and inner[-1].t != inner[-2].t:
                p1, p2 = eng.to_int(inner[-1].theta), eng.to_int(inner[-2].theta)
                st.append(p1 + (p1 - p2) * (t - inner[-1].t) / (inner[-1].t - inner[-2].t))
        if pool is not None:
            st.extend(pool)
        starts.append(st)
    S = max(len(s) for s in starts)
    arr = np.array([s + [s[0]] * (S - len(s)) for s in starts])
    k = np.array([side.k for side, _ in jobs])
    t = np.array([t for _, t in jobs])
    th, fun, conv = eng.solve(k, t, arr, max_iter)
    for (side, tt), a, f, c in zip(jobs, th, fun, conv, strict=True):
        hit = [pt for pt in side.points if pt.t == tt]
        if hit:
            pt = hit[0]
            if f < pt.fun - 1e-12 or (replace and f <= pt.fun + 1e-12 and c and not pt.conv):
                pt.theta, pt.fun, pt.conv = a, float(f), bool(c)
        else:
            _insert(side, _Point(t=tt, theta=a, fun=float(f), conv=bool(c)))


def _chain(eng, sides, phi_hat, thr, max_pass: int = 4):
    """Neighbour warm starts: each point restarted from both neighbours' solutions.

    One batch per pass (all points of all parameters); passes repeat while some
    point improves, so a better basin found anywhere spreads along the grid.
    """
    for _ in range(max_pass):
        rows = []
        for s in sides:
            n = len(s.points)
            # Points past the first crossing cannot move an endpoint: not worth a restart.
            for j in range(min(n, _last_relevant(s, thr) + 1)):
                nb = []
                if j == 0:
                    nb.append(phi_hat)
                else:
                    nb.append(eng.to_int(s.points[j - 1].theta))
                if j + 1 < n:
                    nb.append(eng.to_int(s.points[j + 1].theta))
                else:
                    nb.append(nb[0])
                rows.append((s, j, nb))
        if not rows:
            return
        k = np.array([s.k for s, _, _ in rows])
        t = np.array([s.points[j].t for s, j, _ in rows])
        st = np.array([nb for _, _, nb in rows])
        th, fun, conv = eng.solve(k, t, st)
        improved = False
        for (s, j, _), a, f, c in zip(rows, th, fun, conv, strict=True):
            pt = s.points[j]
            # Only points up to the first crossing decide the interval; a crawl far out
            # (a kink at the lowest LET) need not keep the passes going.
            if f < pt.fun - 1e-9 * max(1.0, abs(pt.fun)) and j <= _last_relevant(s, thr):
                improved = True
            if f < pt.fun - 1e-12 or (c and not pt.conv and f <= pt.fun + 1e-9):
                pt.theta, pt.fun, pt.conv = a, float(f), bool(c)
        if not improved:
            return


def _last_relevant(side, thr) -> int:
    """Index of the first point at or over the threshold (the last one that matters)."""
    for j, pt in enumerate(side.points):
        if pt.fun >= thr:
            return j
    return len(side.points) - 1


def _flag(sides, f_ref, thr):
    """Points up to the first crossing that did not converge or where the profile falls."""
    out = []
    for s in sides:
        prev = f_ref
        last = _last_relevant(s, thr)
        for j, pt in enumerate(s.points):
            if j > last:
                break
            if not pt.conv or pt.fun < prev - _MONO_TOL:
                out.append((s, j))
            prev = max(prev, pt.fun)
    return out


def _mark_far(sides, thr):
    """Past the first crossing, points are not restarted (they cannot move an endpoint);
    where the profile falls going outward there, both points are marked not valid."""
    for s in sides:
        last = _last_relevant(s, thr)
        for j in range(last + 1, len(s.points)):
            a, b = s.points[j - 1], s.points[j]
            if b.fun < a.fun - _MONO_TOL:
                a.valid = b.valid = False


def _start_pool(fit_result, eng, seed):
    """Many starts for suspicious points: the model's multi-start grid and random points."""
    d = fit_result.fit_data
    model = fit_result.model
    try:
        st = np.atleast_2d(model.starts(d.let, d.events, d.exposure, (eng.lo, eng.hi)))
    except Exception:  # noqa: BLE001 - a user model's starts are optional help only
        st = np.empty((0, eng.p))
    rng = np.random.default_rng(seed)
    lo_i, hi_i = eng.lo_i, eng.hi_i
    fin = np.isfinite(lo_i) & np.isfinite(hi_i)
    u = rng.random((16, eng.p))
    rnd = np.where(fin, lo_i + u * np.where(fin, hi_i - lo_i, 0.0), eng.phi_hat)
    pool = np.vstack([eng.to_int(st), rnd]) if len(st) else rnd
    return [row for row in pool if np.all(np.isfinite(row))]


def _endpoints(eng, sides, phi_hat, f_ref, delta, tol, standard_starts):
    """Bracket each crossing on the grid, then Illinois on sqrt(2 Delta) - z."""
    z = np.sqrt(2.0 * delta)
    thr = f_ref + delta
    brackets = []
    for s in sides:
        prev_t, prev_th, prev_f = phi_hat[s.k], eng.to_phys(phi_hat), f_ref
        found = False
        for pt in s.points:
            if pt.fun >= thr:
                brackets.append([s, prev_t, pt.t, prev_th, pt.theta, prev_f, pt.fun, 0])
                found = True
                break
            prev_t, prev_th, prev_f = pt.t, pt.theta, pt.fun
        if found:
            continue
        bound = eng.lo_i[s.k] if s.sign < 0 else eng.hi_i[s.k]
        if s.points:
            at_bound = bool(s.points[-1].t == bound)
        else:
            at_bound = bool(abs(phi_hat[s.k] - bound) <= 1e-6 * max(1.0, abs(bound)))
        at_bound = at_bound and bool(np.isfinite(bound))
        if at_bound:
            s.status, s.end = "bound", bound
            s.root_valid = not s.points or bool(s.points[-1].conv)
        else:
            s.status, s.end = "failed", np.nan

    def g(f):
        # Capped: a huge value (the floored log at the let_th cap) must not stall the secant.
        return min(np.sqrt(2.0 * max(f - f_ref, 0.0)) - z, 10.0 * z + 10.0)

    # Bracket: [s, t_in, t_out, theta_in, theta_out, g_in, g_out, last side kept, width 2 ago]
    active = []
    for s, ta, tb, tha, thb, fa, fb, _ in brackets:
        active.append([s, ta, tb, tha, thb, g(fa), g(fb), 0, abs(tb - ta), 0])
    for _ in range(100):
        if not active:
            break
        rows, starts = [], []
        for br in active:
            s, ta, tb, tha, thb, ga, gb = br[:7]
            span = abs(tb - ta)
            br[9] += 1
            if br[9] % 3 == 0:
                # Safeguard: every third step, bisect unless the bracket has halved meanwhile.
                if span > 0.5 * br[8]:
                    t = 0.5 * (ta + tb)
                else:
                    t = tb - gb * (tb - ta) / (gb - ga) if gb != ga else 0.5 * (ta + tb)
                br[8] = span
            else:
                t = tb - gb * (tb - ta) / (gb - ga) if gb != ga else 0.5 * (ta + tb)
            lo_t, hi_t = min(ta, tb), max(ta, tb)
            t = min(max(t, lo_t + 1e-4 * span), hi_t - 1e-4 * span)  # strictly inside
            wgt = (t - ta) / (tb - ta) if tb != ta else 0.5
            pa, pb = eng.to_int(tha), eng.to_int(thb)
            rows.append((br, t))
            # The outer end's solution is a poor start when its statistic is huge (the
            # conditional minimum at the let_th cap is degenerate): then the inner end twice.
            starts.append([pa + wgt * (pb - pa), pa, pb if gb < 10.0 * z else pa])
        k = np.array([br[0].k for br, _ in rows])
        t = np.array([tt for _, tt in rows])
        th, fun, conv = eng.solve(k, t, np.array(starts))
        still = []
        for (br, tt), a, f, c in zip(rows, th, fun, conv, strict=True):
            s = br[0]
            gv = g(f)
            scale = max(1.0, abs(tt))
            if abs(f - thr) <= tol or abs(br[2] - br[1]) <= 1e-13 * scale:
                # A bracket that collapses away from the threshold is a jump of the
                # profile (a discontinuity, or a bracket end that is not a true minimum).
                jump = abs(f - thr) > max(1e3 * tol, 1e-6 * delta)
                s.status, s.end, s.root_valid = "root", tt, bool(c) and not jump
                s.jump = jump
                _insert(s, _Point(t=tt, theta=a, fun=float(f), conv=bool(c)))
                continue
            if gv < 0:  # inside: replaces the inner end
                if br[7] == -1:  # same end replaced twice: Illinois halving of the other
                    br[6] *= 0.5
                br[1], br[3], br[5], br[7] = tt, a, gv, -1
            else:
                if br[7] == 1:
                    br[5] *= 0.5
                br[2], br[4], br[6], br[7] = tt, a, gv, 1
            still.append(br)
        active = still
    for br in active:  # iteration cap: take the end nearer the threshold, flagged
        s = br[0]
        s.status, s.root_valid = "root", False
        s.end = br[1] if abs(br[5]) < abs(br[6]) else br[2]


def _curve(eng, name, k, low, high, theta_hat, f_hat, f_ref):
    pts = list(reversed(low.points)) + [_Point(t=eng.phi_hat[k], theta=theta_hat, fun=f_hat,
                                               conv=True)] + list(high.points)
    vals = np.array([float(eng.to_phys(np.full(eng.p, pt.t))[k]) for pt in pts])
    fun = np.array([pt.fun for pt in pts])
    conv = np.array([pt.conv for pt in pts], bool)
    valid = np.array([pt.conv and pt.valid for pt in pts], bool)
    return ProfileCurve(name=name, values=vals, fun=fun, delta=fun - f_ref,
                        theta=np.array([pt.theta for pt in pts]), converged=conv, valid=valid)


# --------------------------------------------------------------------------- reference
def profile_reference(fit_result, cl: float = 0.95, params=None, *, statistic="poisson",
                      n_starts: int = 12, seed: int = 0, xtol: float = 1e-10) -> dict:
    """Brute-force profile endpoints: the slow, independent reference for benchmarks.

    Each profile value is the lowest of ``n_starts`` random-start plus two
    warm-start scalar L-BFGS-B minimisations (scipy, analytic gradient, internal
    coordinates); endpoints by :func:`scipy.optimize.brentq` on that function.

    Returns
    -------
    dict
        ``{name: (low, high)}``; an end is the bound where the profile stays
        under the threshold up to it.
    """
    from scipy.optimize import brentq, minimize

    delta = delta_for(cl)
    sfit = fit_statistic(fit_result, statistic)
    obj = sfit.objective
    model = fit_result.model
    names = tuple(model.names)
    params = names if params is None else tuple(params)
    lo, hi = (np.asarray(b, float) for b in fit_result.bounds)
    eng = _Engine(obj, model.transforms, lo, hi, sfit.theta)
    f_hat = float(sfit.value)
    rng = np.random.default_rng(seed)
    w, slopes = _quadratic(eng, obj, np.asarray(sfit.theta, float), delta)
    out = {}
    for q in params:
        k = names.index(q)
        free = np.array([j != k for j in range(eng.p)])
        flo, fhi = eng.inside(eng.lo_i)[free], eng.inside(eng.hi_i)[free]
        u = rng.random((n_starts, int(free.sum())))
        fin = np.isfinite(flo) & np.isfinite(fhi)
        rnd = np.where(fin, flo + u * np.where(fin, fhi - flo, 0.0), eng.phi_hat[free])
        last = {"x": eng.phi_hat[free]}

        def prof(t, k=k, free=free, flo=flo, fhi=fhi, rnd=rnd, last=last):
            def fg(y):
                phi = np.empty(eng.p)
                phi[free], phi[k] = y, t
                th = eng.to_phys(phi)
                v, gr, _ = obj(th[None, :], 1)
                gi = gr[0] * np.where(eng.is_log, th, 1.0)
                v = float(v[0])
                return (v, gi[free]) if np.isfinite(v) else (1e300, np.zeros(free.sum()))

            pred = (eng.phi_hat + slopes[k] * (t - eng.phi_hat[k]))[free]
            best = (np.inf, None)
            for y0 in [last["x"], pred, *rnd]:
                y0 = np.clip(y0, flo, fhi)
                r = minimize(fg, y0, jac=True, method="L-BFGS-B",
                             bounds=list(zip(flo, fhi, strict=True)),
                             options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 3000})
                if r.fun < best[0]:
                    best = (float(r.fun), r.x)
            last["x"] = best[1]
            return best[0] - f_hat - delta

        ends = []
        for sign in (-1, 1):
            last["x"] = eng.phi_hat[free]
            bound = eng.lo_i[k] if sign < 0 else eng.hi_i[k]
            t_in, t_out, step = eng.phi_hat[k], None, w[k]
            while True:
                t = eng.phi_hat[k] + sign * step
                if np.isfinite(bound) and (t - bound) * sign >= 0:
                    t = bound
                if prof(t) >= 0:
                    t_out = t
                    break
                if t == bound:
                    break
                t_in, step = t, 1.6 * step
            if t_out is None:
                ends.append(float(eng.to_phys(np.full(eng.p, bound))[k]))
                continue
            last["x"] = eng.phi_hat[free]
            root = brentq(prof, t_in, t_out, xtol=xtol * max(1.0, abs(t_in)))
            ends.append(float(eng.to_phys(np.full(eng.p, root))[k]))
        out[q] = (ends[0], ends[1])
    return out
