"""Goodness-of-fit statistics on the negative-log-likelihood scale, for sweeps and profiles.

The "fmin + 1/2" method of the likelihood-sweep article reads intervals off any
statistic that is a negative log-likelihood, so every statistic here is put on
that scale:

``poisson``
    Poisson NLL ``sum(lambda - N log lambda)`` (:func:`seufit.likelihood.poisson_nll`).
``ls``
    Least squares ``LS = sum (N - lambda)^2`` turned into the NLL of Normal errors
    with a common variance estimated from the minimum, ``sigma^2 = LS_min / n``:
    ``NLL = LS / (2 sigma^2)`` (constants dropped), as in the article.
``pearson``
    Pearson chi-square over two, ``chi2 / 2`` (:func:`seufit.likelihood.pearson_chi2`):
    the NLL of Normal errors with variance ``lambda``, up to the log-variance term
    the article drops.
``negbin``
    Negative-binomial NLL for over-dispersed counts, variance
    ``lambda + lambda^2 / r``; the dispersion (size) ``r`` is fitted jointly with
    the curve and then held at its estimate, as ``sigma^2`` is for ``ls``.

Each statistic is a sum over runs of ``phi(lambda_i, N_i)``, so one objective class
(:class:`StatisticObjective`) gives the value, gradient and exact Hessian for the
batched solver, and the same profile code serves every statistic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import betaln, gammaln

from .likelihood import LAMBDA_FLOOR, chain_rule, pearson_chi2, poisson_nll
from .optimize import minimize_batch

__all__ = [
    "STATISTICS",
    "Statistic",
    "StatisticFit",
    "StatisticObjective",
    "least_squares",
    "least_squares_nll",
    "pearson_nll",
    "negbin_nll",
    "fit_statistic",
]

STATISTICS = ("poisson", "ls", "pearson", "negbin")
LABELS = {
    "poisson": "Poisson NLL",
    "ls": "least squares / (2 sigma^2)",
    "pearson": "Pearson chi2 / 2",
    "negbin": "negative-binomial NLL",
}
# Dispersion search range (size r): below 1e-3 the counts would be pure noise; above
# 1e9 the negative binomial equals the Poisson to within round-off.
R_MIN, R_MAX = 1e-3, 1e9


def least_squares(lam: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sum of squared residuals ``sum (N - lambda)^2`` over the last axis."""
    return np.sum((np.asarray(counts, float) - np.asarray(lam, float)) ** 2, axis=-1)


def least_squares_nll(lam: np.ndarray, counts: np.ndarray, sigma2: float) -> np.ndarray:
    """Least squares on the NLL scale, ``LS / (2 sigma^2)``, over the last axis.

    With ``sigma2 = LS_min / n`` this is the article's conversion: the NLL of
    homoscedastic Normal errors with the variance estimated at the minimum.
    """
    return least_squares(lam, counts) / (2.0 * sigma2)


