"""Poisson maximum-likelihood fit of a cross-section curve.

``fit(data)`` chooses the MLE variant of the MLE article (standard,
small-sample, with-zeros) by explicit rules, records the reason, runs a batched
multi-start projected-Newton fit that reaches the optimum, and reports
convergence, bounds, the exact Hessian and zero-event upper limits.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from ._format import html_table, num, text_table
from ._provenance import provenance
from .data import DataError, TestData, load
from .likelihood import PoissonObjective
from .limits import (
    ENVELOPE_CAPTION,
    EnvelopeLimit,
    UpperLimit,
    envelope_limits,
    envelope_lines,
    zero_event_limits,
)
from .models import WEIBULL4, Model, Weibull4
from .optimize import minimize_batch, minimize_lbfgsb

__all__ = ["fit", "FitResult", "VARIANTS", "ZEROS", "MIN_EVENTS_STANDARD", "select_variant",
           "as_data"]

VARIANTS = ("standard", "small_sample", "with_zeros")
ZEROS = ("exclude", "include")
MIN_EVENTS_STANDARD = 50  # Quinn 2014 via the MLE article: a hard boundary, no judgement


def as_data(data, tilt: bool = True) -> TestData:
    """Accept TestData, a path, ``example:NAME`` or a DataFrame."""
    if isinstance(data, TestData):
        return data
    if isinstance(data, (str, Path, pd.DataFrame)):
        return load(data, tilt=tilt)
    raise TypeError(f"expected TestData, a path or a DataFrame, got {type(data).__name__}")


def select_variant(events: np.ndarray, zeros: str = "exclude") -> tuple[str, str]:
    """The MLE article's variant rule, with the reason in words.

    with_zeros if any run has no events (and zeros are excluded); else standard
    when the total is at least 50 events; else small_sample.
    """
    events = np.asarray(events)
    total = int(events.sum())
    n_zero = int((events == 0).sum())
    if n_zero and zeros == "exclude":
        return "with_zeros", (f"{n_zero} zero-event run(s): left out of the likelihood and "
                              "reported as upper limits (MLE article rule)")
    extra = f"; {n_zero} zero-event run(s) kept in the likelihood (zeros=include)" if n_zero else ""
    if total >= MIN_EVENTS_STANDARD:
        return "standard", (f"{total} events >= {MIN_EVENTS_STANDARD} and no zero-event run "
                            f"excluded: Hessian (Wald) intervals by the MLE article's rule{extra}")
    return "small_sample", (f"{total} events < {MIN_EVENTS_STANDARD}: point estimates only, "
                            f"covariance from the bootstrap{extra}")


@dataclass(frozen=True, eq=False)
class FitResult:
    """Maximum-likelihood fit of a cross-section model to SEU test data.

    ``theta`` is None when no curve could be fitted (no run with events); the
    zero-event upper limits are still given, and ``envelope_limits`` pools the runs at
    and above each LET into limits on a curve that does not fall with LET.  Intervals
    are Wald intervals at level ``cl`` and exist only for the standard variant.
    """

    data: TestData
    model: Model
    theta: np.ndarray | None
    nll: float | None
    converged: bool
    variant: str | None
    variant_reason: str
    zeros: str
    fit_mask: np.ndarray
    bounds: tuple[np.ndarray, np.ndarray] | None
    at_bound: tuple[str, ...]
    proj_grad: float | None
    n_iter: int
    n_eval: int
    n_starts: int
    method: str
    hessian: np.ndarray | None
    hessian_eigenvalues: np.ndarray | None
    hessian_status: str
    covariance: np.ndarray | None
    se: np.ndarray | None
    ci_low: np.ndarray | None
    ci_high: np.ndarray | None
    cl: float
    upper_limits: tuple[UpperLimit, ...]
    local_optima: np.ndarray | None
    messages: tuple[str, ...]
    provenance: dict = field(default_factory=dict)
    user_bounds: bool = False  # bounds given by the user: replicates keep them too
    # No event at all: the runs pooled at and above each LET (limits.envelope_limits)
    envelope_limits: tuple[EnvelopeLimit, ...] = ()

    # -- convenience -----------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.theta is not None

    @property
    def names(self) -> tuple[str, ...]:
        return self.model.names

    @property
    def params(self) -> dict[str, float]:
        if self.theta is None:
            return {}
        return {n: float(v) for n, v in zip(self.names, self.theta)}

    @property
    def fit_data(self) -> TestData:
        """The runs that entered the likelihood."""
        return self.data.subset(self.fit_mask)

    @property
    def n_events(self) -> int:
        return int(self.data.events[self.fit_mask].sum())

    @property
    def limits_ok(self) -> bool | None:
        """Fitted curve at or below every zero-event upper limit (None without limits)."""
        checks = [u.curve_below for u in self.upper_limits if u.curve_below is not None]
        return None if not checks else all(checks)

    def predict(self, let) -> np.ndarray:
        """Fitted cross-section at the given LET values."""
        if self.theta is None:
            raise ValueError("no curve was fitted")
        return self.model.value(self.theta[None, :], np.atleast_1d(np.asarray(let, float)))[0]

    def objective(self, counts=None) -> PoissonObjective:
        """The Poisson objective over the fitted runs (optionally other counts)."""
        d = self.fit_data
        N = d.events if counts is None else counts
        return PoissonObjective(self.model, d.let, d.exposure, N)

    # -- output ----------------------------------------------------------------------
    def _units(self) -> list[str]:
        units = list(self.model.units)
        if self.model.names[:1] == ("sigma_sat",):
            units[0] = self.data.sigma_unit
        return units

    def _flags(self, k: int) -> list[str]:
        """What the table and the JSON say next to parameter ``k``'s interval."""
        flags = ["at bound"] if self.names[k] in self.at_bound else []
        if self.ci_low is not None and self.bounds is not None and (
                self.ci_low[k] < self.bounds[0][k] or self.ci_high[k] > self.bounds[1][k]):
            # As analyze says: a Wald interval past the box is no interval of the fit.
            flags.append("Wald outside the box")
        return flags

    def parameter_rows(self) -> list[list]:
        rows = []
        units = self._units()
        for k, name in enumerate(self.names):
            val = None if self.theta is None else self.theta[k]
            se = None if self.se is None else self.se[k]
            lo = None if self.ci_low is None else self.ci_low[k]
            hi = None if self.ci_high is None else self.ci_high[k]
            rows.append([name, val, se, lo, hi, units[k], "; ".join(self._flags(k))])
        return rows

    def __str__(self) -> str:
        d = self.data
        head = (f"seufit {self.model.label} Poisson MLE -- {d.source}: {d.n_runs} runs, "
                f"{d.n_events} events, {int((d.events == 0).sum())} zero-event run(s)")
        out = [head]
        if not self.fitted:
            out.append("  No curve can be fitted: " + self.variant_reason)
        else:
            out.append(f"  variant: {self.variant} -- {self.variant_reason}")
            level = f"{100 * self.cl:g} % Wald"
            out.append(text_table(["parameter", "value", "se", f"{level} low", "high", "unit", ""],
                                  self.parameter_rows()))
            conv = "yes" if self.converged else "NO"
            out.append(f"  NLL {self.nll:.6f} over {int(self.fit_mask.sum())} runs; "
                       f"converged: {conv};"
                       f" projected gradient {num(self.proj_grad, 2)}; {self.n_iter} iterations,"
                       f" {self.n_eval} evaluations, {self.n_starts} starts ({self.method})")
            out.append(f"  Hessian: {self.hessian_status}")
            if self.at_bound:
                out.append(f"  at bound: {', '.join(self.at_bound)}")
        if self.upper_limits:
            out.append("  zero-event upper limits:")
            for u in self.upper_limits:
                extra = ""
                if u.curve_below is not None:
                    extra = "  curve below: " + ("yes" if u.curve_below else "NO")
                out.append("    " + u.describe() + extra)
        out += envelope_lines(self.envelope_limits)
        for m in self.messages:
            out.append(f"  note: {m}")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        parts = [f"<div><b>{html.escape(self.model.label)} Poisson MLE</b> &mdash; "
                 f"{html.escape(self.data.source)}<br>"]
        if self.fitted:
            parts.append(f"variant <b>{self.variant}</b>: {html.escape(self.variant_reason)}<br>")
            parts.append(html_table(["parameter", "value", "se", "CI low", "CI high", "unit", ""],
                                    self.parameter_rows(),
                                    caption=f"{100 * self.cl:g} % Wald intervals"))
            parts.append(f"NLL {self.nll:.6f}; converged {self.converged}; Hessian "
                         f"{html.escape(self.hessian_status)}")
        else:
            parts.append("No curve can be fitted: " + html.escape(self.variant_reason))
        if self.upper_limits:
            parts.append(html_table(
                ["run", "LET", "fluence", "sigma upper", "level", "curve below"],
                [[u.label, u.let, u.fluence, u.sigma_upper, f"{100 * u.cl:g} % {u.sided}",
                  "-" if u.curve_below is None else ("yes" if u.curve_below else "NO")]
                 for u in self.upper_limits], caption="zero-event upper limits"))
        if self.envelope_limits:
            parts.append(html_table(
                ["LET up to", "sigma upper", "level", "runs combined", "fluence", "events"],
                [[e.let, e.sigma_upper, f"{100 * e.cl:g} % {e.sided}", e.n_runs, e.fluence,
                  e.events] for e in self.envelope_limits], caption=ENVELOPE_CAPTION))
        parts.append("</div>")
        return "".join(parts)

    def to_dict(self) -> dict:
        """JSON-safe dictionary of every number."""

        def f(a, k):
            return None if a is None else float(a[k])

        params = {}
        for k, name in enumerate(self.names):
            # The method and the flags go with the numbers: a script reading this block
            # must not take a Wald interval past the box (a negative sigma_sat) for a result.
            params[name] = {"value": f(self.theta, k), "se": f(self.se, k),
                            "ci_low": f(self.ci_low, k), "ci_high": f(self.ci_high, k),
                            "ci_method": None if self.ci_low is None else "wald",
                            "flags": self._flags(k),
                            "unit": self._units()[k]}

        def mat(m):
            return None if m is None else np.asarray(m, float).tolist()

        return {
            "model": self.model.label,
            "parameters": params,
            "nll": self.nll,
            "variant": self.variant,
            "variant_reason": self.variant_reason,
            "zeros": self.zeros,
            "converged": self.converged,
            "at_bound": list(self.at_bound),
            "projected_gradient": self.proj_grad,
            "n_iterations": self.n_iter,
            "n_evaluations": self.n_eval,
            "n_starts": self.n_starts,
            "n_local_optima": None if self.local_optima is None else len(self.local_optima),
            "method": self.method,
            "n_events": self.n_events,
            "n_points": int(self.fit_mask.sum()),
            "n_runs": self.data.n_runs,
            "cl": self.cl,
            "interval": "Wald (estimate +/- z * se), two-sided" if self.se is not None else None,
            "bounds": None if self.bounds is None else {
                n: [float(self.bounds[0][k]), float(self.bounds[1][k])]
                for k, n in enumerate(self.names)},
            "hessian_status": self.hessian_status,
            "hessian": mat(self.hessian),
            "hessian_eigenvalues": mat(self.hessian_eigenvalues),
            "covariance": mat(self.covariance),
            "upper_limits": [u.to_dict() for u in self.upper_limits],
            "envelope_limits": [e.to_dict() for e in self.envelope_limits],
            "limits_ok": self.limits_ok,
            "messages": list(self.messages),
            "provenance": self.provenance,
        }


