"""Report figures: cross-section curve, residuals, bootstrap distributions.

Every figure is a :class:`matplotlib.figure.Figure` with its own Agg canvas:
pyplot is never imported, so no global figure state leaks into the caller's
session and the module works without a display.  :func:`save_figure` writes
PNG and SVG atomically.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter
from numpy.typing import ArrayLike

from .._format import num
from .._io import write_atomic
from ..fit import FitResult
from ..gof import FLAG_RESIDUAL, GoodnessOfFit
from ..limits import garwood_interval

__all__ = ["cross_section_figure", "residuals_figure", "bootstrap_figures", "save_figure"]

_FIT = "#1f77b4"  # runs in the fit, curve
_OUT = "#7f7f7f"  # runs with events left out of the fit
_ZERO_OUT = "#d62728"  # zero-event runs left out of the likelihood
_ZERO_IN = "#ff7f0e"  # zero-event runs kept in the likelihood
_ARROW_DECADES = 0.45  # length of an upper-limit arrow on the log axis
_MAX_POINTS = 5000

_UNIT_TEXT = {"cm2/device": "cm²/device", "cm2/bit": "cm²/bit"}
_PARAM_TEXT = {"sigma_sat": "σ_sat", "let_th": "L_th", "s": "s", "w": "W"}


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # own canvas: no pyplot, no global backend switch
    return fig


def _pct(cl: float) -> str:
    return f"{100 * cl:g} %"


def _let_axis(ax, xlo: float, xhi: float) -> None:
    """Log LET axis with plain-number ticks at 1-2-5 steps (10^0 labels are unreadable)."""
    ax.set_xscale("log")
    ax.set_xlim(xlo, xhi)
    decades = np.arange(math.floor(math.log10(xlo)), math.ceil(math.log10(xhi)) + 1)
    ticks = [m * 10.0**e for e in decades for m in (1, 2, 5)]
    ticks = [t for t in ticks if xlo <= t <= xhi]
    if len(ticks) >= 2:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())


def _curve_grid(lo: float, hi: float, let_th: float) -> np.ndarray:
    """LET grid for the curve, dense just above the threshold where it turns on."""
    g = np.geomspace(lo, hi, 400)
    if let_th > 0 and let_th < hi:
        near = let_th + np.geomspace(1e-5 * (hi - let_th), hi - let_th, 200)
        g = np.union1d(g, near[(near >= lo) & (near <= hi)])
    return g


def cross_section_figure(
    fit_result: FitResult,
    band: tuple[ArrayLike, ArrayLike, ArrayLike] | None = None,
    cl: float = 0.95,
    *,
    band_label: str | None = None,
    title: str | None = None,
) -> Figure:
    """Cross-section against LET with exact error bars, upper limits and the fit.

    Parameters
    ----------
    fit_result : FitResult
    band : (let_grid, low, high), optional
        Pointwise band of the curve (e.g. bootstrap percentiles), drawn shaded.
    cl : float
        Level of the two-sided Garwood error bars of the runs with events (and
        the default band label).
    band_label : str, optional
        Legend text of the band; default "pointwise {cl} band".
    title : str, optional
        Default: the data source and the fit variant.

    Returns
    -------
    matplotlib.figure.Figure
        Log-log axes.  Runs with events: points with exact (Garwood) intervals;
        zero-event runs: down-arrows from their upper limit, coloured by whether
        they entered the likelihood; runs with events left out of the fit: open
        grey markers.
    """
    if not 0 < cl < 1:
        raise ValueError(f"cl must be between 0 and 1, got {cl}")
    d = fit_result.data
    fig = _new_figure(7.5, 5.2)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    ev = d.events
    hit = ev > 0
    in_fit = np.asarray(fit_result.fit_mask, bool)
    sig = d.cross_section
    lo_n, hi_n = garwood_interval(ev, cl)
    s_lo, s_hi = lo_n / d.exposure, hi_n / d.exposure
    y_vals = []

    for tag, mask, style, label in (
        ("fit", hit & in_fit, {"color": _FIT, "mfc": _FIT},
         f"runs with events, exact {_pct(cl)} two-sided (Garwood) interval"),
        ("out", hit & ~in_fit, {"color": _OUT, "mfc": "white"},
         "runs with events, not in the fit"),
    ):
        if mask.any():
            eb = ax.errorbar(d.let[mask], sig[mask], yerr=[sig[mask] - s_lo[mask],
                                                           s_hi[mask] - sig[mask]],
                             fmt="o", ms=6, capsize=3, lw=1.2, label=label, zorder=3, **style)
            for k, bars in enumerate(eb[2]):
                bars.set_gid(f"seufit-errorbar-{tag}-{k}")
            y_vals += [s_lo[mask], s_hi[mask]]

    # Zero-event runs: a bar at the upper limit and an arrow pointing down.
    handles_zero = {}
    zero_idx = np.flatnonzero(~hit)
    limits = fit_result.upper_limits
    if len(limits) != zero_idx.size or any(d.let[i] != u.let for i, u in zip(zero_idx, limits,
                                                                               strict=False)):
        # fit() lists the limits in run order; match on the values if that ever changes.
        zero_idx = [int(np.flatnonzero((d.let == u.let) & (d.fluence == u.fluence) & ~hit)[0])
                    for u in limits]
    for i, u in zip(zero_idx, limits, strict=True):
        i = int(i)
        kept = bool(in_fit[i])
        color = _ZERO_IN if kept else _ZERO_OUT
        tip = u.sigma_upper * 10 ** (-_ARROW_DECADES)
        ax.plot([u.let], [u.sigma_upper], marker="_", ms=14, mew=2, color=color, zorder=3,
                gid=f"seufit-upper-limit-bar-{i}")
        ann = ax.annotate("", xy=(u.let, tip), xytext=(u.let, u.sigma_upper),
                          arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.5,
                                      "shrinkA": 0, "shrinkB": 0}, zorder=3)
        # Stable SVG ids: reports and tests can find each limit arrow.
        ann.arrow_patch.set_gid(f"seufit-upper-limit-{i}")
        y_vals += [np.array([tip, u.sigma_upper])]
        where = ("in the fit" if kept else "excluded from the fit") if fit_result.fitted \
            else "no curve fitted"
        key = (kept, u.cl, u.sided)
        if key not in handles_zero:
            handles_zero[key] = Line2D(
                [], [], color=color, marker="$\u2193$", ms=11, ls="none",
                label=(f"zero-event run: {_pct(u.cl)} {u.sided} upper limit "
                       f"({u.events_upper:.3g}/fluence), {where}"))

    x_all = d.let
    xlo, xhi = float(x_all.min()) / 1.4, float(x_all.max()) * 1.4
    if band is not None:
        bx, blo, bhi = (np.asarray(a, float) for a in band)
        if not (bx.shape == blo.shape == bhi.shape) or bx.ndim != 1:
            raise ValueError("band must be (let_grid, low, high), three 1-d arrays of one length")
        # A lower edge of 0 (curves below threshold) cannot be drawn on a log axis: draw it
        # far below the data instead of dropping the band (which would also bridge gaps).
        ok = bhi > 0
        pos = blo[blo > 0]
        floor = (pos.min() if pos.size else bhi[ok].min()) * 1e-3
        ax.fill_between(bx[ok], np.maximum(blo[ok], floor), bhi[ok], color=_FIT, alpha=0.22,
                        lw=0, zorder=1,
                        label=band_label or f"pointwise {_pct(cl)} band of the curve")
        xlo, xhi = min(xlo, float(bx.min())), max(xhi, float(bx.max()))

    if fit_result.fitted:
        th = fit_result.theta
        names = tuple(fit_result.names)
        let_th = float(th[names.index("let_th")]) if "let_th" in names else 0.0
        grid = _curve_grid(xlo, xhi, let_th)
        curve = fit_result.predict(grid)
        pos = curve > 0
        ax.plot(grid[pos], curve[pos], color=_FIT, lw=2, zorder=2,
                label=f"{fit_result.model.label} fit (Poisson maximum likelihood)")
        y_vals.append(np.array([float(np.max(curve))]))
        params = "\n".join(
            f"{_PARAM_TEXT.get(n, n)} = {num(v, 4)}" + (f" {u}" if u else "")
            + (" (at bound)" if n in fit_result.at_bound else "")
            for n, v, u in zip(fit_result.names, th, fit_result._units(), strict=True))
        ax.text(0.98, 0.03, params, transform=ax.transAxes, ha="right", va="bottom",
                multialignment="left", fontsize=9, family="monospace",
                bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
        default_title = (f"{d.source}: {fit_result.model.label} Poisson MLE, "
                         f"{fit_result.variant} variant")
    else:
        default_title = f"{d.source}: no curve fitted, upper limits only"
        env = fit_result.envelope_limits
        if env:
            # The pooled limits as a staircase: each step a limit at every LET up to its
            # end, on its own (pointwise), for a curve that does not fall with LET.
            e_let = np.array([e.let for e in env])
            e_up = np.array([e.sigma_upper for e in env])
            line = ax.step(np.r_[min(xlo, e_let[0]), e_let], np.r_[e_up[0], e_up], where="pre",
                           color=_FIT, lw=1.5, ls="--", zorder=2,
                           label=(f"runs pooled at and above each LET: {_pct(env[0].cl)} "
                                  f"{env[0].sided} limit, pointwise, non-decreasing curve"))[0]
            line.set_gid("seufit-envelope-limit")
            y_vals.append(e_up)
    ax.set_title(title or default_title, fontsize=11)

    ys = np.concatenate([np.ravel(v) for v in y_vals]) if y_vals else np.array([1e-8])
    ys = ys[np.isfinite(ys) & (ys > 0)]
    if ys.size:
        ax.set_ylim(ys.min() / 2.5, ys.max() * 2.5)
    _let_axis(ax, xlo, xhi)
    tilt = d.tilt_corrected and bool(np.any(d.angle != 0))
    ax.set_xlabel(("effective " if tilt else "") + "LET (MeV·cm²/mg)")
    ax.set_ylabel(f"cross-section ({_UNIT_TEXT.get(d.sigma_unit, d.sigma_unit)})")
    ax.grid(True, which="major", alpha=0.35)
    ax.grid(True, which="minor", alpha=0.12)
    # Legend in reading order: measurements, limits, then the fit and its band.
    handles, labels = ax.get_legend_handles_labels()
    data_first = sorted(range(len(labels)), key=lambda k: not labels[k].startswith("runs"))
    handles = [handles[k] for k in data_first]
    labels = [labels[k] for k in data_first]
    n_data = sum(lab.startswith("runs") for lab in labels)
    handles[n_data:n_data] = list(handles_zero.values())
    labels[n_data:n_data] = [h.get_label() for h in handles_zero.values()]
    ax.legend(handles, labels, loc="upper left", fontsize=8, framealpha=0.9)
    return fig


def residuals_figure(gof: GoodnessOfFit) -> Figure:
    """Pearson residuals against LET, with the +/-2 lines and flagged runs labelled.

    Parameters
    ----------
    gof : GoodnessOfFit

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _new_figure(7.5, 4.0)
    ax = fig.add_subplot()
    r = np.asarray(gof.pearson_residuals, float)
    m = np.asarray(gof.in_fit, bool)
    x = np.asarray(gof.let, float)
    ax.axhline(0.0, color="0.3", lw=1)
    for y in (-FLAG_RESIDUAL, FLAG_RESIDUAL):
        ax.axhline(y, color="0.5", lw=1, ls="--")
    if gof.deviance is None:
        ax.text(0.5, 0.5, "no curve fitted: no residuals", transform=ax.transAxes,
                ha="center", va="center")
    _let_axis(ax, float(x.min()) / 1.4, float(x.max()) * 1.4)
    if gof.deviance is not None:
        if m.any():
            ax.plot(x[m], r[m], "o", color=_FIT, ms=6, label="runs in the fit", zorder=3)
        if (~m).any():
            ax.plot(x[~m], r[~m], "o", mfc="white", color=_ZERO_OUT, ms=6,
                    label="runs not in the fit (residual against the curve)", zorder=3)
        for i, lab in zip(gof.flagged, gof.flagged_labels, strict=True):
            ax.annotate(lab, (x[i], r[i]), xytext=(5, 5), textcoords="offset points",
                        fontsize=8)
        lim = max(3.0, float(np.nanmax(np.abs(r))) * 1.2)
        ax.set_ylim(-lim, lim)
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("LET (MeV·cm²/mg)")
    ax.set_ylabel("Pearson residual (N − λ)/√λ")
    if gof.deviance is not None:
        p = f"p = {num(gof.p_chi2, 2)} (χ²)" if gof.p_chi2 is not None else "no dof"
        if gof.bootstrap_p is not None:
            p += f", {num(gof.bootstrap_p, 2)} (bootstrap, B={gof.n_replicates})"
        ax.set_title(f"{gof.source}: deviance {gof.deviance:.3g} on {gof.dof} dof, {p}",
                     fontsize=10)
    ax.grid(True, alpha=0.3)
    return fig


