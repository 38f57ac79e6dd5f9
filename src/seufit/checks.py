"""Pre- and post-fit checks: whether to trust a Weibull fit of SEU data.

Every check returns a :class:`Check` with a status ``PASS``, ``WARNING``,
``FAIL`` or ``N/A`` (not applicable, or not enough information), the number it
judged and one line that says what it means.  Thresholds are module constants;
``docs/checks.md`` gives the source of each and where seufit departs from the
rule of thumb of the articles.

The checks only read a :class:`~seufit.fit.FitResult` and plain numbers: the
bootstrap success rate, a correlation matrix and intervals can come from any
uncertainty method.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import chi2, norm, poisson

from ._format import html_table, num
from ._io import to_jsonable
from .data import TestData
from .fit import FitResult, as_data
from .gof import goodness_of_fit
from .limits import garwood_interval

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Check", "STATUSES", "pre_fit_checks", "post_fit_checks", "excess_zeros_check",
    "overdispersion_check", "tilt_check", "correlation_matrix", "poisson_binomial_sf",
    "worst_status", "checks_table", "checks_html",
    "MIN_EVENTS_PER_PARAM_FAIL", "MIN_EVENTS_PER_PARAM_WARN", "MIN_COUNT", "MIN_MEAN_COUNT",
    "MIN_DOF_GOF", "S_RANGE", "CORRELATION_LIMIT", "SUCCESS_EXCELLENT", "SUCCESS_GOOD",
    "SUCCESS_MARGINAL", "REL_WIDTH_WARN", "DISPERSION_WARN", "P_WARN", "P_FAIL",
    "SATURATION_FRACTION", "MAX_TILT_DEG", "ECSS_LET_TOP",
]

STATUSES = ("PASS", "WARNING", "FAIL", "N/A")
_SEVERITY = {"N/A": 0, "PASS": 1, "WARNING": 2, "FAIL": 3}

# Events per parameter (N / 4): below 2.5 means fewer than 10 events in all, where the
# bootstrap article says even the conservative bootstrap struggles; below 12.5 means
# fewer than the 50 events of Quinn 2014 that the Hessian covariance needs.
MIN_EVENTS_PER_PARAM_FAIL = 2.5
MIN_EVENTS_PER_PARAM_WARN = 12.5
MIN_COUNT = 5  # bootstrap article: min_count >= 5 for the full bootstrap configuration
MIN_MEAN_COUNT = 0.1  # below: essentially an all-zero campaign, upper limits only
MIN_DOF_GOF = 3  # fewer: the chi-square reference of the deviance has no power to speak of
S_RANGE = (0.3, 7.0)  # MLE article: S < 1 gradual, S > 3 sharp; outside this, suspicious
CORRELATION_LIMIT = 0.8  # bootstrap article: |r| > 0.8 flags an identifiability problem
SUCCESS_EXCELLENT = 0.98  # bootstrap article success-rate table
SUCCESS_GOOD = 0.95
SUCCESS_MARGINAL = 0.90
REL_WIDTH_WARN = 1.0  # interval wider than the estimate itself (about +/- 50 %)
# chi2/dof above this is named in the message; the status follows the p-values alone, as
# at small dof the ratio exceeds 1.5 by chance for up to 22 % of correct-model data.
DISPERSION_WARN = 1.5
SATURATION_FRACTION = 0.9  # curve within 10 % of sigma_sat at the highest tested LET
P_WARN = 0.05
P_FAIL = 0.001
# seufit's choice: beyond 60 degrees (cos < 0.5) the effective LET is over twice the ion's,
# and JEDEC JESD57 (annex B) warns that many devices do not follow the cosine law at all.
MAX_TILT_DEG = 60.0
# ECSS-E-ST-10-12C 9.4.2a: heavy-ion data reach the environment's maximum LET, the
# saturation cross-section, or 60 MeV cm2/mg.
ECSS_LET_TOP = 60.0
_KINK_RTOL = 1e-6
_BOUND_RTOL = 1e-9  # an interval end this close (x box width) to a bound is on it


@dataclass(frozen=True)
class Check:
    """Outcome of one check.

    Attributes
    ----------
    name : str
        Identifier of the check (snake case, stable: reports key on it).
    status : {"PASS", "WARNING", "FAIL", "N/A"}
    value : object
        The number (or small mapping of numbers) that was judged; JSON-safe via
        :meth:`to_dict`.
    message : str
        One line for the engineer: what was found and what it means.
    """

    name: str
    status: str
    value: Any
    message: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def ok(self) -> bool:
        """True unless the status is WARNING or FAIL."""
        return self.status in ("PASS", "N/A")

    def to_dict(self) -> dict:
        """JSON-safe dictionary (numpy scalars and arrays converted, NaN as None)."""
        return {"name": self.name, "status": self.status, "value": to_jsonable(self.value),
                "message": self.message}

    def __str__(self) -> str:
        return f"[{self.status}] {self.name}: {self.message}"


# -- helpers --------------------------------------------------------------------------

def worst_status(checks: Sequence[Check]) -> str:
    """The most severe status of a list of checks.

    Parameters
    ----------
    checks : sequence of Check

    Returns
    -------
    str
        FAIL > WARNING > PASS > N/A; ``"N/A"`` for an empty list.
    """
    if not checks:
        return "N/A"
    return max((c.status for c in checks), key=_SEVERITY.__getitem__)


def _value_text(v: Any) -> str:
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={_value_text(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value_text(x) for x in v) + "]"
    return num(v, 3)


def checks_table(checks: Sequence[Check], indent: str = "  ") -> str:
    """Plain text, one check per line: status, name and message.

    Parameters
    ----------
    checks : sequence of Check
    indent : str
        Prefix of every line.

    Returns
    -------
    str
        The message carries the numbers, so the ``value`` column is left out.
    """
    if not checks:
        return indent + "(no checks)"
    w = max(len(c.name) for c in checks)
    return "\n".join(f"{indent}{c.status:<7}  {c.name:<{w}}  {c.message}" for c in checks)


def checks_html(checks: Sequence[Check], caption: str | None = "checks") -> str:
    """HTML table of checks.

    Parameters
    ----------
    checks : sequence of Check
    caption : str, optional

    Returns
    -------
    str
        A ``<table>``; rows carry the class ``seufit-pass``, ``seufit-warning``,
        ``seufit-fail`` or ``seufit-na`` for styling.
    """
    rows = [[c.status, c.name, _value_text(c.value), c.message] for c in checks]
    classes = ["seufit-" + c.status.lower().replace("/", "") for c in checks]
    return html_table(["status", "check", "value", "message"], rows, caption=caption,
                      row_classes=classes)


def _status_from_p(p: float) -> str:
    if p < P_FAIL:
        return "FAIL"
    return "WARNING" if p < P_WARN else "PASS"


def correlation_matrix(fit_result: FitResult) -> tuple[np.ndarray | None, str]:
    """Correlation matrix of the MLE from its covariance or, failing that, the Hessian.

    Parameters
    ----------
    fit_result : FitResult

    Returns
    -------
    (correlation, source) : (array (p, p) or None, str)
        ``source`` is ``"covariance"``, ``"Hessian inverse"`` or why none exists.
    """
    if fit_result.covariance is not None:
        cov, source = np.asarray(fit_result.covariance, float), "covariance"
    elif fit_result.hessian is not None and fit_result.theta is not None:
        H = np.asarray(fit_result.hessian, float)
        # Positive definiteness judged on the scale-free D H D, as the fit does.
        D = np.where(np.abs(fit_result.theta) > 0, np.abs(fit_result.theta), 1.0)
        Hs = H * D[:, None] * D[None, :]
        if not np.all(np.isfinite(Hs)):
            return None, "Hessian not finite"
        try:
            np.linalg.cholesky(Hs)
        except np.linalg.LinAlgError:
            return None, "Hessian not positive definite"
        cov, source = np.linalg.inv(Hs) * D[:, None] * D[None, :], "Hessian inverse"
    else:
        return None, "no covariance and no Hessian"
    sd = np.sqrt(np.diag(cov))
    if not np.all(np.isfinite(sd)) or np.any(sd <= 0):
        return None, f"{source} has non-positive variances"
    return cov / np.outer(sd, sd), source


def poisson_binomial_sf(k: int, p: ArrayLike) -> float:
    """Upper tail of the Poisson-binomial distribution.

    Parameters
    ----------
    k : int
        Threshold.
    p : array_like
        Success probabilities of the independent Bernoulli terms.

    Returns
    -------
    float
        P(Z >= k) for Z = sum of Bernoulli(p_i): exact by convolution for up to
        2000 terms, a normal approximation with continuity correction beyond.
    """
    p = np.clip(np.asarray(p, float).ravel(), 0.0, 1.0)
    if k <= 0:
        return 1.0
    if k > p.size:
        return 0.0
    if p.size > 2000:
        mu, var = p.sum(), (p * (1 - p)).sum()
        return float(norm.sf((k - 0.5 - mu) / math.sqrt(var))) if var > 0 else float(mu >= k)
    pmf = np.zeros(p.size + 1)
    pmf[0] = 1.0
    for i, pi in enumerate(p):
        pmf[1:i + 2] = pmf[1:i + 2] * (1.0 - pi) + pmf[0:i + 1] * pi
        pmf[0] *= 1.0 - pi
    return float(np.clip(pmf[k:].sum(), 0.0, 1.0))


def _lambda_all(fit_result: FitResult) -> np.ndarray:
    d = fit_result.data
    return fit_result.predict(d.let) * d.exposure


# -- pre-fit --------------------------------------------------------------------------

def pre_fit_checks(data: TestData | str | os.PathLike | pd.DataFrame,
                   zeros: str = "exclude") -> list[Check]:
    """Checks on the data alone, before any fit.

    Parameters
    ----------
    data : TestData, path, ``example:NAME`` or DataFrame
    zeros : {"exclude", "include"}
        How the fit will treat zero-event runs (decides the points that enter
        the likelihood and so the degrees of freedom).

    Returns
    -------
    list of Check
        ``events``, ``zero_event_runs``, ``events_per_parameter``, ``min_count``,
        ``mean_count``, ``let_coverage``.
    """
    d: TestData = as_data(data)
    if zeros not in ("exclude", "include"):
        raise ValueError(f"zeros must be 'exclude' or 'include', got {zeros!r}")
    n_par = 4  # Weibull4: the checks are written for it
    ev = d.events
    total = int(ev.sum())
    hit = ev > 0
    n_hit = int(hit.sum())
    n_fit = n_hit if zeros == "exclude" else d.n_runs
    dof = n_fit - n_par
    out = []

    value = {"events": total, "runs": d.n_runs, "runs_with_events": n_hit}
    # No events at all is a result (an immune part up to the highest LET tested), not a
    # defect of the data: the checks on what a curve needs do not apply, and the upper
    # limits check judges the result.
    no_curve = "no events: no curve to fit, the upper limits are the result"
    if total == 0:
        out.append(Check("events", "N/A", value, f"no events in {d.n_runs} run(s): only "
                         "upper limits can be given, no curve"))
    elif n_hit < n_par:
        out.append(Check("events", "FAIL", value, f"only {n_hit} run(s) with events: the "
                         f"{n_par} Weibull parameters cannot be fitted"))
    elif (n_let := np.unique(d.let[hit]).size) < n_par:
        # Runs at one LET are one point of the curve, however many there are (the fit's
        # and the curve rule's test).
        out.append(Check("events", "FAIL", value, f"runs with events at only {n_let} "
                         f"distinct LET value(s): the {n_par} Weibull parameters cannot be "
                         "fitted"))
    elif dof < MIN_DOF_GOF:
        out.append(Check("events", "WARNING", value, f"{n_fit} point(s) in the fit for {n_par} "
                         f"parameters ({dof} degree(s) of freedom): the goodness of fit cannot "
                         "be tested"))
    else:
        out.append(Check("events", "PASS", value, f"{total} events in {d.n_runs} runs, "
                         f"{n_fit} in the fit ({dof} degrees of freedom)"))

    zero = ~hit
    n_zero = int(zero.sum())
    handling = ("left out of the likelihood, reported as upper limits" if zeros == "exclude"
                else "kept in the likelihood (each contributes exp(-lambda))")
    if n_zero == 0:
        out.append(Check("zero_event_runs", "PASS", 0, "no zero-event run"))
    elif n_hit == 0:
        out.append(Check("zero_event_runs", "N/A", n_zero, "every run is a zero-event run"))
    else:
        lmin_hit = float(d.let[hit].min())
        above = zero & (d.let > lmin_hit)
        labels = d.labels()
        if above.any():
            names = ", ".join(labels[i] for i in np.flatnonzero(above))
            out.append(Check("zero_event_runs", "WARNING", n_zero, f"{n_zero} zero-event run(s), "
                             f"{handling}; {int(above.sum())} at a LET above the lowest LET with "
                             f"events ({names}): informative zeros, see excess_zeros"))
        else:
            out.append(Check("zero_event_runs", "PASS", n_zero, f"{n_zero} zero-event run(s), "
                             f"all below the lowest LET with events; {handling}"))

    epp = total / n_par
    if total == 0:
        st, msg = "N/A", no_curve
    elif epp < MIN_EVENTS_PER_PARAM_FAIL:
        st, msg = "FAIL", (f"{total} events for {n_par} parameters: fewer than "
                           f"{MIN_EVENTS_PER_PARAM_FAIL:g} per parameter, the curve is not "
                           "determined (profile likelihood or upper limits)")
    elif epp < MIN_EVENTS_PER_PARAM_WARN:
        st, msg = "WARNING", (f"{total} events < {int(n_par * MIN_EVENTS_PER_PARAM_WARN)}: "
                              "small sample, Hessian intervals unreliable; use the bootstrap "
                              "or the profile likelihood")
    else:
        st, msg = "PASS", f"{epp:.3g} events per parameter"
    out.append(Check("events_per_parameter", st, epp, msg))

    if n_hit == 0:
        out.append(Check("min_count", "N/A", None, "no run with events"))
    else:
        mc = int(ev[hit].min())
        if mc < MIN_COUNT:
            out.append(Check("min_count", "WARNING", mc, f"smallest non-zero count {mc} < "
                             f"{MIN_COUNT}: sparse data, conservative bootstrap configuration"))
        else:
            out.append(Check("min_count", "PASS", mc, f"smallest non-zero count {mc} >= "
                             f"{MIN_COUNT}"))

    mean = total / d.n_runs
    if total == 0:
        out.append(Check("mean_count", "N/A", mean, no_curve))
    elif mean < MIN_MEAN_COUNT:
        out.append(Check("mean_count", "FAIL", mean, f"{mean:.3g} events per run < "
                         f"{MIN_MEAN_COUNT:g}: upper limits only, no fit"))
    else:
        out.append(Check("mean_count", "PASS", mean, f"{mean:.3g} events per run"))
    out.append(_let_coverage_check(d, hit))
    return out


def _let_coverage_check(d: TestData, hit: np.ndarray) -> Check:
    """ECSS-E-ST-10-12C (9.4.2a): data for a rate calculation must reach below the onset
    (a tested LET without events under the lowest one with events) and up to saturation
    or ``ECSS_LET_TOP``.  Only the onset is judged here; saturation needs the curve (the
    ``saturation`` check)."""
    if not hit.any():
        return Check("let_coverage", "N/A", None, "no run with events: no onset to bracket")
    lmin_hit = float(d.let[hit].min())
    below = (~hit) & (d.let < lmin_hit)
    top = float(d.let.max())
    value = {"lowest_let_with_events": lmin_hit, "zero_runs_below": int(below.sum()),
             "highest_let": top}
    upper = (f"highest LET {top:.6g} >= {ECSS_LET_TOP:g}" if top >= ECSS_LET_TOP else
             f"highest LET {top:.6g} < {ECSS_LET_TOP:g}: saturation must then be measured "
             "(the saturation check)")
    if below.any():
        return Check("let_coverage", "PASS", value, f"onset bracketed: no event at LET "
                     f"{float(d.let[below].max()):.6g}, events from {lmin_hit:.6g}; {upper}")
    return Check("let_coverage", "WARNING", value, f"onset not observed: the lowest tested "
                 f"LET ({lmin_hit:.6g}) already has events, so let_th is only known to lie "
                 "below it (ECSS-E-ST-10-12C 9.4.2 asks for data below the onset; a run at a "
                 f"lower LET would bound it); {upper}")


# -- post-fit -------------------------------------------------------------------------

_POST_NAMES = ("converged", "at_bound", "sigma_sat_plausible", "let_th_plausible",
               "s_plausible", "w_plausible", "saturation", "identifiability",
               "bootstrap_success", "interval_width", "upper_limits", "excess_zeros",
               "overdispersion", "tilt")
_WEIBULL4 = ("sigma_sat", "let_th", "s", "w")


def _get(obj, name):
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def post_fit_checks(
    fit_result: FitResult,
    bootstrap: Any = None,
    *,
    success_rate: float | None = None,
    correlation: ArrayLike | None = None,
    intervals: Mapping[str, tuple[float, float]] | None = None,
    interval_source: str | None = None,
) -> list[Check]:
    """Checks on a fitted curve.

    Parameters
    ----------
    fit_result : FitResult
        A Weibull4 fit (parameter names ``sigma_sat, let_th, s, w``).
    bootstrap : object or mapping, optional
        Anything exposing ``success_rate``, ``correlation`` and ``intervals``
        (attributes or keys); explicit keyword arguments take precedence.
    success_rate : float, optional
        Fraction (0 to 1) of bootstrap replicates that were fitted successfully.
    correlation : array (p, p), optional
        Correlation matrix of the estimates (e.g. from the bootstrap).  Without
        it, the fit's covariance or the inverse Hessian (when positive
        definite) is used.
    intervals : mapping name -> (low, high), optional
        Confidence intervals of the parameters.  Without them, the fit's Wald
        intervals (standard variant only).
    interval_source : str, optional
        Name of the interval method, for the message.

    Returns
    -------
    list of Check
        ``converged``, ``at_bound``, ``sigma_sat_plausible``,
        ``let_th_plausible``, ``s_plausible``, ``w_plausible``, ``saturation``,
        ``identifiability``, ``bootstrap_success``, ``interval_width``,
        ``upper_limits``, ``excess_zeros``, ``overdispersion``, ``tilt``.
    """
    if success_rate is None:
        success_rate = _get(bootstrap, "success_rate")
    if correlation is None:
        correlation = _get(bootstrap, "correlation")
    if intervals is None and _get(bootstrap, "intervals") is not None:
        intervals = _get(bootstrap, "intervals")
        interval_source = interval_source or "bootstrap"
    if not fit_result.fitted:
        reason = "no curve fitted: " + fit_result.variant_reason
        return [_upper_limits_check(fit_result) if n == "upper_limits"
                else Check(n, "N/A", None, reason) for n in _POST_NAMES]
    return [
        _converged_check(fit_result),
        _at_bound_check(fit_result),
        *_plausibility_checks(fit_result),
        _saturation_check(fit_result),
        _identifiability_check(fit_result, correlation),
        _success_check(success_rate),
        _interval_width_check(fit_result, intervals, interval_source),
        _upper_limits_check(fit_result),
        excess_zeros_check(fit_result),
        overdispersion_check(fit_result),
        tilt_check(fit_result),
    ]


def _converged_check(r: FitResult) -> Check:
    if r.converged:
        return Check("converged", "PASS", r.proj_grad, f"optimum reached ({r.n_starts} starts, "
                     f"projected gradient {num(r.proj_grad, 2)})")
    return Check("converged", "FAIL", r.proj_grad, "the fit did not converge: estimates are "
                 "not the maximum-likelihood values")


def _at_bound_check(r: FitResult) -> Check:
    if not r.at_bound:
        return Check("at_bound", "PASS", {}, "no parameter at a bound")
    lo, hi = r.bounds
    where = {}
    for n in r.at_bound:
        k = r.names.index(n)
        where[n] = "lower" if abs(r.theta[k] - lo[k]) <= abs(r.theta[k] - hi[k]) else "upper"
    text = ", ".join(f"{n} at its {b} bound ({num(r.theta[r.names.index(n)])})"
                     for n, b in where.items())
    return Check("at_bound", "WARNING", where, f"{text}: the data do not constrain it inside the "
                 "box; Wald intervals invalid, use the profile likelihood or the bootstrap")


def _plausibility_checks(r: FitResult) -> list[Check]:
    if tuple(r.names[:4]) != _WEIBULL4:
        return [Check(n, "N/A", None, f"not a Weibull4 fit ({r.model.label})") for n in
                ("sigma_sat_plausible", "let_th_plausible", "s_plausible", "w_plausible")]
    d = r.data
    sig_sat, let_th, s, w = (float(v) for v in r.theta[:4])
    hit = d.events > 0
    out = []

    # sigma_sat against the run with the largest observed cross-section, beyond noise.
    xs = np.where(hit, d.cross_section, -np.inf)
    i = int(np.argmax(xs))
    lo_n, _ = garwood_interval(d.events[i], r.cl)
    sig_lo = float(lo_n / d.exposure[i])
    label = d.labels()[i]
    value = {"sigma_sat": sig_sat, "largest_observed": float(d.cross_section[i]),
             "garwood_lower": sig_lo}
    if sig_sat < sig_lo:
        out.append(Check("sigma_sat_plausible", "WARNING", value, f"sigma_sat {sig_sat:.3g} is "
                         f"below the {100 * r.cl:g} % Garwood lower limit {sig_lo:.3g} of {label} "
                         "(largest observed cross-section): the curve saturates too low"))
    else:
        out.append(Check("sigma_sat_plausible", "PASS", value, f"sigma_sat {sig_sat:.3g} is "
                         f"consistent with the largest observed cross-section ({label})"))

    # let_th: no event can occur at or below the threshold.
    lmin_hit = float(d.let[hit].min())
    zero_fit = r.fit_mask & ~hit
    kink = zero_fit & np.isclose(d.let, let_th, rtol=_KINK_RTOL, atol=0.0)
    value = {"let_th": let_th, "lowest_let_with_events": lmin_hit}
    if let_th >= lmin_hit:
        out.append(Check("let_th_plausible", "FAIL", value, f"let_th {let_th:.4g} is at or above "
                         f"the lowest LET with events ({lmin_hit:.4g}): impossible, events were "
                         "seen there"))
    elif kink.any():
        lab = d.labels()[int(np.flatnonzero(kink)[0])]
        out.append(Check("let_th_plausible", "WARNING", value, f"let_th {let_th:.4g} sits on the "
                         f"LET of zero-event run {lab}: the likelihood has a kink there, so the "
                         "Hessian and Wald intervals of let_th are not valid"))
    else:
        out.append(Check("let_th_plausible", "PASS", value, f"let_th {let_th:.4g} is below the "
                         f"lowest LET with events ({lmin_hit:.4g})"))

    lo_s, hi_s = S_RANGE
    if lo_s <= s <= hi_s:
        out.append(Check("s_plausible", "PASS", s, f"shape s = {s:.3g} within "
                         f"[{lo_s:g}, {hi_s:g}]"))
    else:
        why = "an extremely gradual onset" if s < lo_s else "a near step-function onset"
        out.append(Check("s_plausible", "WARNING", s, f"shape s = {s:.3g} outside "
                         f"[{lo_s:g}, {hi_s:g}]: {why}, often fitted noise or a poorly "
                         "constrained turn-on"))

    span = float(d.let.max() - d.let.min())
    value = {"w": w, "let_range": span}
    if w > span:
        out.append(Check("w_plausible", "WARNING", value, f"width w = {w:.4g} exceeds the tested "
                         f"LET range ({span:.4g}): the transition extends beyond the data, "
                         "w and sigma_sat are poorly constrained"))
    else:
        out.append(Check("w_plausible", "PASS", value, f"width w = {w:.4g} within the tested "
                         f"LET range ({span:.4g})"))
    return out


def saturation_percent(fraction: float) -> str:
    """``fraction`` of sigma_sat as a whole percentage, rounded down: a curve at 89.9 %
    never reads "90 %" next to the WARNING of the 90 % rule (and reads the same wherever
    it is quoted)."""
    return f"{math.floor(100 * fraction + 1e-9):.0f} %" if math.isfinite(fraction) else "nan %"


def _saturation_check(r: FitResult) -> Check:
    if tuple(r.names[:4]) != _WEIBULL4:
        return Check("saturation", "N/A", None, f"not a Weibull4 fit ({r.model.label})")
    d = r.data
    let = float(d.let.max())  # every run, fitted or not: the highest LET tested
    sig_sat = float(r.theta[0])
    sig = float(r.predict(let)[0])
    frac = sig / sig_sat if sig_sat > 0 else math.nan
    value = {"fraction": frac, "let": let, "sigma_at_let": sig}
    pct = saturation_percent(frac)
    where = f"of sigma_sat at the highest tested LET ({let:.4g})"
    if frac >= SATURATION_FRACTION:
        return Check("saturation", "PASS", value, f"the curve reaches {pct} {where}: "
                     "saturation is measured")
    why = " (w at its upper bound)" if "w" in r.at_bound else ""
    return Check("saturation", "WARNING", value, f"the curve reaches only {pct} {where}: "
                 "sigma_sat is an extrapolation beyond the data, set by the model shape and "
                 f"its bounds{why}; quote sigma({let:.4g}) = {num(sig, 4)} {d.sigma_unit}, which "
                 "the data measure")


def _identifiability_check(r: FitResult, correlation) -> Check:
    if correlation is not None:
        C, source = np.asarray(correlation, float), "supplied"
    else:
        C, source = correlation_matrix(r)
        if C is None:
            return Check("identifiability", "N/A", None, f"no correlation matrix ({source})")
    p = len(r.names)
    if C.shape != (p, p):
        raise ValueError(f"correlation must have shape ({p}, {p}), got {C.shape}")
    iu = np.triu_indices(p, 1)
    pairs = {f"{r.names[i]}~{r.names[j]}": float(C[i, j]) for i, j in zip(*iu, strict=True)}
    strong = {k: v for k, v in pairs.items() if abs(v) > CORRELATION_LIMIT}
    biggest = max(pairs, key=lambda k: abs(pairs[k]))
    value = {"max_abs": abs(pairs[biggest]), "pair": biggest, "strong": strong,
             "source": source}
    if strong:
        text = ", ".join(f"{k} {v:+.2f}" for k, v in strong.items())
        return Check("identifiability", "WARNING", value, f"|r| > {CORRELATION_LIMIT:g} "
                     f"({source}): {text}; the data do not separate these parameters")
    return Check("identifiability", "PASS", value, f"largest |r| = {abs(pairs[biggest]):.2f} "
                 f"({biggest}, {source}) <= {CORRELATION_LIMIT:g}")


def _success_check(rate: float | None) -> Check:
    if rate is None:
        return Check("bootstrap_success", "N/A", None, "no bootstrap run")
    rate = float(rate)
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"success_rate is a fraction between 0 and 1, got {rate}")
    pct = f"{100 * rate:.1f} %"
    if rate > SUCCESS_EXCELLENT:
        return Check("bootstrap_success", "PASS", rate, f"{pct} of replicates fitted (excellent)")
    if rate >= SUCCESS_GOOD:
        return Check("bootstrap_success", "PASS", rate, f"{pct} of replicates fitted (good)")
    if rate >= SUCCESS_MARGINAL:
        return Check("bootstrap_success", "WARNING", rate, f"{pct} of replicates fitted "
                     "(marginal): investigate the failures, the intervals may be biased")
    return Check("bootstrap_success", "FAIL", rate, f"{pct} of replicates fitted (< "
                 f"{100 * SUCCESS_MARGINAL:g} %): bootstrap intervals unreliable; review the data "
                 "and the model")


def _interval_width_check(r: FitResult, intervals, source: str | None) -> Check:
    if intervals is None:
        if r.ci_low is None or r.ci_high is None:
            return Check("interval_width", "N/A", None, "no intervals (Wald intervals exist for "
                         "the standard variant only)")
        intervals = {n: (r.ci_low[k], r.ci_high[k]) for k, n in enumerate(r.names)}
        source = source or "Wald"
    source = source or "supplied"
    d = r.data
    hit = d.events > 0
    widths, problems, cut, notes = {}, [], [], []
    for name, (lo, hi) in intervals.items():
        if name not in r.names:
            raise ValueError(f"unknown parameter {name!r} in intervals; expected {r.names}")
        est = float(r.theta[r.names.index(name)])
        lo, hi = float(lo), float(hi)
        # A threshold near 0 would give an infinite relative width; judge it against
        # the lowest LET with events instead, the scale on which it matters.
        scale = abs(est)
        if name == "let_th" and hit.any():
            scale = max(scale, float(d.let[hit].min()))
        rel = (hi - lo) / scale if scale > 0 else math.inf
        widths[name] = rel
        if not (math.isfinite(lo) and math.isfinite(hi)):
            problems.append(f"{name} interval unbounded")
        elif not lo <= est <= hi:
            problems.append(f"{name} estimate {est:.3g} outside its interval "
                            f"[{lo:.3g}, {hi:.3g}]")
        elif rel > REL_WIDTH_WARN:
            problems.append(f"{name} width {rel:.2g} x estimate")
        if math.isfinite(lo) and math.isfinite(hi):
            bad, fine = _interval_on_box(r, name, lo, hi)
            cut += bad
            notes += fine
    parts = ["; ".join(problems) + ": poorly constrained"] if problems else []
    if problems or cut:
        return Check("interval_width", "WARNING", widths, f"{source} intervals: "
                     + "; ".join(parts + cut + notes))
    worst = max(widths, key=widths.get) if widths else None
    if not worst:
        return Check("interval_width", "PASS", widths, "no intervals given")
    return Check("interval_width", "PASS", widths, f"{source} intervals: widest {worst} at "
                 f"{widths[worst]:.2g} x estimate" + "".join("; " + n for n in notes))


def _interval_on_box(r: FitResult, name: str, lo: float, hi: float) -> tuple[list, list]:
    """Ends of one interval on the fit's box: (problems, notes).

    An end on a box bound was stopped by the box, not by the data.  For a Weibull4
    let_th two bounds are not conventions: 0 (a threshold cannot be negative) and the
    lowest LET with events (the data's own limit), so an end on one of them is a
    one-sided result; an interval over the whole of [0, cap] still says nothing.
    """
    if r.bounds is None:
        return [], []
    k = r.names.index(name)
    blo, bhi = float(r.bounds[0][k]), float(r.bounds[1][k])
    width = bhi - blo
    tol = _BOUND_RTOL * (width if math.isfinite(width) and width > 0 else max(abs(bhi), 1e-300))
    on_lo, on_hi = near_bound(lo, blo, width), near_bound(hi, bhi, width)
    cut_text = "not determined by the data (the interval is cut by the box)"
    if name != "let_th" or tuple(r.names[:4]) != _WEIBULL4:
        if on_lo and on_hi:
            return [f"{name}: the interval is its whole box [{num(blo)}, {num(bhi)}], "
                    "not determined by the data"], []
        return ([f"{name}: {side} end at its bound {num(b)}, {cut_text}"
                 for side, b, on in (("lower", blo, on_lo), ("upper", bhi, on_hi)) if on], [])
    hit = r.data.events > 0
    phys_lo = blo <= 0.0
    phys_hi = bool(hit.any()) and bhi >= float(r.data.let[hit].min()) - tol
    # At or beyond both ends (replicates' own boxes can reach past the cap).
    if lo <= blo + tol and hi >= bhi - tol:
        return [f"let_th: the interval [{num(lo)}, {num(hi)}] covers its whole box "
                f"[{num(blo)}, {num(bhi)}], let_th is not determined by the data"], []
    bad, fine = [], []
    if on_lo and phys_lo:
        fine.append(f"let_th lower end at its physical limit {num(blo)} (one-sided)")
    elif on_lo:
        bad.append(f"let_th: lower end at its bound {num(blo)}, {cut_text}")
    if on_hi and phys_hi:
        fine.append(f"let_th upper end at the data's limit {num(bhi)} (events seen there)")
    elif on_hi:
        bad.append(f"let_th: upper end at its bound {num(bhi)}, {cut_text}")
    return bad, fine


def near_bound(v: float, b: float, width: float) -> bool:
    """Whether ``v`` sits on the bound ``b`` of a box ``width`` wide: within 1e-9 of the
    width (sigma_sat per bit is ~1e-12, so no absolute tolerance), or of ``|b|`` when the
    box is unbounded.  The one rule for "at bound" in checks and analysis notes."""
    tol = _BOUND_RTOL * (width if math.isfinite(width) and width > 0 else max(abs(b), 1e-300))
    return math.isfinite(v) and math.isfinite(b) and abs(v - b) <= tol


def _upper_limits_check(r: FitResult) -> Check:
    lims = [u for u in r.upper_limits if u.curve_below is not None]
    if not r.upper_limits:
        return Check("upper_limits", "N/A", None, "no zero-event run")
    if r.envelope_limits:  # no event at all (only then are they quoted)
        e = r.envelope_limits[0]
        return Check("upper_limits", "PASS", len(r.upper_limits), f"no events in "
                     f"{r.data.n_runs} runs: the upper limits are the result (pooled: "
                     f"{e.bound()}, {100 * e.cl:g} % {e.sided})")
    if not lims:
        return Check("upper_limits", "N/A", len(r.upper_limits), "no fitted curve to compare "
                     "with the zero-event upper limits")
    ratio = {u.label: u.sigma_fit / u.sigma_upper for u in lims}
    bad = [u for u in lims if not u.curve_below]
    u0 = lims[0]
    level = f"{100 * u0.cl:g} % {u0.sided}"
    if bad:
        text = ", ".join(f"{u.label} (LET {u.let:.3g}: curve {u.sigma_fit / u.sigma_upper:.2g} x "
                         "limit)" for u in bad)
        advice = ("the zero-event runs are already in the likelihood: the model cannot honour "
                  "them, see the goodness of fit" if r.zeros == "include"
                  else "refit with zeros='include'")
        return Check("upper_limits", "FAIL", ratio, f"fitted curve above the {level} upper "
                     f"limit of {text}; {advice}")
    return Check("upper_limits", "PASS", ratio, f"fitted curve below all {len(lims)} zero-event "
                 f"upper limit(s) ({level})")


def excess_zeros_check(fit_result: FitResult) -> Check:
    """Observed zero-event runs against what the fitted curve predicts.

    Under the fitted model run i has no event with probability p_i = exp(-lambda_i).
    Two tests over ALL runs (fitted or not), combined with a Bonferroni factor 2:

    * count: the number of zero-event runs is Poisson-binomial with mean
      sum p_i; p-value = its upper tail at the observed number;
    * worst zero: the least probable observed zero, p_min; p-value = sum of p_i
      over every run with p_i <= p_min (a union bound on "some run shows a zero at
      least this improbable"), which a single zero in the saturation region
      cannot hide from, however many zeros below the threshold dilute the count.

    Parameters
    ----------
    fit_result : FitResult

    Returns
    -------
    Check
        ``excess_zeros`` with value ``{"observed", "expected", "p_count",
        "worst_run", "p_worst", "p_value"}``.
    """
    if not fit_result.fitted:
        return Check("excess_zeros", "N/A", None, "no curve fitted")
    lam = _lambda_all(fit_result)
    p0 = np.exp(-lam)
    zero = fit_result.data.events == 0
    obs = int(zero.sum())
    exp_ = float(p0.sum())
    p_count = poisson_binomial_sf(obs, p0)
    worst, p_worst = None, 1.0
    if obs:
        i = int(np.flatnonzero(zero)[np.argmin(p0[zero])])
        worst = fit_result.data.labels()[i]
        p_worst = float(min(1.0, p0[p0 <= p0[i]].sum()))
    p = min(1.0, 2.0 * min(p_count, p_worst))
    value = {"observed": obs, "expected": exp_, "p_count": p_count, "worst_run": worst,
             "p_worst": p_worst, "p_value": p}
    st = _status_from_p(p)
    head = f"{obs} zero-event run(s), {exp_:.3g} expected from the fitted curve"
    if st == "PASS":
        return Check("excess_zeros", st, value, f"{head} (P(>= {obs}) = {p_count:.3g})")
    i = fit_result.data.labels().index(worst)
    return Check("excess_zeros", st, value, f"{head} (P(>= {obs}) = {p_count:.2g}; {worst} "
                 f"expects {lam[i]:.3g} events, P(0) = {p0[i]:.2g}; combined p {p:.2g}): zeros "
                 "the curve cannot explain (dead time, beam or DUT problem, or a wrong curve)")


def overdispersion_check(fit_result: FitResult) -> Check:
    """Pearson chi2 / dof and deviance / dof of the fitted runs.

    A Poisson model with the right curve gives ratios near 1.  Larger ratios
    mean extra-Poisson variation (or a curve the Weibull cannot follow): the
    Poisson-likelihood intervals are then too narrow.  dof = n_points - p.  The
    status follows the chi2(dof) p-values alone (WARNING below 0.05, FAIL below
    0.001); a ratio above ``DISPERSION_WARN`` without significance is only named.

    Parameters
    ----------
    fit_result : FitResult

    Returns
    -------
    Check
        ``overdispersion``; N/A when dof < 1.
    """
    if not fit_result.fitted:
        return Check("overdispersion", "N/A", None, "no curve fitted")
    g = goodness_of_fit(fit_result)
    dof = g.dof
    if dof < 1:
        return Check("overdispersion", "N/A", {"dof": dof}, f"{g.n_points} points for "
                     f"{len(fit_result.theta)} parameters: no degree of freedom left")
    P, D, pP, pD = g.pearson, g.deviance, g.p_pearson, g.p_chi2
    phi, phiD = P / dof, D / dof
    value = {"pearson_per_dof": phi, "deviance_per_dof": phiD, "dof": dof,
             "p_pearson": pP, "p_deviance": pD}
    p = min(pP, pD)
    # Too little scatter is also a signal (edited counts, runs not independent): the
    # lower tail of Pearson's statistic, warned on only when extreme.
    p_low = float(chi2.cdf(P, dof))
    value["p_pearson_lower"] = p_low
    small = g.n_small_expected
    notes = ""
    if dof < MIN_DOF_GOF:
        notes += f"; only {dof} dof, little power"
    if small:
        notes += (f"; {small} run(s) expect < 5 events, the chi2 p-values are approximate "
                  "(prefer the bootstrap p-value)")
    head = (f"Pearson chi2/dof {phi:.3g} (p {pP:.2g}), deviance/dof {phiD:.3g} (p {pD:.2g}), "
            f"dof {dof}")
    if p < P_WARN:
        st = "FAIL" if p < P_FAIL else "WARNING"
        return Check("overdispersion", st, value, head + ": more scatter than Poisson about the "
                     "curve (extra-Poisson variation or a curve the model cannot follow); "
                     "Poisson intervals too narrow, see the residuals" + notes)
    if p_low < P_WARN:
        st = "WARNING" if p_low < P_FAIL else "PASS"
        return Check("overdispersion", st, value, head + f": less scatter than Poisson allows "
                     f"(P(X2 <= {P:.3g}) = {p_low:.2g}); are the counts independent and "
                     "unedited?" + notes)
    if max(phi, phiD) > DISPERSION_WARN:
        # A large ratio alone is no evidence at small dof (P(chi2_4 / 4 > 1.5) = 0.20).
        big, p_big = (phi, pP) if phi >= phiD else (phiD, pD)
        return Check("overdispersion", "PASS", value, head + f": dispersion estimate "
                     f"{big:.3g} > {DISPERSION_WARN:g} but not significant (p {p_big:.2g} on "
                     f"{dof} dof)" + notes)
    return Check("overdispersion", "PASS", value, head + ": consistent with Poisson scatter"
                 + notes)


def tilt_check(fit_result: FitResult) -> Check:
    """Whether the tilted runs agree with the curve at their effective LET.

    The tilt correction assumes the cosine law (effective LET = LET / cos(angle), a thin
    sensitive volume); many devices do not follow it (JEDEC JESD57, annex B).  Under the
    fitted curve the events of the tilted runs together are Poisson with mean
    Lambda = sum of their lambda_i.  Two exact two-sided p-values (2 min(P(X <= N),
    P(X >= N)), capped at 1) test the law where it was used, combined as in
    ``excess_zeros``: the total against Lambda, and the worst single tilted run times
    their number (runs off in opposite directions cancel in the total).  Tilted runs in
    the fit pull the curve towards them: the test is conservative.  A tilt above
    ``MAX_TILT_DEG`` is a WARNING whatever the counts.

    Parameters
    ----------
    fit_result : FitResult

    Returns
    -------
    Check
        ``tilt`` with value ``{"runs", "max_angle", "observed", "expected", "ratio",
        "p_total", "worst_run", "p_worst", "p_value"}``; N/A without tilted runs, without
        the correction, without a curve, or when no tilted run expects or has an event.
    """
    d = fit_result.data
    tilted = np.asarray(d.angle) != 0
    k = int(tilted.sum())
    if k == 0:
        return Check("tilt", "N/A", None, "no tilted run (all at normal incidence)")
    max_angle = float(np.max(np.abs(d.angle[tilted])))
    if not d.tilt_corrected:
        return Check("tilt", "N/A", {"runs": k, "max_angle": max_angle},
                     f"tilt correction switched off: the angles of {k} run(s) not used")
    if not fit_result.fitted:
        return Check("tilt", "N/A", {"runs": k, "max_angle": max_angle}, "no curve fitted")
    lam = _lambda_all(fit_result)
    n_t, lam_t = d.events[tilted].astype(float), lam[tilted]
    obs, exp_ = int(n_t.sum()), float(lam_t.sum())
    if exp_ == 0.0 and obs == 0:
        return Check("tilt", "N/A", {"runs": k, "max_angle": max_angle},
                     f"{k} tilted run(s), all below the curve's threshold and without events: "
                     "nothing to test")
    p_total = _poisson_two_sided(obs, exp_)
    # The worst single run too (as excess_zeros): runs off in opposite directions cancel
    # in the total.  Bonferroni over the k runs, then over the two tests.
    p_runs = np.array([_poisson_two_sided(int(n), float(m)) for n, m in zip(n_t, lam_t)])
    w = int(np.argmin(p_runs))
    p_worst = float(min(1.0, k * p_runs[w]))
    p = float(min(1.0, 2.0 * min(p_total, p_worst))) if k > 1 else p_total
    worst = d.labels()[int(np.flatnonzero(tilted)[w])]
    ratio = obs / exp_ if exp_ > 0 else math.inf
    value = {"runs": k, "max_angle": max_angle, "observed": obs, "expected": exp_,
             "ratio": ratio, "p_total": p_total, "worst_run": worst,
             "p_worst": p_worst, "p_value": p}
    head = (f"{k} tilted run(s) (up to {max_angle:g} deg): {obs} events, {exp_:.3g} expected "
            f"from the curve at their effective LET (ratio {ratio:.3g}, exact Poisson "
            f"two-sided p {p_total:.2g}")
    if k > 1:
        head += (f"; worst run {worst}: {int(n_t[w])} for {lam_t[w]:.3g}, p {p_runs[w]:.2g}; "
                 f"combined p {p:.2g}")
    head += ")"
    out_of_fit = int(np.sum(tilted & ~np.asarray(fit_result.fit_mask, bool)))
    where = ("they are in the fit, so the test is conservative" if out_of_fit == 0 else
             f"{k - out_of_fit} of them in the fit, {out_of_fit} left out (zero-event runs)")
    st = _status_from_p(p)
    if st != "PASS":
        msg = (f"{head}: the tilted runs disagree with the curve ({where}); the cosine law "
               "(LET / cos(angle)) may not hold for this device (JESD57 annex B): compare "
               "with normal-incidence runs at the same effective LET, or fit without them")
    else:
        msg = f"{head}: no significant disagreement with the cosine law ({where})"
    if max_angle > MAX_TILT_DEG:
        st = "WARNING" if st == "PASS" else st
        msg += (f"; tilt above {MAX_TILT_DEG:g} deg: the effective LET is more than twice "
                "the ion's and the cosine law is least reliable there")
    return Check("tilt", st, value, msg)


def _poisson_two_sided(n: int, mu: float) -> float:
    """Exact two-sided p-value of ``n`` events for a Poisson mean ``mu``: twice the smaller
    tail, P(X <= n) or P(X >= n), capped at 1."""
    return float(min(1.0, 2.0 * min(poisson.cdf(n, mu), poisson.sf(n - 1, mu))))
