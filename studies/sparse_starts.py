"""What each start of the replicate estimator buys on sparse data, in misses and in time.

The bootstrap fits a replicate of fewer than 50 events from its warm start (the MLE),
its best threshold-corner point (and, where that start ends with s or w on its lower
bound, the other s family's best corner point), one start per let_th interval, and
refits it from its three best screen points, and from any further point among its 8
best within ``NEAR_TIE`` of its fit, where a point of the 768-point screen beats or
comes within ``NEAR_TIE`` of its fit (docs/bootstrap.md, "The method").  This study runs
``seufit.estimator.fit_counts`` on the same replicates with parts of that switched off
or extended, times each variant (serial, after a warm-up), and counts the replicates
whose NLL is more than 1e-6 above the benchmark's brute-force reference
(``benchmarks/bootstrap.py``, ``reference_optimum``).

Run::

    python studies/sparse_starts.py              # 10,000 replicates, about 2 minutes
    python studies/sparse_starts.py -n 20000 --seed 556

The replicates are the bootstrap's own (``seufit.bootstrap`` with ``--seed``) of the
benchmark's 30-event dataset; references run in ``--jobs`` processes.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402

import seufit  # noqa: E402
import seufit.estimator as est  # noqa: E402
from seufit.estimator import fit_counts  # noqa: E402
from seufit.uncertainty.bootstrap import CONFIGS, replicate_starts  # noqa: E402

_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(_ROOT / "studies"), str(_ROOT / "benchmarks")]
import bootstrap as bench  # noqa: E402
from replicates_at_optimum import AT_OPT_TOL, _references  # noqa: E402

# name: (screen grid, corner start, extra starts, (NEAR_TIE, N_SCREEN_KEEP) or None for
# the release's); the first is the bootstrap's choice.
VARIANTS = {
    "bootstrap default (corner starts, 768-point screen, refits)": ("dense", True, 0, None),
    "near-tie refit of 0.005 from the 3 best points (before)": ("dense", True, 0, (5e-3, 3)),
    "warm start only (no screen, no corner)": (None, False, 0, None),
    "no corner starts (768-point screen and refits)": ("dense", False, 0, None),
    "101-point screen instead of 768 (corner starts)": ("starts", True, 0, None),
    "default + 2 best screen points as starts": ("dense", True, 2, None),
}


def sparse_replicates(argv, description: str, repeats_help: str):
    """Parse the sparse studies' common options; fit the benchmark's 30-event dataset and
    draw its bootstrap replicates.  Returns ``(args, fit result, counts)``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("-n", type=int, default=10_000, help="replicates")
    p.add_argument("--seed", type=int, default=555)
    p.add_argument("--jobs", type=int, default=2, help="processes for the references")
    p.add_argument("--repeats", type=int, default=3, help=repeats_help)
    args = p.parse_args(argv)
    if args.n < 20 or args.repeats < 1 or args.jobs == 0:
        p.error("need -n >= 20, --repeats >= 1 and a non-zero --jobs")
    fr = seufit.fit(bench.sparse_data())
    res = seufit.bootstrap(fr, n_boot=args.n, seed=args.seed, progress=False)
    return args, fr, res.counts


def sparse_references(counts: np.ndarray, rows: np.ndarray, jobs: int) -> np.ndarray:
    """The benchmark's brute-force reference NLL of ``counts[rows]``, in ``jobs`` processes."""
    chunks = np.array_split(rows, max(1, 8 * jobs))
    return np.concatenate(Parallel(n_jobs=jobs)(
        delayed(_references)("sparse_30", counts[c]) for c in chunks))


def main(argv=None) -> None:
    args, fr, counts = sparse_replicates(argv, __doc__.splitlines()[0],
                                         "timed calls per variant")
    fd = fr.fit_data
    t0 = time.perf_counter()
    ref = sparse_references(counts, np.arange(args.n), args.jobs)
    print(f"seufit {seufit.__version__}; sparse 30-event dataset, {args.n} replicates, seed "
          f"{args.seed}; references {time.perf_counter() - t0:.0f} s; miss: NLL more than "
          f"{AT_OPT_TOL:g} above the reference")
    grids = {"dense": fr.model.screen_grid(fr.bounds),
             "starts": fr.model.starts(fd.let, fd.events, fd.exposure, fr.bounds), None: None}
    starts = replicate_starts(fr)
    tol = CONFIGS["conservative"]["tol"]
    print(f"{'variant':<62} {'misses':>7} {'us/replicate':>13} {'Newton iterations':>18}")
    release = (est.NEAR_TIE, est.N_SCREEN_KEEP)
    for label, (grid, corner, extra, refit) in VARIANTS.items():
        est.NEAR_TIE, est.N_SCREEN_KEEP = release if refit is None else refit

        def run(grid=grid, corner=corner, extra=extra):
            return fit_counts(fr.model, fd.let, fd.exposure, counts, starts, zeros=fr.zeros,
                              tol=tol, screen=grids[grid], extra_starts=extra,
                              corner_start=corner)

        run()  # warm-up (compilation of any new specialisation)
        best = np.inf
        for _ in range(args.repeats):
            t = time.perf_counter()
            bf = run()
            best = min(best, time.perf_counter() - t)
        ok = bf.cause == 0
        misses = int(np.sum(bf.nll[ok] - ref[ok] > AT_OPT_TOL))
        print(f"{label:<62} {misses:>4}/{ok.sum():<5} {1e6 * best / args.n:>10.1f} "
              f"{bf.n_iter[ok].mean():>15.1f}")
    est.NEAR_TIE, est.N_SCREEN_KEEP = release


if __name__ == "__main__":
    main()
