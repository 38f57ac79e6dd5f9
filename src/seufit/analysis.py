"""The whole seufit method in one call: checks, the decision tree, uncertainty, goodness of fit.

``analyze(data)`` runs the pipeline of the method series on one test dataset
and records every choice it makes, with the reason:

1. pre-fit checks on the data;
2. the decision tree (this module, section "THE DECISION TREE"): whether a
   curve can be fitted at all, how zero-event runs enter, the MLE variant, the
   bootstrap configuration, the interval to quote and whether the
   goodness-of-fit test applies -- each rule overridable by an option, the
   override recorded;
3. the fit, the parametric bootstrap, the profile likelihood and the
   "fmin + Delta" sweep (each skipped with a recorded reason where it cannot run);
4. goodness of fit (deviance with its chi2 and parametric-bootstrap p-values,
   Pearson residuals) and the post-fit checks.

The result is a frozen :class:`Analysis` with ``to_dict()`` (every number,
JSON-safe and byte-reproducible from the seed), ``__str__`` and
``_repr_html_``.  :mod:`seufit.report.writer` turns it into a report directory.

Where the articles' rule of thumb is statistically unsound, the rule here keeps
its intent and makes it sound; ``docs/analyze.md`` lists each departure.
"""

from __future__ import annotations

import html
import math
import shlex
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._format import html_table, num, text_table
from ._io import to_jsonable
from ._provenance import provenance, versions
from .checks import (
    MIN_MEAN_COUNT,
    P_FAIL,
    P_WARN,
    SUCCESS_MARGINAL,
    Check,
    checks_html,
    checks_table,
    correlation_matrix,
    near_bound,
    post_fit_checks,
    pre_fit_checks,
    saturation_percent,
    worst_status,
)
from .data import TestData
from .fit import FitResult, as_data, fit, select_variant
from .gof import MIN_DOF, GoodnessOfFit, goodness_of_fit
from .limits import (
    SIDES,
    envelope_limits,
    envelope_lines,
    garwood_interval,
    upper_limit,
    zero_event_limits,
)
from .models import WEIBULL4
from .parallel import resolve_seed
from .uncertainty.bootstrap import (
    CONFIGS,
    BootstrapResult,
    bootstrap,
    choose_config,
    ci_rule,
    clip_notes,
)

__all__ = [
    "analyze", "Analysis", "Decision", "INTERVAL_METHODS", "INTERVAL_LABELS",
    "MIN_EVENTS_PROFILE", "NORMAL_SKEW", "SE_RATIO_RANGE", "DEFAULT_SWEEP", "SCHEMA",
]

SCHEMA = "seufit.analysis/1"

# -- thresholds of the decision tree (docs/analyze.md gives the source of each) -------------
MIN_EVENTS_PROFILE = 10  # BOOT: below 10 events even the conservative bootstrap struggles
NORMAL_SKEW = 0.5  # BOOT: |skewness| < 0.5 of the bootstrap draws is "ideal" (near normal)
SE_RATIO_RANGE = (0.8, 1.25)  # Hessian se / bootstrap se: the two agree within 25 %
MIN_REPLICATES_GOF = 100  # fewer refitted replicates: the bootstrap p-value is too coarse
DEFAULT_SWEEP = 1_000_000  # samples of the fmin + Delta sweep (about 3-6 % under threshold)

INTERVAL_METHODS = ("wald", "percentile", "bca", "profile", "sweep")
INTERVAL_LABELS = {
    "wald": "Wald (Hessian)",
    "percentile": "bootstrap percentile",
    "bca": "bootstrap BCa",
    "profile": "profile likelihood",
    "sweep": "fmin + Δ sweep",
}
_CI_CHOICES = ("auto", "guarded", "wald", "percentile", "bca", "profile")
_MODES = ("auto", "on", "off")


# ============================================================================ results

