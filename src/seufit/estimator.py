"""The estimator applied to many count vectors at once (bootstrap replicates).

A replicate is fitted exactly as the data were: the same zero policy (zero-event
runs left out under ``zeros="exclude"``), bounds derived from the replicate by
the same rules, and the batched projected-Newton solver started from several
points, keeping the lowest NLL per replicate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .likelihood import PoissonObjective
from .models import Model, clip_inside
from .optimize import minimize_batch

__all__ = ["BatchFit", "fit_counts", "FAILURE_CAUSES", "MIN_NONZERO"]

MIN_NONZERO = 3  # the bootstrap article's rule: fewer runs with events -> skipped, counted
FAILURE_CAUSES = {
    0: "success",
    1: f"fewer than {MIN_NONZERO} runs with events",
    2: "not converged (iteration limit)",
    3: "not converged (line search stalled)",
    4: "non-finite likelihood",
}
_SOLVER_TO_CAUSE = {0: 0, 1: 2, 2: 3, 3: 4}


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
    tol, max_iter : solver settings.

    Returns
    -------
    BatchFit
    """
    counts = np.asarray(counts, float)
    B, n = counts.shape
    K, p = starts.shape
    nonzero = (counts > 0).sum(axis=1)
    valid = nonzero >= max(MIN_NONZERO, 1)
    theta = np.full((B, p), np.nan)
    nll = np.full(B, np.nan)
    cause = np.where(valid, 0, 1)
    n_iter = np.zeros(B, int)
    if not valid.any():
        return BatchFit(theta, nll, cause, n_iter)
    v = np.flatnonzero(valid)
    Nv = counts[v]
    weights = (Nv > 0).astype(float) if zeros == "exclude" else np.ones_like(Nv)
    lo, hi = model.batch_bounds(x, Nv, exposure, weights)
    m = v.size
    obj = PoissonObjective(model, x, exposure, Nv, weights)
    # Rows of the batch: every dataset with every shared start ...
    row = np.repeat(np.arange(m), K)
    th0 = np.tile(starts, (m, 1))
    # ... plus, where a dataset's own box holds interior kinks of the threshold (zero-event
    # runs kept in the likelihood below its lowest LET with events), one start per kink
    # interval: the solver does not cross such a kink, so each side needs its own start.
    kinks = obj.kinks
    if kinks is not None:
        j, kv = kinks
        lo_j, hi_j = lo[:, j], hi[:, j]
        edges = np.concatenate([lo_j[:, None], np.where((kv > lo_j[:, None]) & (kv < hi_j[:, None]),
                                                        kv, np.nan), hi_j[:, None]], axis=1)
        edges = np.sort(edges, axis=1)  # NaN last
        mids = 0.5 * (edges[:, :-1] + edges[:, 1:])
        n_int = np.sum(np.isfinite(edges), axis=1) - 1
        has = np.flatnonzero(n_int > 1)
        if has.size:
            r_idx, c_idx = np.nonzero(np.isfinite(mids[has]))
            extra = np.repeat(starts[:1], r_idx.size, axis=0)
            extra[:, j] = mids[has][r_idx, c_idx]
            row = np.concatenate([row, has[r_idx]])
            th0 = np.vstack([th0, extra])
    order = np.argsort(row, kind="stable")
    row, th0 = row[order], th0[order]
    th0 = clip_inside(th0, lo[row], hi[row])
    res = minimize_batch(obj, th0, lo[row], hi[row], model.transforms, rows=row,
                         kinks=kinks, tol=tol, max_iter=max_iter)
    fun = np.where(np.isfinite(res.fun), res.fun, np.inf)
    # Lowest NLL among converged starts; a non-converged start only if none converged.
    key = np.lexsort((fun, ~res.converged, row))  # per dataset: converged first, then NLL
    first = np.r_[True, row[key][1:] != row[key][:-1]]
    flat = key[first]
    theta[v] = res.theta[flat]
    nll[v] = res.fun[flat]
    cause[v] = np.vectorize(_SOLVER_TO_CAUSE.get)(res.status[flat])
    n_iter[v] = np.bincount(row, weights=res.n_iter, minlength=m).astype(int)
    return BatchFit(theta, nll, cause, n_iter)
