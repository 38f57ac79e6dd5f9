"""Which starts a sparse-data replicate needs, and what they cost: every candidate start
of the replicate estimator solved on its own, then subsets of them scored.

The bootstrap fits a replicate of fewer than 50 events from several starts (its warm
start, its best threshold-corner point, the other s family's best corner point, one
start per let_th interval, and refits from its best screen points where the screen finds
a near tie; docs/bootstrap.md, "The method").  Its cost is why the sparse dataset misses
the issue's 200x target.  This study asks whether a cheaper subset of those starts would
do: it solves every candidate start on every replicate separately (no joins, so each
start's own cost), times each batch, and for each subset counts the replicates whose best
NLL is more than 1e-6 above the benchmark's brute-force reference
(``benchmarks/bootstrap.py``, ``reference_optimum``).  Every candidate is solved for every
replicate that has it, including those the estimator starts only on a condition (the
other s family's corner point, the screen points of its near-tie refit).

The "oracle" line is a rough floor for any start policy: the warm start everywhere, plus
the one candidate that wins for the replicates the warm start leaves above their optimum,
chosen with hindsight (each charged its batch's mean cost per row).  The gap between it
and the estimator is what a perfect predictor of "this replicate needs another start, and
this one" would save.

Run::

    python studies/start_subsets.py                    # 10,000 replicates, about 1 minute
    python studies/start_subsets.py -n 20000 --seed 556

The replicates are the bootstrap's own (``seufit.bootstrap`` with ``--seed``) of the
benchmark's 30-event dataset; references run in ``--jobs`` processes; the solves are
serial, best of ``--repeats`` calls after a warm-up.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import seufit  # noqa: E402
import seufit.estimator as est  # noqa: E402
from seufit.likelihood import PoissonObjective  # noqa: E402
from seufit.models import clip_inside  # noqa: E402
from seufit.optimize import _Coords, minimize_batch  # noqa: E402
from seufit.uncertainty.bootstrap import CONFIGS, replicate_starts  # noqa: E402

_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(_ROOT / "studies"), str(_ROOT / "benchmarks")]
from replicates_at_optimum import AT_OPT_TOL  # noqa: E402
from sparse_starts import sparse_references, sparse_replicates  # noqa: E402

N_SCREEN = est.N_SCREEN_KEEP  # the screen points the estimator keeps per replicate

# label: candidate starts (see candidates()); "screen k" is the k-th best screen point
SUBSETS = {
    "warm start only": ["warm"],
    "warm + corner": ["warm", "corner"],
    "warm + corner + other s family": ["warm", "corner", "other"],
    "warm + corner + other + let_th intervals": ["warm", "corner", "other", "intervals"],
    "warm + best screen point": ["warm", "screen 1"],
    "warm + 3 best screen points": ["warm", "screen 1", "screen 2", "screen 3"],
    "warm + corner + best screen point": ["warm", "corner", "screen 1"],
    "warm + corner + other + best screen point": ["warm", "corner", "other", "screen 1"],
    "warm + corner + other + 2 best screen points":
        ["warm", "corner", "other", "screen 1", "screen 2"],
    "warm + corner + other + 3 best screen points":
        ["warm", "corner", "other", "screen 1", "screen 2", "screen 3"],
    "every candidate (warm, corner, other, intervals, 8 screen points)": None,
}


def _solve(model, obj, th0, rows, lo, hi, tol, repeats):
    """Solve ``th0`` (rows ``rows``): best NLL per dataset, wall time, iterations per
    dataset, number of rows, and each row's result."""
    th0 = clip_inside(th0, lo[rows], hi[rows])

    def run():
        return minimize_batch(obj, th0, lo[rows], hi[rows], model.transforms, rows=rows,
                              kinks=obj.kinks, tol=tol, max_iter=100)

    run()
    best_t = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        res = run()
        best_t = min(best_t, time.perf_counter() - t)
    m = len(lo)
    f = np.full(m, np.inf)
    np.minimum.at(f, rows, np.where(res.converged & np.isfinite(res.fun), res.fun, np.inf))
    it = np.bincount(rows, weights=res.n_iter, minlength=m)
    return f, best_t, it, rows.size, res.theta


def candidates(fr, counts, repeats):
    """Every candidate start of every replicate solved on its own.

    Returns ``(valid, {name: (best NLL (m,), seconds, iterations (m,), rows, results)},
    F, dist)`` over the valid replicates (enough runs with events to be fitted): ``F
    (m, 24)`` the NLL of each replicate's 8 best screen points and 16 corner points,
    ``dist`` their distance from its warm start's result (internal coordinates of the
    shape parameters, largest component).
    """
    model, fd = fr.model, fr.fit_data
    x, expo = fd.let, fd.exposure
    tol = CONFIGS["conservative"]["tol"]
    p = len(model.names)
    nonzero = (counts > 0).sum(axis=1)
    hit_let = est.any_per_value(x, counts > 0)[1]
    valid = np.flatnonzero((nonzero >= est.MIN_NONZERO) & (hit_let.sum(axis=1) >= p))
    N = counts[valid].astype(float)
    W = (N > 0).astype(float)  # zeros="exclude", the sparse dataset's policy
    lo, hi = model.batch_bounds(x, N, expo, W)
    obj = PoissonObjective(model, x, expo, N, W)
    m = len(valid)
    r = np.arange(m)
    pts, fg = model.screen(obj, N, W, lo, hi, model.screen_grid(fr.bounds), N_SCREEN)
    cp, fc = est._corner_candidates(model, obj, lo, hi)
    has, pick = est._other_family_best(cp, lo)
    k_row, k_th0 = est._kink_interval_starts(obj.kinks, lo, hi, replicate_starts(fr)[0], True)
    starts = {"warm": (np.tile(replicate_starts(fr)[:1], (m, 1)), r),
              "corner": (cp[:, 0], r),
              "other": (cp[r[has], pick[has]], r[has]),
              "intervals": (k_th0, k_row)}
    for k in range(N_SCREEN):
        starts[f"screen {k + 1}"] = (pts[:, k], r)
    out = {}
    for name, (th0, rows) in starts.items():
        if rows.size == 0:
            out[name] = (np.full(m, np.inf), 0.0, np.zeros(m), 0, np.zeros((0, p)))
            continue
        out[name] = _solve(model, obj, th0, rows, lo, hi, tol, repeats)
    # Every screen and corner point, with its distance from the warm start's result in the
    # solver's internal coordinates of the shape parameters (see optimize._Coords).
    coords = _Coords(model.transforms, lo, hi)
    P = np.concatenate([pts, cp], axis=1)
    F = np.concatenate([fg, fc], axis=1)
    Pi = coords.internal(P.reshape(-1, p), np.repeat(r, P.shape[1])).reshape(P.shape)
    wi = coords.internal(out["warm"][4], r)
    dist = np.max(np.abs(Pi[:, :, 1:] - wi[:, None, 1:]), axis=2)
    return valid, out, F, dist


