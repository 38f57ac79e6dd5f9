"""Goodness of fit of a Poisson cross-section fit: deviance, Pearson, residuals.

The deviance D = 2 sum[N log(N / lambda) - (N - lambda)] and Pearson's
X^2 = sum (N - lambda)^2 / lambda are referred to chi-square with
dof = n_points - n_parameters.  That reference is asymptotic: with few points
or small expected counts it is only approximate, so a parametric-bootstrap
p-value, (1 + #{D* >= D_obs}) / (1 + B), is accepted from deviances of
replicates simulated at the MLE and refitted (:func:`bootstrap_deviance_pvalue`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import chi2

from ._format import html_table, num, text_table
from ._io import to_jsonable
from .fit import FitResult
from .likelihood import LAMBDA_FLOOR, pearson_chi2, poisson_deviance

__all__ = ["GoodnessOfFit", "goodness_of_fit", "bootstrap_deviance_pvalue", "deviance_of",
           "MIN_DOF", "FLAG_RESIDUAL"]

MIN_DOF = 3  # fewer degrees of freedom: the chi-square test has next to no power
FLAG_RESIDUAL = 2.0  # |Pearson residual| above this is flagged (about 5 % per run)
_SMALL_LAMBDA = 5.0  # below this expected count the chi-square reference is rough


def bootstrap_deviance_pvalue(d_obs: float, d_star: ArrayLike) -> float:
    """Parametric-bootstrap p-value of an observed deviance.

    Parameters
    ----------
    d_obs : float
        Deviance of the data at the MLE.
    d_star : array_like, shape (B,)
        Deviances of replicates simulated from the MLE and refitted.  Non-finite
        entries (failed replicates) are dropped.

    Returns
    -------
    float
        (1 + #{D* >= d_obs}) / (1 + B), never 0 (Davison & Hinkley 1997, eq. 4.11).

    Raises
    ------
    ValueError
        When no finite replicate deviance is left.
    """
    d = np.asarray(d_star, float).ravel()
    d = d[np.isfinite(d)]
    if d.size == 0:
        raise ValueError("no finite replicate deviance")
    return float((1 + np.count_nonzero(d >= d_obs)) / (1 + d.size))


def deviance_of(fit_result: FitResult, theta: ArrayLike, counts: ArrayLike) -> np.ndarray | float:
    """Poisson deviance of ``counts`` over the fitted runs at parameters ``theta``.

    For bootstrap replicate b pass the refitted ``theta*_b`` and its simulated
    counts ``N*_b``: the result is the D*_b that :func:`bootstrap_deviance_pvalue` needs.

    Parameters
    ----------
    fit_result : FitResult
        Supplies the model and the runs (LET, exposure) that entered the fit.
    theta : array (p,) or (B, p)
    counts : array (n,) or (B, n)
        Counts of the fitted runs (``n = fit_result.fit_mask.sum()``).

    Returns
    -------
    float or array (B,)
    """
    fd = fit_result.fit_data
    th = np.asarray(theta, float)
    lam = fit_result.model.value(np.atleast_2d(th), fd.let) * fd.exposure
    N = np.asarray(counts, float)
    if N.shape[-1] != fd.n_runs:
        raise ValueError(f"counts must have {fd.n_runs} entries per row (fitted runs), "
                         f"got shape {N.shape}")
    D = poisson_deviance(lam, N)
    return float(D[0]) if th.ndim == 1 and N.ndim == 1 else D


@dataclass(frozen=True, eq=False)
class GoodnessOfFit:
    """Deviance and Pearson tests of a fit, with per-run residuals.

    Arrays run over ALL runs of the data (so that excluded zero-event runs can
    be shown); ``in_fit`` marks the runs in the likelihood, and the sums,
    degrees of freedom and residual summary use those runs only.

    Attributes
    ----------
    deviance, pearson : float or None
        Statistics over the fitted runs (None without a fit).
    dof : int
        n_points - n_parameters.
    p_chi2, p_pearson : float or None
        chi2.sf of the deviance and of Pearson's statistic (None when dof < 1).
    bootstrap_p : float or None
        Parametric-bootstrap p-value of the deviance, if replicate deviances were given.
    n_replicates : int or None
        Number of finite replicate deviances behind ``bootstrap_p``.
    pearson_residuals, deviance_residuals : arrays (n_runs,)
        (N - lambda) / sqrt(lambda) and sign(N - lambda) sqrt(d_i).
    flagged : tuple of int
        Indices (into the runs of the data) with |Pearson residual| > 2.
    flagged_labels : tuple of str
    residual_mean, residual_sd, residual_max_abs : float or None
        Summary of the Pearson residuals of the fitted runs.
    applicable : bool
        Whether the chi-square reference can judge the fit (dof >= 3).
    reason : str
        Why (or why not), and caveats (small expected counts).
    """

    deviance: float | None
    dof: int
    p_chi2: float | None
    pearson: float | None
    p_pearson: float | None
    pearson_residuals: np.ndarray
    deviance_residuals: np.ndarray
    flagged: tuple[int, ...]
    flagged_labels: tuple[str, ...]
    residual_mean: float | None
    residual_sd: float | None
    residual_max_abs: float | None
    applicable: bool
    reason: str
    let: np.ndarray
    observed: np.ndarray
    expected: np.ndarray
    in_fit: np.ndarray
    labels: tuple[str, ...]
    n_small_expected: int = 0
    bootstrap_p: float | None = None
    n_replicates: int | None = None
    source: str = ""
    model: str = ""

    @property
    def n_points(self) -> int:
        """Number of runs in the likelihood."""
        return int(np.count_nonzero(self.in_fit))

    @property
    def p_value(self) -> float | None:
        """The p-value to quote: the bootstrap one when available, else chi2 of the deviance."""
        return self.bootstrap_p if self.bootstrap_p is not None else self.p_chi2

    def to_dict(self) -> dict:
        """JSON-safe dictionary of every number."""
        return to_jsonable({
            "deviance": self.deviance, "pearson": self.pearson, "dof": self.dof,
            "p_chi2": self.p_chi2, "p_pearson": self.p_pearson,
            "bootstrap_p": self.bootstrap_p, "n_replicates": self.n_replicates,
            "applicable": self.applicable, "reason": self.reason,
            "n_points": self.n_points, "n_small_expected": self.n_small_expected,
            "residual_summary": {"mean": self.residual_mean, "sd": self.residual_sd,
                                 "max_abs": self.residual_max_abs},
            "flag_threshold": FLAG_RESIDUAL,
            "flagged": [{"index": i, "label": lab}
                        for i, lab in zip(self.flagged, self.flagged_labels, strict=True)],
            "runs": [{"label": lab, "let": x, "observed": o, "expected": e, "in_fit": bool(m),
                      "pearson_residual": rp, "deviance_residual": rd}
                     for lab, x, o, e, m, rp, rd in zip(
                         self.labels, self.let, self.observed, self.expected, self.in_fit,
                         self.pearson_residuals, self.deviance_residuals, strict=True)],
        })

    def _rows(self) -> list[list]:
        def per(v):
            return None if v is None or self.dof < 1 else v / self.dof

        return [["deviance", self.deviance, per(self.deviance), self.p_chi2,
                 self.bootstrap_p],
                ["Pearson", self.pearson, per(self.pearson), self.p_pearson, None]]

    def _summary_line(self) -> str:
        if self.residual_mean is None:
            return "no residuals"
        out = (f"Pearson residuals: mean {num(self.residual_mean, 3)}, sd "
               f"{num(self.residual_sd, 3)}, max |r| {num(self.residual_max_abs, 3)}")
        if self.flagged:
            out += (f"; |r| > {FLAG_RESIDUAL:g}: " + ", ".join(self.flagged_labels))
        return out

    def __str__(self) -> str:
        head = (f"Goodness of fit ({self.model or 'model'}, {self.source}): {self.n_points} "
                f"runs fitted, dof {self.dof}")
        out = [head]
        if self.deviance is None:
            out.append("  " + self.reason)
            return "\n".join(out)
        boot = ("p (bootstrap)" if self.n_replicates is None
                else f"p (bootstrap, B={self.n_replicates})")
        out.append(text_table(["statistic", "value", "/dof", "p (chi2)", boot], self._rows()))
        out.append("  " + self._summary_line())
        out.append(("  chi2 reference applicable: " if self.applicable
                    else "  chi2 reference NOT applicable: ") + self.reason)
        return "\n".join(out)

    def _repr_html_(self) -> str:
        parts = [f"<div><b>Goodness of fit</b> &mdash; {html.escape(self.source)}, "
                 f"{self.n_points} runs fitted, dof {self.dof}<br>"]
        if self.deviance is not None:
            parts.append(html_table(["statistic", "value", "/dof", "p (chi2)", "p (bootstrap)"],
                                    self._rows()))
            parts.append(html.escape(self._summary_line()) + "<br>")
        parts.append(("applicable: " if self.applicable else "NOT applicable: ")
                     + html.escape(self.reason) + "</div>")
        return "".join(parts)


def goodness_of_fit(fit_result: FitResult,
                    replicate_deviances: ArrayLike | None = None) -> GoodnessOfFit:
    """Deviance and Pearson goodness of fit of a fitted curve.

    Parameters
    ----------
    fit_result : FitResult
    replicate_deviances : array_like (B,), optional
        Deviances D*_b of parametric-bootstrap replicates (simulated at the MLE
        over the fitted runs and refitted, see :func:`deviance_of`).  Gives the
        bootstrap p-value, valid where the chi-square reference is not.

    Returns
    -------
    GoodnessOfFit
    """
    d = fit_result.data
    labels = tuple(d.labels())
    n = d.n_runs
    nan = np.full(n, np.nan)
    if not fit_result.fitted:
        return GoodnessOfFit(
            deviance=None, dof=0, p_chi2=None, pearson=None, p_pearson=None,
            pearson_residuals=nan, deviance_residuals=nan.copy(), flagged=(),
            flagged_labels=(), residual_mean=None, residual_sd=None, residual_max_abs=None,
            applicable=False, reason="no curve fitted", let=d.let, observed=d.events,
            expected=nan.copy(), in_fit=np.asarray(fit_result.fit_mask, bool), labels=labels,
            source=d.source, model=fit_result.model.label)
    lam = fit_result.predict(d.let) * d.exposure
    N = d.events
    lam_s = np.maximum(lam, LAMBDA_FLOOR)
    r_p = (N - lam) / np.sqrt(lam_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = 2.0 * (np.where(N > 0, N * np.log(N / lam_s), 0.0) - (N - lam))
    r_d = np.sign(N - lam) * np.sqrt(np.maximum(unit, 0.0))
    m = np.asarray(fit_result.fit_mask, bool)
    p = len(fit_result.theta)
    dof = int(m.sum() - p)
    D = float(poisson_deviance(lam[m], N[m]))
    X2 = float(pearson_chi2(lam[m], N[m]))
    p_d = float(chi2.sf(D, dof)) if dof >= 1 else None
    p_x = float(chi2.sf(X2, dof)) if dof >= 1 else None
    rf = r_p[m]
    flagged = tuple(int(i) for i in np.flatnonzero(np.abs(r_p) > FLAG_RESIDUAL))
    flagged_labels = tuple(labels[i] + ("" if m[i] else " (not fitted)") for i in flagged)
    n_small = int((lam[m] < _SMALL_LAMBDA).sum())
    if dof < 1:
        applicable, reason = False, (f"{int(m.sum())} points for {p} parameters: no degree of "
                                     "freedom left, goodness of fit cannot be tested")
    elif dof < MIN_DOF:
        applicable, reason = False, (f"only {dof} degree(s) of freedom (< {MIN_DOF}): the test "
                                     "has next to no power")
    else:
        applicable, reason = True, f"{dof} degrees of freedom"
    if n_small and dof >= 1:
        reason += (f"; {n_small} fitted run(s) expect < {_SMALL_LAMBDA:g} events: the chi2 "
                   "p-values are approximate, prefer the bootstrap p-value")
    bp = nrep = None
    if replicate_deviances is not None:
        rd = np.asarray(replicate_deviances, float).ravel()
        nrep = int(np.isfinite(rd).sum())
        bp = bootstrap_deviance_pvalue(D, rd)
    return GoodnessOfFit(
        deviance=D, dof=dof, p_chi2=p_d, pearson=X2, p_pearson=p_x,
        pearson_residuals=r_p, deviance_residuals=r_d, flagged=flagged,
        flagged_labels=flagged_labels, residual_mean=float(rf.mean()),
        residual_sd=float(rf.std(ddof=1)) if rf.size > 1 else None,
        residual_max_abs=float(np.abs(rf).max()), applicable=applicable, reason=reason,
        let=d.let, observed=N, expected=lam, in_fit=m, labels=labels,
        n_small_expected=n_small, bootstrap_p=bp, n_replicates=nrep, source=d.source,
        model=fit_result.model.label)
