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
    # Row r*K + k: dataset r, start k.
    lo_k = np.repeat(lo, K, axis=0)
    hi_k = np.repeat(hi, K, axis=0)
    th0 = clip_inside(np.tile(starts, (m, 1)), lo_k, hi_k)
    obj = PoissonObjective(model, x, exposure, Nv, weights)
    res = minimize_batch(obj, th0, lo_k, hi_k, model.transforms, rows=np.repeat(np.arange(m), K),
                         kinks=obj.kinks, tol=tol, max_iter=max_iter)
    fun = np.where(np.isfinite(res.fun), res.fun, np.inf).reshape(m, K)
    conv = res.converged.reshape(m, K)
    # Lowest NLL among converged starts; a non-converged start only if none converged.
    score = np.where(conv, fun, np.inf)
    best = np.where(conv.any(axis=1), np.argmin(score, axis=1), np.argmin(fun, axis=1))
    flat = np.arange(m) * K + best
    theta[v] = res.theta[flat]
    nll[v] = res.fun[flat]
    cause[v] = np.vectorize(_SOLVER_TO_CAUSE.get)(res.status[flat])
    n_iter[v] = res.n_iter.reshape(m, K).sum(axis=1)
    return BatchFit(theta, nll, cause, n_iter)