@dataclass(frozen=True)
class Decision:
    """One choice of the decision tree.

    Attributes
    ----------
    name : str
        Stable identifier: ``curve``, ``zeros``, ``variant``, ``bootstrap``,
        ``interval``, ``goodness_of_fit``, ``profile``, ``sweep``.
    choice : str
        What was done.
    reason : str
        Why, in one line, with the numbers.
    rule : str
        The rule in words.
    option : str
        The ``analyze`` option (and CLI flag) that overrides the rule.
    overridden : bool
        True when the user's option replaced the rule's choice.
    automatic : str or None
        What the rule alone would have chosen (recorded when overridden).
    """

    name: str
    choice: str
    reason: str
    rule: str
    option: str
    overridden: bool = False
    automatic: str | None = None

    def to_dict(self) -> dict:
        """JSON-safe dictionary."""
        return {"name": self.name, "choice": self.choice, "reason": self.reason,
                "rule": self.rule, "option": self.option, "overridden": self.overridden,
                "automatic": self.automatic}

    def __str__(self) -> str:
        tag = " (override)" if self.overridden else ""
        return f"{self.name}: {self.choice}{tag} -- {self.reason}"


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything ``seufit analyze`` found about one dataset.

    Attributes
    ----------
    data : TestData
    fit : FitResult
        ``fit.fitted`` is False when no curve was fitted (upper limits only).
    bootstrap, profile, sweep : result objects or None
        None when skipped; ``skipped`` says why.
    gof : GoodnessOfFit or None
    decisions : tuple of Decision
    data_checks, fit_checks : tuple of Check
        Checks on the data (including excess zeros and over-dispersion, which
        need the fitted curve) and on the fit.
    intervals : dict
        ``{"methods": {method: {"label", "available", "reason"}},
        "parameters": {name: {method: {"low", "high", "note"}}}}``.
    chosen : str or None
        Interval method quoted as the result (one of :data:`INTERVAL_METHODS`).
    seed : int
        Seed of every random draw (recorded even when drawn at random).
    options : dict
        The options as given (``auto`` where the rule decided).
    skipped : dict
        Component -> reason, for everything that did not run.
    messages : tuple of str
    provenance : dict
        Versions, input hash, options, seed.
    sigma_top : dict or None
        The fitted cross-section at the highest tested LET, with its bootstrap percentile
        interval when there is a bootstrap: ``{"let", "value", "low", "high", "method",
        "fraction_of_sigma_sat"}``.  What the data measure directly, whether or not the
        curve saturates there.
    caveats : tuple of str
        What limits the quoted intervals (BCa with a parameter on a bound, an unstable or
        small bootstrap, a parameter held by its box), shown next to the result.
    """

    data: TestData
    fit: FitResult
    bootstrap: BootstrapResult | None
    profile: Any
    sweep: Any
    gof: GoodnessOfFit | None
    decisions: tuple[Decision, ...]
    data_checks: tuple[Check, ...]
    fit_checks: tuple[Check, ...]
    intervals: dict
    chosen: str | None
    seed: int
    cl: float
    options: dict
    skipped: dict
    messages: tuple[str, ...] = ()
    provenance: dict = field(default_factory=dict)
    caveats: tuple[str, ...] = ()
    sigma_top: dict | None = None

    # -- views -----------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        """Whether a curve was fitted."""
        return self.fit.fitted

    @property
    def checks(self) -> tuple[Check, ...]:
        """Every check, data checks first."""
        return self.data_checks + self.fit_checks

    @property
    def status(self) -> str:
        """The most severe status of all checks (FAIL > WARNING > PASS > N/A)."""
        return worst_status(list(self.checks))

    def decision(self, name: str) -> Decision:
        """The decision called ``name``."""
        for d in self.decisions:
            if d.name == name:
                return d
        raise KeyError(name)

    def check(self, name: str) -> Check:
        """The check called ``name``."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def params(self) -> dict[str, float]:
        """Point estimates (empty without a fit)."""
        return self.fit.params

    def interval(self, name: str, method: str | None = None) -> tuple[float | None, float | None]:
        """``(low, high)`` of a parameter by a method (default: the chosen one)."""
        method = method or self.chosen
        if method is None:
            return None, None
        e = self.intervals["parameters"][name][method]
        return e["low"], e["high"]

    @property
    def command(self) -> str:
        """The command line that reproduces this analysis (output directory left open)."""
        return reproduce_command(self.provenance.get("input", self.data.source), self.options,
                                 self.seed)

    def verdict(self) -> tuple[str, str]:
        """Overall status and a one-line summary naming the checks that failed or warned."""
        st = self.status
        fails = [c.name for c in self.checks if c.status == "FAIL"]
        warns = [c.name for c in self.checks if c.status == "WARNING"]
        if self.fit.envelope_limits:  # no event at all (only then are they quoted)
            head = "no events observed: upper limits only, " + _envelope_summary(
                self.fit.envelope_limits)
        elif not self.fitted:
            head = "no curve fitted: upper limits only"
        elif st == "PASS":
            head = "fit accepted: every check passed"
        elif st == "WARNING":
            head = "fit usable with caution"
        else:
            head = "fit NOT acceptable as it stands"
        parts = [head]
        if fails:
            parts.append("FAIL: " + ", ".join(fails))
        if warns:
            parts.append("WARNING: " + ", ".join(warns))
        return st, "; ".join(parts)

    # -- table rows (shared by __str__, _repr_html_ and report.html) -------------------
    def units(self) -> list[str]:
        """Unit of each parameter (sigma_sat per device or per bit)."""
        return self.fit._units()

    def result_rows(self) -> list[list]:
        """parameter, estimate, low, high, unit, method, note -- the quoted result."""
        rows = []
        if not self.fitted:
            return rows
        units = self.units()
        one = f"{100 * (1 + self.cl) / 2:g} %"  # each end of a two-sided interval, alone
        for k, name in enumerate(self.fit.names):
            e = self.intervals["parameters"][name].get(self.chosen or "", {}) if self.chosen \
                else {}
            note = e.get("note", "")
            # One end on the box: what the interval says is the other end, a one-sided
            # bound at (1 + cl) / 2 -- the reading a reviewer needs ("w >= 52.6").
            at_lo, at_hi = "low end at bound" in note, "high end at bound" in note
            # Not for BCa: with a parameter on a bound it under-covers (see the caveats).
            if at_lo != at_hi and e.get("low") is not None and e.get("high") is not None \
                    and self.chosen != "bca":
                bound = f"{name} >= {num(e['low'], 4)}" if at_hi else \
                    f"{name} <= {num(e['high'], 4)}"
                note = f"{note}; one-sided: {bound} ({one})"
            rows.append([name, float(self.fit.theta[k]), e.get("low"), e.get("high"), units[k],
                         INTERVAL_LABELS.get(self.chosen, "-") if self.chosen else "-", note])
        return rows

    def interval_rows(self, fmt=None) -> list[list[str]]:
        """One row per parameter: name, estimate, then ``[low, high]`` per method.

        The chosen method's cell carries a trailing ``" *"``.
        """
        fmt = fmt or (lambda v: num(v, 4))
        rows = []
        if not self.fitted:
            return rows
        for k, name in enumerate(self.fit.names):
            row = [name, fmt(self.fit.theta[k])]
            for m in INTERVAL_METHODS:
                e = self.intervals["parameters"][name][m]
                if e["low"] is None and e["high"] is None:
                    cell = "-"
                else:
                    cell = f"[{fmt(e['low'])}, {fmt(e['high'])}]"
                if e.get("note"):
                    cell += f" ({e['note']})"
                if m == self.chosen:
                    cell += " *"
                row.append(cell)
            rows.append(row)
        return rows

    def decision_rows(self) -> list[list[str]]:
        """decision, choice, reason, option (override marked)."""
        return [[d.name, d.choice + (" (override)" if d.overridden else ""), d.reason,
                 d.option] for d in self.decisions]

    # -- output ----------------------------------------------------------------------
    def __str__(self) -> str:
        d = self.data
        st, summary = self.verdict()
        out = [f"seufit analyze -- {d.source}: {d.n_runs} runs, {d.n_events} events, "
               f"{int((d.events == 0).sum())} zero-event run(s); seed {self.seed}",
               f"  verdict: {st} -- {summary}"]
        if self.fitted:
            lvl = f"{100 * self.cl:g} %"
            label = INTERVAL_LABELS.get(self.chosen, "none") if self.chosen else "none"
            out.append(f"  result ({lvl} two-sided {label} intervals):")
            out.append(text_table(["parameter", "estimate", "low", "high", "unit", "method",
                                   "note"], self.result_rows(), indent="    "))
            if self.sigma_top:
                out.append("  " + sigma_top_text(self.sigma_top, self.cl, self.data))
            if self.caveats:
                out.append("  caveats on these intervals:")
                out += [f"    - {c}" for c in self.caveats]
        if self.fit.upper_limits:
            out.append("  zero-event upper limits:")
            for u in self.fit.upper_limits:
                extra = "" if u.curve_below is None else (
                    "  curve below: " + ("yes" if u.curve_below else "NO"))
                out.append("    " + u.describe() + extra)
        out += envelope_lines(self.fit.envelope_limits)
        if not self.fitted and self.data.n_events:
            # Without a curve the per-run intervals are part of the result, as in the HTML.
            out.append(f"  runs with events (exact {100 * self.cl:g} % two-sided Garwood "
                       "intervals):")
            for r in run_table(self):
                if r["events"]:
                    out.append(f"    {r['label']}: LET {num(r['let'], 4)}, {r['events']} "
                               f"events: sigma {num(r['cross_section'], 4)} "
                               f"[{num(r['sigma_low'], 4)}, {num(r['sigma_high'], 4)}] "
                               f"{self.data.sigma_unit}")
        out.append("  decisions:")
        for dec in self.decisions:
            out.append(f"    {dec}")
        out.append("  data checks:")
        out.append(checks_table(list(self.data_checks), indent="    "))
        out.append("  fit checks:")
        out.append(checks_table(list(self.fit_checks), indent="    "))
        if self.fitted:
            out.append(f"  all {100 * self.cl:g} % intervals (* = quoted):")
            out.append(text_table(["parameter", "estimate"]
                                  + [INTERVAL_LABELS[m] for m in INTERVAL_METHODS],
                                  self.interval_rows(), indent="    "))
        if self.gof is not None and self.gof.deviance is not None:
            out.append("  " + self.gof._summary_line())
        for k, why in self.skipped.items():
            out.append(f"  skipped {k}: {why}")
        for m in self.messages:
            out.append(f"  note: {m}")
        return "\n".join(out)

    def _repr_html_(self) -> str:
        d = self.data
        st, summary = self.verdict()
        colour = {"PASS": "#1e7e34", "WARNING": "#b36b00", "FAIL": "#c62828"}.get(st, "#555")
        parts = [f"<div><b>seufit analyze</b> &mdash; {html.escape(d.source)}: {d.n_runs} runs, "
                 f"{d.n_events} events; seed {self.seed}<br>"
                 f"<b style=\"color:{colour}\">{html.escape(st)}</b> {html.escape(summary)}"]
        if self.fitted:
            parts.append(html_table(["parameter", "estimate", "low", "high", "unit", "method",
                                     "note"], self.result_rows(),
                                    caption=f"result ({100 * self.cl:g} % two-sided intervals)"))
            if self.sigma_top:
                parts.append(f"<p>{html.escape(sigma_top_text(self.sigma_top, self.cl, d))}"
                             "</p>")
            if self.caveats:
                parts.append("<b>caveats on these intervals</b><ul>" + "".join(
                    f"<li>{html.escape(c)}</li>" for c in self.caveats) + "</ul>")
        parts.append(self._figures_html())
        parts.append(html_table(["decision", "choice", "reason", "option"],
                                self.decision_rows(), caption="decisions"))
        parts.append(checks_html(list(self.data_checks), caption="data checks"))
        parts.append(checks_html(list(self.fit_checks), caption="fit checks"))
        if self.fitted:
            parts.append(html_table(["parameter", "estimate"]
                                    + [INTERVAL_LABELS[m] for m in INTERVAL_METHODS],
                                    self.interval_rows(),
                                    caption=f"all {100 * self.cl:g} % intervals (* = quoted)"))
        parts.append("</div>")
        return "".join(parts)

    # Figures of the notebook view: the two that answer "does the curve follow the data"
    # (the report has all of them; the bootstrap pairs alone take about a second).
    NOTEBOOK_FIGURES = ("cross_section", "residuals")

    def _figures_html(self) -> str:
        """The notebook figures as inline PNG; a figure that cannot be drawn leaves a note."""
        import base64
        import io

        from .report.html import figure_plan, make_figure

        planned = figure_plan(self)[0]
        out = []
        for key in self.NOTEBOOK_FIGURES:
            if key not in planned:
                continue
            try:
                rf = make_figure(self, key)
                buf = io.BytesIO()
                rf.figure.savefig(buf, format="png", dpi=90, metadata={"Software": None})
            except Exception as err:  # a display must not raise: say what is missing
                out.append(f"<p><i>figure {html.escape(key)} unavailable: "
                           f"{html.escape(type(err).__name__)}: {html.escape(str(err))}</i></p>")
                continue
            data = base64.b64encode(buf.getvalue()).decode("ascii")
            out.append(f'<figure style="display:inline-block;margin:4px">'
                       f'<img alt="{html.escape(rf.title)}" style="max-width:480px" '
                       f'src="data:image/png;base64,{data}">'
                       f"<figcaption><small>{html.escape(rf.title)}</small></figcaption>"
                       f"</figure>")
        return "<div>" + "".join(out) + "</div>" if out else ""

    def to_dict(self) -> dict:
        """Every number, JSON-safe; identical for the same data, options and seed."""
        st, summary = self.verdict()
        d = self.data
        params = {}
        if self.fitted:
            notes = {r[0]: r[6] for r in self.result_rows()}
            for k, (name, unit) in enumerate(zip(self.fit.names, self.units(), strict=True)):
                lo, hi = self.interval(name)
                # The result table's note goes with the numbers (an end on the box, the
                # one-sided reading): a script reads this block, not the text.
                params[name] = {"value": float(self.fit.theta[k]), "unit": unit,
                                "ci_low": lo, "ci_high": hi, "ci_method": self.chosen,
                                "note": notes[name]}
        return to_jsonable({
            "schema": SCHEMA,
            "seufit_version": versions()["seufit"],
            "input": {"source": d.source, "sha256": d.sha256, "n_runs": d.n_runs,
                      "n_events": d.n_events, "n_zero_event_runs": int((d.events == 0).sum()),
                      "sigma_unit": d.sigma_unit, "tilt_corrected": d.tilt_corrected,
                      "notes": list(d.notes), "runs": run_table(self)},
            "seed": self.seed,
            "cl": self.cl,
            "options": self.options,
            "command": self.command,
            "verdict": {"status": st, "summary": summary},
            "parameters": params,
            "caveats": list(self.caveats),
            "sigma_at_highest_let": self.sigma_top,
            "decisions": [x.to_dict() for x in self.decisions],
            "checks": {"data": [c.to_dict() for c in self.data_checks],
                       "fit": [c.to_dict() for c in self.fit_checks]},
            "intervals": {"cl": self.cl, "chosen": self.chosen, **self.intervals},
            "fit": self.fit.to_dict(),
            "goodness_of_fit": None if self.gof is None else self.gof.to_dict(),
            "bootstrap": None if self.bootstrap is None else self.bootstrap.to_dict(),
            "profile": None if self.profile is None else self.profile.to_dict(),
            "sweep": None if self.sweep is None else self.sweep.to_dict(),
            "skipped": dict(self.skipped),
            "messages": list(self.messages),
            "provenance": self.provenance,
        })


