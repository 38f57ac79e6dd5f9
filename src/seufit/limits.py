"""Exact (Garwood) Poisson intervals and zero-event upper limits.

For n observed events the exact interval on the mean is
    lower = chi2.ppf(a_lo, 2n) / 2,   upper = chi2.ppf(1 - a_hi, 2n + 2) / 2,
with a_lo = a_hi = (1 - cl)/2 for a two-sided interval and a_hi = 1 - cl for a
one-sided upper limit.  For n = 0 at 95 %: two-sided upper end 3.689 (the
articles' "3.7/Phi" rule), one-sided upper limit 2.996 ("3.0/Phi").

Without a fitted curve (an immune part: no events at all) the runs can still be combined:
any non-decreasing cross-section curve (the Weibull is one) has sigma(L) <= sigma(L_i) at
every run i with L_i >= L, so the events of those runs are Poisson with a mean of at least
sigma(L) times their summed fluence, and the exact limit on that mean divided by the
summed fluence bounds sigma(L) (:func:`envelope_limits`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import chi2

__all__ = ["garwood_interval", "upper_limit", "UpperLimit", "SIDES", "zero_event_limits",
           "EnvelopeLimit", "envelope_limits", "envelope_lines", "ENVELOPE_CAPTION"]

ENVELOPE_CAPTION = ("runs pooled at and above each LET: a limit on sigma(L) at every LET up to "
                    "it (each on its own), if the curve does not fall with LET")

SIDES = ("two-sided", "one-sided")


def _check(cl: float, sided: str) -> None:
    if not 0.0 < cl < 1.0:
        raise ValueError(f"confidence level must be between 0 and 1, got {cl}")
    if sided not in SIDES:
        raise ValueError(f"sided must be one of {SIDES}, got {sided!r}")


def garwood_interval(n, cl: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided exact Poisson interval on the mean for observed counts ``n``.

    Parameters
    ----------
    n : int or array of int
        Observed counts.
    cl : float
        Confidence level, e.g. 0.95.

    Returns
    -------
    (lower, upper) : arrays of the same shape as ``n``; lower is 0 for n = 0.
    """
    _check(cl, "two-sided")
    n = np.asarray(n, float)
    alpha = 1.0 - cl
    lower = np.where(n > 0, chi2.ppf(alpha / 2, 2 * np.maximum(n, 1)) / 2, 0.0)
    upper = chi2.ppf(1 - alpha / 2, 2 * n + 2) / 2
    return lower, upper


def upper_limit(n, cl: float = 0.95, sided: str = "two-sided") -> np.ndarray:
    """Exact upper limit on the Poisson mean for observed counts ``n``.

    ``sided="two-sided"`` gives the upper end of the two-sided interval (the
    articles' 3.7 for n = 0 at 95 %); ``"one-sided"`` the one-sided limit (3.0).
    """
    _check(cl, sided)
    n = np.asarray(n, float)
    tail = (1.0 - cl) / 2 if sided == "two-sided" else 1.0 - cl
    return chi2.ppf(1 - tail, 2 * n + 2) / 2


@dataclass(frozen=True)
class UpperLimit:
    """Upper limit on the cross-section of a zero-event run."""

    let: float
    fluence: float
    sigma_upper: float
    cl: float
    sided: str
    events_upper: float
    label: str = ""
    sigma_fit: float | None = None  # fitted curve at this LET, when a fit exists
    bits: float | None = None  # per-bit data: sigma_upper is per bit
    unit: str = "cm2/device"

    @property
    def curve_below(self) -> bool | None:
        """Whether the fitted curve lies at or below the limit (None without a fit)."""
        return None if self.sigma_fit is None else bool(self.sigma_fit <= self.sigma_upper)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["curve_below"] = self.curve_below
        return d

    def describe(self) -> str:
        level = f"{100 * self.cl:g} % {self.sided}"
        per = "fluence" if self.bits is None else "(fluence x bits)"
        bits = "" if self.bits is None else f", {self.bits:.4g} bits"
        return (f"{self.label}: LET {self.let:.4g}, fluence {self.fluence:.4g}{bits}: "
                f"sigma < {self.sigma_upper:.3g} {self.unit} ({level}; "
                f"{self.events_upper:.3g}/{per})")


