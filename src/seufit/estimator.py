"""The estimator applied to many count vectors at once (bootstrap replicates).

A replicate is fitted exactly as the data were: the same zero policy (zero-event
runs left out under ``zeros="exclude"``), bounds derived from the replicate by
the same rules, and the batched projected-Newton solver started from several
points, keeping the lowest NLL per replicate.  The warm start is solved first; the
other starts and the refits stop early where they join the replicate's result so
far (``optimize.minimize_batch(near=...)``): they would end there anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .likelihood import PoissonObjective, any_per_value, mask_patterns
from .models import Model, clip_inside
from .optimize import ROUNDOFF_REL, kink_escape_points, minimize_batch
from .optimize import BatchResult as BatchResult_

__all__ = ["BatchFit", "fit_counts", "FAILURE_CAUSES", "MIN_NONZERO"]

# The bootstrap article skips replicates with fewer than 3 runs with events; the data
# fit needs at least as many LETs with events as parameters.  A replicate gets both (the
# same estimator as the data); each rule has its own failure cause, so that a reader sees
# how many replicates the article's rule alone would have fitted.
MIN_NONZERO = 3
FAILURE_CAUSES = {
    0: "success",
    1: "fewer than 3 runs with events (the bootstrap article's rule)",
    2: "not converged (iteration limit)",
    3: "not converged (line search stalled)",
    4: "non-finite likelihood",
    5: "fewer LETs with events than parameters (the data fit's rule)",
}
_CAUSE_OF_STATUS = np.array([0, 2, 3, 4])  # solver status 0..3 -> failure cause
# A screen point within this many NLL units above a dataset's fit also triggers the refit
# from its best screen points (a point below the fit proves a better optimum; a near tie
# elsewhere in the box often sits next to one in the flat likelihoods of sparse data).
# The refit keeps a result only where it is lower.  Measured on the benchmark's 30-event
# dataset (docs/bootstrap.md): the refit at 0.005 took the misses on 6,000 replicates from
# 6 to 2 for 11 % more time; 0.01 instead, with the further near-tie points below, took
# them on 20,000 others (studies/sparse_starts.py, seeds 555 and 556) from 31 to 15 for
# 12 % more bootstrap time there.  The bundled examples: no change in misses or time.
NEAR_TIE = 0.01
# Best screen points kept per dataset (extra_starts, when larger): the refit also tries
# those beyond the first three that come within NEAR_TIE of the fit (31 -> 26 of the
# misses above on their own).
N_SCREEN_KEEP = 8


@dataclass(frozen=True)
class BatchFit:
    """Best fit per dataset: ``theta (B, p)`` (NaN where skipped), ``nll``, ``cause``."""

    theta: np.ndarray
    nll: np.ndarray
    cause: np.ndarray
    n_iter: np.ndarray


def fit_counts(
    model: Model,
    x: np.ndarray,
    exposure: np.ndarray,
    counts: np.ndarray,
    starts: np.ndarray,
    *,
    zeros: str = "exclude",
    screen: np.ndarray | None = None,
    extra_starts: int = 0,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
    corner_start: bool = False,
    kink_starts: bool = True,
    kink_corner: bool = False,
    tol: float = 1e-10,
    max_iter: int = 100,
) -> BatchFit:
    """Fit every row of ``counts`` by the data's estimator.

    Parameters
    ----------
    model : Model
    x, exposure : (n,)
        Effective LET and exposure of the runs used in the data fit.
    counts : (B, n)
        One simulated dataset per row.
    starts : (K, p)
        Starting points shared by all rows (first: the MLE); each is clipped
        into the row's own box.
    zeros : {"exclude", "include"}
        Zero policy of the data fit, applied to each replicate.
    screen : (G, p), optional
        Grid of points (e.g. the data fit's start grid).  After the fit, the NLL
        of every dataset is evaluated on the grid (moved into its box, see
        ``Model.screen``); a dataset where some grid point already beats
        its fit is provably not at its optimum and is refitted from its three
        best grid points, as is one where a grid point comes within ``NEAR_TIE``
        of it.  Costs G likelihood evaluations per dataset.
    extra_starts : int
        With ``screen``: also start every dataset from its ``extra_starts`` best
        grid points (for sparse data, whose likelihood has many local optima).
    bounds : (lower, upper), optional
        Fixed bounds for every dataset (when the data fit had user bounds);
        otherwise each dataset's own, by the model's rule.
    corner_start : bool
        With ``screen``: also screen every dataset's threshold-corner points
        (``Model.corner_points``) and start it from the best one, for sparse data
        whose optimum often sits with let_th just below the dataset's own lowest LET
        with events.  (Dense data: every checked replicate reached its optimum
        without; the corner costs about 6 us per dataset.)
    kink_starts : bool
        One start per let_th interval between the interior kinks of each dataset's own
        box (see below).  Off, the solver still crosses kinks, one step at a time.
    kink_corner : bool
        With ``corner_start``: also start every dataset that has a live kink of let_th
        inside its box (a zero-event run kept in its likelihood) from its best "kink
        corner" point (:func:`_kink_corner_starts`), for sparse data under
        ``zeros="include"``, whose fits often stop on such a kink.
    tol, max_iter : solver settings.

    Returns
    -------
    BatchFit
    """
    counts = np.asarray(counts, float)
    B, n = counts.shape
    K, p = starts.shape
    nonzero = (counts > 0).sum(axis=1)
    # Distinct LETs with events (runs at one LET are one point of the curve), as the data fit.
    hit_let = any_per_value(x, counts > 0)[1]
    enough_runs = nonzero >= MIN_NONZERO
    valid = enough_runs & (hit_let.sum(axis=1) >= p)  # (>= p LETs: >= p runs too)
    theta = np.full((B, p), np.nan)
    nll = np.full(B, np.nan)
    cause = np.where(valid, 0, np.where(enough_runs, 5, 1))
    n_iter = np.zeros(B, int)
    if not valid.any():
        return BatchFit(theta, nll, cause, n_iter)
    v = np.flatnonzero(valid)
    Nv = counts[v]
    weights = (Nv > 0).astype(float) if zeros == "exclude" else np.ones_like(Nv)
    if bounds is None:
        lo, hi = model.batch_bounds(x, Nv, exposure, weights)
    else:
        lo = np.broadcast_to(np.asarray(bounds[0], float), (Nv.shape[0], p)).copy()
        hi = np.broadcast_to(np.asarray(bounds[1], float), (Nv.shape[0], p)).copy()
    m = v.size
    obj = PoissonObjective(model, x, exposure, Nv, weights)
    kinks = obj.kinks
    # Rows of the batch: every dataset with every shared start ...
    row = np.repeat(np.arange(m), K)
    th0 = np.tile(starts, (m, 1))
    corner = None
    if screen is not None:
        pts, fg = model.screen(obj, Nv, weights, lo, hi, screen,
                               max(int(extra_starts), N_SCREEN_KEEP))
        k = min(int(extra_starts), pts.shape[1])
        if k > 0:  # ... and its own best grid points ...
            row = np.concatenate([row, np.repeat(np.arange(m), k)])
            th0 = np.vstack([th0, pts[:, :k].reshape(-1, p)])
        if corner_start and hasattr(model, "corner_points"):
            # ... and its best threshold-corner point (Model.corner_points): with few
            # events the optimum often sits there, let_th just below this replicate's cap.
            corner = _corner_candidates(model, obj, lo, hi)
            row = np.concatenate([row, np.arange(m)])
            th0 = np.vstack([th0, corner[0][:, 0]])
    is_corner = np.zeros(row.size, bool)
    if corner is not None:
        is_corner[-m:] = True
        kc_row, kc_th0 = (_kink_corner_starts(model, obj, lo, hi, kinks) if kink_corner
                          else (np.zeros(0, int), np.zeros((0, p))))
        if kc_row.size:
            row = np.concatenate([row, kc_row])
            th0 = np.vstack([th0, kc_th0])
            is_corner = np.concatenate([is_corner, np.zeros(kc_row.size, bool)])
    # ... plus, where a dataset's own box holds interior kinks of the threshold (zero-event
    # runs kept in the likelihood below its lowest LET with events), one start per kink
    # interval: a line search stops at such a kink, and a row may stay on it, so each side
    # gets its own start (kink_starts=False: none, see bootstrap._data_kink_in_box).
    # A zero-event run left out (zeros="exclude") is no kink, and gets no start in dense
    # data (measured: no change in 5,000 bootstrap_article and 3,000 cic replicates, 8-17 %
    # less time).  With corner_start (sparse data) it still splits the range: the likelihood
    # of a few events is multimodal in let_th there (6,000 replicates of the benchmark's
    # 30-event dataset: 2 misses with these starts, 3 without; docs/bootstrap.md).
    k_row, k_th0 = _kink_interval_starts(kinks if kink_starts else None, lo, hi, starts[0],
                                         corner_start)
    if k_row.size:
        row = np.concatenate([row, k_row])
        th0 = np.vstack([th0, k_th0])
        is_corner = np.concatenate([is_corner, np.zeros(k_row.size, bool)])
    order = np.argsort(row, kind="stable")
    row, th0, is_corner = row[order], th0[order], is_corner[order]
    th0 = clip_inside(th0, lo[row], hi[row])
    res = _solve_first_then_rest(model, obj, th0, lo, hi, row, kinks, tol, max_iter)
    fun = np.where(np.isfinite(res.fun), res.fun, np.inf)
    # Lowest NLL among converged starts; a non-converged start only if none converged.
    key = np.lexsort((fun, ~res.converged, row))  # per dataset: converged first, then NLL
    first = np.r_[True, row[key][1:] != row[key][:-1]]
    flat = key[first]
    th_v, f_v = res.theta[flat], res.fun[flat]
    st_v = res.status[flat]
    it_v = np.bincount(row, weights=res.n_iter, minlength=m).astype(int)
    if corner is not None:
        th_v, f_v, st_v, it_v = _second_corner(model, obj, lo, hi, corner[0], row, is_corner,
                                               res, th_v, f_v, st_v, it_v, kinks, tol,
                                               max_iter)
    if screen is not None:
        if corner is not None:
            pts, fg = _merge_best(pts, fg, *corner)
        th_v, f_v, st_v, it_v = _refit_flagged(model, obj, lo, hi, pts, fg, th_v, f_v, st_v,
                                               it_v, kinks, tol, max_iter)
    if kinks is not None and kinks[2].any():
        th_v, f_v, st_v, it_v = _escape_kink_saddles(model, obj, lo, hi, th_v, f_v, st_v, it_v,
                                                     kinks, tol, max_iter)
    theta[v] = th_v
    nll[v] = f_v
    cause[v] = _CAUSE_OF_STATUS[st_v]
    n_iter[v] = it_v
    return BatchFit(theta, nll, cause, n_iter)


def _kink_corner_starts(model, obj, lo, hi, kinks):
    """Each dataset's best "kink corner" point, for the datasets with a live kink of the
    threshold strictly inside their box (a zero-event run kept in the likelihood, below
    the lowest LET with events): the corner points (``Model.corner_points``) with let_th
    1e-6 and 1e-4 of the box width *above* the highest such kink instead of below the cap,
    sigma_sat at its conditional optimum.  ``kinks``: ``obj.kinks``.  Returns ``(row, th0)``.

    A step just above a zero-event run's LET gives that run almost no expected events:
    sparse replicates under ``zeros="include"`` often have their optimum there, with
    other (s, w) than the fit that stopped on the kink.  Measured (docs/bootstrap.md): 8,000
    sparse replicates, 10 -> 5 misses for 16 % more time in ``fit_counts``.
    """
    p = lo.shape[1]
    none = np.zeros(0, int), np.zeros((0, p))
    if kinks is None or len(kinks) < 3 or not hasattr(model, "corner_points"):
        return none
    j, kv, live = kinks
    live = np.broadcast_to(live, (lo.shape[0], kv.size))
    inside = live & (kv[None, :] > lo[:, j, None]) & (kv[None, :] < hi[:, j, None])
    has = np.flatnonzero(inside.any(axis=1))
    if has.size == 0:
        return none
    K = np.max(np.where(inside[has], kv[None, :], -np.inf), axis=1)
    lo_h, hi_h = lo[has], hi[has]
    pts = model.corner_points(lo_h, hi_h)
    width = hi_h[:, j] - lo_h[:, j]
    pts[:, :8, j] = (K + 1e-6 * width)[:, None]
    pts[:, 8:, j] = (K + 1e-4 * width)[:, None]
    pts[..., j] = np.minimum(pts[..., j], hi_h[:, None, j])
    W = None if obj.weights is None else np.broadcast_to(obj.weights, obj.counts.shape)[has]
    sub = PoissonObjective(model, obj.x, obj.exposure, obj.counts[has], W)
    pts, fc = model.profiled_nll(sub, pts, lo_h, hi_h)
    fc = np.where(np.isfinite(fc), fc, np.inf)
    best = np.argmin(fc, axis=1)
    return has, pts[np.arange(has.size), best]


def _kink_interval_starts(kinks, lo, hi, start, corner_start):
    """One start per let_th interval between the interior kinks of each dataset's box:
    ``start`` with the kink parameter at the interval's middle, for datasets with more than
    one interval.  Kinks left out of a dataset's likelihood count only with
    ``corner_start`` (see ``fit_counts``).  Returns ``(row, th0)``."""
    p = lo.shape[1]
    if kinks is None or not (corner_start or kinks[2].any()):  # (exclude: no live kink)
        return np.zeros(0, int), np.zeros((0, p))
    j, kv, live = kinks
    lo_j, hi_j = lo[:, j], hi[:, j]
    inner = (kv > lo_j[:, None]) & (kv < hi_j[:, None]) & (live | corner_start)
    edges = np.concatenate([lo_j[:, None], np.where(inner, kv, np.nan), hi_j[:, None]], axis=1)
    edges = np.sort(edges, axis=1)  # NaN last
    mids = 0.5 * (edges[:, :-1] + edges[:, 1:])
    n_int = np.sum(np.isfinite(edges), axis=1) - 1
    has = np.flatnonzero(n_int > 1)
    r_idx, c_idx = np.nonzero(np.isfinite(mids[has]))
    th0 = np.repeat(np.asarray(start, float)[None, :], r_idx.size, axis=0)
    th0[:, j] = mids[has][r_idx, c_idx]
    return has[r_idx], th0


def _solve_first_then_rest(model, obj, th0, lo, hi, row, kinks, tol, max_iter):
    """Solve each dataset's first row (its warm start), then its other rows with that
    result as the known optimum they may join (``minimize_batch(near=...)``).

    A row that joins gets the first row's result (status 4, not converged: the selection
    keeps the first row).  ``row`` is sorted.  Returns a ``BatchResult`` over all rows.
    """
    first = np.r_[True, row[1:] != row[:-1]]
    a, b = np.flatnonzero(first), np.flatnonzero(~first)
    res_a = minimize_batch(obj, th0[a], lo[row[a]], hi[row[a]], model.transforms, rows=row[a],
                           kinks=kinks, tol=tol, max_iter=max_iter)
    if b.size == 0:
        return res_a
    known = np.full((len(lo), th0.shape[1]), np.nan)
    known_f = np.full(len(lo), np.inf)
    conv = res_a.converged
    known[row[a[conv]]] = res_a.theta[conv]
    known_f[row[a[conv]]] = res_a.fun[conv]
    res_b = minimize_batch(obj, th0[b], lo[row[b]], hi[row[b]], model.transforms, rows=row[b],
                           kinks=kinks, tol=tol, max_iter=max_iter, near=known[row[b]],
                           near_fun=known_f[row[b]])
    out = {}
    for k in ("theta", "fun", "converged", "status", "n_iter", "n_eval", "proj_grad",
              "at_lower", "at_upper"):
        va, vb = getattr(res_a, k), getattr(res_b, k)
        v = np.empty((row.size,) + va.shape[1:], va.dtype)
        v[a], v[b] = va, vb
        out[k] = v
    # A joined row ends where the first row did (it was within the radius of it).
    j = b[res_b.status == 4]
    src = a[np.searchsorted(row[a], row[j])]
    for k in ("theta", "fun", "at_lower", "at_upper"):
        out[k][j] = out[k][src]
    return BatchResult_(**out)


def _corner_candidates(model, obj, lo, hi):
    """Each dataset's corner points (``Model.corner_points``), sigma_sat at its conditional
    optimum, with their NLL; best first: ``(m, C, p)`` and ``(m, C)``."""
    group = _shape_box_groups(obj, lo, hi)
    if group is not None and hasattr(model, "profiled_nll_shared"):
        # Datasets with the same shape box have the same corner points: their curves are
        # computed once per group (the bootstrap's replicates share a few dozen boxes).
        first, inv = group
        pts, fc = model.profiled_nll_shared(obj, model.corner_points(lo[first], hi[first]),
                                            inv, lo, hi)
    else:
        pts, fc = model.profiled_nll(obj, model.corner_points(lo, hi), lo, hi)
    fc = np.where(np.isfinite(fc), fc, np.inf)
    order = np.argsort(fc, axis=1, kind="stable")
    r = np.arange(len(fc))[:, None]
    return pts[r, order], fc[r, order]


def _shape_box_groups(obj, lo, hi):
    """Group the datasets by their box of the shape parameters (all but the first, the
    scale) and by which runs are used: ``(first (P,), index (m,))``, or None when the
    weights are not 0/1 (or too many runs to pack).

    The box follows from which runs have events and which are used (the bounds rule), so
    the groups are keyed on those patterns and the boxes checked equal within each.
    """
    N = np.asarray(obj.counts, float)
    W = np.ones_like(N) if obj.weights is None else np.broadcast_to(obj.weights, N.shape)
    if not np.all((W == 0.0) | (W == 1.0)):
        return None
    groups = mask_patterns(W != 0, (W != 0) & (N > 0))
    if groups is None:
        return None
    first, inv = groups
    if not (np.array_equal(lo[first][inv, 1:], lo[:, 1:])
            and np.array_equal(hi[first][inv, 1:], hi[:, 1:])):
        return None
    return first, inv


def _second_corner(model, obj, lo, hi, cp, row, is_corner, res, th, f, st, it, kinks, tol,
                   max_iter):
    """Where the corner start ended with s or w on its lower bound, also start from the
    best corner point of the other s family (s at its lower bound or at twice it).

    From the best corner, sparse replicates often fall into a step-like local optimum with
    s or w on its lower bound, next to a lower one that the other family reaches.
    Measured on 6,000 replicates of the benchmark's 30-event dataset (docs/bootstrap.md):
    misses 13 -> 6, for 7 % more time (about a quarter of the replicates get the start).
    """
    # Indices are the Weibull's (the only model with corner points): 2 is s, 3 is w.
    ci = np.flatnonzero(is_corner)
    on_b = res.at_lower[ci, 2:].any(axis=1)  # s or w on its lower bound
    stuck = row[ci[on_b]]
    if stuck.size == 0:
        return th, f, st, it
    has, pick = _other_family_best(cp[stuck], lo[stuck])
    stuck, pick = stuck[has], pick[has]
    return _refit_from(model, obj, lo, hi, stuck, cp[stuck, pick][:, None, :], th, f, st, it,
                       kinks, tol, max_iter)


def _other_family_best(cp, lo):
    """Per dataset, the best corner point of the s family its best corner point (first) is
    not in (s at its lower bound, or at twice it): ``(has (m,), index (m,))``."""
    s_lo = np.isclose(cp[:, :, 2], lo[:, None, 2], rtol=1e-9, atol=0.0)
    other = s_lo != s_lo[:, :1]
    return other.any(axis=1), np.argmax(other, axis=1)  # best first: argmax is the best


def _merge_best(pts, fg, cp, fc):
    """Merge candidate points into each dataset's best screen points; best first, as many
    as before."""
    allp = np.concatenate([pts, cp], axis=1)
    allf = np.concatenate([fg, fc], axis=1)
    order = np.argsort(allf, axis=1, kind="stable")[:, :fg.shape[1]]
    r = np.arange(len(allf))[:, None]
    return allp[r, order], allf[r, order]


def _refit_flagged(model, obj, lo, hi, pts, fg, th, f, st, it, kinks, tol, max_iter,
                   n_best: int = 3):
    """Refit, from their best grid points, the datasets that a grid point beats or nearly
    ties (``NEAR_TIE``): from the ``n_best`` best, and from every further kept point that
    also comes within ``NEAR_TIE`` of the fit.

    ``pts (m, K, p)`` and ``fg (m, K)``: each dataset's best grid points, best first.
    """
    # A grid point below the fit (beyond round-off) proves the fit is a local optimum; one
    # within NEAR_TIE above it is worth a look too (see NEAR_TIE).
    flagged = np.flatnonzero(fg[:, 0] < f + NEAR_TIE)
    use = (np.arange(fg.shape[1]) < n_best) | (fg < f[:, None] + NEAR_TIE)
    return _refit_from(model, obj, lo, hi, flagged, pts[flagged], th, f, st, it, kinks,
                       tol, max_iter, use=use[flagged])


def _escape_kink_saddles(model, obj, lo, hi, th, f, st, it, kinks, tol, max_iter):
    """Solve again, from a point off the kink, the datasets whose fit stopped at a kink
    saddle (``optimize.kink_escape_points``) where one of its trial points is lower by
    more than round-off; each keeps the new result where it is lower.

    Only live kinks (zero-event runs in the likelihood, ``zeros="include"``) hold a row.
    Measured on 12,000 replicates under ``include`` (docs/bootstrap.md): 18 -> 15 above
    their brute-force optimum, for about 2 % more time on sparse data.
    """
    conv = np.flatnonzero(st == 0)
    which, pts = kink_escape_points(obj, th[conv], lo[conv], hi[conv], model.transforms,
                                    kinks, rows=conv)
    if which.size == 0:
        return th, f, st, it
    rows = conv[which]
    W = None if obj.weights is None else obj.weights[rows]
    sub = PoissonObjective(model, obj.x, obj.exposure, obj.counts[rows], W)
    pts, fp = model.profiled_nll(sub, pts, lo[rows], hi[rows])
    fp = np.where(np.isfinite(fp), fp, np.inf)
    j = np.argmin(fp, axis=1)
    floor = np.maximum(1e3 * tol, ROUNDOFF_REL * np.abs(f[rows]))
    go = f[rows] - fp[np.arange(rows.size), j] > floor
    if not go.any():
        return th, f, st, it
    start = pts[np.flatnonzero(go), j[go]][:, None, :]
    return _refit_from(model, obj, lo, hi, rows[go], start, th, f, st, it, kinks, tol,
                       max_iter)


def _refit_from(model, obj, lo, hi, flagged, pts, th, f, st, it, kinks, tol, max_iter,
                use=None):
    """Refit the datasets ``flagged`` from their points ``pts (len(flagged), k, p)`` (those
    where ``use (len(flagged), k)`` is True, default all); each takes its best converged
    result where that is lower than its current fit."""
    if flagged.size == 0:
        return th, f, st, it
    k = pts.shape[1]
    use = np.ones((flagged.size, k), bool) if use is None else use
    slot = np.flatnonzero(use.ravel())  # (dataset, point) pairs to solve, dataset-major
    row = np.repeat(flagged, k)[slot]
    th0 = pts.reshape(-1, th.shape[1])[slot]
    # A start that comes within the radius of the dataset's current fit would end there:
    # it stops (status 4, not converged, so never "better").
    known = np.where((st == 0)[:, None], th, np.nan)
    res = minimize_batch(obj, th0, lo[row], hi[row], model.transforms, rows=row, kinks=kinks,
                         tol=tol, max_iter=max_iter, near=known[row], near_fun=f[row])
    fun = np.full(flagged.size * k, np.inf)
    fun[slot] = np.where(res.converged & np.isfinite(res.fun), res.fun, np.inf)
    fun = fun.reshape(-1, k)
    j = np.argmin(fun, axis=1)
    better = fun[np.arange(flagged.size), j] < f[flagged]
    where = np.full(flagged.size * k, -1)
    where[slot] = np.arange(slot.size)
    pick = where[np.arange(flagged.size) * k + j]
    sel = flagged[better]
    th, f, st, it = th.copy(), f.copy(), st.copy(), it.copy()
    th[sel] = res.theta[pick[better]]
    f[sel] = res.fun[pick[better]]
    st[sel] = res.status[pick[better]]
    it[flagged] += np.bincount(row, weights=res.n_iter, minlength=len(it))[flagged].astype(int)
    return th, f, st, it
