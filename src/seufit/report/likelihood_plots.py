"""Figures of likelihood sweeps and profiles (matplotlib, Agg canvas, no pyplot state).

* :func:`plot_sweep` -- the article's picture: the statistic (minus its minimum)
  of every sample against each parameter, the threshold line ``Delta`` and the
  interval read off the envelope; the exact profile drawn over it when known.
* :func:`plot_surface` -- two parameters at once: the lowest statistic of the
  samples in each cell of a 2-D grid (the sampled 2-D profile) with the
  ``Delta`` contour.
* :func:`plot_profile` -- the profile curves with per-point validity and endpoints.

Each function returns the :class:`matplotlib.figure.Figure` and writes it
atomically to ``path`` when one is given (format from the suffix).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._io import write_atomic

__all__ = ["plot_sweep", "plot_surface", "plot_profile"]


def _figure(n_panels: int, width: float = 4.0, height: float = 3.2, ncols: int | None = None):
    ncols = ncols or min(n_panels, 2)
    nrows = math.ceil(n_panels / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n_panels)]
    return fig, axes


def _save(fig: Figure, path) -> None:
    if path is None:
        return
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=120)
    write_atomic(path, buf.getvalue())


def _label(name: str, unit: str) -> str:
    return f"{name} [{unit}]" if unit else name


def _log_axis(ax, values: np.ndarray, name: str) -> None:
    v = values[np.isfinite(values)]
    if name == "sigma_sat" and v.size and v.min() > 0 and v.max() / v.min() > 20:
        ax.set_xscale("log")


def plot_sweep(result, path=None, *, params=None, profile=None, max_points: int = 100_000,
               ymax: float | None = None, pair: tuple[str, str] | None = None) -> Figure:
    """Statistic against each parameter, with the threshold line and the intervals.

    Parameters
    ----------
    result : SweepResult
    path : str or Path, optional
        Write the figure there (png, pdf, svg...).
    params : sequence of str, optional
        Parameters to show (default all).
    profile : ProfileResult, optional
        Profile curves to draw over the envelope (default: the profile that set
        the sweep box, if any).
    max_points : int
        At most this many samples are drawn per panel (the lowest-Delta ones
        are always kept).
    ymax : float, optional
        Upper limit of the Delta axis (default 3 Delta).
    pair : (str, str), optional
        Add a panel with the two-parameter surface of :func:`plot_surface`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(result.names)
    params = names if params is None else list(params)
    profile = result.profile if profile is None else profile
    ymax = 3.0 * result.delta if ymax is None else float(ymax)
    d = result.values - result.fun_min
    keep = np.flatnonzero(d <= ymax)
    if keep.size > max_points:
        # Keep the envelope (lowest values) and a thinned rest.
        order = np.argsort(d[keep])
        keep = keep[order[:max_points]]
    n_panels = len(params) + (1 if pair else 0)
    fig, axes = _figure(n_panels)
    for ax, name in zip(axes, params, strict=False):
        k = names.index(name)
        x = result.samples[keep, k]
        y = d[keep]
        below = y <= result.delta
        ax.scatter(x[~below], y[~below], s=1, c="0.7", rasterized=True, linewidths=0)
        ax.scatter(x[below], y[below], s=1, c="tab:blue", rasterized=True, linewidths=0)
        ax.axhline(result.delta, color="tab:red", lw=1,
                   label=f"fmin + {result.delta:.3g}")
        for v in (result.ci_low[k], result.ci_high[k]):
            if np.isfinite(v):
                ax.axvline(v, color="tab:red", ls="--", lw=0.8)
        if profile is not None and name in profile.params:
            c = profile.curve(name)
            ok = c.delta <= ymax * 1.05
            ax.plot(c.values[ok], c.delta[ok], color="k", lw=1, label="profile")
        ax.axvline(result.theta[k], color="k", lw=0.6, ls=":")
        ax.set_ylim(0.0, ymax)
        ax.set_xlabel(_label(name, result.units[k]))
        ax.set_ylabel("statistic - minimum")
        _log_axis(ax, x, name)
    if axes:
        axes[0].legend(loc="upper right", fontsize=7)
        fig.suptitle(f"{result.source}: {result.n} {result.method} samples, "
                     f"{result.n_below} under fmin + {result.delta:.3g} "
                     f"({result.statistic.label})", fontsize=9)
    if pair:
        _surface(axes[-1], result, pair, bins=60)
    _save(fig, path)
    return fig


