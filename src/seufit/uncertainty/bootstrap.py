"""Parametric Poisson bootstrap of the maximum-likelihood estimator.

Replicate counts N*_i ~ Poisson(lambda_hat_i) at the runs used in the fit; each
replicate is refitted by the same estimator as the data (zero policy, bounds
rule, solver), all replicates as one batched problem warm-started at the MLE.
Replicates that cannot be fitted are counted by cause, never dropped silently.

Intervals: percentile and BCa.  The BCa acceleration for this parametric
setting is the skewness/6 of the linear approximation of the estimator in the
counts: a = sum_i b_i^3 lambda_i / (6 (sum_i b_i^2 lambda_i)^1.5), where b_i is
the slope of the estimate in N_i (Poisson cumulants all equal lambda_i).  The
slopes come from the least-squares regression of the replicate estimates on the
simulated counts (default), or, with ``acceleration="influence"``, from the
implicit-function theorem at the MLE, b_i = H^-1 J_i / lambda_i.  For a single
Poisson mean both give the textbook 1/(6 sqrt(lambda)).
"""

from __future__ import annotations

import html
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
from scipy.special import ndtr, ndtri  # scipy.stats.norm's cdf and ppf, without overhead
from scipy.stats import skew

from .._format import html_table, text_table
from .._io import npz_bytes, write_atomic
from .._provenance import fit_options, provenance, versions
from ..estimator import FAILURE_CAUSES, MIN_NONZERO, fit_counts
from ..fit import FitResult, require_fit
from ..likelihood import poisson_deviance
from ..models import clip_inside
from ..optimize import backend_name, minimize_batch, solver_backend
from ..parallel import resolve_seed, run_chunks, single_threaded_blas

__all__ = ["bootstrap", "BootstrapResult", "load_bootstrap", "choose_config", "ci_rule",
           "bca_interval", "acceleration", "influence_slopes", "CONFIGS", "ACCELERATIONS"]

CONFIGS = {
    "full": {"n_boot": 10_000, "tol": 1e-9},
    "conservative": {"n_boot": 20_000, "tol": 1e-10},
}
MIN_EVENTS_FULL = 50
MIN_COUNT_FULL = 5
ACCELERATIONS = ("regression", "influence")  # how the slopes b_i of the acceleration are had
MIN_LAM_INFLUENCE = 1.0  # influence slopes only where every run of the fit expects >= 1 event
TIES_FLAG = 0.10  # BCa is flagged when more replicates than this tie with the estimate
MIN_SUCCESS = 10  # fewer successful replicates than this: no summary (counts by cause only)


def choose_config(events: np.ndarray) -> tuple[str, str]:
    """The bootstrap article's rule: full when N >= 50 and the smallest non-zero count >= 5."""
    events = np.asarray(events)
    total = int(events.sum())
    nz = events[events > 0]
    mn = int(nz.min()) if nz.size else 0
    if total >= MIN_EVENTS_FULL and mn >= MIN_COUNT_FULL:
        return "full", f"{total} events >= {MIN_EVENTS_FULL} and smallest count {mn} >= 5"
    why = []
    if total < MIN_EVENTS_FULL:
        why.append(f"{total} events < {MIN_EVENTS_FULL}")
    if mn < MIN_COUNT_FULL:
        why.append(f"smallest non-zero count {mn} < {MIN_COUNT_FULL}")
    return "conservative", " and ".join(why)