def _sigma_top(fr: FitResult, boot: BootstrapResult | None, cl: float) -> dict | None:
    """sigma at the highest tested LET, from the fit and (percentile) the bootstrap draws."""
    if not fr.fitted:
        return None
    let = float(fr.data.let.max())
    value = float(fr.predict(let)[0])
    out = {"let": let, "value": value, "low": None, "high": None, "method": None,
           "fraction_of_sigma_sat": value / float(fr.theta[0])}
    if boot is not None and boot.n_success >= 2:
        sig = fr.model.value(boot.draws, np.array([let]))[:, 0]
        alpha = 1 - cl
        lo, hi = np.quantile(sig, [alpha / 2, 1 - alpha / 2])
        out.update(low=float(lo), high=float(hi), method="bootstrap percentile")
    return out


def sigma_top_text(t: dict, cl: float, d: TestData) -> str:
    text = (f"sigma at the highest tested LET ({num(t['let'], 4)}): {num(t['value'], 4)} "
            f"{d.sigma_unit}")
    if t["low"] is not None:
        text += (f", {100 * cl:g} % {t['method']} [{num(t['low'], 4)}, {num(t['high'], 4)}]")
    return text + (f"; the curve there is at {saturation_percent(t['fraction_of_sigma_sat'])} "
                   "of sigma_sat")


def _envelope_summary(limits) -> str:
    """The whole campaign's limit and the one at the highest LET, with level and sidedness."""
    first, last = limits[0], limits[-1]
    text = first.bound()
    if len(limits) > 1:
        text += f" and < {last.sigma_upper:.3g} at LET {last.let:.4g}"
    return (f"{text} ({100 * first.cl:g} % {first.sided} each, for a curve that does not "
            "fall with LET)")


def run_table(a: Analysis) -> list[dict]:
    """Per-run table: LET, fluence, events, cross-section with its exact interval, fit status.

    Parameters
    ----------
    a : Analysis

    Returns
    -------
    list of dict
        One per run.  Runs with events get the two-sided Garwood interval at
        ``a.cl``; zero-event runs the fit's upper limit.  ``expected`` and
        ``pearson_residual`` exist with a fitted curve.
    """
    d = a.data
    labels = d.labels()
    lo_n, hi_n = garwood_interval(d.events, a.cl)
    ul = {u.label: u for u in a.fit.upper_limits}
    g = a.gof if a.gof is not None and a.gof.deviance is not None else None
    out = []
    for i in range(d.n_runs):
        n = int(d.events[i])
        row = {"label": labels[i], "ion": d.ion[i] if d.ion else None,
               "let": float(d.let[i]), "let_nominal": float(d.let_nominal[i]),
               "angle": float(d.angle[i]), "fluence": float(d.fluence[i]),
               "fluence_nominal": float(d.fluence_nominal[i]),
               # per-bit data: the bit count turns counts into sigma per bit, so a reviewer
               # must see it (exposure = effective fluence x bits, the divisor of sigma)
               "bits": None if d.bits is None else float(d.bits[i]),
               "exposure": float(d.exposure[i]), "events": n,
               "cross_section": float(d.cross_section[i]),
               "sigma_low": float(lo_n[i] / d.exposure[i]),
               "sigma_high": float(hi_n[i] / d.exposure[i]),
               "in_fit": bool(a.fit.fit_mask[i]) if a.fitted else False}
        if n == 0 and labels[i] in ul:
            row["sigma_high"] = float(ul[labels[i]].sigma_upper)
        if g is not None:
            row["expected"] = float(g.expected[i])
            row["pearson_residual"] = float(g.pearson_residuals[i])
        out.append(row)
    return out


def reproduce_command(source: str, options: Mapping[str, Any], seed: int) -> str:
    """``seufit analyze`` command line that reproduces an analysis.

    Parameters
    ----------
    source : str
        The data as given (path or ``example:NAME``).
    options : mapping
        ``Analysis.options``.
    seed : int

    Returns
    -------
    str
        Options at their default are left out; the seed is always given; the
        output directory is left as ``-o REPORT_DIR``.
    """
    args = ["seufit", "analyze", str(source), "-o", "REPORT_DIR", "--seed", str(seed)]
    flags = {"n_boot": "--n-boot", "zeros": "--zeros", "cl": "--cl", "variant": "--variant",
             "config": "--config", "ci": "--ci", "gof": "--gof", "curve": "--curve",
             "n_sweep": "--n-sweep", "sided": "--sided"}
    for key, flag in flags.items():
        v = options.get(key)
        if v is None or v == _DEFAULTS.get(key):
            continue
        args += [flag, str(v)]
    if options.get("profile") is False:
        args.append("--no-profile")
    if options.get("tilt") is False:
        args.append("--no-tilt")
    return shlex.join(args[:3]) + " " + shlex.join(args[3:])


_DEFAULTS = {"n_boot": None, "zeros": "exclude", "cl": 0.95, "variant": "auto", "config": "auto",
             "ci": "auto", "gof": "auto", "curve": "auto", "n_sweep": DEFAULT_SWEEP,
             "sided": "two-sided"}


# ============================================================================ THE DECISION TREE
#
# Every method choice of `seufit analyze` is one function below.  Each returns the choice
# and a Decision (choice, reason, rule, option, override).  Read top to bottom, they are
# the decision tree of the method series, made statistically sound where a rule of thumb
# was not (docs/analyze.md).

RULE_CURVE = (f"fit a curve when at least 4 runs have events and the mean count per run is "
              f">= {MIN_MEAN_COUNT:g}; otherwise upper limits only")
RULE_ZEROS = ("default (articles): zero-event runs are left out of the likelihood and reported "
              "as upper limits; zeros='auto' (sound option): zero-event runs above the lowest "
              "LET with events are informative and enter the "
              "likelihood (include); otherwise they are left out and reported as upper limits "
              "(exclude); if the excluded zeros contradict the fitted curve, refit with include")
RULE_VARIANT = ("with_zeros when zero-event runs are left out; else standard with >= 50 "
                "events; else small_sample (MLE article)")