def pearson_nll(lam: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Pearson chi-square over two (NLL scale), over the last axis."""
    return 0.5 * pearson_chi2(lam, counts)


def _negbin_terms(lam, counts, r):
    """Per-run negative-binomial NLL without log N!, stable for large ``r``.

    -log P(N) = lgamma(r) - lgamma(N + r) + N log((r + lam) / lam) + r log1p(lam / r)
    (plus log N!), with lgamma(N + r) - lgamma(r) = lgamma(N) - betaln(N, r) for N >= 1,
    which avoids the cancellation of two huge lgamma values when r is large.
    """
    lam = np.maximum(np.asarray(lam, float), LAMBDA_FLOOR)
    counts = np.asarray(counts, float)
    r = float(r)
    # The lgamma part depends on the counts only: computed once per run, not per sample.
    hit = counts > 0
    n_safe = np.where(hit, counts, 1.0)
    log_ratio = np.where(hit, betaln(n_safe, r) - gammaln(n_safe), 0.0)
    return log_ratio + counts * (np.log(r + lam) - np.log(lam)) + r * np.log1p(lam / r)


def negbin_nll(lam: np.ndarray, counts: np.ndarray, r: float) -> np.ndarray:
    """Negative-binomial NLL (mean ``lam``, size ``r``) without log N!, last axis.

    Tends to :func:`seufit.likelihood.poisson_nll` as ``r`` grows.
    """
    return np.sum(_negbin_terms(lam, counts, r), axis=-1)


@dataclass(frozen=True)
class Statistic:
    """A statistic on the NLL scale with its nuisance parameter fixed.

    Attributes
    ----------
    name : {"poisson", "ls", "pearson", "negbin"}
    sigma2 : float or None
        Residual variance of ``ls`` (``LS_min / n``).
    dispersion : float or None
        Size ``r`` of ``negbin``.
    """

    name: str
    sigma2: float | None = None
    dispersion: float | None = None

    def __post_init__(self):
        if self.name not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, got {self.name!r}")

    @property
    def label(self) -> str:
        return LABELS[self.name]

    def __call__(self, lam: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Value on the NLL scale, summed over the last axis of ``lam``."""
        if self.name == "poisson":
            return poisson_nll(lam, counts)
        if self.name == "ls":
            return least_squares_nll(lam, counts, 1.0 if self.sigma2 is None else self.sigma2)
        if self.name == "pearson":
            return pearson_nll(lam, counts)
        return negbin_nll(lam, counts, R_MAX if self.dispersion is None else self.dispersion)

    def pointwise(self, lam: np.ndarray, counts: np.ndarray):
        """Per-run value, first and second derivative in ``lambda``."""
        lam = np.asarray(lam, float)
        N = np.broadcast_to(np.asarray(counts, float), lam.shape)
        ls = np.maximum(lam, LAMBDA_FLOOR)
        if self.name == "poisson":
            phi = lam - np.where(N > 0, N * np.log(ls), 0.0)
            return phi, 1.0 - N / ls, N / ls**2
        if self.name == "ls":
            c = 1.0 / (2.0 * (1.0 if self.sigma2 is None else self.sigma2))
            return c * (N - lam) ** 2, -2.0 * c * (N - lam), np.full(lam.shape, 2.0 * c)
        if self.name == "pearson":
            return 0.5 * (N - ls) ** 2 / ls, 0.5 * (1.0 - N**2 / ls**2), N**2 / ls**3
        r = R_MAX if self.dispersion is None else self.dispersion
        phi = _negbin_terms(ls, np.asarray(counts, float), r)
        return phi, (N + r) / (r + ls) - N / ls, N / ls**2 - (N + r) / (r + ls) ** 2

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "sigma2": self.sigma2,
                "dispersion": self.dispersion}


