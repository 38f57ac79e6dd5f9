"""The single-file HTML report of an :class:`~seufit.analysis.Analysis`.

``render_report(analysis, images)`` returns one self-contained HTML page: inline
CSS, the figures embedded as base64 PNG, no external resource, no script
beyond a few lines that mark the page once every image has decoded (the
headless render check reads that mark).  Sections, in reading order: verdict
and result, checks coloured by status, decisions with their reasons, goodness
of fit, every interval side by side with the quoted one marked, bootstrap and
likelihood diagnostics, the runs, and the reproducibility block (seed,
options, versions, input sha256, command line).

:func:`build_figures` makes the report's matplotlib figures; the writer
(:mod:`seufit.report.writer`) saves them as PNG and SVG and passes the PNG
bytes here.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from .._format import num
from ..analysis import (
    INTERVAL_LABELS,
    INTERVAL_METHODS,
    SCHEMA,
    Analysis,
    run_table,
    sigma_top_text,
)

__all__ = ["ReportFigure", "build_figures", "figure_plan", "make_figure", "make_figures",
           "render_report",
           "FIGURE_ORDER"]

FIGURE_ORDER = ("cross_section", "residuals", "bootstrap_histograms", "bootstrap_pairs",
                "profile", "sweep")
_BOOT_KEYS = ("bootstrap_histograms", "bootstrap_pairs")
_SWEEP_POINTS = 20_000  # per panel: the lowest samples kept, the rest dropped (rendering cost)
_SWEEP_POINTS_MAX = 100_000


@dataclass(frozen=True, eq=False)
class ReportFigure:
    """A figure of the report: file stem, title, caption and the matplotlib figure."""

    key: str
    title: str
    caption: str
    figure: Figure | None


def _pct(cl: float) -> str:
    return f"{100 * cl:g} %"


def figure_plan(a: Analysis) -> tuple[list[str], dict[str, str]]:
    """Keys of the figures that apply to an analysis (in :data:`FIGURE_ORDER`) and why others not.

    Parameters
    ----------
    a : Analysis

    Returns
    -------
    (keys, missing) : list of str, dict key -> reason
    """
    keys = ["cross_section"]
    missing: dict[str, str] = {}
    if a.gof is not None and a.gof.deviance is not None:
        keys.append("residuals")
    else:
        missing["residuals"] = "no curve fitted"
    if a.bootstrap is not None:
        keys += ["bootstrap_histograms", "bootstrap_pairs"]
    else:
        why = a.skipped.get("bootstrap", "no bootstrap")
        missing["bootstrap_histograms"] = missing["bootstrap_pairs"] = why
    for key, obj in (("profile", a.profile), ("sweep", a.sweep)):
        if obj is not None:
            keys.append(key)
        else:
            missing[key] = a.skipped.get(key, f"no {key}")
    return keys, missing


def _bootstrap_figures(a: Analysis) -> tuple[ReportFigure, ReportFigure]:
    """Histograms and pairs plot of the bootstrap draws (built together)."""
    from . import figures as F

    b = a.bootstrap
    method = b.ci_method
    arr = b.bca if method == "bca" else b.percentile
    intervals = {n: (float(arr[k, 0]), float(arr[k, 1])) for k, n in enumerate(b.names)}
    label = f"{_pct(b.cl)} {'BCa' if method == 'bca' else 'percentile'} interval"
    hist, pairs = F.bootstrap_figures(b.draws, b.names, mle=b.theta_hat, intervals=intervals,
                                      interval_label=label, units=b.units, seed=0)
    return (ReportFigure(
        "bootstrap_histograms", "Bootstrap distributions",
        f"Marginal distribution of each parameter over the {b.n_success} successful "
        f"replicates; solid line: the MLE; dashed: the bootstrap {label}.", hist),
        ReportFigure(
        "bootstrap_pairs", "Bootstrap pairs",
        "Pairwise scatter of the replicates (a fixed subsample of at most 5000) with the "
        "MLE (+) and the interval ends (dashed); the upper triangle gives the correlation, "
        "red when |r| > 0.8 (weak identifiability).", pairs))


def make_figure(a: Analysis, key: str) -> ReportFigure:
    """One figure of the report.

    Parameters
    ----------
    a : Analysis
    key : str
        One of :data:`FIGURE_ORDER` (and of ``figure_plan(a)[0]``).

    Returns
    -------
    ReportFigure
    """
    from . import figures as F

    fr, b, cl = a.fit, a.bootstrap, a.cl
    if key == "cross_section":
        band = None
        if b is not None and b.band:
            band = (b.band["let"], b.band["low"], b.band["high"])
        caption = (f"Runs with events with their exact {_pct(cl)} two-sided (Garwood) intervals; "
                   "zero-event runs as down-arrows from their upper limit"
                   + (f"; the {fr.model.label} maximum-likelihood curve" if fr.fitted else "")
                   + (f" and its pointwise {_pct(cl)} bootstrap band ({b.n_success} replicates)"
                      if band is not None else "")
                   + ("; the runs pooled at and above each LET (dashed staircase): an upper "
                      "limit at every LET up to each step's end, each on its own, for a curve "
                      "that does not fall with LET" if fr.envelope_limits else "")
                   + ". Log-log axes."
                   + _band_floor_note(band, a.data, cl))
        return ReportFigure("cross_section", "Cross-section against LET", caption,
                            F.cross_section_figure(
                                fr, band=band, cl=cl,
                                band_label=(f"pointwise {_pct(cl)} bootstrap band"
                                            if band is not None else None)))
    if key == "residuals":
        return ReportFigure(
            "residuals", "Pearson residuals against LET",
            "(N − λ)/√λ for every run; runs left out of the likelihood as open markers; "
            "dashed lines at ±2, runs beyond them labelled. Runs of same-sign residuals "
            "point to a curve shape the model cannot follow.", F.residuals_figure(a.gof))
    if key in _BOOT_KEYS:
        return _bootstrap_figures(a)[_BOOT_KEYS.index(key)]
    if key == "profile":
        from .likelihood_plots import plot_profile

        return ReportFigure(
            "profile", "Profile likelihood",
            f"NLL minimised over the other parameters, minus the minimum, against each "
            f"parameter; horizontal line at Δ = {a.profile.delta:.3g} ({_pct(cl)}); dashed: "
            "the interval ends (dotted where the end is a bound).", plot_profile(a.profile))
    if key == "sweep":
        from .likelihood_plots import plot_sweep

        sw = a.sweep
        # The panels keep the lowest samples: every sample under the threshold must stay.
        points = min(_SWEEP_POINTS_MAX, max(_SWEEP_POINTS, int(1.5 * sw.n_below)))
        return ReportFigure(
            "sweep", "fmin + Δ likelihood sweep",
            f"{sw.n} parameter vectors sampled in the profile box; blue: the {sw.n_below} "
            f"within Δ = {sw.delta:.3g} of the minimum (at most {points} drawn per "
            "panel, the lowest kept); black: the exact profile; dashed: the sweep's "
            "interval.", plot_sweep(sw, profile=a.profile, max_points=points))
    raise ValueError(f"unknown figure {key!r}; figures: {', '.join(FIGURE_ORDER)}")


def make_figures(a: Analysis, keys: Sequence[str]) -> tuple[list[ReportFigure], dict[str, str]]:
    """The figures ``keys`` (the bootstrap pair built once), and why any failed.

    A figure whose plotting fails is reported missing with the error rather
    than sinking the report.

    Parameters
    ----------
    a : Analysis
    keys : sequence of str

    Returns
    -------
    (figures, failed) : list of ReportFigure, dict key -> reason
    """
    out: list[ReportFigure] = []
    failed: dict[str, str] = {}
    boot: dict[str, ReportFigure] = {}
    for key in keys:
        try:
            if key in _BOOT_KEYS:
                if not boot:
                    boot = dict(zip(_BOOT_KEYS, _bootstrap_figures(a), strict=True))
                out.append(boot[key])
            else:
                out.append(make_figure(a, key))
        except Exception as exc:  # noqa: BLE001 - a figure must not sink the report
            failed[key] = f"{key} plot failed: {type(exc).__name__}: {exc}"
    return out, failed


def build_figures(a: Analysis) -> tuple[list[ReportFigure], dict[str, str]]:
    """Every figure of the report that applies, and why any other is missing.

    Parameters
    ----------
    a : Analysis

    Returns
    -------
    (figures, missing) : list of ReportFigure, dict key -> reason
    """
    keys, missing = figure_plan(a)
    figs, failed = make_figures(a, keys)
    return figs, {**missing, **failed}


# ---------------------------------------------------------------------------- HTML pieces

_CSS = """
:root { --pass:#1e7e34; --pass-bg:#e8f5e9; --warn:#a15c00; --warn-bg:#fff3e0;
        --fail:#b71c1c; --fail-bg:#fdecea; --na:#616161; --na-bg:#f3f3f3; --line:#d0d4da;
        --ink:#1d2329; --muted:#5b6570; --accent:#1f5fa8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif;
       color: var(--ink); margin: 0; background: #fafbfc; }
main { max-width: 1180px; margin: 0 auto; padding: 18px 28px 40px; background: #fff; }
h1 { font-size: 24px; margin: 6px 0 2px; }
h2 { font-size: 19px; margin: 30px 0 8px; padding-bottom: 4px; border-bottom: 2px solid
     var(--line); }
h3 { font-size: 15px; margin: 18px 0 6px; }
p, li { max-width: 95ch; }
.sub { color: var(--muted); margin: 0 0 10px; }
nav { font-size: 13px; margin: 8px 0 4px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 2px 0 6px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left;
         vertical-align: top; }
th { background: #eef1f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.mono, code, pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace;
                     font-size: 12.5px; }
pre { background: #f4f6f8; border: 1px solid var(--line); padding: 8px 10px;
      white-space: pre-wrap; word-break: break-all; }
.status { font-weight: 700; text-align: center; white-space: nowrap; }
tr.s-PASS td.status { color: var(--pass); background: var(--pass-bg); }
tr.s-WARNING td.status { color: var(--warn); background: var(--warn-bg); }
tr.s-FAIL td.status { color: var(--fail); background: var(--fail-bg); }
tr.s-NA td.status { color: var(--na); background: var(--na-bg); }
tr.s-FAIL td { background: #fff7f6; }
tr.s-WARNING td { background: #fffbf4; }
.verdict { border-left: 6px solid var(--na); background: var(--na-bg); padding: 10px 14px;
           margin: 10px 0 14px; }
.verdict.v-PASS { border-color: var(--pass); background: var(--pass-bg); }
.verdict.v-WARNING { border-color: var(--warn); background: var(--warn-bg); }
.verdict.v-FAIL { border-color: var(--fail); background: var(--fail-bg); }
.verdict b.big { font-size: 17px; }
.pill { display: inline-block; padding: 1px 8px; border-radius: 9px; font-size: 12px;
        font-weight: 700; margin-right: 6px; }
.p-PASS { color: var(--pass); background: var(--pass-bg); border: 1px solid var(--pass); }
.p-WARNING { color: var(--warn); background: var(--warn-bg); border: 1px solid var(--warn); }
.p-FAIL { color: var(--fail); background: var(--fail-bg); border: 1px solid var(--fail); }
.p-NA { color: var(--na); background: var(--na-bg); border: 1px solid var(--na); }
td.chosen, th.chosen { background: #e3eefb; font-weight: 700; }
td.na { color: var(--muted); }
td.nowrap { white-space: nowrap; }
table.decisions td:nth-child(3) { min-width: 300px; }
table.decisions td:nth-child(4) { min-width: 260px; }
table.kv { min-width: 300px; }
.note { color: var(--muted); font-size: 12.5px; }
.override { color: var(--warn); font-weight: 700; }
figure { margin: 12px 0 22px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; }
figcaption { color: var(--muted); font-size: 12.5px; max-width: 110ch; margin-top: 4px; }
figcaption b { color: var(--ink); }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.kv td:first-child { font-weight: 600; background: #f7f8fa; white-space: nowrap; }
.strong-r { color: var(--fail); font-weight: 700; }
footer { color: var(--muted); font-size: 12px; margin-top: 30px; }
@media print { body { background: #fff; } main { max-width: none; padding: 0; }
               nav { display: none; } h2 { break-after: avoid; } figure { break-inside: avoid; } }
"""

_SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0, bad = [];
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; } else { bad.push(imgs[i].alt); }
  }
  var b = document.body;
  b.setAttribute('data-images-total', String(imgs.length));
  b.setAttribute('data-images-loaded', String(ok));
  b.setAttribute('data-tables', String(document.querySelectorAll('table').length));
  b.setAttribute('data-render', bad.length ? 'broken: ' + bad.join(', ') : 'ok');
});
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _n(v: Any, digits: int = 4) -> str:
    return _e(num(v, digits))


def _status_class(status: str) -> str:
    return "NA" if status == "N/A" else status


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str | None = None,
           cls: str = "", row_classes: Sequence[str] | None = None,
           head_classes: Sequence[str] | None = None) -> str:
    """A table from cells that are ALREADY HTML (``<td>`` markup included)."""
    out = [f'<table class="{cls}">' if cls else "<table>"]
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    hc = head_classes or [""] * len(headers)
    out.append("<thead><tr>" + "".join(
        f'<th class="{c}">{_e(h)}</th>' if c else f"<th>{_e(h)}</th>"
        for h, c in zip(headers, hc, strict=True)) + "</tr></thead><tbody>")
    for i, r in enumerate(rows):
        rc = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        out.append(f"<tr{rc}>" + "".join(r) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _td(v: Any, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<td{c}>{_e(v)}</td>"


def _tdn(v: Any, digits: int = 4, cls: str = "num") -> str:
    return f'<td class="{cls}">{_n(v, digits)}</td>'


def _value_text(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, Mapping):
        parts = []
        for k, x in v.items():
            if isinstance(x, (Mapping, list, tuple)) and not x:
                continue
            parts.append(f"{k}={_value_text(x)}")
        return ", ".join(parts)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value_text(x) for x in v) + "]"
    if isinstance(v, str):
        return v
    return num(v, 3)


def _checks_table(checks, caption: str) -> str:
    rows, classes = [], []
    for c in checks:
        rows.append([f'<td class="status">{_e(c.status)}</td>', _td(c.name, "mono"),
                     _td(_value_text(c.value), "note"), _td(c.message)])
        classes.append("s-" + _status_class(c.status))
    return _table(["status", "check", "value", "what it means"], rows, caption=caption,
                  row_classes=classes, cls="checks")


def _pills(checks) -> str:
    counts = {"FAIL": 0, "WARNING": 0, "PASS": 0, "N/A": 0}
    for c in checks:
        counts[c.status] += 1
    return "".join(f'<span class="pill p-{_status_class(s)}">{k} {_e(s)}</span>'
                   for s, k in counts.items() if k)


def _figure_html(fig: ReportFigure, png: bytes | None, number: int) -> str:
    if png is None:
        return ""
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{_e(fig.key)}"><img alt="{_e(fig.title)}" '
            f'src="data:image/png;base64,{data}">'
            f"<figcaption><b>Figure {number}. {_e(fig.title)}.</b> {_e(fig.caption)} "
            f'<span class="note">Files: figures/{_e(fig.key)}.png, '
            f"figures/{_e(fig.key)}.svg.</span></figcaption></figure>")


def _interval_cell(e: Mapping[str, Any], chosen: bool) -> str:
    cls = "num chosen" if chosen else "num"
    if e.get("low") is None and e.get("high") is None:
        return f'<td class="na">{_e(e.get("note") or "–")}</td>'
    txt = f"[{num(e['low'], 4)}, {num(e['high'], 4)}]"
    note = f'<br><span class="note">{_e(e["note"])}</span>' if e.get("note") else ""
    mark = " ★" if chosen else ""
    return f'<td class="{cls}">{_e(txt)}{mark}{note}</td>'


# ---------------------------------------------------------------------------- sections

def _band_floor_note(band, data, cl: float) -> str:
    """A sentence for a band whose lower edge is 0 where runs had events."""
    if band is None:
        return ""
    bx, blo, bhi = (np.asarray(v, float) for v in band)
    zero = (blo <= 0) & (bhi > 0)
    if not zero.any():
        return ""
    top = float(bx[zero].max())
    n_hit = int(((data.events > 0) & (data.let <= top)).sum())
    if n_hit == 0:
        return ""
    # The percentile band of sigma(L) is 0 where that share of the fits has let_th >= L.
    return (f" Up to LET {num(top, 3)}, where {n_hit} run(s) had events, the band's lower "
            f"edge is 0 (drawn down to the axis): at least {_pct((1 - cl) / 2)} of the "
            "replicate fits put the threshold at or above those LETs.")


def _header(a: Analysis) -> str:
    d = a.data
    st, summary = a.verdict()
    n_zero = int((d.events == 0).sum())
    model = a.fit.model.label
    unit = d.sigma_unit
    sub = (f"{_e(d.source)} · {d.n_runs} runs · {d.n_events} events · {n_zero} zero-event "
           f"run(s) · cross-section in {_e(unit)} · {_e(model)} Poisson maximum likelihood · "
           f"{_pct(a.cl)} level · seed {a.seed}")
    return (f"<header><h1>SEU cross-section analysis</h1><p class=\"sub\">{sub}</p>"
            '<nav><a href="#result">Result</a><a href="#checks">Checks</a>'
            '<a href="#decisions">Decisions</a><a href="#gof">Goodness of fit</a>'
            '<a href="#intervals">All intervals</a><a href="#bootstrap">Bootstrap</a>'
            '<a href="#likelihood">Likelihood</a><a href="#data">Data</a>'
            '<a href="#repro">Reproducibility</a></nav>'
            f'<div class="verdict v-{_status_class(st)}"><b class="big">{_e(st)}</b> '
            f"&nbsp;{_e(summary)}<br>{_pills(a.checks)}</div></header>")


def _result(a: Analysis, figs: Mapping[str, str]) -> str:
    fr = a.fit
    parts = ['<section id="result"><h2>Result</h2>']
    if fr.fitted:
        label = INTERVAL_LABELS.get(a.chosen, "none") if a.chosen else "none"
        rows = []
        for name, est, lo, hi, unit, _method, note in a.result_rows():
            rows.append([_td(name, "mono"), _tdn(est), _tdn(lo), _tdn(hi), _td(unit),
                         _td(note, "note")])
        dec = a.decision("interval")
        parts.append(_table(["parameter", "estimate", f"{_pct(a.cl)} low", "high", "unit",
                             "note"], rows,
                            caption=f"Weibull parameters: maximum-likelihood estimate with the "
                                    f"{_pct(a.cl)} two-sided {label} interval", cls="result"))
        parts.append(f'<p class="note">Interval quoted: <b>{_e(label)}</b> &mdash; '
                     f"{_e(dec.reason)}. Every method is compared in "
                     '<a href="#intervals">All intervals</a>.</p>')
        if a.sigma_top:
            parts.append(f'<p class="note">{_e(sigma_top_text(a.sigma_top, a.cl, a.data))}: '
                         "what the data measure directly, whether or not the curve "
                         "saturates there.</p>")
        if a.caveats:
            items = "".join(f"<li>{_e(c)}</li>" for c in a.caveats)
            parts.append('<div class="verdict v-WARNING"><b>Caveats on these intervals.</b>'
                         f"<ul>{items}</ul></div>")
        fails = [c for c in a.checks if c.status == "FAIL"]
        if fails:
            items = "".join(f"<li><b>{_e(c.name)}</b>: {_e(c.message)}</li>" for c in fails)
            parts.append('<div class="verdict v-FAIL"><b>Read before using these numbers.</b> '
                         f"{len(fails)} check(s) failed; the estimates and intervals describe "
                         f"the best {_e(fr.model.label)} curve, which the checks below say is "
                         f"not an adequate description of these data:<ul>{items}</ul></div>")
        parts.append(f'<p class="note">Variant <b>{_e(fr.variant)}</b>: '
                     f"{_e(fr.variant_reason)}. NLL {num(fr.nll, 10)} over "
                     f"{int(fr.fit_mask.sum())} runs; converged: "
                     f"{'yes' if fr.converged else 'NO'}; Hessian {_e(fr.hessian_status)}.</p>")
    else:
        parts.append(f"<p><b>No curve can be fitted:</b> {_e(fr.variant_reason)}. The zero-event "
                     "upper limits and the exact per-run intervals below are the result.</p>")
    if fr.upper_limits:
        rows = []
        for u in fr.upper_limits:
            below = "–" if u.curve_below is None else ("yes" if u.curve_below else "NO")
            per = "fluence" if u.bits is None else "(fluence × bits)"
            row = [_td(u.label), _tdn(u.let), _tdn(u.fluence), _tdn(u.sigma_upper),
                   _td(f"{_pct(u.cl)} {u.sided} ({num(u.events_upper, 3)}/{per})")]
            if fr.fitted:
                row += [_tdn(u.sigma_fit), _td(below, "status" if u.curve_below is False
                                               else "")]
            rows.append(row)
        unit = fr.upper_limits[0].unit.replace("cm2", "cm²")
        heads = ["run", "LET (MeV·cm²/mg)", "fluence (cm⁻²)", f"σ upper limit ({unit})",
                 "level"]
        if fr.fitted:
            heads += ["fitted curve", "curve below"]
        parts.append(_table(heads, rows,
                            caption="Zero-event runs: exact upper limits on the cross-section",
                            row_classes=["s-FAIL" if u.curve_below is False else ""
                                         for u in fr.upper_limits]))
    if fr.envelope_limits:
        e0 = fr.envelope_limits[0]
        unit = e0.unit.replace("cm2", "cm²")
        per = "(fluence × bits)" if e0.per_bit else "fluence"
        rows = [[_tdn(e.let), _tdn(e.sigma_upper), _td(str(e.n_runs)), _tdn(e.fluence),
                 _td(str(e.events)), _td(f"{_pct(e.cl)} {e.sided} "
                                         f"({num(e.events_upper, 3)}/{per})")]
                for e in fr.envelope_limits]
        parts.append(_table(["LET up to (MeV·cm²/mg)", f"σ upper limit ({unit})",
                             "runs pooled", "fluence (cm⁻²)", "events", "level"], rows,
                            caption="Runs pooled at and above each LET: an upper limit on σ "
                                    "at every LET up to it, for a curve that does not fall with "
                                    "LET (exact Poisson limit of the pooled events over the "
                                    f"pooled {per}; each limit on its own, not jointly)"))
    parts.append(figs.get("cross_section", ""))
    parts.append("</section>")
    return "".join(parts)


def _checks(a: Analysis) -> str:
    return ('<section id="checks"><h2>Checks</h2><p class="note">PASS: nothing to worry about; '
            "WARNING: usable, read the message; FAIL: the result (or the part the check covers) "
            "should not be used as it is; N/A: does not apply. Thresholds and sources: "
            "docs/checks.md.</p>"
            + _checks_table(a.data_checks, "Data checks (excess zeros and over-dispersion are "
                                           "measured against the fitted curve)")
            + _checks_table(a.fit_checks, "Fit checks") + "</section>")


def _decisions(a: Analysis) -> str:
    rows = []
    for d in a.decisions:
        choice = _e(d.choice) + (' <span class="override">(override)</span>'
                                 if d.overridden else "")
        auto = f'<br><span class="note">rule alone: {_e(d.automatic)}</span>' \
            if d.overridden and d.automatic else ""
        opt = "<br>".join(f"<code>{_e(o)}</code>" for o in d.option.split(" / "))
        rows.append([_td(d.name, "mono"), f"<td><b>{choice}</b>{auto}</td>", _td(d.reason),
                     _td(d.rule, "note"), f'<td class="nowrap">{opt}</td>'])
    return ('<section id="decisions"><h2>Decisions</h2><p class="note">Every method choice '
            "is made by an explicit rule (docs/analyze.md); each can be overridden by the "
            "option named, and an override is marked.</p>"
            + _table(["decision", "choice", "reason", "rule", "override with"], rows,
                     cls="decisions")
            + "</section>")


def _gof(a: Analysis, figs: Mapping[str, str]) -> str:
    g = a.gof
    parts = ['<section id="gof"><h2>Goodness of fit</h2>']
    if g is None or g.deviance is None:
        parts.append("<p>No curve fitted: no goodness of fit.</p></section>")
        return "".join(parts)

    def per(v: float | None) -> float | None:
        return None if v is None or g.dof < 1 else v / g.dof

    rows = [[_td("deviance"), _tdn(g.deviance), _tdn(g.dof), _tdn(per(g.deviance), 3),
             _tdn(g.p_chi2, 3), _tdn(g.bootstrap_p, 3)],
            [_td("Pearson χ²"), _tdn(g.pearson), _tdn(g.dof), _tdn(per(g.pearson), 3),
             _tdn(g.p_pearson, 3), _td("–", "na")]]
    boot = "p (parametric bootstrap" + (f", B = {g.n_replicates})" if g.n_replicates else ")")
    parts.append(_table(["statistic", "value", "dof", "/dof", "p (χ²)", boot], rows))
    chk = a.check("goodness_of_fit")
    parts.append(f'<p><span class="pill p-{_status_class(chk.status)}">{_e(chk.status)}</span>'
                 f"{_e(chk.message)}</p>")
    parts.append(f'<p class="note">{_e(g._summary_line())}. Reference: {_e(g.reason)}.</p>')
    parts.append(figs.get("residuals", ""))
    parts.append("</section>")
    return "".join(parts)


def _intervals(a: Analysis) -> str:
    parts = ['<section id="intervals"><h2>All intervals</h2>']
    if not a.fitted:
        parts.append("<p>No curve fitted: no parameter intervals.</p></section>")
        return "".join(parts)
    methods = a.intervals["methods"]
    heads = ["parameter", "estimate"] + [methods[m]["label"] for m in INTERVAL_METHODS]
    hc = ["", ""] + ["chosen" if m == a.chosen else "" for m in INTERVAL_METHODS]
    rows = []
    for k, name in enumerate(a.fit.names):
        e = a.intervals["parameters"][name]
        rows.append([_td(name, "mono"), _tdn(a.fit.theta[k])]
                    + [_interval_cell(e[m], m == a.chosen) for m in INTERVAL_METHODS])
    parts.append(_table(heads, rows, head_classes=hc,
                        caption=f"{_pct(a.cl)} intervals of every method; ★ = the interval "
                                "quoted (rule in Decisions)"))
    notes = [f"<li><b>{_e(v['label'])}</b>: "
             + (_e(v["reason"]) if v["available"] else "not available &mdash; "
                + _e(v["reason"])) + "</li>" for m, v in methods.items()]
    parts.append('<ul class="note">' + "".join(notes) + "</ul>")
    parts.append('<p class="note">Asymmetric intervals are given as [low, high], never as ±. '
                 "An end marked “at bound” is the parameter's data-derived bound: the data do "
                 "not constrain the parameter on that side (a one-sided result).</p></section>")
    return "".join(parts)


def _bootstrap(a: Analysis, figs: Mapping[str, str]) -> str:
    b = a.bootstrap
    parts = ['<section id="bootstrap"><h2>Bootstrap</h2>']
    if b is None:
        parts.append(f"<p>No bootstrap: {_e(a.skipped.get('bootstrap', 'not run'))}.</p>"
                     "</section>")
        return "".join(parts)
    fail = ", ".join(f"{k} × {c}" for c, k in b.failures.items()) or "none"
    kv = [("replicates", f"{b.n_boot} ({b.config}: {b.config_reason})"),
          ("successful", f"{b.n_success} ({100 * b.success_rate:.2f} %, "
                         f"{b.diagnostics['success']['status']})"),
          ("failures", fail), ("seed", str(b.seed)),
          ("intervals", f"{_pct(b.cl)} {b.ci_method}: {b.ci_reason}"),
          ("BCa acceleration a", b.a_reason),
          ("zero-event runs", b.zeros), ("solver tolerance", num(b.tol, 3))]
    parts.append(_table(["item", "value"], [[_td(k), _td(v)] for k, v in kv], cls="kv"))
    names = list(b.names)
    rows = []
    for i, n in enumerate(names):
        cells = [_td(n, "mono")]
        for j in range(len(names)):
            r = float(b.correlation[i, j])
            cls = "num strong-r" if i != j and abs(r) > 0.8 else "num"
            cells.append(f'<td class="{cls}">{r:+.2f}</td>')
        rows.append(cells)
    parts.append(_table([""] + names, rows, caption="Bootstrap correlation matrix "
                        "(red: |r| > 0.8, weakly identifiable pair)"))
    skew = b.diagnostics.get("skewness", {})
    ratio = b.diagnostics.get("hessian_over_bootstrap_se") or {}
    rows = []
    for k, n in enumerate(names):
        s = skew.get(n, {})
        rows.append([_td(n, "mono"), _tdn(b.theta_hat[k]), _tdn(b.se[k], 3),
                     _tdn(s.get("skewness"), 3), _td(s.get("status", "")),
                     _tdn(ratio.get(n), 3), _tdn(b.z0[k], 3), _tdn(b.a[k], 3)])
    parts.append(_table(["parameter", "MLE", "bootstrap se", "skewness", "", "Hessian se / "
                         "bootstrap se", "BCa z0", "BCa a"], rows,
                        caption="Bootstrap diagnostics"))
    flags = b.diagnostics.get("flags", [])
    if flags:
        parts.append('<ul class="note">' + "".join(f"<li>{_e(f)}</li>" for f in flags)
                     + "</ul>")
    parts.append(figs.get("bootstrap_histograms", ""))
    parts.append(figs.get("bootstrap_pairs", ""))
    parts.append('<p class="note">Every replicate (successful or not), its simulated counts, '
                 "the seed and the configuration are in bootstrap_draws.npz "
                 "(<code>seufit.load_bootstrap</code>).</p></section>")
    return "".join(parts)


def _likelihood(a: Analysis, figs: Mapping[str, str], missing: Mapping[str, str]) -> str:
    parts = ['<section id="likelihood"><h2>Likelihood intervals</h2>']
    if a.profile is None:
        parts.append(f"<p>No profile likelihood: {_e(a.skipped.get('profile', 'not run'))}.</p>")
    else:
        parts.append(figs.get("profile", "") or
                     f"<p class=\"note\">{_e(missing.get('profile', ''))}</p>")
    if a.sweep is None:
        parts.append(f"<p>No sweep: {_e(a.skipped.get('sweep', 'not run'))}.</p>")
    else:
        parts.append(figs.get("sweep", "") or
                     f"<p class=\"note\">{_e(missing.get('sweep', ''))}</p>")
    notes = [m for m in a.messages]
    if notes:
        parts.append("<h3>Notes</h3><ul class=\"note\">"
                     + "".join(f"<li>{_e(m)}</li>" for m in notes) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def _data(a: Analysis) -> str:
    runs = run_table(a)
    has_angle = any(r["angle"] != 0 for r in runs)
    has_ion = any(r["ion"] for r in runs)
    per_bit = a.data.per_bit
    fitted = a.fitted
    tilt = has_angle and a.data.tilt_corrected
    # Tilted runs: the logged LET and fluence next to the effective ones the fit uses.
    heads = ["run"] + (["ion"] if has_ion else []) \
        + (["LET (nominal)", "fluence (logged)", "angle (°)"] if has_angle else []) \
        + ["LET (effective)" if tilt else "LET", "fluence (effective)" if tilt else "fluence",
           *(["bits", "exposure (ions/cm² × bits)"] if per_bit else []), "events", "σ",
           f"σ {_pct(a.cl)} low", "σ high", "in fit"] \
        + (["expected", "Pearson r"] if fitted else [])
    rows, classes = [], []
    for r in runs:
        cells = [_td(r["label"])]
        if has_ion:
            cells.append(_td(r["ion"] or ""))
        if has_angle:
            cells += [_tdn(r["let_nominal"]), _tdn(r["fluence_nominal"]), _tdn(r["angle"])]
        cells += [_tdn(r["let"]), _tdn(r["fluence"])]
        if per_bit:
            cells += [_tdn(r["bits"]), _tdn(r["exposure"])]
        cells += [_tdn(r["events"]),
                  _tdn(r["cross_section"]), _tdn(r["sigma_low"]), _tdn(r["sigma_high"]),
                  _td("yes" if r["in_fit"] else "no")]
        flagged = False
        if fitted:
            res = r.get("pearson_residual")
            flagged = res is not None and math.isfinite(res) and abs(res) > 2
            cells += [_tdn(r.get("expected"), 4), _tdn(res, 3)]
        rows.append(cells)
        classes.append("s-WARNING" if flagged else "")
    unit = a.data.sigma_unit
    cap = (f"The runs (LET in MeV·cm²/mg, fluence in ions/cm², σ in {unit}; exact "
           f"{_pct(a.cl)} Garwood intervals, upper limit for "
           "zero-event runs" + ("; σ per bit = events / (fluence × bits)" if per_bit else "")
           + ("; LET and fluence tilt-corrected" if has_angle and
                                 a.data.tilt_corrected else "") + "; |r| > 2 highlighted)")
    return ('<section id="data"><h2>Data</h2>' + _table(heads, rows, caption=cap,
                                                          row_classes=classes) + "</section>")


def _repro(a: Analysis, command: str | None, files: Sequence[str] | None) -> str:
    prov = a.provenance
    kv = [("seed", str(a.seed)), ("input", prov.get("input", a.data.source)),
          ("input sha256", prov.get("input_sha256", a.data.sha256))]
    parts = ['<section id="repro"><h2>Reproducibility</h2>',
             _table(["item", "value"], [[_td(k), _td(v, "mono")] for k, v in kv], cls="kv")]
    if command:
        parts.append("<h3>Command line as run (options in their long spelling)</h3>"
                     f"<pre>{_e(command)}</pre>")
    parts.append("<h3>Command that reproduces these numbers</h3>"
                 f"<pre>{_e(a.command)}</pre>"
                 '<p class="note">The same seed, data and options give a byte-identical '
                 "report.json; the number of worker processes does not change any number.</p>")
    opts = [[_td(k, "mono"), _td(json.dumps(v), "mono")] for k, v in a.options.items()]
    vers = [[_td(k), _td(v if v is not None else "not installed", "mono")]
            for k, v in prov.get("versions", {}).items()]
    parts.append('<div class="grid2"><div><h3>Options</h3><p class="note">“auto”: decided by '
                 "the rule (see Decisions).</p>" + _table(["option", "value"], opts, cls="kv")
                 + "</div><div><h3>Versions</h3>"
                 + _table(["package", "version"], vers, cls="kv") + "</div></div>")
    if files:
        parts.append("<h3>Files of this report</h3><ul>"
                     + "".join(f"<li><code>{_e(f)}</code></li>" for f in files) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def render_report(a: Analysis, images: Mapping[str, bytes] | None = None, *,
                  figures: Sequence[ReportFigure] = (), missing: Mapping[str, str] | None = None,
                  command: str | None = None, files: Sequence[str] | None = None) -> str:
    """The report as one self-contained HTML page.

    Parameters
    ----------
    a : Analysis
    images : mapping figure key -> PNG bytes, optional
        Embedded as base64 ``data:`` URIs.
    figures : sequence of ReportFigure
        Titles and captions of the figures (from :func:`build_figures`).
    missing : mapping, optional
        Figures that could not be made, with the reason.
    command : str, optional
        The command line as it was run.
    files : sequence of str, optional
        Files of the report directory, listed in the reproducibility block.

    Returns
    -------
    str
    """
    images = dict(images or {})
    missing = dict(missing or {})
    figs = {}
    number = 0
    for f in figures:
        if f.key in images:
            number += 1
            figs[f.key] = _figure_html(f, images[f.key], number)
    title = f"seufit analysis: {a.data.source}"
    body = "".join([
        _header(a), _result(a, figs), _checks(a), _decisions(a), _gof(a, figs),
        _intervals(a), _bootstrap(a, figs), _likelihood(a, figs, missing), _data(a),
        _repro(a, command, files),
        f"<footer>Generated by seufit {_e(a.provenance.get('version') or '')}; report schema "
        f"{_e(SCHEMA)}.</footer>",
    ])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{body}</main><script>{_SCRIPT}</script></body></html>\n")