def _surface(ax, result, pair, bins: int) -> None:
    names = list(result.names)
    a, b = pair
    if a not in names or b not in names or a == b:
        raise ValueError(f"pair must name two different parameters of {names}, got {pair}")
    i, j = names.index(a), names.index(b)
    d = result.values - result.fun_min
    lo, hi = result.box
    ex = np.linspace(lo[i], hi[i], bins + 1)
    ey = np.linspace(lo[j], hi[j], bins + 1)
    xi = np.clip(np.searchsorted(ex, result.samples[:, i], side="right") - 1, 0, bins - 1)
    yi = np.clip(np.searchsorted(ey, result.samples[:, j], side="right") - 1, 0, bins - 1)
    grid = np.full(bins * bins, np.inf)
    np.minimum.at(grid, xi * bins + yi, d)  # the lowest sample per cell: a sampled 2-D profile
    grid = grid.reshape(bins, bins).T
    cap = 4.0 * result.delta
    shown = np.where(np.isfinite(grid), np.minimum(grid, cap), np.nan)
    mesh = ax.pcolormesh(ex, ey, shown, cmap="viridis", shading="flat", vmin=0.0, vmax=cap)
    ax.figure.colorbar(mesh, ax=ax, label="lowest statistic - minimum")
    cx = 0.5 * (ex[1:] + ex[:-1])
    cy = 0.5 * (ey[1:] + ey[:-1])
    if np.isfinite(shown).sum() > 4 and np.nanmin(shown) < result.delta < np.nanmax(shown):
        ax.contour(cx, cy, np.nan_to_num(shown, nan=cap), levels=[result.delta],
                   colors="tab:red", linewidths=1)
    ax.plot(result.theta[i], result.theta[j], "r+", ms=8)
    ax.set_xlabel(_label(a, result.units[i]))
    ax.set_ylabel(_label(b, result.units[j]))
    ax.set_title(f"red: fmin + {result.delta:.3g}", fontsize=8)


def plot_surface(result, pair: tuple[str, str], path=None, *, bins: int = 60) -> Figure:
    """Two-parameter surface: lowest sampled statistic per cell and the Delta contour.

    Parameters
    ----------
    result : SweepResult
    pair : (str, str)
        The two parameters (x, y).
    path : str or Path, optional
        Write the figure there.
    bins : int
        Cells per axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = _figure(1, width=5.0, height=4.2)
    _surface(axes[0], result, pair, bins)
    _save(fig, path)
    return fig


def plot_profile(result, path=None, *, sweep=None, params=None) -> Figure:
    """Profile curves: Delta against each parameter, threshold, endpoints, validity.

    Parameters
    ----------
    result : ProfileResult
    path : str or Path, optional
        Write the figure there.
    sweep : SweepResult, optional
        Draw the sweep's samples under 3 Delta behind the curves.
    params : sequence of str, optional
        Parameters to show (default all profiled).

    Returns
    -------
    matplotlib.figure.Figure
    """
    params = list(result.params) if params is None else list(params)
    fig, axes = _figure(len(params))
    ymax = 3.0 * result.delta
    for ax, name in zip(axes, params, strict=False):
        c = result.curve(name)
        k = result.names.index(name)
        if sweep is not None:
            d = sweep.values - sweep.fun_min
            m = d <= ymax
            ax.scatter(sweep.samples[m, k], d[m], s=1, c="0.75", rasterized=True, linewidths=0)
        ok = c.delta <= 2 * ymax
        ax.plot(c.values[ok], c.delta[ok], color="k", lw=1)
        good = ok & c.valid
        bad = ok & ~c.valid
        ax.plot(c.values[good], c.delta[good], "o", ms=3, color="tab:blue", label="valid point")
        if bad.any():
            ax.plot(c.values[bad], c.delta[bad], "x", ms=5, color="tab:red", label="not valid")
        ax.axhline(result.delta, color="tab:red", lw=1, label=f"Delta = {result.delta:.3g}")
        i = result.params.index(name)
        for v, at in ((result.ci_low[i], result.low_at_bound[i]),
                      (result.ci_high[i], result.high_at_bound[i])):
            if np.isfinite(v):
                ax.axvline(v, color="tab:red", ls=":" if at else "--", lw=0.8)
        ax.set_ylim(0.0, ymax)
        ax.set_xlabel(_label(name, result.units[k]))
        ax.set_ylabel("profile - minimum")
        _log_axis(ax, c.values, name)
    if axes:
        axes[0].legend(loc="upper right", fontsize=7)
        fig.suptitle(f"{result.source}: profile likelihood, {100 * result.cl:.4g} % "
                     f"({result.statistic.label})", fontsize=9)
    _save(fig, path)
    return fig