RULE_BOOTSTRAP = ("parametric Poisson bootstrap of every fitted curve: full configuration "
                  "(10,000 replicates) with >= 50 events and smallest non-zero count >= 5, "
                  "else conservative (20,000, tighter tolerance) (bootstrap article)")
RULE_INTERVAL = (f"profile likelihood below {MIN_EVENTS_PROFILE} events; Wald only when the "
                 "normal approximation holds (standard variant, no parameter at a bound, "
                 "interval inside the parameter box, bootstrap |skewness| < "
                 f"{NORMAL_SKEW:g} and Hessian/bootstrap se in "
                 f"[{SE_RATIO_RANGE[0]:g}, {SE_RATIO_RANGE[1]:g}]); else the bootstrap "
                 "(BCa with >= 50 events and no zero-event run, else percentile) when >= "
                 f"{100 * SUCCESS_MARGINAL:g} % of replicates succeed; else the profile "
                 "likelihood")
RULE_GOF = (f"judge the fit by the deviance when dof >= {MIN_DOF}, with the parametric-bootstrap "
            f"p-value when >= {MIN_REPLICATES_GOF} refitted replicates exist (valid with small "
            "counts), else the chi2(dof) p-value")
RULE_PROFILE = "exact profile-likelihood intervals of every parameter of a fitted curve"
RULE_SWEEP = ("fmin + Delta Monte Carlo sweep in the profile box widened by 10 % (a check of the "
              "profile)")


def rule_curve(d: TestData, option: str, n_params: int = 4) -> tuple[bool, Decision]:
    """Whether a curve can and should be fitted.

    Parameters
    ----------
    d : TestData
    option : {"auto", "on", "off"}
        ``on`` fits whenever it is possible (at least ``n_params`` runs with events).
    n_params : int

    Returns
    -------
    (fit, decision) : (bool, Decision)
    """
    n_hit = int((d.events > 0).sum())
    n_let = int(np.unique(d.let[d.events > 0]).size)  # runs at one LET are one curve point
    mean = d.n_events / d.n_runs
    if n_hit == 0:
        auto, why = False, f"no events in any of the {d.n_runs} runs: upper limits only"
    elif n_hit < n_params:
        auto, why = False, (f"only {n_hit} run(s) with events: {n_params} parameters cannot "
                            "be fitted, upper limits and per-run exact intervals only")
    elif n_let < n_params:
        auto, why = False, (f"runs with events at only {n_let} distinct LET value(s): "
                            f"{n_params} parameters cannot be fitted, upper limits and per-run "
                            "exact intervals only")
    elif mean < MIN_MEAN_COUNT:
        auto, why = False, (f"{mean:.3g} events per run < {MIN_MEAN_COUNT:g}: essentially an "
                            "all-zero campaign, upper limits only")
    else:
        auto, why = True, (f"{n_hit} runs with events, {mean:.3g} events per run: a curve can "
                           "be fitted")
    possible = n_hit >= n_params and n_let >= n_params
    if option == "auto":
        choice = auto
        reason = why
    elif option == "off":
        choice, reason = False, f"switched off by the user (curve='off'); the rule says: {why}"
    else:  # on
        choice = possible
        reason = (f"forced by the user (curve='on'); the rule says: {why}" if possible
                  else f"requested by the user but impossible: {why}")
    dec = Decision("curve", "fit" if choice else "upper limits only", reason, RULE_CURVE,
                   "curve / --curve", overridden=option != "auto" and choice != auto,
                   automatic=None if option == "auto" else ("fit" if auto else
                                                            "upper limits only"))
    return choice, dec


def rule_zeros(d: TestData, option: str) -> tuple[str, Decision]:
    """How zero-event runs enter the likelihood (before the fit).

    Parameters
    ----------
    d : TestData
    option : {"auto", "exclude", "include"}

    Returns
    -------
    (zeros, decision) : (str, Decision)
        ``zeros`` is ``"exclude"`` or ``"include"``.
    """
    zero = d.events == 0
    n_zero = int(zero.sum())
    hit = ~zero
    if n_zero == 0:
        auto, why = "exclude", "no zero-event run: nothing to decide"
    elif not hit.any():
        auto, why = "exclude", "no run with events: the zeros give upper limits"
    else:
        lmin = float(d.let[hit].min())
        inform = zero & (d.let > lmin)
        if inform.any():
            labels = d.labels()
            names = ", ".join(labels[i] for i in np.flatnonzero(inform))
            auto, why = "include", (f"{int(inform.sum())} zero-event run(s) above the lowest LET "
                                    f"with events ({lmin:.3g}): {names}; they constrain the "
                                    "curve, so they enter the likelihood (exp(-lambda) each)")
        else:
            auto, why = "exclude", (f"{n_zero} zero-event run(s), all at or below the lowest "
                                    f"LET with events ({lmin:.3g}): left out of the likelihood, "
                                    "reported as upper limits and checked against the curve")
    if option == "auto":
        return auto, Decision("zeros", auto, why, RULE_ZEROS, "zeros / --zeros")
    if option == "exclude":
        # The articles' default: not an override, but say when the sound rule disagrees.
        note = ("articles' default: zero-event runs left out of the likelihood and reported "
                "as upper limits")
        if auto != "exclude":
            note += f"; the sound rule (--zeros auto) would include them: {why}"
        return option, Decision("zeros", option, note, RULE_ZEROS, "zeros / --zeros",
                                automatic=auto)
    return option, Decision("zeros", option, f"chosen by the user (zeros='{option}'); the rule "
                            f"gives {auto}: {why}", RULE_ZEROS, "zeros / --zeros",
                            overridden=option != auto, automatic=auto)


def rule_zeros_refit(fr: FitResult) -> str | None:
    """After an automatic ``exclude``: the reason to refit with ``include``, if any.

    Parameters
    ----------
    fr : FitResult
        A fit with the zero-event runs left out.

    Returns
    -------
    str or None
        None when the curve respects every zero-event upper limit.
    """
    # Judged against the two-sided limits (the articles' 3.7/fluence at 95 %) whatever the
    # sidedness the report shows: --sided changes what is printed, not the fit.
    def two_sided(u):
        return u.sigma_upper * float(upper_limit(0, u.cl, "two-sided")) / u.events_upper

    bad = [u for u in fr.upper_limits if u.sigma_fit is not None and u.sigma_fit > two_sided(u)]
    if not bad:
        return None
    text = ", ".join(f"{u.label} (LET {u.let:.3g}: curve {u.sigma_fit / two_sided(u):.2g} x "
                     "two-sided limit)" for u in bad)
    return (f"with the zeros left out the fitted curve exceeds the upper limit of {text}: the "
            "zeros contradict the curve, so they enter the likelihood (refit with include)")


def rule_variant(fr: FitResult, option: str) -> Decision:
    """The MLE variant (decided by :func:`seufit.fit.select_variant`; recorded here).

    Parameters
    ----------
    fr : FitResult
    option : str
        The ``variant`` option given to the fit.

    Returns
    -------
    Decision
    """
    if not fr.fitted:
        return Decision("variant", "none", "no curve fitted", RULE_VARIANT,
                        "variant / --variant")
    if option == "auto":
        return Decision("variant", fr.variant, fr.variant_reason, RULE_VARIANT,
                        "variant / --variant")
    auto, _ = select_variant(fr.data.events, fr.zeros)
    return Decision("variant", fr.variant, fr.variant_reason, RULE_VARIANT,
                    "variant / --variant", overridden=option != auto, automatic=auto)


def rule_bootstrap(fr: FitResult, n_boot: int | None, config: str
                   ) -> tuple[str | None, int, Decision]:
    """Whether to bootstrap, the configuration and the number of replicates.

    Parameters
    ----------
    fr : FitResult
    n_boot : int or None
        The user's number of replicates (None: the configuration's; 0: no bootstrap).
    config : {"auto", "full", "conservative"}

    Returns
    -------
    (config, n_boot, decision) : (str or None, int, Decision)
        ``config`` is None when there is no bootstrap.
    """
    opt = "n_boot, config / --n-boot, --config"
    if not fr.fitted:
        return None, 0, Decision("bootstrap", "skipped", "no curve fitted", RULE_BOOTSTRAP, opt)
    auto, why = choose_config(fr.data.events)
    if n_boot == 0:
        return None, 0, Decision("bootstrap", "off", "switched off by the user (n_boot=0)",
                                 RULE_BOOTSTRAP, opt, overridden=True, automatic=auto)
    cfg = auto if config == "auto" else config
    n = CONFIGS[cfg]["n_boot"] if n_boot is None else int(n_boot)
    overridden = cfg != auto or (n_boot is not None and n != CONFIGS[cfg]["n_boot"])
    parts = []
    if config != "auto":
        parts.append(f"configuration chosen by the user (config='{config}')")
    if n_boot is not None:
        parts.append(f"{n} replicates chosen by the user (n_boot={n})")
    reason = why if not parts else (
        "; ".join(parts) + f"; the rule gives {auto} ({CONFIGS[auto]['n_boot']} replicates): "
        f"{why}")
    return cfg, n, Decision("bootstrap", f"{cfg}, {n} replicates", reason, RULE_BOOTSTRAP, opt,
                            overridden=overridden,
                            automatic=f"{auto}, {CONFIGS[auto]['n_boot']} replicates"
                            if overridden else None)