def acceleration(draws: np.ndarray, counts: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """BCa acceleration per parameter from the regression of estimates on counts.

    Parameters
    ----------
    draws : (B, p) replicate estimates (successful replicates only).
    counts : (B, n) the replicates' simulated counts.
    lam : (n,) expected counts under the MLE.
    """
    X = np.column_stack([np.ones(len(counts)), counts - lam])
    coef, *_ = np.linalg.lstsq(X, draws, rcond=None)
    return acceleration_from_slopes(coef[1:], lam)


def acceleration_from_slopes(b: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Efron's acceleration per parameter from the slopes ``b (n, p)`` = d theta_j / d N_i
    and the expected counts ``lam (n,)``; 0 for a parameter that does not move."""
    k2 = np.sum(b**2 * lam[:, None], axis=0)
    k3 = np.sum(b**3 * lam[:, None], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(k2 > 0, k3 / (6.0 * k2**1.5), 0.0)
    return a


def influence_slopes(fr: FitResult) -> tuple[np.ndarray | None, str]:
    """Slopes of the MLE in the counts, d theta_hat / d N_i = H^-1 J_i / lambda_i at the fit.

    From the score equation sum_i (1 - N_i / lambda_i) J_i = 0 (J_i = d lambda_i / d theta)
    by the implicit-function theorem; they exist where the MLE is a smooth function of the
    counts (the fit converged, every parameter inside its box and none held fixed, let_th
    on no tested LET, a positive definite Hessian) and where the counts' effect is close
    to linear (every run expects at least ``MIN_LAM_INFLUENCE`` event).

    Returns ``(b (n, p), reason)`` for the runs of the fit, or ``(None, why not)``.
    """
    from ..fit import _hessian_analysis, on_kink

    fd = fr.fit_data
    if not fr.converged:
        return None, "the fit did not converge"
    if fr.at_bound:
        return None, (f"{', '.join(fr.at_bound)} on a bound: the MLE has no derivative in "
                      "the counts there")
    if fr.bounds is not None and np.any(fr.bounds[0] >= fr.bounds[1]):
        return None, "a parameter is held fixed"
    if on_kink(fr.model, fd.let, fr.theta):
        return None, f"{fr.names[fr.model.kink_param]} on a tested LET, a kink of the likelihood"
    if fr.hessian is None:
        return None, "no Hessian at the fit"
    cov = _hessian_analysis(fr.hessian, fr.theta)[2]
    if cov is None:
        return None, "the Hessian is not positive definite"
    lam = fr.predict(fd.let) * fd.exposure
    if np.any(lam < MIN_LAM_INFLUENCE):
        # b_i grows as 1 / lambda_i, and a count that is almost always 0 is no linear
        # effect: one event more moves the estimate far (a of -151 measured for a
        # zero-event run kept at lambda 1e-6, where the regression gives -0.04).
        return None, (f"a run of the fit expects fewer than {MIN_LAM_INFLUENCE:g} event "
                      f"({lam.min():.2g}): the estimate is not linear in its count")
    J = fr.model.derivatives(fr.theta[None, :], fd.let, order=1)[1][0] * fd.exposure[:, None]
    b = (J @ cov) / lam[:, None]  # cov = H^-1 is symmetric
    if not np.all(np.isfinite(b)):
        return None, "the model's derivatives are not finite at the fit"
    return b, "implicit-function slopes H^-1 J_i / lambda_i at the MLE"


TIE_RTOL = 1e-9  # a draw this close (relative) to the estimate ties with it (z0, diagnostics)


def bca_interval(draws: np.ndarray, estimate: float, a: float, cl: float):
    """BCa interval of one parameter; returns (low, high, z0).

    z0 = Phi^-1(fraction of replicates below the estimate, ties counted half); a tie is
    a draw within relative 1e-9 of the estimate (``TIE_RTOL``, as ``ties_at_estimate``:
    replicates on the estimate's bound or kink land there up to round-off);
    the percentile levels are Phi(z0 + (z0 + z) / (1 - a (z0 + z))) for z = +/- z_{(1+cl)/2}.
    """
    draws = np.asarray(draws, float)
    B = draws.size
    tie = np.isclose(draws, estimate, rtol=TIE_RTOL, atol=0.0)
    frac = (np.sum((draws < estimate) & ~tie) + 0.5 * np.sum(tie)) / B
    frac = np.clip(frac, 0.5 / B, 1 - 0.5 / B)
    z0 = float(ndtri(frac))
    out = []
    for z in (ndtri((1 - cl) / 2), ndtri((1 + cl) / 2)):
        den = 1.0 - a * (z0 + z)
        level = ndtr(z0 + (z0 + z) / den) if den > 0 else (1.0 if z > 0 else 0.0)
        out.append(float(np.quantile(draws, np.clip(level, 0.0, 1.0))))
    return out[0], out[1], z0


def _status(rate: float) -> str:
    if rate > 0.98:
        return "excellent"
    if rate >= 0.95:
        return "good"
    if rate >= 0.90:
        return "marginal"
    return "poor"


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Bootstrap distribution of the estimator, its intervals and diagnostics.

    ``draws_all`` holds every replicate (NaN rows for failures); ``draws`` only
    the successful ones.  Intervals are estimate with [low, high] at ``cl``.
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    theta_hat: np.ndarray
    draws_all: np.ndarray
    cause: np.ndarray
    counts: np.ndarray
    nll: np.ndarray
    lam_hat: np.ndarray
    let: np.ndarray
    exposure: np.ndarray
    seed: int
    config: str
    config_reason: str
    tol: float
    zeros: str
    cl: float
    ci_method: str
    ci_reason: str
    se: np.ndarray
    covariance: np.ndarray
    correlation: np.ndarray
    percentile: np.ndarray  # (p, 2)
    bca: np.ndarray  # (p, 2)
    z0: np.ndarray
    a: np.ndarray
    diagnostics: dict
    band: dict
    hessian_se: np.ndarray | None
    provenance: dict = field(default_factory=dict)
    fit: FitResult | None = None
    let_span: tuple[float, float] = (np.nan, np.nan)  # LET range of every run, for the band
    at_bound: tuple[str, ...] = ()  # parameters of the fit on a bound
    # The acceleration asked for; the influence slopes (n, p) at the MLE where they exist
    # (influence_slopes), archived for reloads.  The method used follows (a_method).
    a_request: str = "regression"
    slopes: np.ndarray | None = None
    slopes_reason: str = ""  # why there are no influence slopes (or what they are)
    # Zero-event runs of the data left out of the fit (zeros="exclude"), so not resampled.
    runs_left_out: int | None = 0  # None: an archive from before it was recorded
    # (p, 2): limits the data put on each parameter (Model.data_limits); intervals are
    # clipped to them.  None: an archive from before they were recorded (no clipping).
    data_limits: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Frozen means the arrays too: read-only views (the caller's arrays, e.g. the fit's
        # theta, stay as they were).
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, np.ndarray) and v.flags.writeable:
                v = v.view()
                v.setflags(write=False)
                object.__setattr__(self, f.name, v)

    @property
    def a_method(self) -> str:
        """The slopes behind ``a``: influence where asked for and they exist, else regression."""
        return ("influence" if self.a_request == "influence" and self.slopes is not None
                else "regression")

    @property
    def a_reason(self) -> str:
        if self.a_method == "influence":
            return self.slopes_reason
        why = "slopes from the regression of the replicate estimates on the counts"
        if self.a_request == "influence":
            why += f" (influence asked, but {self.slopes_reason or 'no slopes archived'})"
        return why

    @property
    def n_boot(self) -> int:
        return int(self.cause.size)

    @property
    def ok(self) -> np.ndarray:
        return self.cause == 0

    @property
    def draws(self) -> np.ndarray:
        return self.draws_all[self.ok]

    @property
    def n_success(self) -> int:
        return int(self.ok.sum())

    @property
    def success_rate(self) -> float:
        return self.n_success / self.n_boot

    @property
    def failures(self) -> dict[str, int]:
        return {FAILURE_CAUSES[c]: int(np.sum(self.cause == c)) for c in sorted(FAILURE_CAUSES)
                if c != 0 and np.any(self.cause == c)}

    @property
    def ci_low(self) -> np.ndarray:
        return (self.bca if self.ci_method == "bca" else self.percentile)[:, 0]

    @property
    def ci_high(self) -> np.ndarray:
        return (self.bca if self.ci_method == "bca" else self.percentile)[:, 1]

    def deviances(self) -> np.ndarray:
        """Deviance of each successful replicate at its own fit (for goodness of fit)."""
        from ..models import WEIBULL4

        model = self.fit.model if self.fit is not None else WEIBULL4
        lam = model.value(self.draws, self.let) * self.exposure
        N = self.counts[self.ok]
        if self.zeros == "exclude":
            # A run left out of a replicate's likelihood contributes nothing: lam = N = 0.
            lam = np.where(N > 0, lam, 0.0)
        return poisson_deviance(lam, N)

    def with_level(self, cl: float, ci: str | None = None,
                   acceleration: str | None = None) -> BootstrapResult:
        """The same draws summarised at another level (and CI method, acceleration); no
        refit.  ``ci`` and ``acceleration`` default to this result's own requests."""
        ci = ci or self.provenance.get("options", {}).get("ci", "auto")
        return _summarise(self, cl=cl, ci=ci, acceleration=acceleration)

    # -- output ----------------------------------------------------------------------
    def _rows(self):
        rows = []
        for k, n in enumerate(self.names):
            rows.append([n, self.theta_hat[k], self.se[k], self.ci_low[k], self.ci_high[k],
                         self.z0[k], self.a[k], self.units[k]])
        return rows

    def __str__(self) -> str:
        head = (f"parametric Poisson bootstrap: {self.n_boot} replicates ({self.config}: "
                f"{self.config_reason}), seed {self.seed}")
        runs = f"  resampled: the {self.let.size} runs of the fit"
        if self.runs_left_out:
            runs += (f"; {self.runs_left_out} zero-event run(s) of the data left out "
                     f"(zeros={self.zeros}: upper limits, not resampled)")
        out = [head, runs,
               f"  success {self.n_success}/{self.n_boot} ({100 * self.success_rate:.2f} %, "
               f"{self.diagnostics['success']['status']})"]
        for cause, k in self.failures.items():
            out.append(f"    failed: {k} x {cause}")
        out.append(f"  intervals: {100 * self.cl:g} % {self.ci_method} ({self.ci_reason})")
        out.append(f"  BCa acceleration a: {self.a_reason}")
        out.append(text_table(["parameter", "estimate", "boot se", "low", "high", "z0", "a",
                               "unit"], self._rows()))
        out.append("  correlation:")
        out.append(text_table([""] + list(self.names),
                              [[n] + [f"{v:+.2f}" for v in row]
                               for n, row in zip(self.names, self.correlation)]))
        for msg in self.diagnostics.get("flags", []):
            out.append(f"  flag: {msg}")
        for msg in self.diagnostics.get("notes", []):
            out.append(f"  note: {msg}")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        return ("<div><b>Parametric Poisson bootstrap</b> "
                f"({self.n_boot} replicates, seed {self.seed}, {html.escape(self.config)})<br>"
                + html_table(["parameter", "estimate", "boot se", "low", "high", "z0", "a",
                              "unit"], self._rows(),
                             caption=f"{100 * self.cl:g} % {self.ci_method} intervals")
                + "".join(f"<br>flag: {html.escape(m)}" for m in self.diagnostics["flags"])
                + "".join(f"<br>note: {html.escape(m)}"
                          for m in self.diagnostics.get("notes", []))
                + "</div>")

    def to_dict(self) -> dict:
        params = {}
        for k, n in enumerate(self.names):
            params[n] = {"value": float(self.theta_hat[k]), "se": float(self.se[k]),
                         "ci_low": float(self.ci_low[k]), "ci_high": float(self.ci_high[k]),
                         "ci_method": self.ci_method, "z0": float(self.z0[k]),
                         "a": float(self.a[k]),
                         "percentile": self.percentile[k].tolist(), "bca": self.bca[k].tolist()}
        return {
            "parameters": params,
            "correlation": self.correlation.tolist(),
            "covariance": self.covariance.tolist(),
            "n_boot": self.n_boot,
            "n_success": self.n_success,
            "failures": self.failures,
            "success_rate": self.success_rate,
            "config": self.config,
            "config_reason": self.config_reason,
            "tolerance": self.tol,
            "zeros": self.zeros,
            "runs": {"resampled": int(self.let.size), "zero_event_left_out": self.runs_left_out},
            "cl": self.cl,
            "ci_method": self.ci_method,
            "ci_reason": self.ci_reason,
            "acceleration": {"requested": self.a_request, "method": self.a_method,
                             "reason": self.a_reason},
            "diagnostics": self.diagnostics,
            "band": self.band,
            "seed": self.seed,
            "provenance": self.provenance,
        }

    def save(self, path: str | Path) -> Path:
        """Archive the draws with seed, configuration and versions (NPZ)."""
        meta = {k: getattr(self, k) for k in ("names", "units", "seed", "config", "config_reason",
                                              "tol", "zeros", "cl", "ci_method", "ci_reason")}
        meta["at_bound"] = list(self.at_bound)
        meta["a_request"] = self.a_request
        meta["slopes_reason"] = self.slopes_reason
        meta["runs_left_out"] = self.runs_left_out
        meta["causes_version"] = 2  # 2: cause 1 split into 1 and 5 (estimator.FAILURE_CAUSES)
        meta["let_span"] = [float(v) for v in self.let_span]
        if self.data_limits is not None:  # JSON has no infinity: None for "no limit"
            meta["data_limits"] = [[float(v) if np.isfinite(v) else None for v in row]
                                   for row in self.data_limits]
        meta["provenance"] = self.provenance
        meta["versions"] = versions()
        hse = np.full(len(self.names), np.nan) if self.hessian_se is None else self.hessian_se
        arrays = dict(theta_hat=self.theta_hat, draws_all=self.draws_all, cause=self.cause,
                      counts=self.counts, nll=self.nll, lam_hat=self.lam_hat, let=self.let,
                      exposure=self.exposure, hessian_se=hse, meta=np.array(json.dumps(meta)))
        if self.slopes is not None:
            arrays["slopes"] = self.slopes
        # Same run, same bytes (no zip timestamps).
        return write_atomic(path, npz_bytes(arrays))


def load_bootstrap(path: str | Path, cl: float | None = None, ci: str = "auto",
                   acceleration: str | None = None) -> BootstrapResult:
    """Reload an archived bootstrap and recompute its summary (optionally at another level,
    with another CI method or acceleration; default: the archived ones)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        hse = z["hessian_se"]
        slopes = z["slopes"] if "slopes" in z.files else None
        cause = z["cause"].copy()
        if meta.get("causes_version", 1) < 2:
            # Archives before the split of cause 1: its replicates with >= 3 runs with
            # events failed the data fit's rule (now cause 5), as their counts show.
            cause[(cause == 1) & ((z["counts"] > 0).sum(axis=1) >= MIN_NONZERO)] = 5
        raw = dict(theta_hat=z["theta_hat"], draws_all=z["draws_all"], cause=cause,
                   counts=z["counts"], nll=z["nll"], lam_hat=z["lam_hat"], let=z["let"],
                   exposure=z["exposure"], hessian_se=None if np.all(np.isnan(hse)) else hse)
    stub = _raw_result(names=tuple(meta["names"]), units=tuple(meta["units"]), seed=meta["seed"],
                       config=meta["config"], config_reason=meta["config_reason"],
                       tol=meta["tol"], zeros=meta["zeros"], provenance=meta["provenance"],
                       fit=None, let_span=tuple(meta["let_span"]),
                       at_bound=tuple(meta["at_bound"]), slopes=slopes,
                       a_request=meta.get("a_request", "regression"),
                       slopes_reason=meta.get("slopes_reason", ""),
                       runs_left_out=meta.get("runs_left_out"),
                       data_limits=_archived_limits(meta, raw["let"]), **raw)
    # "auto" keeps the archived method and its reason.
    stub = replace(stub, ci_method=meta["ci_method"], ci_reason=meta["ci_reason"])
    return _summarise(stub, cl=meta["cl"] if cl is None else cl, ci=ci,
                      acceleration=acceleration)


def _archived_limits(meta: dict, let: np.ndarray) -> np.ndarray | None:
    """The data's limits of an archive; for one saved before they were recorded, the
    Weibull's (let_th below the lowest LET with events) where the archive shows it: under
    zeros="exclude" every resampled run had events.  Else None (no clipping, noted)."""
    rows = meta.get("data_limits")
    if rows is not None:
        return np.array([[-np.inf if lo is None else lo, np.inf if hi is None else hi]
                         for lo, hi in rows], float)
    from ..models import WEIBULL4

    if meta.get("zeros") == "exclude" and tuple(meta["names"]) == WEIBULL4.names:
        return WEIBULL4.data_limits(let, np.ones_like(let))  # every run had events
    return None


def _clip_to_data(r: BootstrapResult, perc: np.ndarray, bca: np.ndarray) -> dict:
    """Clip both intervals (in place) to the data's limits; what was clipped, by name.

    The true parameter always lies within them (beyond, the observed data are
    impossible), so clipping cannot lower an interval's coverage; it removes values the
    data rule out, reached by replicates with their own wider boxes (a replicate with no
    event at the lowest LET has a higher let_th cap).
    """
    out = {}
    if r.data_limits is None:
        return out
    for k, n in enumerate(r.names):
        lo, hi = r.data_limits[k]
        raw = {"percentile": perc[k].tolist(), "bca": bca[k].tolist()}
        perc[k] = np.clip(perc[k], lo, hi)
        bca[k] = np.clip(bca[k], lo, hi)
        if not (np.array_equal(raw["percentile"], perc[k], equal_nan=True)
                and np.array_equal(raw["bca"], bca[k], equal_nan=True)):
            out[n] = {"limits": [float(lo) if np.isfinite(lo) else None,
                                 float(hi) if np.isfinite(hi) else None],
                      "unclipped": raw}
    return out


def clip_notes(clipped: dict, method: str) -> list[str]:
    """Sentences on the ends of ``method``'s intervals clipped to the data's limits
    (``diagnostics["clipped_to_data"]``)."""
    notes = []
    for n, c in clipped.items():
        lo, hi = c["limits"]
        raw = c["unclipped"][method]
        for side, at, past in (("low", lo, lo is not None and raw[0] < lo),
                               ("high", hi, hi is not None and raw[1] > hi)):
            if past:
                notes.append(
                    f"{n}: {'BCa' if method == 'bca' else method} interval's {side} end "
                    f"clipped at {at:.4g}, where the data's likelihood drops to zero "
                    f"(unclipped [{raw[0]:.4g}, {raw[1]:.4g}], reached by replicates with "
                    "wider boxes of their own)")
    return notes


def _raw_result(**kw) -> BootstrapResult:
    p = len(kw["names"])
    empty = np.full(p, np.nan)
    filler = dict(cl=0.95, ci_method="percentile", ci_reason="", se=empty,
                  covariance=np.full((p, p), np.nan), correlation=np.full((p, p), np.nan),
                  percentile=np.full((p, 2), np.nan), bca=np.full((p, 2), np.nan), z0=empty,
                  a=empty, diagnostics={}, band={})
    return BootstrapResult(**filler, **kw)


def ci_rule(events: np.ndarray) -> tuple[str, str]:
    """The series' CI-method rule: BCa with >= 50 events and no zero-event run, else percentile.

    Returns ``(method, reason)``.
    """
    total = int(np.sum(events))
    zeros = int(np.sum(np.asarray(events) == 0))
    if total >= 50 and zeros == 0:
        return "bca", f"{total} events >= 50 and no zero-event run (series rule)"
    why = f"{total} events < 50" if total < 50 else f"{zeros} zero-event run(s)"
    return "percentile", f"{why} (series rule: BCa only with >= 50 events and no zeros)"


def _summarise(r: BootstrapResult, cl: float, ci: str = "auto", threads: bool = False,
               acceleration: str | None = None) -> BootstrapResult:
    """Every summary of the draws; ``threads``: the band on two threads meanwhile;
    ``acceleration``: None keeps ``r.a_request``."""
    with single_threaded_blas():  # see single_threaded_blas: workers need the cores next
        if not threads:
            return _summarise_blas1(r, cl, ci, None, acceleration)
        with ThreadPoolExecutor(2) as pool:
            return _summarise_blas1(r, cl, ci, pool, acceleration)


def _check_acceleration(acceleration: str) -> None:
    if acceleration not in ACCELERATIONS:
        raise ValueError(f"acceleration must be regression or influence, got {acceleration!r}")


def _check_summary_options(cl: float, ci: str) -> None:
    if not 0 < cl < 1:  # (False for NaN too)
        raise ValueError(f"cl must be between 0 and 1, got {cl}")
    if ci not in ("auto", "guarded", "percentile", "bca"):
        raise ValueError(f"ci must be auto, guarded, percentile or bca, got {ci!r}")


def _summarise_blas1(r: BootstrapResult, cl: float, ci: str, pool,
                     acc: str | None) -> BootstrapResult:
    _check_summary_options(cl, ci)
    acc = r.a_request if acc is None else acc
    _check_acceleration(acc)
    ok = r.cause == 0
    D = r.draws_all[ok]
    p = len(r.names)
    if D.shape[0] < MIN_SUCCESS:
        # Nothing to summarise, but the counts by cause are the finding: give them.
        why = "; ".join(f"{n:,} {c}" for c, n in r.failures.items())
        raise ValueError(f"only {D.shape[0]} of {r.n_boot:,} replicates succeeded, too few to "
                         f"summarise (at least {MIN_SUCCESS} needed); failures: {why}")
    band = _band(r, D, cl, pool=pool)  # first: with a pool it runs while the rest is done
    events = r.fit.data.events if r.fit is not None else None
    if ci in ("auto", "guarded"):
        if events is None:  # a reloaded archive: its own choice and reason
            method, reason = r.ci_method, r.ci_reason
        else:
            method, reason = ci_rule(events)
        if ci == "guarded" and r.at_bound and method == "bca":
            # The series rule, except percentile with a parameter on a bound, where the
            # coverage study measured BCa at 76 % (docs/bootstrap.md).
            method, reason = "percentile", (f"guarded rule: {', '.join(r.at_bound)} on a bound, "
                                            "where BCa under-covers")
    else:
        method, reason = ci, "chosen by the user"
    # Each parameter's draws sorted once: the same quantiles, several times faster where
    # many replicates tie (an estimate on a bound), see _band.
    Ds = np.sort(D, axis=0)
    cov = np.atleast_2d(np.cov(D, rowvar=False, ddof=1))  # 0-d for one parameter
    # A parameter held fixed (user bounds lo == hi) has identical draws, but np.cov's mean
    # carries round-off (variance ~1e-31 for 1.3): its row and column are set to 0.
    spread = Ds[-1] > Ds[0]
    cov[~spread, :] = 0.0
    cov[:, ~spread] = 0.0
    se = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se, se)
    corr[np.diag_indices(p)] = np.where(spread, 1.0, np.nan)  # exactly 1, not 1 + 2e-16
    alpha = 1 - cl
    perc = np.quantile(Ds, [alpha / 2, 1 - alpha / 2], axis=0).T
    r = replace(r, a_request=acc)
    if r.a_method == "influence":
        a = acceleration_from_slopes(r.slopes, r.lam_hat)
    else:
        a = acceleration(D, r.counts[ok].astype(float), r.lam_hat)
    # A parameter that does not move has no skew to correct; its regression slopes are
    # round-off, whose cubes gave a = -0.003 in a review.
    a = np.where(spread, a, 0.0)
    bca = np.empty((p, 2))
    z0 = np.empty(p)
    for k in range(p):
        lo, hi, z0[k] = bca_interval(Ds[:, k], r.theta_hat[k], float(a[k]), cl)
        bca[k] = lo, hi
    clipped = _clip_to_data(r, perc, bca)
    diag = _diagnostics(r, D, se, corr)
    diag["clipped_to_data"] = clipped
    diag["notes"] = clip_notes(clipped, method)  # the quoted method's (the JSON has both)
    if r.data_limits is None and r.fit is None:
        diag["notes"].append("an archive from before the data's limits were recorded: its "
                             "intervals are not clipped to them")
    if method == "bca" and r.at_bound:
        # Half the replicates tie with an estimate on a bound, which drives z0; the
        # coverage study (docs/bootstrap.md) found BCa under-covering there.
        diag["flags"].append(
            f"BCa with {', '.join(r.at_bound)} on a bound: z0 is driven by ties at the bound "
            "and BCa under-covers there (docs/bootstrap.md); prefer --ci percentile")
    tied = [n for k, (n, t) in enumerate(diag["ties_at_estimate"].items())
            if t > TIES_FLAG and n not in r.at_bound and spread[k]]
    if method == "bca" and tied:
        # The same mechanism away from a bound: e.g. let_th on a zero-event run's LET under
        # zeros="include", a kink where many replicates stop too.
        diag["flags"].append(
            f"BCa with many replicates tied at the estimate ({', '.join(tied)}: more than "
            f"{100 * TIES_FLAG:.0f} %): z0 is driven by the ties; prefer --ci percentile")
    band = band()
    # The provenance records the summary's own settings (with_level, a reload).
    opts = {**r.provenance.get("options", {}), "cl": cl, "acceleration": acc}
    if not (r.fit is None and ci == "auto"):  # a reload's "auto" keeps the archived choice
        opts["ci"] = ci
    prov = {**r.provenance, "options": opts}
    return replace(r, cl=cl, ci_method=method, ci_reason=reason, se=se, covariance=cov,
                   correlation=corr, percentile=perc, bca=bca, z0=z0, a=a, diagnostics=diag,
                   band=band, provenance=prov)


def _diagnostics(r: BootstrapResult, D, se, corr) -> dict:
    names = r.names
    flags = []
    rate = float(np.mean(r.cause == 0))
    status = _status(rate)
    if status in ("marginal", "poor"):
        flags.append(f"success rate {100 * rate:.1f} % is {status}")
    skew_d = {}
    moving = np.flatnonzero(se > 0)  # not held fixed (identical draws, see _summarise_blas1)
    sk = dict(zip(moving.tolist(), skew(D[:, moving], axis=0)))  # one call: overhead per call
    for k, n in enumerate(names):
        if k not in sk:
            skew_d[n] = {"skewness": None, "status": "no spread (parameter held fixed)"}
            continue
        s = float(sk[k])
        level = "ideal" if abs(s) < 0.5 else ("acceptable" if abs(s) <= 1.0 else "concerning")
        skew_d[n] = {"skewness": s, "status": level}
        if level != "ideal":
            flags.append(f"{n}: skewness {s:+.2f} ({level})")
    # Replicates that land exactly on the estimate (a bound, a kink): they drive BCa's z0.
    ties = {n: float(np.mean(np.isclose(D[:, k], r.theta_hat[k], rtol=TIE_RTOL, atol=0.0)))
            for k, n in enumerate(names)}
    half = D.shape[0] // 2
    c1 = np.atleast_2d(np.cov(D[:half], rowvar=False))
    c2 = np.atleast_2d(np.cov(D[half:], rowvar=False))
    s1, s2 = np.sqrt(np.diag(c1)), np.sqrt(np.diag(c2))
    se_change = np.abs(s1 - s2) / np.maximum(0.5 * (s1 + s2), 1e-300)
    with np.errstate(invalid="ignore", divide="ignore"):  # a parameter with no spread
        r1, r2 = c1 / np.outer(s1, s1), c2 / np.outer(s2, s2)
    # Correlations near 0 make a relative change meaningless: relative to max(|r|, 0.1).
    r_change = np.abs(r1 - r2) / np.maximum(np.abs(0.5 * (r1 + r2)), 0.1)
    stab = {"se_relative_change": dict(zip(names, map(float, se_change))),
            "correlation_relative_change": {
                f"{names[i]}-{names[j]}": float(r_change[i, j])
                for i in range(len(names)) for j in range(i + 1, len(names))}}
    unstable = [k for k, v in stab["se_relative_change"].items() if v > 0.10]
    unstable += [k for k, v in stab["correlation_relative_change"].items() if v > 0.10]
    stab["stable"] = not unstable
    if unstable:
        flags.append("covariance unstable between the two halves of the draws (> 10 %): "
                     + ", ".join(unstable) + "; increase the number of replicates")
    ident = [f"{names[i]}-{names[j]} r={corr[i, j]:+.2f}" for i in range(len(names))
             for j in range(i + 1, len(names)) if abs(corr[i, j]) > 0.8]
    if ident:
        flags.append("strong correlation (|r| > 0.8), weakly identifiable: " + ", ".join(ident))
    ratio = None
    if r.hessian_se is not None:
        with np.errstate(divide="ignore", invalid="ignore"):  # a parameter held fixed
            ratio = dict(zip(names, map(float, r.hessian_se / se)))
    return {
        "success": {"rate": rate, "status": status},
        "skewness": skew_d,
        "stability": stab,
        "identifiability": {"strong_pairs": ident, "threshold": 0.8},
        "ties_at_estimate": ties,
        "hessian_over_bootstrap_se": ratio,
        "flags": flags,
    }


def _band(r: BootstrapResult, D, cl: float, n_grid: int = 60, pool=None):
    """Pointwise percentile band of sigma(LET) on a log grid over the tested LETs.

    Returns a callable giving the band's dict.  With ``pool`` (an executor) the two
    halves of the grid are computed there, while the caller works on: call it last.
    """
    from ..models import WEIBULL4

    model = r.fit.model if r.fit is not None else WEIBULL4
    # Span every tested LET, including zero-event runs left out of the fit.
    lo_x, hi_x = r.let_span
    grid = np.geomspace(lo_x / 1.5, hi_x * 1.5, n_grid)
    qs = [(1 - cl) / 2, (1 + cl) / 2]

    def quantiles(g):
        vals = np.empty((g.size, D.shape[0]))  # one row per LET: contiguous for the sort
        # 1,000 draws at a time: the model's temporaries (draws x LETs) then stay in cache
        # (5,000: 9.2 ms for 20,000 x 60 values, 1,000: 6.5 ms; elementwise, same values).
        for s in range(0, D.shape[0], 1000):
            vals[:, s:s + 1000] = model.value(D[s:s + 1000], g).T
        # Sorted first: the same quantiles, but numpy's selection slows down several-fold
        # on ties (sigma = 0 below the threshold of many replicates); a sort does not.
        vals.sort(axis=1)
        return np.quantile(vals, qs, axis=1)

    halves = np.array_split(grid, 2)
    parts = ([pool.submit(quantiles, g) for g in halves] if pool is not None
             else [quantiles(grid)])

    def finish() -> dict:
        low, high = np.concatenate([p.result() if pool is not None else p for p in parts],
                                   axis=1)
        mle = model.value(r.theta_hat[None, :], grid)[0]
        return {"let": grid.tolist(), "sigma_mle": mle.tolist(), "low": low.tolist(),
                "high": high.tolist(), "cl": cl, "kind": "pointwise percentile"}

    return finish


def _fit_chunk(payload):
    (model, x, expo, counts, starts, zeros, tol, grid, extra, bounds, corner, kink_starts,
     kink_corner, solver) = payload

    def run():
        return fit_counts(model, x, expo, counts, starts, zeros=zeros, tol=tol, screen=grid,
                          extra_starts=extra, bounds=bounds, corner_start=corner,
                          kink_starts=kink_starts, kink_corner=kink_corner)

    # The parent's solver path (SEUFIT_SOLVER / solver_backend) holds in every worker too.
    # A thread of the parent already has it: the process-wide setting is then left alone
    # (another thread of the application may be using it).
    if solver == ("numpy" if backend_name() == "numpy" else "auto"):
        bf = run()
    else:
        with solver_backend(solver):
            bf = run()
    return bf.theta, bf.nll, bf.cause


def replicate_starts(fr: FitResult) -> np.ndarray:
    """The starts shared by every replicate: the warm start at the MLE, ``(1, p)``.

    Under ``zeros="include"`` the LET of a zero-event run below a replicate's lowest LET
    with events is a kink of the likelihood in let_th where a line search stops;
    ``fit_counts`` gives each replicate one start per kink interval of its *own* box, so
    shared starts in the data's kink intervals would only repeat those rows for every
    replicate with the data's box (they did: bootstrap_article, 20,000 replicates, 1.50 s
    with them, 0.95 s without, the same draws).  Dense data with a kink inside its box
    also get :func:`lower_face_start` (see ``bootstrap``).
    """
    return np.asarray(fr.theta, float)[None, :].copy()


def lower_face_start(fr: FitResult) -> np.ndarray:
    """The data's optimum with the kink parameter (let_th) held on its lower bound, ``(1, p)``:
    one solve from the MLE moved onto that face.

    A replicate's likelihood often has one optimum with let_th on its lower bound and
    another inside, and the warm start at the MLE falls into the wrong one.  For dense data
    with a kink inside the box (``zeros="include"``) those misses are large, up to 1.3 NLL
    (bootstrap_article, docs/bootstrap.md); this point, a second shared start, reaches most
    of them.
    """
    j = fr.model.kink_param
    lo, hi = (np.array(b, float) for b in fr.bounds)
    hi[j] = lo[j]
    th0 = np.asarray(fr.theta, float).copy()
    th0[j] = lo[j]
    obj = fr.objective()
    r = minimize_batch(obj, clip_inside(th0[None], lo, hi), lo, hi, fr.model.transforms,
                       kinks=obj.kinks, tol=CONFIGS["conservative"]["tol"])
    return r.theta


def _data_kink_in_box(fr: FitResult) -> bool:
    """Whether the data fit's likelihood has a kink of its kink parameter strictly inside
    its box: a zero-event run in the likelihood (``zeros="include"``) at a LET between
    the parameter's bounds."""
    j = getattr(fr.model, "kink_param", None)
    if j is None or fr.bounds is None or fr.zeros != "include":
        return False
    fd = fr.fit_data
    lo, hi = fr.bounds[0][j], fr.bounds[1][j]
    return bool(np.any((np.asarray(fd.events) == 0) & (fd.let > lo) & (fd.let < hi)))


def bootstrap(
    fit_result: FitResult,
    *,
    n_boot: int | None = None,
    seed: int | None = None,
    config: str = "auto",
    ci: str = "auto",
    cl: float = 0.95,
    acceleration: str = "regression",
    jobs: int = 1,
    executor=None,
    chunk_size: int = 5000,
    progress: bool | None = None,
    extra_starts: int | str = "auto",
) -> BootstrapResult:
    """Parametric Poisson bootstrap of a fit.

    Parameters
    ----------
    fit_result : FitResult
        A fitted result (``seufit.fit``).
    n_boot : int, optional
        Replicates; default from the configuration (10,000 full, 20,000 conservative).
    seed : int, optional
        Seed of the one Generator that draws every replicate; a fresh one is
        drawn and recorded when omitted.
    config : {"auto", "full", "conservative"}
        The bootstrap article's configuration rule, or a forced one.
    ci : {"auto", "guarded", "percentile", "bca"}
        Interval method; auto: the series rule, BCa with >= 50 events and no zero-event
        run, else percentile; guarded: the same, but percentile when a parameter is on
        a bound (the sound option: BCa under-covers there, docs/bootstrap.md).
    cl : float
        Interval level.
    acceleration : {"regression", "influence"}
        Slopes b_i = d theta_hat / d N_i behind BCa's acceleration a: from the
        regression of the replicate estimates on their counts (default), or the
        derivatives at the MLE, H^-1 J_i / lambda_i (Efron's textbook definition; where
        a parameter is on a bound or the Hessian is not positive definite they do not
        exist, and the regression is used with the reason recorded).  The coverage
        study found no difference that matters (docs/bootstrap.md).
    jobs : int
        Parallel workers (-1: all cores, as joblib counts them): threads with the compiled
        solver, which releases the GIL, processes on the NumPy path.  Other than 1, the
        summary also computes the sigma(LET) band on two threads.  Results are
        identical for any value.
    executor : concurrent.futures.Executor, optional
        E.g. dask ``client.get_executor()``; overrides ``jobs``.
    chunk_size : int
        Replicates per task; results do not depend on it.
    progress : bool, optional
        Progress bar (default: only on a terminal).
    extra_starts : int or "auto"
        Every replicate is warm-started at the MLE (below 50 events also at its best
        threshold-corner point), then screened on a grid over the data fit's box
        (dense below 50 events) plus its corner points, and refitted where one beats
        its fit or comes within ``estimator.NEAR_TIE`` of it.  This adds the
        replicate's best grid points as starts too; ``auto``: 0 (the corner start made
        them unnecessary), except 1 for 50 events or more under ``zeros="include"`` with a
        zero-event run inside the data's let_th range, where the corner start and this
        replace the start per kink interval.  Measured in docs/bootstrap.md.

    Returns
    -------
    BootstrapResult
    """
    require_fit(fit_result, "seufit.bootstrap")
    if not fit_result.fitted:
        raise ValueError("no fitted curve to bootstrap (no run with events)")
    if config not in ("auto", "full", "conservative"):
        raise ValueError(f"config must be auto, full or conservative, got {config!r}")
    fd = fit_result.fit_data
    auto_cfg, auto_reason = choose_config(fit_result.data.events)
    if config == "auto":
        config, cfg_reason = auto_cfg, auto_reason
    else:
        cfg_reason = f"forced by the user (automatic rule: {auto_cfg}, {auto_reason})"
    if n_boot is None:
        n_boot = CONFIGS[config]["n_boot"]
    if int(n_boot) != n_boot:
        raise ValueError(f"n_boot must be a whole number, got {n_boot!r}")
    n_boot = int(n_boot)
    if n_boot < 20:
        raise ValueError(f"n_boot must be at least 20, got {n_boot}")
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    # Every option checked before any replicate is fitted.
    _check_acceleration(acceleration)
    _check_summary_options(cl, ci)
    if int(jobs) != jobs or jobs == 0:  # whatever the number of chunks (joblib: -1 = all)
        raise ValueError(f"jobs must be a non-zero whole number, got {jobs}")
    tol = CONFIGS[config]["tol"]
    seed = resolve_seed(seed)
    lam = fit_result.predict(fd.let) * fd.exposure
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    starts = replicate_starts(fit_result)
    # Small samples (< 50 events) have many local optima: a dense screening grid (768
    # points) and a second start per replicate in the threshold corner.  Otherwise the
    # data fit's 101-point start grid screens for almost nothing (docs/bootstrap.md).
    sparse = fit_result.n_events < MIN_EVENTS_FULL
    # Dense data whose own likelihood has a let_th kink inside its box (a zero-event run
    # kept in by zeros="include", below the lowest LET with events): the replicates' optima
    # spread over kink intervals and w basins.  The corner start and the best screen point
    # reach them for less than a start per kink interval (docs/bootstrap.md).
    kinked = not sparse and _data_kink_in_box(fit_result)
    if extra_starts == "auto":
        extra_starts = 1 if kinked else 0
    extra_starts = int(extra_starts)
    corner = bool(sparse or kinked)
    kink_starts = not kinked
    # Sparse data with such a kink: each replicate also starts from its best point just
    # above its highest kink (estimator._kink_corner_starts), and all from the face below.
    kink_corner = sparse and _data_kink_in_box(fit_result)
    if kinked or kink_corner:
        # ... and its optimum on the let_th = lower bound face as a second shared start
        starts = np.vstack([starts, lower_face_start(fit_result)])
    if sparse and hasattr(fit_result.model, "screen_grid"):
        grid = fit_result.model.screen_grid(fit_result.bounds)
    else:
        grid = fit_result.model.starts(fd.let, fd.events, fd.exposure, fit_result.bounds)
    solver = "numpy" if backend_name() == "numpy" else "auto"
    sizes = [min(chunk_size, n_boot - s) for s in range(0, n_boot, chunk_size)]
    drawn = []

    def payloads():
        # Chunk by chunk from the one generator, in order: the same counts as one draw of
        # all replicates (whatever the chunk size; tested), but the next chunk is drawn
        # while the workers fit the previous ones.  One consumer at a time: the main
        # thread, or joblib's dispatching thread under its lock (NumPy path).
        for size in sizes:
            c = rng.poisson(lam, size=(size, lam.size))
            drawn.append(c)
            yield (fit_result.model, fd.let, fd.exposure, c, starts, fit_result.zeros, tol,
                   grid, extra_starts, fit_result.bounds if fit_result.user_bounds else None,
                   corner, kink_starts, kink_corner, solver)

    # The compiled kernels release the GIL: threads then do what processes do, without
    # starting workers or copying the counts.  The NumPy path (forced, or a model the
    # kernel does not implement) runs in processes.
    parts = run_chunks(_fit_chunk, payloads(), sizes=sizes, jobs=jobs, executor=executor,
                       progress=progress, threads=backend_name(fit_result.model) != "numpy")
    counts = np.concatenate(drawn)
    theta = np.vstack([p[0] for p in parts])
    nll = np.concatenate([p[1] for p in parts])
    cause = np.concatenate([p[2] for p in parts])
    theta[cause != 0] = np.nan  # a failed replicate has no estimate: counted, not imputed
    slopes, slopes_reason = influence_slopes(fit_result)
    hse = None
    if fit_result.hessian is not None:
        # Same judgement as the fit: positive definiteness of the scale-free Hessian.
        from ..fit import _hessian_analysis

        cov = _hessian_analysis(fit_result.hessian, fit_result.theta)[2]
        hse = None if cov is None else np.sqrt(np.diag(cov))
    options = {"n_boot": n_boot, "config": config, "ci": ci, "cl": cl,
               "acceleration": acceleration, "zeros": fit_result.zeros, "tol": tol,
               "n_starts": len(starts), "extra_starts": extra_starts, "corner_start": corner,
               "kink_starts": kink_starts, "kink_corner": kink_corner, "screen_grid": len(grid),
               **fit_options(fit_result)}
    units = list(fit_result.model.units)
    if fit_result.model.names[:1] == ("sigma_sat",):
        units[0] = fit_result.data.sigma_unit
    raw = _raw_result(names=fit_result.names, units=tuple(units), theta_hat=fit_result.theta,
                      draws_all=theta, cause=cause, counts=counts, nll=nll, lam_hat=lam,
                      let=fd.let, exposure=fd.exposure, seed=seed, config=config,
                      config_reason=cfg_reason, tol=tol, zeros=fit_result.zeros,
                      hessian_se=hse, provenance=provenance(fit_result.data, options, seed,
                                                                     model=fit_result.model),
                      fit=fit_result, at_bound=tuple(fit_result.at_bound),
                      a_request=acceleration, slopes=slopes, slopes_reason=slopes_reason,
                      runs_left_out=int(np.sum(~np.asarray(fit_result.fit_mask))),
                      let_span=(float(fit_result.data.let.min()), float(fit_result.data.let.max())),
                      data_limits=fit_result.model.data_limits(fit_result.data.let,
                                                               fit_result.data.events))
    return _summarise(raw, cl=cl, ci=ci, threads=jobs != 1, acceleration=acceleration)

