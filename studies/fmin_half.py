"""Validation study: the "fmin + 1/2" experiment of the likelihood-sweep article.

The article's test: y = a x + b with a = 0.1, b = 10, x = 10, 11, ..., 150, Poisson
noise, many simulated experiments.  For each experiment and each parameter this
script computes

* the Hessian sigma (inverse of the exact Hessian at the MLE, seufit.fit),
* the fmin + 1/2 sigma: half the width of the range of swept samples whose NLL
  is within 1/2 of the minimum, at several sweep sizes, in seufit's default box,
* the profile-likelihood sigma: half the width of the exact Delta = 1/2 interval,

and compares their averages with the standard deviation of the estimates over
the experiments (the "efficiency" check of the article) and with the sigma
from the Fisher information at the true parameters.

Run:  python studies/fmin_half.py            (1000 experiments, about 3 minutes)
      python studies/fmin_half.py --quick    (200 experiments, under a minute)
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from scipy import stats

import seufit
from seufit.uncertainty.profile import ONE_SIGMA, fit_xy, profile
from seufit.uncertainty.sweep import SweepWarning, sweep

A_TRUE, B_TRUE = 0.1, 10.0
X = np.arange(10.0, 151.0)
SIZES = (100, 1_000, 10_000, 100_000, 1_000_000)
# Sweeps of 1e5 and 1e6 samples over 141 points cost 0.2 and 2 s: first experiments only.
SUBSET = {100_000: 200, 1_000_000: 10}

LINEAR = seufit.UserModel(
    names=("a", "b"),
    func=lambda x, t: t[:, :1] * x + t[:, 1:2],
    jac=lambda x, t: np.broadcast_to(
        np.stack([np.broadcast_to(x, (t.shape[0], x.size)), np.ones((t.shape[0], x.size))],
                 axis=-1), (t.shape[0], x.size, 2)),
    hess=lambda x, t: np.zeros((t.shape[0], x.size, 2, 2)),
    bounds=([-1.0, -50.0], [1.0, 80.0]),
    label="linear y = a x + b",
)


def fisher_sigma() -> np.ndarray:
    """sigma from the expected information at the truth: I = sum x_i x_i^T / mu_i."""
    mu = A_TRUE * X + B_TRUE
    D = np.column_stack([X, np.ones_like(X)])
    info = (D / mu[:, None]).T @ D
    return np.sqrt(np.diag(np.linalg.inv(info)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--quick", action="store_true", help="200 experiments, fewer big sweeps")
    args = ap.parse_args(argv)
    R = 200 if args.quick else args.experiments
    n_exp = {n: min(R, SUBSET[n] // (4 if args.quick else 1)) if n in SUBSET else R
             for n in SIZES}
    if R < 100:
        print("at least 100 experiments are needed", file=sys.stderr)
        return 2
    ss = np.random.SeedSequence(args.seed)
    data_seed, sweep_seed = ss.spawn(2)
    rng = np.random.default_rng(data_seed)
    sweep_seeds = sweep_seed.generate_state(R)
    mu = A_TRUE * X + B_TRUE
    est = np.empty((R, 2))
    hess = np.empty((R, 2))
    prof = np.empty((R, 2))
    prof_cover = np.zeros((R, 2), bool)
    sw = {n: np.full((R, 2), np.nan) for n in SIZES}
    n_below = {n: np.full(R, np.nan) for n in SIZES}
    t0 = time.perf_counter()
    for r in range(R):
        y = rng.poisson(mu)
        fr = fit_xy(X, y, LINEAR, cl=ONE_SIGMA)
        est[r] = fr.theta
        hess[r] = fr.se
        pr = profile(fr, ONE_SIGMA)
        prof[r] = 0.5 * (pr.ci_high - pr.ci_low)
        prof_cover[r] = (pr.ci_low <= [A_TRUE, B_TRUE]) & ([A_TRUE, B_TRUE] <= pr.ci_high)
        # The default box is the profile interval widened by 10 % a side: build it once.
        pad = 0.1 * (pr.ci_high - pr.ci_low)
        box = (np.maximum(fr.bounds[0], pr.ci_low - pad), np.minimum(fr.bounds[1],
                                                                     pr.ci_high + pad))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SweepWarning)  # the small sizes are meant to be short
            for n in SIZES:
                if r >= n_exp[n]:
                    continue
                s = sweep(fr, n, cl=ONE_SIGMA, seed=int(sweep_seeds[r]), box=box)
                sw[n][r] = 0.5 * (s.ci_high - s.ci_low)
                n_below[n][r] = s.n_below
    elapsed = time.perf_counter() - t0

    names = ("a", "b")
    sd = est.std(axis=0, ddof=1)
    sd_se = sd / np.sqrt(2 * (R - 1))
    fis = fisher_sigma()
    print(f"fmin + 1/2 study: y = {A_TRUE} x + {B_TRUE}, x = 10..150 ({X.size} points), Poisson "
          f"noise; {R} experiments, seed {args.seed}; {elapsed:.0f} s")
    print()
    print("estimates (bias check, t-test against the truth):")
    for k, q in enumerate(names):
        m = est[:, k].mean()
        se_m = sd[k] / np.sqrt(R)
        p = stats.ttest_1samp(est[:, k], [A_TRUE, B_TRUE][k]).pvalue
        print(f"  {q}: mean {m:.5g} (truth {[A_TRUE, B_TRUE][k]:g}), standard error {se_m:.2g}, "
              f"p = {p:.2f}")
    print()
    print("one-sigma uncertainty, averaged over the experiments (ratio to the spread):")
    head = f"  {'method':34s} {'a':>12s} {'ratio':>7s} {'b':>12s} {'ratio':>7s}"
    print(head)
    print("  " + "-" * (len(head) - 2))

    def row(label, vals):
        cells = "".join(f" {v:12.5g} {v / sd[k]:7.4f}" for k, v in enumerate(vals))
        print(f"  {label:34s}{cells}")

    row(f"SD of the estimates (+/- {100 * sd_se[0] / sd[0]:.1f} %)", sd)
    row("Fisher information at the truth", fis)
    row("Hessian (mean)", hess.mean(axis=0))
    row("profile likelihood (mean)", prof.mean(axis=0))
    for n in SIZES:
        # Over a subset, the sweep is scaled by the profile/Hessian ratio of that subset.
        m = n_exp[n]
        scaled = np.nanmean(sw[n][:m] / prof[:m], axis=0) * prof.mean(axis=0)
        row(f"fmin + 1/2, n = {n:>7d} ({m} exp.)", scaled)
    print()
    print("per-experiment ratios to the Hessian sigma (mean, min):")
    ratio_p = prof / hess
    print(f"  profile / Hessian:          a {ratio_p[:, 0].mean():.5f} (min "
          f"{ratio_p[:, 0].min():.4f}), b {ratio_p[:, 1].mean():.5f} (min "
          f"{ratio_p[:, 1].min():.4f})")
    for n in SIZES:
        m = n_exp[n]
        rr = sw[n][:m] / hess[:m]
        print(f"  fmin + 1/2, n = {n:>7d}:    a {rr[:, 0].mean():.5f} (min {rr[:, 0].min():.4f}),"
              f" b {rr[:, 1].mean():.5f} (min {rr[:, 1].min():.4f}); median samples under "
              f"threshold {int(np.median(n_below[n][:m]))}")
    cover = prof_cover.mean(axis=0)
    print()
    print(f"profile one-sigma intervals containing the truth: a {100 * cover[0]:.1f} %, "
          f"b {100 * cover[1]:.1f} % (nominal {100 * ONE_SIGMA:.1f} %, binomial SE "
          f"{100 * np.sqrt(ONE_SIGMA * (1 - ONE_SIGMA) / R):.1f} %)")

    # Checks of the issue: Hessian, profile and spread within a few percent; the sweep
    # approaching them as it grows.
    h, p_ = hess.mean(axis=0), prof.mean(axis=0)
    conv = np.array([np.nanmean(sw[n][:n_exp[n]] / prof[:n_exp[n]], axis=0) for n in SIZES])
    checks = {
        "Hessian and profile agree within 1 %": bool(np.all(np.abs(p_ / h - 1) < 0.01)),
        "Hessian and spread agree within 3 standard errors of the spread and 5 %": bool(
            np.all(np.abs(h - sd) < np.minimum(3 * sd_se, 0.05 * sd))),
        "profile and spread agree within 3 standard errors of the spread and 5 %": bool(
            np.all(np.abs(p_ - sd) < np.minimum(3 * sd_se, 0.05 * sd))),
        "sweep sigma grows with n toward the profile": bool(np.all(np.diff(conv, axis=0) > 0)),
        "sweep at n = 1e5 within 1 % of the profile": bool(
            np.all(np.abs(conv[SIZES.index(100_000)] - 1) < 0.01)),
        "sweep never wider than the profile (envelope inside)": bool(
            np.all(np.nan_to_num(sw[n], nan=0.0) <= prof * (1 + 1e-9) for n in SIZES)),
    }
    print()
    for label, ok in checks.items():
        print(f"  [{'PASS' if ok else 'FAIL'}] {label}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