def _wald_problems(fr: FitResult, boot: BootstrapResult | None) -> list[str]:
    """Why the normal approximation (Wald interval) does not hold; empty if it does."""
    problems = []
    if fr.variant != "standard":
        problems.append(f"variant {fr.variant} (Hessian intervals are for the standard "
                        "variant only)")
    if fr.se is None:
        if fr.variant == "standard":
            problems.append("no invertible Hessian")
        return problems
    if fr.at_bound:
        problems.append(f"{', '.join(fr.at_bound)} at a bound")
    lo, hi = fr.bounds
    out = [n for k, n in enumerate(fr.names) if fr.ci_low[k] < lo[k] or fr.ci_high[k] > hi[k]]
    if out:
        problems.append(f"Wald interval of {', '.join(out)} leaves the parameter box")
    if boot is not None:
        skew = boot.diagnostics.get("skewness", {})
        bad = [f"{n} {v['skewness']:+.2f}" for n, v in skew.items()
               if abs(v["skewness"]) >= NORMAL_SKEW]
        if bad:
            problems.append(f"bootstrap skewness {', '.join(bad)} (|skew| >= {NORMAL_SKEW:g})")
        ratio = boot.diagnostics.get("hessian_over_bootstrap_se") or {}
        a, b = SE_RATIO_RANGE
        bad = [f"{n} {v:.2f}" for n, v in ratio.items()
               if not (math.isfinite(v) and a <= v <= b)]
        if bad:
            problems.append(f"Hessian/bootstrap se {', '.join(bad)} outside [{a:g}, {b:g}]")
    return problems


def bootstrap_method(events: np.ndarray) -> tuple[str, str]:
    """The series' rule between the two bootstrap intervals (one implementation, in
    :func:`seufit.uncertainty.bootstrap.ci_rule`)."""
    return ci_rule(events)


def rule_interval(fr: FitResult, boot: BootstrapResult | None, intervals: dict, option: str,
                  boot_error: str | None = None) -> tuple[str | None, Decision]:
    """The interval method to quote.

    Parameters
    ----------
    fr : FitResult
    boot : BootstrapResult or None
    intervals : dict
        The collected intervals (``methods`` with availability, ``parameters``).
    option : {"auto", "guarded", "wald", "percentile", "bca", "profile"}
        ``guarded``: the rule, but the percentile interval where it picks BCa with a
        parameter of the fit on a bound (BCa under-covers there, docs/bootstrap.md).
    boot_error : str, optional
        Why the bootstrap failed, when it did.

    Returns
    -------
    (method, decision) : (str or None, Decision)
        One of :data:`INTERVAL_METHODS`, or None without a curve.
    """
    opt = "ci / --ci"
    if not fr.fitted:
        return None, Decision("interval", "none", "no curve fitted", RULE_INTERVAL, opt)
    avail = {m: intervals["methods"][m]["available"] for m in INTERVAL_METHODS}
    n_events = fr.n_events

    def automatic() -> tuple[str | None, str]:
        if n_events < MIN_EVENTS_PROFILE and avail["profile"]:
            return "profile", (f"{n_events} events < {MIN_EVENTS_PROFILE}: too sparse for the "
                               "bootstrap (bootstrap article), profile likelihood")
        problems = _wald_problems(fr, boot)
        if not problems and avail["wald"]:
            extra = "" if boot is not None else " (no bootstrap to confirm it)"
            return "wald", ("normal approximation holds: standard variant, no parameter at a "
                            "bound, intervals inside the box" + (
                                ", bootstrap near normal and agreeing with the Hessian"
                                if boot is not None else "") + extra)
        why_not = "Wald not used: " + "; ".join(problems) if problems else \
            "Wald not available"
        if boot is not None and boot.success_rate >= SUCCESS_MARGINAL:
            m, why_m = bootstrap_method(fr.data.events)
            if avail.get(m):
                return m, (f"{why_not}. Quoted: the bootstrap {INTERVAL_LABELS[m].split()[-1]} "
                           f"interval, {why_m}")
        if boot is not None:
            why_not += (f"; bootstrap success {100 * boot.success_rate:.1f} % < "
                        f"{100 * SUCCESS_MARGINAL:g} %")
        elif boot_error:
            why_not += f"; bootstrap failed ({boot_error})"
        if avail["profile"]:
            return "profile", f"{why_not}. Quoted: the profile-likelihood interval"
        if avail["wald"]:
            return "wald", f"{why_not}. Quoted: the Wald interval, the only one available (use "\
                "with care)"
        for m in ("percentile", "bca"):
            if avail[m]:
                return m, f"{why_not}. Quoted: the bootstrap {m} interval, the only one available"
        return None, f"{why_not}. No interval available"

    auto, why = automatic()
    if option == "guarded":
        if auto == "bca" and fr.at_bound and avail["percentile"]:
            return "percentile", Decision(
                "interval", INTERVAL_LABELS["percentile"],
                f"guarded rule (ci='guarded'): {', '.join(fr.at_bound)} on a bound, where BCa "
                f"under-covers (docs/bootstrap.md); the rule gives BCa: {why}", RULE_INTERVAL,
                opt, overridden=True, automatic=auto)
        option = "auto"
        why = f"guarded rule (ci='guarded'), the same as the rule here: {why}"
    if option == "auto":
        return auto, Decision("interval", INTERVAL_LABELS.get(auto, "none") if auto else "none",
                              why, RULE_INTERVAL, opt)
    if not avail.get(option):
        reason = (f"the user asked for {option} but it is not available "
                  f"({intervals['methods'][option]['reason']}); the rule's choice is used: {why}")
        return auto, Decision("interval", INTERVAL_LABELS.get(auto, "none") if auto else "none",
                              reason, RULE_INTERVAL, opt, overridden=False,
                              automatic=auto)
    return option, Decision("interval", INTERVAL_LABELS[option],
                            f"chosen by the user (ci='{option}'); the rule gives "
                            f"{INTERVAL_LABELS.get(auto, 'none')}: {why}", RULE_INTERVAL, opt,
                            overridden=option != auto, automatic=auto)


def rule_gof(fr: FitResult, option: str, n_replicates: int) -> tuple[bool, str, Decision]:
    """Whether the goodness-of-fit test judges the fit, and which p-value it quotes.

    Parameters
    ----------
    fr : FitResult
    option : {"auto", "on", "off"}
    n_replicates : int
        Finite refitted replicate deviances available.

    Returns
    -------
    (judged, pvalue, decision) : (bool, str, Decision)
        ``pvalue`` is ``"bootstrap"`` or ``"chi2"`` (``"none"`` without a curve).
    """
    opt = "gof / --gof"
    if not fr.fitted:
        return False, "none", Decision("goodness_of_fit", "not applicable", "no curve fitted",
                                       RULE_GOF, opt)
    n_pts = int(np.count_nonzero(fr.fit_mask))
    dof = n_pts - len(fr.theta)
    pv = "bootstrap" if n_replicates >= MIN_REPLICATES_GOF else "chi2"
    pv_text = (f"parametric-bootstrap p-value ({n_replicates} refitted replicates)"
               if pv == "bootstrap" else
               "chi2 p-value" + (f" (only {n_replicates} bootstrap replicates)"
                                 if n_replicates else " (no bootstrap)"))
    auto = dof >= MIN_DOF
    auto_why = (f"{n_pts} points, dof = {dof} >= {MIN_DOF}: tested, {pv_text}" if auto else
                f"{n_pts} points, dof = {dof} < {MIN_DOF}: the test has next to no power; "
                "statistics reported for information only")
    if option == "auto":
        return auto, pv, Decision("goodness_of_fit", "tested" if auto else "not judged",
                                  auto_why, RULE_GOF, opt)
    if option == "off":
        return False, pv, Decision("goodness_of_fit", "not judged",
                                   f"switched off by the user (gof='off'); the rule says: "
                                   f"{auto_why}", RULE_GOF, opt, overridden=auto,
                                   automatic="tested" if auto else "not judged")
    if dof < 1:
        return False, pv, Decision("goodness_of_fit", "not judged",
                                   f"requested by the user but impossible: {n_pts} points for "
                                   f"{len(fr.theta)} parameters leave no degree of freedom",
                                   RULE_GOF, opt, automatic="not judged")
    return True, pv, Decision("goodness_of_fit", "tested", f"forced by the user (gof='on'); "
                              f"the rule says: {auto_why}", RULE_GOF, opt,
                              overridden=not auto, automatic="tested" if auto else "not judged")