def main(argv=None) -> None:
    args, fr, counts = sparse_replicates(argv, __doc__.splitlines()[0],
                                         "timed calls per batch")
    fd = fr.fit_data
    t0 = time.perf_counter()
    valid, cand, F_pts, dist = candidates(fr, counts, args.repeats)
    ref = sparse_references(counts, valid, args.jobs)
    m = valid.size
    print(f"seufit {seufit.__version__}; sparse 30-event dataset, {args.n} replicates "
          f"({m} fitted), seed {args.seed}; {time.perf_counter() - t0:.0f} s; miss: NLL more "
          f"than {AT_OPT_TOL:g} above the reference; time: the candidates' batches, serial, "
          f"each start solved to convergence on its own (no joins)")

    def score(names):
        f = np.minimum.reduce([cand[k][0] for k in names])
        t = sum(cand[k][1] for k in names)
        it = np.sum([cand[k][2] for k in names], axis=0)
        return int(np.sum(f - ref > AT_OPT_TOL)), 1e6 * t / m, it.mean()

    print(f"{'start subset':<68} {'misses':>11} {'us/replicate':>13} {'iterations':>11}")
    for label, names in SUBSETS.items():
        k, us, it = score(list(cand) if names is None else names)
        print(f"{label:<68} {k:>5}/{m:<5} {us:>13.1f} {it:>11.1f}")

    # The oracle: warm start everywhere, plus (with hindsight) the one candidate that wins
    # where the warm start is above the optimum.
    warm_f, warm_t = cand["warm"][:2]
    others = [k for k in cand if k != "warm"]
    F = np.stack([cand[k][0] for k in others])
    us_row = np.array([1e6 * cand[k][1] / max(cand[k][3], 1)
                       for k in others])  # time per row of each batch
    need = warm_f - ref > AT_OPT_TOL
    win = np.argmin(F, axis=0)
    fixed = need & (F[win, np.arange(m)] - ref <= AT_OPT_TOL)
    us = 1e6 * warm_t / m + us_row[win[fixed]].sum() / m
    left = int(need.sum() - fixed.sum())
    print(f"{'oracle: warm + the winning candidate where warm misses':<68} {left:>5}/{m:<5} "
          f"{us:>13.1f} {'':>11}")
    print(f"  the warm start misses on {need.sum()} replicates ({100 * need.mean():.1f} %)")
    # The predictor the estimator has: a screen or corner point near (or below) the warm
    # start's result.  How many replicates it flags, and how many it misses that need help.
    # Also with points near the warm result itself ignored (they are in its basin).
    for margin, radius in ((0.01, 0), (0.03, 0), (0.1, 0), (0.3, 0), (0.01, 1), (0.1, 1),
                           (0.1, 2)):
        flag = np.any((F_pts < warm_f[:, None] + margin) & (dist > radius), axis=1)
        print(f"  a screen or corner point within {margin:g} NLL of the warm result"
              + (f", more than {radius:g} from it" if radius else "")
              + f": {100 * flag.mean():.1f} % of replicates flagged; {np.sum(need & ~flag)} "
              f"of the {need.sum()} the warm start leaves above their optimum not flagged")
    # With hindsight: the smallest margin that flags every replicate needing help.
    gap = np.min(F_pts, axis=1) - warm_f
    margin = float(np.max(gap[need])) if need.any() else 0.0
    print(f"  the smallest margin that flags all of them (chosen with hindsight): {margin:.3g} "
          f"NLL, flagging {100 * np.mean(gap <= margin):.1f} % of replicates")

    def fit():
        return est.fit_counts(fr.model, fd.let, fd.exposure, counts, replicate_starts(fr),
                              zeros=fr.zeros, tol=CONFIGS["conservative"]["tol"],
                              screen=fr.model.screen_grid(fr.bounds), corner_start=True)

    fit()  # warm-up, as for the candidates
    t = np.inf
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        bf = fit()
        t = min(t, time.perf_counter() - t0)
    k = int(np.sum(bf.nll[valid] - ref > AT_OPT_TOL))
    print(f"{'the estimator (joins, conditional refits; screen and corner included)':<68} "
          f"{k:>5}/{m:<5} {1e6 * t / m:>13.1f} {bf.n_iter[valid].mean():>11.1f}")


if __name__ == "__main__":
    main()