def zero_event_limits(data, cl: float, sided: str) -> list[UpperLimit]:
    """The upper limit of every zero-event run of ``data`` (a ``TestData``)."""
    ul = float(upper_limit(0, cl, sided))
    labels = data.labels()
    return [UpperLimit(let=float(data.let[i]), fluence=float(data.fluence[i]),
                       sigma_upper=float(ul / data.exposure[i]), cl=cl, sided=sided,
                       events_upper=ul, label=labels[i],
                       bits=None if data.bits is None else float(data.bits[i]),
                       unit=data.sigma_unit)
            for i in np.flatnonzero(np.asarray(data.events) == 0)]


@dataclass(frozen=True)
class EnvelopeLimit:
    """Upper limit on sigma(L) at every LET L <= ``let`` from the runs at LET >= ``let``.

    Holds for any non-decreasing cross-section curve; ``fluence`` and ``events`` are the
    sums over those ``n_runs`` runs (``exposure``: fluence x bits for per-bit data).
    """

    let: float
    n_runs: int
    fluence: float
    exposure: float
    events: int
    sigma_upper: float
    cl: float
    sided: str
    events_upper: float
    unit: str = "cm2/device"
    per_bit: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    def bound(self) -> str:
        """The claim itself: "sigma < X unit at every LET <= L"."""
        return f"sigma < {self.sigma_upper:.3g} {self.unit} at every LET <= {self.let:.4g}"

    def describe(self) -> str:
        level = f"{100 * self.cl:g} % {self.sided}"
        per = "(fluence x bits)" if self.per_bit else "fluence"
        return (f"LET <= {self.let:.4g}: sigma < {self.sigma_upper:.3g} {self.unit} "
                f"({self.n_runs} run(s), fluence {self.fluence:.4g}, {self.events} event(s); "
                f"{level}, {self.events_upper:.3g}/{per})")


def envelope_limits(data, cl: float, sided: str) -> list[EnvelopeLimit]:
    """Upper limits on a non-decreasing cross-section curve, one per distinct LET of ``data``.

    At each distinct LET L (ascending), the runs at LET >= L are combined: their summed
    events N and exposure X give sigma(L') < U(N) / X for every L' <= L, where U is the
    exact (Garwood) upper limit at level ``cl`` and ``sided`` (for N = 0 at 95 %: 3.69
    two-sided, 3.00 one-sided).  The first entry uses every run (the whole fluence); the
    last only those at the highest LET.  LETs within 1e-9 (relative) of each other are one
    LET (tilt-corrected values such as 10 / cos 60 deg = 19.999999999999996).

    Each limit holds at its level on its own (pointwise), not jointly for all LETs, and
    only if the curve does not fall with LET; with tilted runs, also only if sigma depends
    on the effective LET alone (the cosine law behind the tilt correction).  Runs with
    events that exceed a limit below their LET contradict that assumption; seufit quotes
    these limits only for data without any event.

    Parameters
    ----------
    data : TestData
        As from ``seufit.load`` (effective LET and exposure, after tilt).
    cl : float
        Confidence level, e.g. 0.95.
    sided : {"two-sided", "one-sided"}

    Returns
    -------
    list of EnvelopeLimit
        One per distinct LET, ascending.
    """
    _check(cl, sided)
    let = np.asarray(data.let, float)
    ev = np.asarray(data.events)
    expo = np.asarray(data.exposure, float)
    flu = np.asarray(data.fluence, float)
    out = []
    u_let = np.unique(let)
    u_let = u_let[np.r_[True, np.diff(u_let) > 1e-9 * u_let[1:]]]
    for L in u_let:
        m = let >= L * (1.0 - 1e-9)
        n = int(ev[m].sum())
        u = float(upper_limit(n, cl, sided))
        x = float(expo[m].sum())
        out.append(EnvelopeLimit(let=float(L), n_runs=int(m.sum()), fluence=float(flu[m].sum()),
                                 exposure=x, events=n, sigma_upper=u / x, cl=cl, sided=sided,
                                 events_upper=u, unit=data.sigma_unit,
                                 per_bit=data.bits is not None))
    return out


def envelope_lines(limits, indent: str = "  ") -> list[str]:
    """Text lines of :func:`envelope_limits` (none for an empty list)."""
    if not limits:
        return []
    return [indent + ENVELOPE_CAPTION + ":"] + [indent + "  " + e.describe() for e in limits]