# ============================================================================ helpers

def _limits_only(d: TestData, zeros: str, cl: float, reason: str,
                 sided: str = "two-sided") -> FitResult:
    """A FitResult without a curve: the zero-event upper limits only."""
    limits = tuple(zero_event_limits(d, cl, sided))
    options = {"model": WEIBULL4.label, "zeros": zeros, "variant": "auto", "cl": cl,
               "sided": sided, "method": "newton", "tilt": d.tilt_corrected}
    return FitResult(
        data=d, model=WEIBULL4, theta=None, nll=None, converged=False, variant=None,
        variant_reason=reason, zeros=zeros, fit_mask=np.zeros(d.n_runs, bool), bounds=None,
        at_bound=(), proj_grad=None, n_iter=0, n_eval=0, n_starts=0, method="newton",
        hessian=None, hessian_eigenvalues=None, hessian_status="not computed", covariance=None,
        se=None, ci_low=None, ci_high=None, cl=cl, upper_limits=limits, local_optima=None,
        messages=tuple(d.notes), provenance=provenance(d, options, model=WEIBULL4),
        # Pooled limits only without any event: events can contradict the non-decreasing
        # curve they assume (limits.envelope_limits).
        envelope_limits=tuple(envelope_limits(d, cl, sided)) if d.n_events == 0 else ())