def require_fit(obj, what: str) -> None:
    """TypeError unless ``obj`` is a :class:`FitResult` (``what``: the caller, for the
    message): a path or a DataFrame passed to ``bootstrap``/``profile``/``sweep`` would
    otherwise fail deep inside with an AttributeError."""
    if not isinstance(obj, FitResult):
        raise TypeError(f"{what} takes the result of seufit.fit(...), got "
                        f"{type(obj).__name__}: call seufit.fit on the data first")


# Where a curve cannot be fitted, what can be had instead.
_LIMITS_HINT = "seufit analyze gives the upper limits and the per-run exact intervals"


def kink_runs(model, x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Mask of the runs (LETs ``x`` in the likelihood) on whose LET the model's kink
    parameter (the Weibull's let_th) sits, where the NLL has a corner."""
    kj = getattr(model, "kink_param", None)
    if kj is None:
        return np.zeros(np.shape(x), bool)
    return np.abs(np.asarray(x) - theta[kj]) <= 1e-7 * max(1.0, abs(theta[kj]))


def on_kink(model, x: np.ndarray, theta: np.ndarray) -> bool:
    """Whether the kink parameter sits on the LET of a run in the likelihood."""
    return bool(np.any(kink_runs(model, x, theta)))


def _hessian_analysis(H: np.ndarray, theta: np.ndarray):
    """Judge positive definiteness on the scale-free Hessian D H D (D = |theta|)."""
    D = np.where(np.abs(theta) > 0, np.abs(theta), 1.0)
    Hs = H * D[:, None] * D[None, :]
    ev = np.linalg.eigvalsh(Hs)
    if not np.all(np.isfinite(ev)):
        return "not finite", ev, None
    top = float(np.max(np.abs(ev)))
    if ev.min() <= 1e-10 * top:
        kind = "singular" if ev.min() > -1e-10 * top else "not positive definite"
        return (f"{kind} (smallest/largest eigenvalue of the scaled Hessian "
                f"{ev.min() / top:.2e}): no covariance", ev, None)
    cond = top / ev.min()
    cov = np.linalg.inv(Hs) * D[:, None] * D[None, :]  # H^-1 = D Hs^-1 D
    return f"positive definite (condition number {cond:.3g})", ev, cov


def _check_user_bounds(model, lo, hi) -> None:
    """One-line errors for user bounds the fit cannot honour."""
    p = model.n_params
    if lo.shape != (p,) or hi.shape != (p,):
        raise ValueError(f"bounds must be two sequences of {p} values ({', '.join(model.names)})")
    bad = [n for n, a, b in zip(model.names, lo, hi) if np.isnan(a) or np.isnan(b) or a > b]
    if bad:
        raise ValueError(f"bounds: lower above upper, or NaN, for {', '.join(bad)}")
    if isinstance(model, Weibull4):
        # The start grid spans the box; with an infinite side it has no points there.
        inf = [n for n, a, b in zip(model.names, lo, hi) if not (np.isfinite(a) and np.isfinite(b))]
        if inf:
            raise ValueError(f"bounds of the Weibull model must be finite: {', '.join(inf)}")


def _multistart(obj, starts, lo, hi, transforms, first_iter: int = 30):
    """All starts with a short iteration budget; then only unfinished rows that could win.

    Most starts converge in under 20 Newton steps; the few that crawl along a ridge
    would otherwise set the wall time of the whole batch.
    """
    res = minimize_batch(obj, starts, lo, hi, transforms, kinks=obj.kinks, max_iter=first_iter)
    fun = np.where(np.isfinite(res.fun), res.fun, np.inf)
    best_conv = np.min(np.where(res.converged, fun, np.inf))
    again = np.flatnonzero(~res.converged & (res.status != 3) & (fun < best_conv + 1.0))
    if again.size == 0:
        return res
    more = minimize_batch(obj, res.theta[again], lo, hi, transforms, kinks=obj.kinks)
    merged = {}
    for name in ("theta", "fun", "converged", "status", "proj_grad", "at_lower", "at_upper"):
        arr = getattr(res, name).copy()
        arr[again] = getattr(more, name)
        merged[name] = arr
    n_iter = res.n_iter.copy()
    n_iter[again] += more.n_iter
    n_eval = res.n_eval.copy()
    n_eval[again] += more.n_eval
    return type(res)(n_iter=n_iter, n_eval=n_eval, **merged)


def fit(
    data,
    *,
    model: Model = WEIBULL4,
    zeros: str = "exclude",
    variant: str = "auto",
    cl: float = 0.95,
    sided: str = "two-sided",
    method: str = "newton",
    tilt: bool = True,
    bounds: tuple | None = None,
) -> FitResult:
    """Poisson maximum-likelihood fit of a cross-section curve.

    Parameters
    ----------
    data : TestData, path, ``example:NAME`` or DataFrame
    model : Model
        Default Weibull4.
    zeros : {"exclude", "include"}
        Zero-event runs: left out of the likelihood and reported as upper limits
        (the articles' default), or kept in the likelihood, where a zero
        contributes exp(-lambda) (the standard statistical choice).
    variant : {"auto", "standard", "small_sample", "with_zeros"}
        MLE variant; ``auto`` applies the MLE article's rule and records why.
    cl : float
        Level of the Wald intervals and of the zero-event upper limits.
    sided : {"two-sided", "one-sided"}
        Sidedness of the zero-event upper limits (two-sided 95 % gives the
        articles' 3.7/fluence; one-sided 95 % gives 3.0/fluence).
    method : {"newton", "lbfgsb"}
        ``newton``: batched multi-start projected Newton on internal log
        coordinates (reaches the optimum).  ``lbfgsb``: the articles' recipe,
        one L-BFGS-B run from their initial guess, for comparison.
    tilt : bool
        Tilt correction when ``data`` is read here.
    bounds : (lower, upper), optional
        Override the data-derived bounds.

    Returns
    -------
    FitResult
    """
    d = as_data(data, tilt=tilt)
    if zeros not in ZEROS:
        raise ValueError(f"zeros must be one of {ZEROS}, got {zeros!r}")
    if variant not in ("auto",) + VARIANTS:
        raise ValueError(f"variant must be 'auto' or one of {VARIANTS}, got {variant!r}")
    if method not in ("newton", "lbfgsb"):
        raise ValueError(f"method must be 'newton' or 'lbfgsb', got {method!r}")
    if not 0 < cl < 1:
        raise ValueError(f"cl must be between 0 and 1, got {cl}")
    options = {"model": model.label, "zeros": zeros, "variant": variant, "cl": cl,
               "sided": sided, "method": method, "tilt": d.tilt_corrected,
               "bounds": "data" if bounds is None else np.asarray(bounds, float).tolist()}
    prov = provenance(d, options, model=model)
    events = d.events
    zero = events == 0
    limits = zero_event_limits(d, cl, sided)
    p = model.n_params
    n_hit = int((~zero).sum())
    messages = list(d.notes)

    if n_hit == 0:
        return FitResult(
            data=d, model=model, theta=None, nll=None, converged=False, variant=None,
            variant_reason=(f"no events in any of the {d.n_runs} runs; only the zero-event "
                            "upper limits can be given"),
            zeros=zeros, fit_mask=np.zeros(d.n_runs, bool), bounds=None, at_bound=(),
            proj_grad=None, n_iter=0, n_eval=0, n_starts=0, method=method, hessian=None,
            hessian_eigenvalues=None, hessian_status="not computed", covariance=None, se=None,
            ci_low=None, ci_high=None, cl=cl, upper_limits=tuple(limits), local_optima=None,
            messages=tuple(messages), provenance=prov,
            envelope_limits=tuple(envelope_limits(d, cl, sided)))
    if n_hit < p:
        raise DataError(f"{d.source}: only {n_hit} run(s) with events; fitting the {p} "
                        f"parameters of {model.label} needs at least {p} ({_LIMITS_HINT})")
    n_let = np.unique(d.let[~zero]).size
    if n_let < p:
        # Runs at the same LET constrain one point of the curve, however many there are.
        raise DataError(f"{d.source}: runs with events at only {n_let} distinct LET value(s); "
                        f"fitting the {p} parameters of {model.label} needs at least {p} "
                        f"({_LIMITS_HINT})")

    auto_variant, auto_reason = select_variant(events, zeros)
    if variant == "auto":
        variant, reason = auto_variant, auto_reason
    else:
        reason = f"forced by the user (the automatic rule gives {auto_variant}: {auto_reason})"
    fit_mask = ~zero if zeros == "exclude" else np.ones(d.n_runs, bool)
    fd = d.subset(fit_mask)
    x, expo, N = fd.let, fd.exposure, fd.events
    lo, hi = model.default_bounds(x, N, expo) if bounds is None else map(np.asarray, bounds)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    if bounds is not None:
        _check_user_bounds(model, lo, hi)
    obj = PoissonObjective(model, x, expo, N)

    if method == "newton":
        starts = model.starts(x, N, expo, (lo, hi))
        res = _multistart(obj, starts, lo, hi, model.transforms)
        fun = np.where(np.isfinite(res.fun), res.fun, np.inf)
        # Prefer converged rows; among them the lowest NLL.
        order = np.lexsort((fun, ~res.converged))
        best = int(order[0])
        if not res.converged[best] or fun[best] > fun.min() + 1e-9:
            best = int(np.argmin(fun))
        theta = res.theta[best]
        converged = bool(res.converged[best])
        nll = float(res.fun[best])
        proj_grad = float(res.proj_grad[best])
        n_iter, n_eval, n_starts = int(res.n_iter[best]), int(res.n_eval.sum()), len(starts)
        at_bound = tuple(n for k, n in enumerate(model.names)
                         if res.at_lower[best, k] or res.at_upper[best, k])
        ok = res.converged & np.isfinite(res.fun)
        # Distinct local optima (by NLL), best first: a multimodality diagnostic, and
        # extra starts for refits of other statistics on the same data.
        cand = res.theta[ok][np.argsort(res.fun[ok])]
        cand_f = np.sort(res.fun[ok])
        keep = np.r_[True, np.diff(cand_f) > 1e-6] if cand_f.size else np.zeros(0, bool)
        local_optima = cand[keep][:8]
    else:
        x0 = model.initial_guess(x, N, expo, (lo, hi))
        r = minimize_lbfgsb(lambda t: obj(t[None, :], 0)[0][0], x0, lo, hi)
        theta = np.asarray(r.x, float)
        nll = float(r.fun)
        converged = bool(r.success)
        g = obj(theta[None, :], 1)[1][0]
        free = ~(((theta <= lo) & (g > 0)) | ((theta >= hi) & (g < 0)))
        proj_grad = float(np.max(np.abs(np.where(free, g, 0.0))))
        n_iter, n_eval, n_starts = int(r.nit), int(r.nfev), 1
        rtol = 1e-6 * (hi - lo)
        at_bound = tuple(n for k, n in enumerate(model.names)
                         if theta[k] <= lo[k] + rtol[k] or theta[k] >= hi[k] - rtol[k])
        local_optima = theta[None, :]
        messages.append("method lbfgsb: the articles' recipe, kept for comparison; it can stop "
                        "short of the optimum")

    H = obj(theta[None, :], 2)[2][0]
    hstatus, ev, cov = _hessian_analysis(H, theta)
    if at_bound:
        hstatus += f"; parameter(s) at a bound ({', '.join(at_bound)}): Wald intervals unreliable"
    if on_kink(model, x, theta):
        # let_th on the LET of a run in the likelihood: the NLL has a corner there, so the
        # Hessian describes one side only.
        kj = model.kink_param
        name = model.names[kj]
        hstatus += (f"; {name} sits on a tested LET (a kink of the likelihood): the Hessian "
                    "is one-sided and Wald intervals are not valid there")
        on = kink_runs(model, x, theta)
        which = ("a zero-event run, kept under zeros=include" if np.all(N[on] == 0) else
                 "a run with events: the lowest LET with events, the cap of let_th")
        messages.append(f"{name} = {theta[kj]:.6g} lies exactly on the LET of a run in the "
                        f"likelihood ({which}): use the profile likelihood or the bootstrap "
                        "for its interval")
    se = ci_lo = ci_hi = covariance = None
    if variant == "standard":
        if cov is not None:
            covariance = cov
            se = np.sqrt(np.diag(cov))
            z = norm.ppf(0.5 + cl / 2)
            ci_lo, ci_hi = theta - z * se, theta + z * se
        else:
            messages.append("standard variant but the Hessian is not invertible: no standard "
                            "errors; use the bootstrap or profile likelihood")
    if not converged:
        messages.append("the fit did not converge: treat the estimates with caution")
    sig = model.value(theta[None, :], np.array([u.let for u in limits]))[0] if limits else []
    limits = [UpperLimit(**{**u.__dict__, "sigma_fit": float(s)}) for u, s in zip(limits, sig)]
    if any(u.curve_below is False for u in limits):
        messages.append("the fitted curve exceeds at least one zero-event upper limit")
    return FitResult(
        data=d, model=model, theta=theta, nll=nll, converged=converged, variant=variant,
        variant_reason=reason, zeros=zeros, fit_mask=fit_mask, bounds=(lo, hi),
        at_bound=at_bound, proj_grad=proj_grad, n_iter=n_iter, n_eval=n_eval,
        n_starts=n_starts, method=method, hessian=H, hessian_eigenvalues=ev,
        hessian_status=hstatus, covariance=covariance, se=se, ci_low=ci_lo, ci_high=ci_hi,
        cl=cl, upper_limits=tuple(limits), local_optima=local_optima,
        messages=tuple(messages), provenance=prov, user_bounds=bounds is not None)
