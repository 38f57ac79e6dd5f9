"""The "fmin + 1/2" Monte Carlo likelihood sweep (the graphical Monte Carlo method).

Sample many parameter vectors in a box (uniform or Latin hypercube), compute a
statistic on the NLL scale for each (:mod:`seufit.statistics`), and read each
parameter's interval off the envelope: the range of the samples whose statistic
lies within ``Delta = z^2 / 2`` of the minimum (1/2 for one sigma, 1.92 for 95 %).
The envelope of the projected samples converges to the profile likelihood
(:mod:`seufit.uncertainty.profile`) from the inside as the sample grows.

The default box
---------------
The fit bounds span a factor 20 in sigma_sat and the full range of the shape
parameters: of 10^6 uniform samples only a few dozen to a few hundred land under
the 95 % threshold, far too few to trace the envelope.  By default the box is
the profile-likelihood interval of every parameter at the same level (the exact
bounding box of the region the sweep is meant to trace), widened by 10 % of its
width on each side (so that the envelope can be seen to close inside the box)
and clipped to the fit bounds.  About 3 to 6 % of the samples then fall under the
threshold (tens of thousands of 10^6).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import betainc
from scipy.stats import qmc

from .._format import html_block, text_table
from .._io import write_atomic
from .._provenance import fit_options, provenance, zeros_clause
from ..fit import require_fit
from ..statistics import Statistic, fit_statistic
from .profile import ProfileResult, delta_for, profile

__all__ = ["SweepResult", "SweepWarning", "sweep", "samples_needed", "METHODS", "BOX_MARGIN"]

METHODS = ("uniform", "lhs")
BOX_MARGIN = 0.10  # default box: profile interval widened by this fraction of its width per side
CHUNK = 100_000  # rows per vectorised evaluation: bounds memory at ~100 MB for 10 runs
_EDGE = 5e-3  # envelope within this fraction of the box width from an edge: it reaches it


class SweepWarning(UserWarning):
    """Too few samples under the threshold, or an envelope cut by the box."""


def samples_needed(p: int, eps: float = 0.05, prob: float = 0.95) -> int:
    """Samples under the threshold needed to trace a p-dimensional envelope.

    For samples uniform in an ellipsoidal region (the likelihood region of a
    quadratic NLL), the fraction of the region within ``eps`` (relative to the
    half-width) of its extreme in one parameter is the cap fraction
    ``F = I_{1 - (1 - eps)^2}((p + 1)/2, 1/2) / 2``; with ``M`` samples the sweep's
    endpoint reaches that cap with probability ``1 - (1 - F)^M``.  Returns the ``M``
    that makes this ``prob``: 119, 449, 1624, 5732 for p = 1..4 at the defaults.
    """
    p = max(int(p), 1)
    F = 0.5 * betainc(0.5 * (p + 1), 0.5, 1.0 - (1.0 - eps) ** 2)
    return int(np.ceil(np.log1p(-prob) / np.log1p(-F)))


@dataclass(frozen=True, eq=False)
class SweepResult:
    """Monte Carlo sweep of a statistic over a box, with its fmin + Delta intervals.

    ``samples`` (n, p) and ``values`` (n,) keep every sample; ``below`` marks those
    within ``delta`` of ``fun_min``.  ``low_at_bound`` / ``high_at_bound``: the
    envelope reaches a box edge that is the parameter's fit bound (a one-sided
    result); ``low_at_edge`` / ``high_at_edge``: it reaches a box edge of any kind
    (where that edge is not a bound the box is too small).
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    theta: np.ndarray
    fun_min: float
    sample_min: float
    cl: float
    delta: float
    statistic: Statistic
    method: str
    n: int
    seed: int
    box: tuple[np.ndarray, np.ndarray]
    box_source: str
    samples: np.ndarray
    values: np.ndarray
    n_below: int
    n_needed: int
    ci_low: np.ndarray
    ci_high: np.ndarray
    low_at_bound: np.ndarray
    high_at_bound: np.ndarray
    low_at_edge: np.ndarray
    high_at_edge: np.ndarray
    bounds: tuple[np.ndarray, np.ndarray]
    model: str
    source: str
    profile: ProfileResult | None = None
    messages: tuple[str, ...] = ()
    provenance: dict = field(default_factory=dict)

    @property
    def below(self) -> np.ndarray:
        """Mask of the samples under the threshold."""
        return self.values <= self.fun_min + self.delta

    @property
    def coverage(self) -> np.ndarray | None:
        """Sweep width / profile width per parameter (when the box came from a profile)."""
        if self.profile is None:
            return None
        idx = [self.names.index(q) for q in self.profile.params]
        w_prof = self.profile.ci_high - self.profile.ci_low
        w_sw = (self.ci_high - self.ci_low)[idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.full(len(self.names), np.nan)
            out[idx] = w_sw / w_prof
        return out

    def interval(self, name: str) -> tuple[float, float]:
        k = self.names.index(name)
        return float(self.ci_low[k]), float(self.ci_high[k])

    def to_frame(self, below_only: bool = False) -> pd.DataFrame:
        """Samples and statistic as a DataFrame (``delta`` = value - minimum)."""
        mask = self.below if below_only else slice(None)
        df = pd.DataFrame(self.samples[mask], columns=list(self.names))
        df["statistic"] = self.values[mask]
        df["delta"] = self.values[mask] - self.fun_min
        return df

    def to_csv(self, path, below_only: bool = False):
        """Write (parameters, statistic, delta) as CSV, atomically.

        Numbers are written in full (shortest round-trip form), so the file reloads to the
        same samples bit for bit.
        """
        text = self.to_frame(below_only).to_csv(index=False)
        return write_atomic(path, text)

    def end_note(self, k: int) -> str:
        """Where the envelope of parameter ``k`` ends on a bound or the sampling box edge."""
        notes = []
        if self.low_at_bound[k]:
            notes.append("low end at bound")
        elif self.low_at_edge[k]:
            notes.append("low end at box edge")
        if self.high_at_bound[k]:
            notes.append("high end at bound")
        elif self.high_at_edge[k]:
            notes.append("high end at box edge")
        return "; ".join(notes)

    def _rows(self) -> list[list]:
        cov = self.coverage
        rows = []
        for k, name in enumerate(self.names):
            row = [name, self.theta[k], self.ci_low[k], self.ci_high[k], self.units[k]]
            if cov is not None:
                row.append(cov[k])
            rows.append(row + [self.end_note(k)])
        return rows

    def _headers(self) -> list[str]:
        h = ["parameter", "value", f"{100 * self.cl:.4g} % low", "high", "unit"]
        if self.coverage is not None:
            h.append("width/profile")
        return h + [""]

    def __str__(self) -> str:
        out = [f"seufit likelihood sweep ({self.statistic.label}, fmin + {self.delta:.4g}) -- "
               f"{self.source}, {self.model}{zeros_clause(self.provenance)}",
               f"  {self.n} {self.method} samples (seed {self.seed}) in the {self.box_source} box;"
               f" {self.n_below} under the threshold (about {self.n_needed} needed)",
               text_table(self._headers(), self._rows())]
        out += [f"  note: {m}" for m in self.messages]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        cap = (f"fmin + {self.delta:.4g} sweep ({self.statistic.label}): {self.n} {self.method} "
               f"samples, {self.n_below} under the threshold")
        return html_block(f"{self.model} likelihood sweep", self.source, self._headers(),
                          self._rows(), cap, self.messages)

    def to_dict(self) -> dict:
        """JSON-safe summary (the samples themselves go to CSV)."""
        params = {}
        cov = self.coverage
        for k, name in enumerate(self.names):
            params[name] = {
                "value": float(self.theta[k]), "ci_low": _f(self.ci_low[k]),
                "ci_high": _f(self.ci_high[k]), "low_at_bound": bool(self.low_at_bound[k]),
                "high_at_bound": bool(self.high_at_bound[k]),
                "low_at_box_edge": bool(self.low_at_edge[k]),
                "high_at_box_edge": bool(self.high_at_edge[k]),
                "box": [float(self.box[0][k]), float(self.box[1][k])],
                "unit": self.units[k],
            }
            if cov is not None:
                params[name]["width_over_profile"] = _f(cov[k])
        return {
            "method": "fmin + Delta Monte Carlo sweep",
            "model": self.model,
            "statistic": self.statistic.to_dict(),
            "sampling": self.method,
            "cl": self.cl,
            "level": self.cl,
            "delta": self.delta,
            "minimum": self.fun_min,
            "sample_minimum": self.sample_min,
            "n_samples": self.n,
            "n_below_threshold": self.n_below,
            "n_below_needed": self.n_needed,
            "seed": self.seed,
            "box_source": self.box_source,
            "parameters": params,
            "messages": list(self.messages),
            "provenance": self.provenance,
        }


def _f(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def _resolve_box(box, fit_result, names, lo, hi, cl, stat, messages, prof=None):
    """(box_lo, box_hi, source, profile result or None); ``prof``: the profile to use
    instead of computing it."""
    if box is None or (isinstance(box, str) and box == "profile"):
        if prof is None:
            prof = profile(fit_result, cl, statistic=stat)
        plo = np.where(np.isfinite(prof.ci_low), prof.ci_low, lo)
        phi = np.where(np.isfinite(prof.ci_high), prof.ci_high, hi)
        if np.any(~np.isfinite(prof.ci_low) | ~np.isfinite(prof.ci_high)):
            messages.append("some profile endpoints were not found: the box uses the fit bounds "
                            "there")
        pad = BOX_MARGIN * (phi - plo)
        return np.maximum(lo, plo - pad), np.minimum(hi, phi + pad), "profile", prof
    if isinstance(box, str):
        if box == "bounds":
            return lo.copy(), hi.copy(), "bounds", None
        raise ValueError(f"box must be 'profile', 'bounds', (lower, upper) or a dict, got {box!r}")
    if isinstance(box, dict):
        unknown = [q for q in box if q not in names]
        if unknown:
            raise ValueError(f"unknown parameter(s) in box: {', '.join(unknown)}")
        base_lo, base_hi, _, prof = _resolve_box(None, fit_result, names, lo, hi, cl, stat,
                                                 messages, prof)
        for q, (a, b) in box.items():
            base_lo[names.index(q)], base_hi[names.index(q)] = float(a), float(b)
        return base_lo, base_hi, "profile (user overrides)", prof
    blo, bhi = (np.asarray(b, float) for b in box)
    if blo.shape != lo.shape or bhi.shape != hi.shape:
        raise ValueError(f"box bounds must have {lo.size} entries each")
    return blo.copy(), bhi.copy(), "user", None


def sweep(
    fit_result,
    n: int = 1_000_000,
    *,
    method: str = "uniform",
    statistic: str | Statistic = "poisson",
    cl: float = 0.95,
    seed: int | None = None,
    box=None,
    chunk: int = CHUNK,
    warn: bool = True,
    profile_result=None,
) -> SweepResult:
    """Monte Carlo "fmin + Delta" intervals from a parameter sweep.

    Parameters
    ----------
    fit_result : FitResult
        A fitted result of :func:`seufit.fit` (Weibull4 or any user model).
    n : int
        Number of parameter vectors.
    method : {"uniform", "lhs"}
        Independent uniform samples, or a Latin hypercube (scipy.stats.qmc).
    statistic : {"poisson", "ls", "pearson", "negbin"} or Statistic
        Statistic on the NLL scale (see :mod:`seufit.statistics`).
    cl : float
        Two-sided level; the threshold is ``Delta = z^2 / 2`` above the minimum.
    seed : int, optional
        Seed of the numpy Generator (drawn and recorded when not given).
    box : None, "profile", "bounds", (lower, upper) or dict
        Sampling box.  Default (None, "profile"): profile intervals at ``cl``
        widened by 10 % per side, clipped to the fit bounds (see module doc).
        A dict ``{name: (low, high)}`` overrides single parameters of the default.
    chunk : int
        Rows per vectorised evaluation (memory bound; results do not depend on it).
    warn : bool
        Emit :class:`SweepWarning` when the envelope is under-sampled or cut.
    profile_result : ProfileResult, optional
        The profile of every parameter at ``cl`` with this statistic, already computed
        (``seufit.analyze``): used for the profile box instead of profiling again.

    Returns
    -------
    SweepResult
    """
    require_fit(fit_result, "seufit.sweep")
    if getattr(fit_result, "theta", None) is None:
        raise ValueError("the fit has no estimate: there is nothing to sweep around")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    delta = delta_for(cl)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    seed = int(seed)
    model = fit_result.model
    names = tuple(model.names)
    lo, hi = (np.asarray(b, float) for b in fit_result.bounds)
    messages: list[str] = []
    sfit = fit_statistic(fit_result, statistic)
    stat = sfit.statistic
    if sfit.note:
        messages.append(sfit.note)
    if profile_result is not None and (
            profile_result.cl != cl or profile_result.statistic != stat
            or tuple(profile_result.params) != tuple(names)
            or not np.array_equal(profile_result.theta, np.asarray(sfit.theta, float))):
        raise ValueError("profile_result must profile every parameter of this fit at the "
                         "sweep's cl and statistic")
    blo, bhi, source, prof = _resolve_box(box, fit_result, names, lo, hi, cl, stat, messages,
                                          profile_result)
    if np.any(~np.isfinite(blo) | ~np.isfinite(bhi)) or np.any(bhi < blo):
        raise ValueError("the sweep box must be finite with lower <= upper for every parameter")
    p = len(names)
    rng = np.random.default_rng(seed)
    if method == "uniform":
        u = rng.random((n, p))
    else:
        try:
            sampler = qmc.LatinHypercube(d=p, rng=rng)
        except TypeError:  # scipy < 1.15 spells it seed
            sampler = qmc.LatinHypercube(d=p, seed=rng)
        u = sampler.random(n)
    samples = blo + u * (bhi - blo)
    del u
    values = np.empty(n)
    obj = sfit.objective
    with np.errstate(all="ignore"):
        for i in range(0, n, max(int(chunk), 1)):
            values[i:i + chunk] = obj(samples[i:i + chunk], 0)[0]
    values[~np.isfinite(values)] = np.inf
    sample_min = float(values.min())
    fun_min = float(sfit.value)
    if sample_min < fun_min - 1e-9 * max(1.0, abs(fun_min)):
        messages.append(f"a sample lies {fun_min - sample_min:.3g} below the fitted minimum: the "
                        "fit missed the optimum; the threshold is set from the sample minimum")
        fun_min = sample_min
    below = values <= fun_min + delta
    n_below = int(below.sum())
    p_free = int(np.sum(bhi > blo))
    n_need = samples_needed(p_free)
    width = bhi - blo
    if n_below:
        sb = samples[below]
        # The fitted point lies under the threshold by definition: the envelope holds it.
        theta_fit = np.asarray(sfit.theta, float)
        ci_low = np.minimum(sb.min(axis=0), theta_fit)
        ci_high = np.maximum(sb.max(axis=0), theta_fit)
    else:
        ci_low = ci_high = np.full(p, np.nan)
    low_edge = (ci_low <= blo + _EDGE * width) & (width > 0)
    high_edge = (ci_high >= bhi - _EDGE * width) & (width > 0)
    # A box edge "is" the fit bound within round-off; infinite bounds are never reached.
    tol_b = 1e-12 * np.maximum(np.abs(blo), np.abs(bhi))
    low_bound = low_edge & np.isfinite(lo) & (blo <= lo + tol_b)
    high_bound = high_edge & np.isfinite(hi) & (bhi >= hi - tol_b)
    warn_msgs = []
    if n_below == 0:
        warn_msgs.append(f"no sample of {n} lies under the threshold: the box misses the "
                         "likelihood region (use the default box or more samples)")
    elif n_below < n_need:
        more = int(np.ceil(n * n_need / n_below))
        warn_msgs.append(f"only {n_below} of {n} samples lie under the threshold; about {n_need} "
                         f"are needed to trace the envelope of {p_free} parameters to within 5 % "
                         f"of each half-width: use n of about {more} ({more - n} more) or a "
                         "tighter box")
    cut = [q for k, q in enumerate(names) if (low_edge[k] and not low_bound[k])
           or (high_edge[k] and not high_bound[k])]
    if cut and n_below:
        warn_msgs.append(f"the envelope reaches the box edge for {', '.join(cut)}: the box "
                         "truncates the interval; widen it")
    for m in warn_msgs:
        messages.append(m)
        if warn:
            warnings.warn(m, SweepWarning, stacklevel=2)
    units = list(model.units)
    if names[:1] == ("sigma_sat",) and hasattr(fit_result.data, "sigma_unit"):
        units[0] = fit_result.data.sigma_unit
    options = {"n": n, "method": method, "statistic": stat.to_dict(), "cl": cl,
               "box": {"source": source, "lower": blo.tolist(), "upper": bhi.tolist()},
               "chunk": chunk, "model": model.label,
               **fit_options(fit_result)}
    return SweepResult(
        names=names, units=tuple(units), theta=np.asarray(sfit.theta, float), fun_min=fun_min,
        sample_min=sample_min, cl=cl, delta=delta, statistic=stat, method=method, n=n,
        seed=seed, box=(blo, bhi), box_source=source, samples=samples, values=values,
        n_below=n_below, n_needed=n_need, ci_low=ci_low, ci_high=ci_high,
        low_at_bound=low_bound, high_at_bound=high_bound, low_at_edge=low_edge,
        high_at_edge=high_edge, bounds=(lo, hi), model=model.label,
        source=fit_result.data.source, profile=prof, messages=tuple(messages),
        provenance=provenance(fit_result.data, options, seed, solver="numpy"))