def _child_seed(seed: int, k: int) -> int:
    """An independent 63-bit seed for component ``k`` derived from the analysis seed."""
    state = np.random.SeedSequence([seed, k]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def _f(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _collect_intervals(fr: FitResult, boot: BootstrapResult | None, prof, sw,
                       reasons: Mapping[str, str]) -> dict:
    """Every interval of every parameter, side by side, with notes on bounds."""
    names = fr.names
    methods = {}
    table = {n: {} for n in names}
    lo_b, hi_b = fr.bounds if fr.bounds is not None else (None, None)

    def bound_note(k, lo, hi):
        notes = []
        if lo_b is not None:
            width = hi_b[k] - lo_b[k]
            if lo is not None and near_bound(lo, lo_b[k], width):
                notes.append("low end at bound")
            if hi is not None and near_bound(hi, hi_b[k], width):
                notes.append("high end at bound")
            # Replicates have their own boxes (e.g. a higher let_th cap when a replicate
            # has no event at the lowest LET), so their interval can leave the data's box.
            if (lo is not None and lo < lo_b[k] and not near_bound(lo, lo_b[k], width)) or (
                    hi is not None and hi > hi_b[k] and not near_bound(hi, hi_b[k], width)):
                notes.append("extends beyond the data fit's box")
        return notes

    # Wald
    if fr.se is not None:
        methods["wald"] = {"available": True, "reason": "estimate +/- z se from the Hessian"}
        for k, n in enumerate(names):
            lo, hi = float(fr.ci_low[k]), float(fr.ci_high[k])
            notes = []
            if lo_b is not None and (lo < lo_b[k] or hi > hi_b[k]):
                notes.append("outside the parameter box")
            if n in fr.at_bound:
                notes.append("estimate at bound")
            table[n]["wald"] = {"low": _f(lo), "high": _f(hi), "note": "; ".join(notes)}
    else:
        why = (f"variant {fr.variant}: Hessian intervals only for the standard variant"
               if fr.variant != "standard" else f"Hessian {fr.hessian_status}")
        methods["wald"] = {"available": False, "reason": why}
    # bootstrap
    for m in ("percentile", "bca"):
        if boot is not None:
            arr = boot.percentile if m == "percentile" else boot.bca
            methods[m] = {"available": True,
                          "reason": f"{boot.n_success} of {boot.n_boot} replicates"}
            for k, n in enumerate(names):
                lo, hi = float(arr[k, 0]), float(arr[k, 1])
                notes = bound_note(k, lo, hi)
                cut = boot.diagnostics.get("clipped_to_data", {}).get(n)
                if cut is not None and not np.array_equal(cut["unclipped"][m], [lo, hi],
                                                          equal_nan=True):
                    raw = cut["unclipped"][m]
                    notes.append(f"clipped to the data's limit, unclipped [{raw[0]:.4g}, "
                                 f"{raw[1]:.4g}]")
                if not lo <= float(fr.theta[k]) <= hi:
                    notes.append("estimate outside")
                table[n][m] = {"low": _f(lo), "high": _f(hi), "note": "; ".join(notes)}
        else:
            methods[m] = {"available": False, "reason": reasons.get("bootstrap", "not run")}
    # profile
    if prof is not None:
        methods["profile"] = {"available": True, "reason": f"Delta = {prof.delta:.4g}"}
        for n in names:
            if n not in prof.params:
                continue
            i = prof.params.index(n)
            lo, hi = _f(prof.ci_low[i]), _f(prof.ci_high[i])
            notes = []
            if prof.low_at_bound[i]:
                notes.append("low end at bound")
            if prof.high_at_bound[i]:
                notes.append("high end at bound")
            for side, st in (("low", prof.low_status[i]), ("high", prof.high_status[i])):
                if st == "failed":
                    notes.append(f"{side} end not found")
            table[n]["profile"] = {"low": lo, "high": hi, "note": "; ".join(notes)}
    else:
        methods["profile"] = {"available": False, "reason": reasons.get("profile", "not run")}
    # sweep
    if sw is not None:
        methods["sweep"] = {"available": True,
                            "reason": f"{sw.n_below} of {sw.n} samples under the threshold"}
        for k, n in enumerate(names):
            table[n]["sweep"] = {"low": _f(sw.ci_low[k]), "high": _f(sw.ci_high[k]),
                                 "note": sw.end_note(k)}
    else:
        methods["sweep"] = {"available": False, "reason": reasons.get("sweep", "not run")}
    for n in names:
        for m in INTERVAL_METHODS:
            table[n].setdefault(m, {"low": None, "high": None,
                                    "note": "" if methods[m]["available"] else "not available"})
    methods = {m: {"label": INTERVAL_LABELS[m], **methods[m]} for m in INTERVAL_METHODS}
    # A method whose every parameter lacks an end is not available after all.
    for m in INTERVAL_METHODS:
        if methods[m]["available"] and all(table[n][m]["low"] is None
                                           and table[n][m]["high"] is None for n in names):
            methods[m]["available"] = False
            methods[m]["reason"] += "; no interval end found"
    return {"methods": methods, "parameters": table}


def _empty_intervals(reasons: Mapping[str, str]) -> dict:
    return {"methods": {m: {"label": INTERVAL_LABELS[m], "available": False,
                            "reason": reasons.get("curve", "no curve fitted")}
                        for m in INTERVAL_METHODS}, "parameters": {}}


# Fewer successful replicates than this and a 95 % percentile end rests on the outer
# 25 draws of a tail: say so next to the result (the article's configurations use 10,000
# or 20,000).
FEW_DRAWS = 1000


def _caveats(fr: FitResult, boot: BootstrapResult | None, chosen: str | None) -> list[str]:
    """What limits the quoted intervals, in words a reviewer can act on."""
    out: list[str] = []
    if not fr.fitted or chosen is None:
        return out
    if chosen == "bca" and fr.at_bound:
        # The bootstrap's own flag, in analyze's terms (it says --ci percentile).
        out.append(f"BCa quoted with {', '.join(fr.at_bound)} on a bound: BCa under-covers "
                   "there in the coverage study (docs/bootstrap.md); --ci guarded quotes the "
                   "percentile interval instead")
    if boot is not None and chosen in ("percentile", "bca"):
        # Standard errors only: the quoted intervals are marginal, so an unstable
        # correlation does not move them (and the relative change of a correlation near 0,
        # the article's measure, stays above 10 % at any number of replicates).
        stab = boot.diagnostics.get("stability", {})
        moved = [k for k, v in stab.get("se_relative_change", {}).items() if v > 0.10]
        if moved:
            out.append("the bootstrap standard error of " + ", ".join(moved) + " changed by "
                       "more than 10 % between the two halves of the draws: the quoted ends "
                       "carry Monte Carlo error; rerun with more replicates (--n-boot)")
        if boot.n_success < FEW_DRAWS:
            tail = (1 - fr.cl) / 2 * boot.n_success
            out.append(f"only {boot.n_success} replicates fitted: each end of the interval rests "
                       f"on the outer {tail:.0f} draws of its tail; the article's "
                       "configurations use 10,000 or 20,000")
    # A parameter held by a conventional bound (not let_th on 0 or on the data's limit, which
    # are physical): the intervals of the parameters correlated with it hold inside the box.
    corr = boot.correlation if boot is not None else correlation_matrix(fr)[0]
    lo, hi = fr.bounds
    for name in fr.at_bound:
        k = fr.names.index(name)
        if name == "let_th":
            continue
        side = "lower" if abs(fr.theta[k] - lo[k]) <= abs(fr.theta[k] - hi[k]) else "upper"
        text = (f"{name} at its {side} bound ({num(fr.theta[k], 4)}): the data do not bound it "
                "inside the box, so every interval holds only for "
                f"{name} {'>=' if side == 'lower' else '<='} {num(fr.theta[k], 4)}")
        if corr is not None:
            c = np.asarray(corr, float)[k]
            tied = [(n, c[j]) for j, n in enumerate(fr.names)
                    if j != k and np.isfinite(c[j]) and abs(c[j]) > 0.5]
            if tied:
                text += "; most of all " + ", ".join(f"{n} (r = {r:+.2f} with {name})"
                                                     for n, r in tied)
        out.append(text)
    # Always: what the Poisson likelihood cannot know (a reviewer's first question).
    out.append("counting statistics only: the beam's fluence calibration (dosimetry), common "
               "to a facility's runs, scales sigma_sat and sigma(LET) by one factor, and the "
               "LET's own uncertainty moves the curve along LET; neither is in these "
               "intervals")
    return out


def _gof_check(fr: FitResult, g: GoodnessOfFit | None, judged: bool, pvalue: str,
               why_not: str) -> Check:
    """The goodness-of-fit check: deviance with the chosen p-value."""
    if g is None or g.deviance is None:
        return Check("goodness_of_fit", "N/A", None, why_not or "no curve fitted")
    value = {"deviance": g.deviance, "dof": g.dof, "p_chi2": g.p_chi2,
             "bootstrap_p": g.bootstrap_p, "n_replicates": g.n_replicates,
             "pearson": g.pearson, "p_pearson": g.p_pearson, "flagged": list(g.flagged_labels)}
    head = f"deviance {g.deviance:.4g} on {g.dof} dof"
    if g.p_chi2 is not None:
        head += f" (chi2 p {g.p_chi2:.3g}"
        if g.bootstrap_p is not None:
            head += f", bootstrap p {g.bootstrap_p:.3g} from {g.n_replicates} replicates"
        head += ")"
    if not judged:
        return Check("goodness_of_fit", "N/A", value, f"{head}: not judged -- {why_not}")
    if pvalue == "bootstrap" and g.bootstrap_p is not None:
        p, src = g.bootstrap_p, "bootstrap"
        floor = 1.0 / (1 + (g.n_replicates or 0))
        if p <= floor * (1 + 1e-12) and g.p_chi2 is not None and g.p_chi2 < p:
            # No replicate reached the observed deviance: the bootstrap only bounds p by
            # 1/(B + 1); the data lie beyond every replicate, so the chi2 tail speaks.
            p, src = g.p_chi2, "chi2 (beyond every bootstrap replicate)"
    else:
        p, src = g.p_chi2, "chi2"
    if p is None:
        return Check("goodness_of_fit", "N/A", value, f"{head}: no p-value")
    value["p_value"] = p
    value["p_source"] = src
    label = {"bootstrap": "bootstrap p-value", "chi2": "chi2 p-value"}.get(
        src, "chi2 p-value (no bootstrap replicate reached the observed deviance)")
    flagged = (f"; |r| > 2: {', '.join(g.flagged_labels)}" if g.flagged_labels else "")
    if p < P_FAIL:
        return Check("goodness_of_fit", "FAIL", value, f"{head}: the {label} {p:.2g} < "
                     f"{P_FAIL:g} rejects the model -- the Weibull does not describe these data "
                     f"(see the residuals){flagged}")
    if p < P_WARN:
        return Check("goodness_of_fit", "WARNING", value, f"{head}: the {label} {p:.2g} < "
                     f"{P_WARN:g}, more scatter about the curve than Poisson allows{flagged}")
    return Check("goodness_of_fit", "PASS", value, f"{head}: the {label} {p:.3g}, consistent "
                 f"with the model{flagged}")


def _validate(*, zeros, cl, variant, config, ci, gof, curve, n_boot, n_sweep, jobs,
              sided="two-sided") -> None:
    """All option checks in one place: one ValueError naming the bad option."""
    if sided not in SIDES:
        raise ValueError(f"sided must be two-sided or one-sided, got {sided!r}")
    if zeros not in ("auto", "exclude", "include"):
        raise ValueError(f"zeros must be auto, exclude or include, got {zeros!r}")
    if not isinstance(cl, (int, float)) or not 0 < cl < 1:
        raise ValueError(f"cl must be between 0 and 1, got {cl!r}")
    if variant not in ("auto", "standard", "small_sample", "with_zeros"):
        raise ValueError(f"variant must be auto, standard, small_sample or with_zeros, "
                         f"got {variant!r}")
    if config not in ("auto", "full", "conservative"):
        raise ValueError(f"config must be auto, full or conservative, got {config!r}")
    if ci not in _CI_CHOICES:
        raise ValueError(f"ci must be one of {', '.join(_CI_CHOICES)}, got {ci!r}")
    if gof not in _MODES:
        raise ValueError(f"gof must be auto, on or off, got {gof!r}")
    if curve not in _MODES:
        raise ValueError(f"curve must be auto, on or off, got {curve!r}")
    if n_boot is not None and (int(n_boot) != n_boot or (n_boot != 0 and n_boot < 20)):
        raise ValueError(f"n_boot must be 0 (no bootstrap) or a whole number >= 20, got {n_boot}")
    if int(n_sweep) != n_sweep or n_sweep < 0:
        raise ValueError(f"n_sweep must be a whole number >= 0, got {n_sweep}")
    if int(jobs) != jobs or jobs == 0:
        raise ValueError(f"jobs must be a non-zero whole number, got {jobs}")


def _err(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ============================================================================ analyze

def analyze(
    data,
    *,
    seed: int | None = None,
    n_boot: int | None = None,
    jobs: int = 1,
    executor=None,
    zeros: str = "exclude",
    cl: float = 0.95,
    variant: str = "auto",
    config: str = "auto",
    ci: str = "auto",
    gof: str = "auto",
    curve: str = "auto",
    profile: bool = True,
    n_sweep: int = DEFAULT_SWEEP,
    tilt: bool = True,
    progress: bool | None = None,
    sided: str = "two-sided",
) -> Analysis:
    """Run the whole seufit method on one dataset, every choice by an explicit rule.

    Parameters
    ----------
    data : TestData, path, ``example:NAME`` or DataFrame
    seed : int, optional
        Seed of every random draw (bootstrap replicates, sweep samples); a fresh
        one is drawn and recorded when omitted.  The same seed gives the same
        ``to_dict()``.
    n_boot : int, optional
        Bootstrap replicates (default: 10,000 full / 20,000 conservative by the
        bootstrap article's rule); 0 switches the bootstrap off.
    jobs : int
        Parallel workers of the bootstrap (threads with the compiled solver, processes
        on the NumPy path); results do not depend on it.
    executor : concurrent.futures.Executor, optional
        Executor for the bootstrap (e.g. dask); overrides ``jobs``.
    zeros : {"auto", "exclude", "include"}
        Zero-event runs; ``auto`` applies :func:`rule_zeros`.
    cl : float
        Level of every interval and of the zero-event upper limits.
    variant : {"auto", "standard", "small_sample", "with_zeros"}
        MLE variant (``auto``: the MLE article's rule).
    config : {"auto", "full", "conservative"}
        Bootstrap configuration (``auto``: the bootstrap article's rule).
    ci : {"auto", "guarded", "wald", "percentile", "bca", "profile"}
        Interval to quote (``auto``: :func:`rule_interval`; ``guarded``: the same, but
        percentile instead of BCa with a parameter on a bound).  All are reported.
    gof : {"auto", "on", "off"}
        Whether the goodness-of-fit test judges the fit (``auto``: dof >= 3).
    curve : {"auto", "on", "off"}
        Fit a curve (``auto``: at least 4 runs with events and a mean count
        >= 0.1 per run) or give upper limits only.
    profile : bool
        Profile-likelihood intervals.
    n_sweep : int
        Samples of the fmin + Delta sweep (0: no sweep; it also needs the profile).
    tilt : bool
        Tilt correction when ``data`` is read here.
    progress : bool, optional
        Bootstrap progress bar (default: only on a terminal).
    sided : {"two-sided", "one-sided"}
        Sidedness of the zero-event upper limits (the articles' 3.7/fluence at 95 % is
        two-sided; one-sided gives 3.0/fluence).

    Returns
    -------
    Analysis

    Raises
    ------
    DataError
        Unreadable or invalid data (one line naming row and column).
    ValueError
        An invalid option.
    """
    _validate(zeros=zeros, cl=cl, variant=variant, config=config, ci=ci, gof=gof, curve=curve,
              n_boot=n_boot, n_sweep=n_sweep, jobs=jobs, sided=sided)
    d = as_data(data, tilt=tilt)
    seed = resolve_seed(seed)
    cl = float(cl)
    options = {"zeros": zeros, "cl": cl, "variant": variant, "config": config, "ci": ci,
               "gof": gof, "curve": curve, "n_boot": None if n_boot is None else int(n_boot),
               "profile": bool(profile), "n_sweep": int(n_sweep), "tilt": d.tilt_corrected,
               "sided": sided}
    decisions: list[Decision] = []
    skipped: dict[str, str] = {}
    messages: list[str] = []

    # -- 1. curve or upper limits only; zero handling ---------------------------------
    do_fit, dec_curve = rule_curve(d, curve)
    zeros_used, dec_zeros = rule_zeros(d, zeros)
    if do_fit:
        fr = fit(d, zeros=zeros_used, variant=variant, cl=cl, sided=sided)
        refit = rule_zeros_refit(fr) if zeros == "auto" and zeros_used == "exclude" else None
        if refit:
            zeros_used = "include"
            fr = fit(d, zeros="include", variant=variant, cl=cl, sided=sided)
            dec_zeros = Decision("zeros", "include", refit, RULE_ZEROS, "zeros / --zeros")
    else:
        fr = _limits_only(d, zeros_used, cl, dec_curve.reason, sided)
        skipped["curve"] = dec_curve.reason
    decisions += [dec_curve, dec_zeros, rule_variant(fr, variant)]
    pre = pre_fit_checks(d, zeros=zeros_used)

    # -- 2. bootstrap -------------------------------------------------------------------
    cfg, nb, dec_boot = rule_bootstrap(fr, n_boot, config)
    decisions.append(dec_boot)
    boot = None
    boot_error = None
    if cfg is not None:
        try:
            boot = bootstrap(fr, n_boot=nb, seed=seed, config=config,
                             ci=ci if ci in ("percentile", "bca", "guarded") else "auto", cl=cl,
                             jobs=jobs, executor=executor, progress=progress)
        except ValueError as exc:  # e.g. too few successful replicates to summarise
            boot_error = _err(exc)
            skipped["bootstrap"] = f"bootstrap failed: {boot_error}"
            messages.append(skipped["bootstrap"])
    else:
        skipped.setdefault("bootstrap", dec_boot.reason)

    # -- 3. profile likelihood and sweep -------------------------------------------------
    prof = sw = None
    if not fr.fitted:
        skipped.setdefault("profile", "no curve fitted")
        skipped.setdefault("sweep", "no curve fitted")
    else:
        if not profile:
            skipped["profile"] = "switched off by the user (profile=False)"
        else:
            try:
                from .uncertainty.profile import profile as _profile
            except ImportError as exc:  # the profile module is optional at run time
                skipped["profile"] = f"not available: {_err(exc)}"
            else:
                try:
                    prof = _profile(fr, cl)
                except Exception as exc:  # noqa: BLE001 - recorded, the report goes on
                    skipped["profile"] = f"profile likelihood failed: {_err(exc)}"
                    messages.append(skipped["profile"])
        if n_sweep == 0:
            skipped["sweep"] = "switched off by the user (n_sweep=0)"
        elif prof is None:
            skipped["sweep"] = "needs the profile likelihood for its box (" + skipped.get(
                "profile", "not run") + ")"
        else:
            try:
                from .uncertainty.sweep import sweep as _sweep

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # the same text lands in sweep.messages
                    sw = _sweep(fr, int(n_sweep), cl=cl, seed=_child_seed(seed, 1),
                                box="profile", profile_result=prof)
            except Exception as exc:  # noqa: BLE001 - recorded, the report goes on
                skipped["sweep"] = f"sweep failed: {_err(exc)}"
                messages.append(skipped["sweep"])
    dec_prof = Decision("profile", "computed" if prof is not None else "skipped",
                        "all parameters, threshold z^2/2 above the minimum" if prof is not None
                        else skipped.get("profile", ""), RULE_PROFILE, "profile / --no-profile",
                        overridden=not profile and fr.fitted)
    dec_sweep = Decision("sweep", f"{sw.n} samples" if sw is not None else "skipped",
                         (f"{sw.n_below} samples under the threshold (about {sw.n_needed} "
                          "needed)") if sw is not None else skipped.get("sweep", ""),
                         RULE_SWEEP, "n_sweep / --n-sweep",
                         overridden=fr.fitted and n_sweep != DEFAULT_SWEEP)

    # -- 4. goodness of fit ----------------------------------------------------------------
    g = None
    n_rep = 0
    dstar = None
    if fr.fitted:
        if boot is not None:
            dstar = boot.deviances()
            n_rep = int(np.isfinite(dstar).sum())
        g = goodness_of_fit(fr, replicate_deviances=dstar if n_rep else None)
    judged, pvalue, dec_gof = rule_gof(fr, gof, n_rep)
    gof_check = _gof_check(fr, g, judged, pvalue, dec_gof.reason)

    # -- 5. intervals and the one to quote -------------------------------------------------
    if fr.fitted:
        intervals = _collect_intervals(fr, boot, prof, sw, skipped)
    else:
        intervals = _empty_intervals(skipped)
    chosen, dec_ci = rule_interval(fr, boot, intervals, ci, boot_error)
    decisions += [dec_ci, dec_gof, dec_prof, dec_sweep]
    caveats = _caveats(fr, boot, chosen)
    sigma_top = _sigma_top(fr, boot, cl)
    if boot is not None and chosen in ("percentile", "bca"):
        messages += [f"bootstrap: {m}"
                     for m in clip_notes(boot.diagnostics["clipped_to_data"], chosen)]

    # -- 6. post-fit checks ------------------------------------------------------------------
    chosen_iv = None
    if chosen is not None:
        chosen_iv = {n: (e[chosen]["low"] if e[chosen]["low"] is not None else -math.inf,
                         e[chosen]["high"] if e[chosen]["high"] is not None else math.inf)
                     for n, e in intervals["parameters"].items()}
    post = post_fit_checks(
        fr, success_rate=None if boot is None else boot.success_rate,
        correlation=None if boot is None else boot.correlation,
        intervals=chosen_iv, interval_source=INTERVAL_LABELS.get(chosen) if chosen else None)
    if boot_error:
        post = [Check("bootstrap_success", "FAIL", None, f"the bootstrap could not be "
                      f"summarised: {boot_error}") if c.name == "bootstrap_success" else c
                for c in post]
    moved = ("excess_zeros", "overdispersion", "tilt")
    data_checks = tuple(pre) + tuple(c for c in post if c.name in moved)
    fit_checks = tuple(c for c in post if c.name not in moved) + (gof_check,)

    for src in (fr, prof, sw):
        if src is not None:
            messages += [m for m in getattr(src, "messages", ()) if m not in messages]
    prov = provenance(d, options, seed)
    prov["versions"] = {**prov["versions"], "matplotlib": _version("matplotlib")}
    return Analysis(
        data=d, fit=fr, bootstrap=boot, profile=prof, sweep=sw, gof=g,
        decisions=tuple(decisions), data_checks=data_checks, fit_checks=fit_checks,
        intervals=intervals, chosen=chosen, seed=seed, cl=cl, options=options,
        skipped=skipped, messages=tuple(messages), provenance=prov, caveats=tuple(caveats),
        sigma_top=sigma_top)


def _version(pkg: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None