class StatisticObjective:
    """Batched objective ``sum_i phi(lambda_i, N_i)`` with gradient and exact Hessian.

    Same calling convention as :class:`seufit.likelihood.PoissonObjective`
    (``objective(theta, order, rows)``), so :func:`seufit.optimize.minimize_batch`
    fits and profiles any statistic.
    """

    def __init__(self, statistic: Statistic, model, x, exposure, counts):
        self.statistic = statistic
        self.model = model
        self.x = np.asarray(x, float)
        self.exposure = np.asarray(exposure, float)
        self.counts = np.asarray(counts, float)

    @property
    def kinks(self):
        """(parameter index, values) where the objective has a kink, for the solver."""
        j = getattr(self.model, "kink_param", None)
        return None if j is None else (j, np.unique(self.x))

    def __call__(self, theta: np.ndarray, order: int = 2, rows: np.ndarray | None = None):
        theta = np.atleast_2d(theta)
        f, J, H2 = self.model.derivatives(theta, self.x, order=order)
        lam = f * self.exposure
        # A negative mean (a user model such as a x + b outside its valid region) is no
        # count model at all: +inf, which the solver treats as a wall and the sweep
        # never counts under the threshold.  Without it sum(lambda) runs to -infinity.
        bad = np.any(lam < 0.0, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            phi, d1, d2 = self.statistic.pointwise(lam, self.counts)
        val = np.where(bad, np.inf, phi.sum(axis=1))
        if order == 0:
            return val, None, None
        if bad.any():
            d1 = np.where(bad[:, None], 0.0, d1)
            d2 = np.where(bad[:, None], 0.0, d2)
        grad, hess = chain_rule(d1, d2, J, H2, self.exposure, order)
        return val, grad, hess


@dataclass(frozen=True)
class StatisticFit:
    """Minimum of a statistic: the statistic (nuisance fixed), where and how deep.

    ``objective`` is the batched objective of the statistic with the nuisance at
    its estimate; ``value`` its minimum, reached at ``theta``.
    """

    statistic: Statistic
    theta: np.ndarray
    value: float
    converged: bool
    objective: object
    note: str = ""


def _minimise(objective, starts, lo, hi, transforms):
    res = minimize_batch(objective, starts, lo, hi, transforms)
    fun = np.where(np.isfinite(res.fun), res.fun, np.inf)
    best = int(np.argmin(fun))
    return res.theta[best], float(fun[best]), bool(res.converged[best])


def fit_statistic(fit_result, statistic: str | Statistic = "poisson") -> StatisticFit:
    """Minimise a statistic over the fit's box, starting from the Poisson MLE.

    Parameters
    ----------
    fit_result : FitResult
        A fitted :func:`seufit.fit` result; its runs, model and bounds are used.
    statistic : str or Statistic
        ``poisson`` returns the fit itself; ``ls`` fits least squares and sets
        ``sigma2 = LS_min / n``; ``pearson`` fits chi2/2; ``negbin`` fits the
        curve and the dispersion jointly (profiling the dispersion on a log scale).

    Returns
    -------
    StatisticFit
    """
    if not getattr(fit_result, "fitted", True) or fit_result.theta is None:
        raise ValueError("the fit has no estimate: nothing to build a statistic around")
    stat = statistic if isinstance(statistic, Statistic) else Statistic(str(statistic))
    d = fit_result.fit_data
    model = fit_result.model
    lo, hi = (np.asarray(b, float) for b in fit_result.bounds)
    starts = np.atleast_2d(fit_result.theta)
    if fit_result.local_optima is not None and len(fit_result.local_optima):
        starts = np.vstack([starts, fit_result.local_optima])
    x, expo, N = d.let, d.exposure, d.events
    if stat.name != "poisson":
        # Another statistic has other optima: the model's multi-start grid as well.
        try:
            starts = np.vstack([starts, model.starts(x, N, expo, (lo, hi))])
        except Exception:  # noqa: BLE001 - a user model's starts are optional help only
            pass

    def objective(s: Statistic):
        return StatisticObjective(s, model, x, expo, N)

    if stat.name == "poisson":
        # The fit's own minimum, evaluated with the guarded objective used everywhere here.
        obj = objective(stat)
        th = np.asarray(fit_result.theta, float)
        return StatisticFit(stat, th, float(obj(th[None, :], 0)[0][0]),
                            bool(fit_result.converged), obj)
    if stat.name == "pearson" or (stat.name == "ls" and stat.sigma2 is not None) or (
            stat.name == "negbin" and stat.dispersion is not None):
        obj = objective(stat)
        th, val, ok = _minimise(obj, starts, lo, hi, model.transforms)
        return StatisticFit(stat, th, val, ok, obj)
    if stat.name == "ls":
        th, val, ok = _minimise(objective(Statistic("ls", sigma2=1.0)), starts, lo, hi,
                                model.transforms)
        ls_min = 2.0 * val
        # A perfect fit has no residual variance to speak of; keep the scale finite.
        sigma2 = max(ls_min / N.size, 1e-12)
        s = Statistic("ls", sigma2=sigma2)
        obj = objective(s)
        return StatisticFit(s, th, float(obj(th[None, :], 0)[0][0]), ok, obj)
    # negbin: profile the dispersion, each evaluation a batched curve fit warm-started
    # from the previous one; the full multi-start only at the chosen dispersion.
    cache: dict[float, tuple] = {}
    warm = {"theta": np.asarray(fit_result.theta, float)}

    def prof(u: float) -> float:
        st = np.vstack([warm["theta"], fit_result.theta])
        th, val, ok = _minimise(objective(Statistic("negbin", dispersion=float(np.exp(u)))),
                                st, lo, hi, model.transforms)
        cache[u] = (th, val, ok)
        warm["theta"] = th
        return val

    res = minimize_scalar(prof, bounds=(np.log(R_MIN), np.log(R_MAX)), method="bounded",
                          options={"xatol": 1e-3})
    u_best = min(cache, key=lambda u: cache[u][1])
    s = Statistic("negbin", dispersion=float(np.exp(u_best)))
    obj = objective(s)
    th, val, ok = _minimise(obj, np.vstack([cache[u_best][0], starts]), lo, hi, model.transforms)
    note = ""
    if s.dispersion > 0.5 * R_MAX:
        note = ("no over-dispersion: the fitted negative-binomial size reaches its cap "
                f"({s.dispersion:.3g}) and the statistic equals the Poisson NLL")
    return StatisticFit(s, th, val, ok and bool(res.success), obj, note)