def _clean_draws(draws, names) -> np.ndarray:
    a = np.asarray(draws, float)
    if a.ndim != 2 or a.shape[1] != len(names):
        raise ValueError(f"draws must have shape (B, {len(names)}), got {a.shape}")
    a = a[np.all(np.isfinite(a), axis=1)]
    if a.shape[0] < 2:
        raise ValueError("need at least two finite bootstrap draws")
    return a


def _param_limits(values: np.ndarray, mle: float | None,
                  interval: tuple[float, float] | None, pad: float = 0.03) -> tuple[float, float]:
    """Axis range holding every draw, the MLE and the interval ends, padded by ``pad``."""
    v = [np.asarray(values, float).ravel()]
    if mle is not None:
        v.append(np.atleast_1d(np.asarray(mle, float)))
    if interval is not None:
        v.append(np.asarray(interval, float).ravel())
    v = np.concatenate(v)
    v = v[np.isfinite(v)]
    lo, hi = float(v.min()), float(v.max())
    span = hi - lo
    if not span > 0:  # all equal: open a window of 10 % of the value (or +/-0.5) around it
        half = 0.1 * abs(lo) if lo != 0 else 0.5
        return lo - half, hi + half
    return lo - pad * span, hi + pad * span


def bootstrap_figures(
    draws: ArrayLike,
    names: Sequence[str],
    mle: Sequence[float] | None = None,
    intervals: Mapping[str, tuple[float, float]] | None = None,
    *,
    interval_label: str = "95 % interval",
    units: Sequence[str] | None = None,
    max_points: int = _MAX_POINTS,
    seed: int = 0,
) -> tuple[Figure, Figure]:
    """Marginal histograms and pairwise scatter of bootstrap replicates.

    Parameters
    ----------
    draws : array (B, p)
        Replicate estimates; rows with a non-finite entry (failed fits) are dropped.
    names : sequence of str
        Parameter names, in the column order of ``draws``.
    mle : sequence of float, optional
        Point estimate, drawn as a solid line / cross.
    intervals : mapping name -> (low, high), optional
        Interval ends, drawn as dashed lines.
    interval_label : str
        Legend text of the interval lines (say the level and method).
    units : sequence of str, optional
        Unit of each parameter, for the axis labels (e.g. ``FitResult._units()``).
    max_points : int
        The scatter plots show a random subsample of at most this many draws
        (the histograms and correlations use every draw).
    seed : int
        Seed of the subsample, so that the figure is reproducible.

    Returns
    -------
    (hist_fig, pairs_fig) : two matplotlib Figures
    """
    names = list(names)
    a = _clean_draws(draws, names)
    p = len(names)
    units = list(units) if units is not None else [""] * p
    if len(units) != p:
        raise ValueError(f"units must have {p} entries, got {len(units)}")
    axis_label = [_PARAM_TEXT.get(n, n) + (f" ({_UNIT_TEXT.get(u, u.replace('cm2', 'cm²'))})"
                                           if u else "") for n, u in zip(names, units,
                                                                         strict=True)]
    mle_arr = None if mle is None else np.asarray(mle, float)
    intervals = dict(intervals or {})

    ncol = 2 if p > 1 else 1
    nrow = math.ceil(p / ncol)
    hist_fig = _new_figure(4.0 * ncol, 2.9 * nrow)
    for k, name in enumerate(names):
        ax = hist_fig.add_subplot(nrow, ncol, k + 1)
        ax.hist(a[:, k], bins=min(60, max(10, int(np.sqrt(a.shape[0])))), color=_FIT,
                alpha=0.7)
        if mle_arr is not None:
            ax.axvline(mle_arr[k], color="black", lw=1.6, label="MLE")
        if name in intervals:
            lo, hi = intervals[name]
            ax.axvline(lo, color=_ZERO_OUT, ls="--", lw=1.3, label=interval_label)
            ax.axvline(hi, color=_ZERO_OUT, ls="--", lw=1.3)
        ax.set_xlabel(axis_label[k])
        ax.set_ylabel("replicates")
    # One legend for the figure: panels without an interval would otherwise hide it.
    proxies = []
    if mle_arr is not None:
        proxies.append(Line2D([], [], color="black", lw=1.6, label="MLE"))
    if intervals:
        proxies.append(Line2D([], [], color=_ZERO_OUT, ls="--", lw=1.3, label=interval_label))
    if proxies:
        hist_fig.legend(handles=proxies, loc="outside lower center", ncol=len(proxies),
                        fontsize=9, frameon=False)
    hist_fig.suptitle(f"bootstrap distributions ({a.shape[0]} replicates)", fontsize=11)

    rng = np.random.default_rng(seed)
    sub = a if a.shape[0] <= max_points else a[rng.choice(a.shape[0], max_points,
                                                           replace=False)]
    corr = np.corrcoef(a, rowvar=False) if p > 1 else np.ones((1, 1))
    # One range per parameter, from every draw (not the subsample) and the marked values:
    # every panel of column k gets it as x-limits and every scatter of row k as y-limits,
    # so the tick labels of the bottom row / first column hold for the whole column / row.
    lims = [_param_limits(a[:, k], None if mle_arr is None else mle_arr[k],
                          intervals.get(name)) for k, name in enumerate(names)]
    pairs_fig = _new_figure(2.2 * p + 0.6, 2.2 * p + 0.4)
    axes = pairs_fig.subplots(p, p, squeeze=False)
    for i in range(p):
        for j in range(p):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                ax.text(0.5, 0.5, f"r = {corr[i, j]:+.2f}", transform=ax.transAxes,
                        ha="center", va="center",
                        fontsize=10 + 4 * abs(corr[i, j]),
                        color=_ZERO_OUT if abs(corr[i, j]) > 0.8 else "black")
                continue
            if i == j:
                ax.hist(a[:, i], bins=40, color=_FIT, alpha=0.7)
                ax.set_yticks([])
            else:
                # Rasterized: thousands of points would make the SVG huge.
                ax.plot(sub[:, j], sub[:, i], ".", ms=1.5, alpha=0.35, color=_FIT,
                        rasterized=True)
                if mle_arr is not None:
                    ax.plot(mle_arr[j], mle_arr[i], "+", color="black", ms=10, mew=2)
                if names[i] in intervals:
                    for v in intervals[names[i]]:
                        ax.axhline(v, color=_ZERO_OUT, ls="--", lw=0.9)
            if mle_arr is not None and i == j:
                ax.axvline(mle_arr[j], color="black", lw=1.4)
            if names[j] in intervals:
                for v in intervals[names[j]]:
                    ax.axvline(v, color=_ZERO_OUT, ls="--", lw=0.9)
            ax.set_xlim(lims[j])
            if i != j:
                ax.set_ylim(lims[i])  # the diagonal keeps its own (count) y axis
            ax.tick_params(labelsize=7)
            if i == p - 1:
                ax.set_xlabel(axis_label[j], fontsize=9)
            else:
                ax.tick_params(labelbottom=False)
            if j == 0 and i > 0:
                ax.set_ylabel(axis_label[i], fontsize=9)
            elif j > 0 and i != j:
                ax.tick_params(labelleft=False)
    shown = f"{sub.shape[0]} of {a.shape[0]} replicates shown" if sub.shape[0] < a.shape[0] \
        else f"{a.shape[0]} replicates"
    pairs_fig.suptitle(f"bootstrap pairs ({shown}); + MLE, dashed: {interval_label}",
                       fontsize=10)
    return hist_fig, pairs_fig


def save_figure(fig: Figure, path_stem: str | Path, *, dpi: int = 120) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.png`` and ``<path_stem>.svg``, each atomically.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path_stem : str or Path
        Path without extension (a ``.png`` or ``.svg`` ending is dropped).
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    [png_path, svg_path] : list of Path
    """
    stem = str(path_stem)
    for ext in (".png", ".svg"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
    if fig.canvas is None or not hasattr(fig.canvas, "print_figure"):
        FigureCanvasAgg(fig)
    out = []
    for fmt in ("png", "svg"):
        buf = io.BytesIO()
        # No date and a fixed id salt: the same figure gives the same bytes.  Text stays
        # text in the SVG (searchable, small), not glyph outlines.
        meta = {"Date": None} if fmt == "svg" else {"Software": None}
        with matplotlib.rc_context({"svg.hashsalt": "seufit", "svg.fonttype": "none"}):
            fig.savefig(buf, format=fmt, dpi=dpi, metadata=meta)
        out.append(write_atomic(f"{stem}.{fmt}", buf.getvalue()))
        if fmt == "png":
            # The constrained layout is computed once, for the PNG, then frozen: the SVG
            # reuses it (a third of its rendering time).
            fig.set_layout_engine("none")
    return out
