"""Benchmark of the likelihood intervals on the bundled examples.

Prints, per example:
* the time of the profiles of all four Weibull parameters at 95 % (target <= 0.2 s),
* the time of a 10^6-sample sweep with default settings, the default box (a
  profile) included (target <= 1 s), and its coverage: sweep width / profile
  width per parameter (target >= 0.9), for uniform and Latin-hypercube sampling,
* a brute-force profile reference (scalar L-BFGS-B multi-start at every point,
  brentq for the endpoints) timed in the same run, the speed ratio and the
  largest endpoint difference relative to the interval width.

Run:  python benchmarks/likelihood.py [--repeat 5] [--no-reference]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

import seufit
from seufit.uncertainty.profile import profile, profile_reference
from seufit.uncertainty.sweep import sweep

EXAMPLES = ("cic_mpa_stubs", "mle_article", "bootstrap_article")
TARGET_PROFILE, TARGET_SWEEP, TARGET_COVERAGE = 0.2, 1.0, 0.9


def timed(fn, repeat):
    """Median wall time, median CPU time of this process, last result."""
    times, cpu, out = [], [], None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times), statistics.median(cpu), out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="seufit likelihood-interval benchmark")
    ap.add_argument("--repeat", type=int, default=5, help="timing repeats (median reported)")
    ap.add_argument("--n", type=int, default=1_000_000, help="sweep size")
    ap.add_argument("--no-reference", action="store_true", help="skip the brute-force reference")
    ap.add_argument("--ref-starts", type=int, default=4,
                    help="random starts per point of the brute-force reference")
    args = ap.parse_args(argv)
    ok = True
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"seufit {seufit.__version__} likelihood benchmark: median of {args.repeat} runs; "
          f"{os.cpu_count()} CPUs, load average {load:.1f} at the start (wall times above 1 "
          "per CPU are inflated by other processes; CPU times are not)")
    for ex in EXAMPLES:
        fr = seufit.fit(f"example:{ex}")
        profile(fr)  # warm-up (imports, caches)
        t_prof, c_prof, prof = timed(lambda fr=fr: profile(fr, 0.95), args.repeat)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_sw, c_sw, sw = timed(lambda fr=fr: sweep(fr, args.n, seed=1),
                                   max(args.repeat // 2, 1))
            sw_lhs = sweep(fr, args.n, method="lhs", seed=1)
            t_given, _, _ = timed(lambda fr=fr, sw=sw: sweep(fr, args.n, seed=2, box=sw.box), 1)
        cov, cov_lhs = sw.coverage, sw_lhs.coverage
        print(f"\n{ex}: {fr.data.n_runs} runs, {fr.n_events} events")
        print(f"  profile, 4 parameters, 95 %: {1e3 * t_prof:7.1f} ms wall, {1e3 * c_prof:.1f} ms "
              f"CPU  ({prof.n_batches} batches, {prof.n_rows} solver rows)  target <= "
              f"{1e3 * TARGET_PROFILE:.0f} ms")
        print(f"  sweep, {args.n:.0e} samples, default box: {1e3 * t_sw:7.1f} ms wall, "
              f"{1e3 * c_sw:.1f} ms CPU  (given box: {1e3 * t_given:.1f} ms; {sw.n_below} under "
              f"the threshold)  target <= {1e3 * TARGET_SWEEP:.0f} ms")
        head = "    " + " ".join(f"{q:>10s}" for q in sw.names)
        print("  sweep width / profile width:")
        print(head)
        print("    " + " ".join(f"{c:10.4f}" for c in cov) + "   uniform")
        print("    " + " ".join(f"{c:10.4f}" for c in cov_lhs) + "   lhs")
        ok &= min(t_prof, c_prof) <= TARGET_PROFILE and min(t_sw, c_sw) <= TARGET_SWEEP
        ok &= bool(np.all(cov >= TARGET_COVERAGE) and np.all(cov_lhs >= TARGET_COVERAGE))
        if not args.no_reference:
            t = time.perf_counter()
            ref = profile_reference(fr, 0.95, n_starts=args.ref_starts)
            t_ref = time.perf_counter() - t
            diff = max(max(abs(ref[q][0] - lo), abs(ref[q][1] - hi)) / (hi - lo)
                       for q, lo, hi in zip(prof.params, prof.ci_low, prof.ci_high, strict=True))
            print(f"  brute-force reference: {t_ref:7.1f} s  = {t_ref / t_prof:,.0f} x the "
                  f"batched profile; largest endpoint difference {diff:.1e} of the width")
            ok &= diff < 1e-3
    print("\nall targets met" if ok else "\nSOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
