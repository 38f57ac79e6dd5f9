"""Coverage study of the bootstrap intervals of the Weibull parameters.

Many datasets are simulated from a known Weibull curve; each is fitted with
``seufit.fit`` and bootstrapped with ``seufit.bootstrap``; for every parameter
the study counts how often the 95 % percentile interval, the 95 % BCa interval
and the 95 % Wald (Hessian) interval contain the true value, and gives the
Clopper-Pearson 95 % interval of each coverage and the two-sided binomial-test
p-value against 95 %.

Scenarios (8 runs at LET 5, 8, 12, 18, 25, 35, 50, 70 MeV cm2/mg, true curve
sigma_sat 1e-5 cm2, let_th 1.5, s 1.5, w 20):

* ``dense``: fluence 4e7 per run, 1866 expected events, smallest expected count
  28 (the series' rule picks BCa);
* ``sparse`` (``--sparse``): fluence 6e5 per run, 28 expected events (the
  conservative configuration; the rule picks percentile);
* ``medium`` (``--medium``): fluence 8e6 per run, 373 expected events, where the
  estimator is less linear in the counts and the two accelerations differ more;
* ``interior`` (``--interior``): a dense scenario where every parameter sits well
  inside its box, the regime the 95 % target of a bootstrap interval is about: 9 runs
  at LET 4, 6, 9, 13, 18, 25, 35, 50, 70, true let_th 3.0 (about 9 standard errors
  above its lower bound 0 and 3 below its cap, the lowest LET with events), the other
  parameters as above; fluence 1e8 per run, 4518 expected events, smallest expected
  count 11.

The true let_th (1.5) is about one standard error above its lower bound (0) even
in the dense scenario, so a fair share of the estimates sit on that bound; the
coverage is also given separately for the datasets whose fit has every parameter
inside the box and for those with some parameter on a bound.  The row
``bca/pct@bound`` is a candidate rule, not what seufit does today: BCa, but the
percentile interval for a dataset whose fit has a parameter on a bound (``ci="guarded"``).
The row ``bca/influence`` is BCa with ``acceleration="influence"`` (the slopes of the
acceleration from the derivatives at the MLE instead of the regression; the same as
``bca`` where a parameter is on a bound).

Run::

    python studies/bootstrap_coverage.py            # dense, 1000 datasets x 1000 replicates
    python studies/bootstrap_coverage.py --sparse   # also the sparse scenario (500 x 1000)
    python studies/bootstrap_coverage.py --medium   # also the medium one (1000 x 1000)
    python studies/bootstrap_coverage.py --interior # also the interior one (1000 x 1000)
    python studies/bootstrap_coverage.py --quick    # dense, 200 datasets x 500 replicates

Datasets are distributed over ``--jobs`` processes (default 2); each bootstrap
runs serially inside its worker.  Every dataset has its own seed spawned from
``--seed``, so the results do not depend on the number of processes.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from scipy.stats import binomtest  # noqa: E402

import seufit  # noqa: E402

LET = np.array([5.0, 8.0, 12.0, 18.0, 25.0, 35.0, 50.0, 70.0])
TRUE = np.array([1e-5, 1.5, 1.5, 20.0])  # sigma_sat, let_th, s, w
NAMES = ("sigma_sat", "let_th", "s", "w")
LET_INTERIOR = np.array([4.0, 6.0, 9.0, 13.0, 18.0, 25.0, 35.0, 50.0, 70.0])
TRUE_INTERIOR = np.array([1e-5, 3.0, 1.5, 20.0])
SCENARIOS = {
    "dense": {"fluence": 4e7, "datasets": 1000, "n_boot": 1000},
    "sparse": {"fluence": 6e5, "datasets": 500, "n_boot": 1000},
    "medium": {"fluence": 8e6, "datasets": 1000, "n_boot": 1000},
    "interior": {"fluence": 1e8, "datasets": 1000, "n_boot": 1000, "let": LET_INTERIOR,
                 "true": TRUE_INTERIOR},
}
METHODS = ("percentile", "bca", "bca/influence", "bca/pct@bound", "wald")


def expected_counts(fluence: float, let: np.ndarray = LET, true: np.ndarray = TRUE
                    ) -> np.ndarray:
    sig = true[0] * -np.expm1(-((np.clip(let - true[1], 0, None) / true[3]) ** true[2]))
    return sig * fluence


def one_dataset(fluence: float, n_boot: int, seed_seq: np.random.SeedSequence,
                let: np.ndarray = LET, true: np.ndarray = TRUE) -> dict:
    """Simulate, fit and bootstrap one dataset; coverage flags per method and parameter."""
    data_ss, boot_ss = seed_seq.spawn(2)
    counts = np.random.default_rng(data_ss).poisson(expected_counts(fluence, let, true))
    out = {"events": int(counts.sum()), "cover": {}, "fitted": False}
    if np.sum(counts > 0) < 4:
        return out
    df = pd.DataFrame({"let": let, "fluence": fluence, "events": counts})
    fr = seufit.fit(df, variant="standard")  # Wald intervals whatever the event count
    if not fr.fitted:
        return out
    seed = int(boot_ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    res = seufit.bootstrap(fr, n_boot=n_boot, seed=seed, jobs=1, progress=False)
    cover = {
        "percentile": (res.percentile[:, 0] <= true) & (true <= res.percentile[:, 1]),
        "bca": (res.bca[:, 0] <= true) & (true <= res.bca[:, 1]),
    }
    # BCa with the acceleration from the derivatives at the MLE (acceleration="influence";
    # where they do not exist, a parameter on a bound, it is the regression's, as in seufit).
    infl = res.with_level(0.95, acceleration="influence")
    cover["bca/influence"] = (infl.bca[:, 0] <= true) & (true <= infl.bca[:, 1])
    # A candidate rule, not seufit's: BCa, but percentile when a parameter is on a bound.
    cover["bca/pct@bound"] = cover["percentile"] if fr.at_bound else cover["bca"]
    if fr.ci_low is not None:
        cover["wald"] = (fr.ci_low <= true) & (true <= fr.ci_high)
    out.update(fitted=True, cover={k: v.tolist() for k, v in cover.items()},
               rule=res.ci_method, config=res.config, success=res.success_rate,
               at_bound=list(fr.at_bound), se=res.se.tolist(),
               hessian_se=None if fr.se is None else fr.se.tolist(),
               theta=fr.theta.tolist(), a=res.a.tolist(), a_influence=infl.a.tolist())
    return out


def clopper_pearson(k: int, n: int, cl: float = 0.95) -> tuple[float, float]:
    ci = binomtest(k, n).proportion_ci(confidence_level=cl, method="exact")
    return ci.low, ci.high


def run_scenario(name: str, datasets: int, n_boot: int, seed: int, jobs: int) -> dict:
    cfg = SCENARIOS[name]
    let, true = cfg.get("let", LET), cfg.get("true", TRUE)
    lam = expected_counts(cfg["fluence"], let, true)
    print(f"\n== {name}: LET {let.tolist()}, true {true.tolist()}; fluence "
          f"{cfg['fluence']:g} per run, expected counts "
          f"{np.round(lam, 1).tolist()} (total {lam.sum():.1f}); {datasets} datasets x "
          f"{n_boot} replicates, seed {seed}", flush=True)
    seeds = np.random.SeedSequence([seed, list(SCENARIOS).index(name)]).spawn(datasets)
    t0 = time.perf_counter()
    rows = Parallel(n_jobs=jobs)(delayed(one_dataset)(cfg["fluence"], n_boot, s, let, true)
                                 for s in seeds)
    elapsed = time.perf_counter() - t0
    fitted = [r for r in rows if r["fitted"]]
    print(f"   {len(fitted)} of {datasets} datasets fitted in {elapsed:.0f} s; median bootstrap "
          f"success {100 * np.median([r['success'] for r in fitted]):.2f} %; rule chose BCa for "
          f"{sum(r['rule'] == 'bca' for r in fitted)}, percentile for "
          f"{sum(r['rule'] == 'percentile' for r in fitted)}; some parameter at a bound in "
          f"{sum(bool(r['at_bound']) for r in fitted)}")
    result = {"scenario": name, "fluence": cfg["fluence"], "expected_counts": lam.tolist(),
              "datasets": datasets, "n_boot": n_boot, "seed": seed, "seconds": elapsed,
              "fitted": len(fitted), "coverage": {}}
    print(f"   {'parameter':<10}{'method':<15}{'coverage':>10}{'95 % CI (Clopper-Pearson)':>28}"
          f"{'p vs 0.95':>11}{'n':>6}{'fit inside the box':>22}{'a parameter on a bound':>24}")
    for k, pname in enumerate(NAMES):
        for m in METHODS:
            use = [r for r in fitted if m in r["cover"]]
            flags = np.array([r["cover"][m][k] for r in use], bool)
            on_b = np.array([bool(r["at_bound"]) for r in use], bool)
            n = flags.size
            if n == 0:
                continue
            hits = int(flags.sum())
            lo, hi = clopper_pearson(hits, n)
            p = binomtest(hits, n, 0.95).pvalue
            split = {"inside": [int(flags[~on_b].sum()), int((~on_b).sum())],
                     "on_bound": [int(flags[on_b].sum()), int(on_b.sum())]}
            result["coverage"].setdefault(pname, {})[m] = {"hits": hits, "n": n,
                                                           "ci": [lo, hi], "p": p, **split}
            parts = [f"{100 * h / c:.1f} % of {c}" if c else "-"
                     for h, c in (split["inside"], split["on_bound"])]
            print(f"   {pname if m == METHODS[0] else '':<10}{m:<15}{100 * hits / n:>9.1f}%"
                  f"{f'[{100 * lo:.1f}, {100 * hi:.1f}] %':>28}{p:>11.3g}{n:>6}"
                  f"{parts[0]:>22}{parts[1]:>24}")
    # The two accelerations, interval by interval, where they can differ (every parameter
    # inside the box): how often one covers and the other does not.
    inside = [r for r in fitted if not r["at_bound"]]
    if inside:
        reg = np.array([r["cover"]["bca"] for r in inside], bool)
        inf = np.array([r["cover"]["bca/influence"] for r in inside], bool)
        only_reg, only_inf = int((reg & ~inf).sum()), int((inf & ~reg).sum())
        print(f"   BCa, regression against influence a, {len(inside)} fits inside the box x "
              f"{len(NAMES)} parameters: {only_reg} intervals cover with the regression's a "
              f"only, {only_inf} with the influence a only")
        result["acceleration_discordant"] = {"regression_only": only_reg,
                                             "influence_only": only_inf,
                                             "intervals": int(reg.size)}
        a_reg = np.array([r["a"] for r in inside])
        a_inf = np.array([r["a_influence"] for r in inside])
        med = np.median(np.abs(a_reg - a_inf), axis=0)
        print("   median |a_regression - a_influence| inside the box: "
              + ", ".join(f"{n} {v:.2g}" for n, v in zip(NAMES, med)))
    se = np.array([r["se"] for r in fitted])
    est = np.array([r["theta"] for r in fitted])
    hse = np.array([r["hessian_se"] for r in fitted if r["hessian_se"] is not None])
    sd = est.std(axis=0, ddof=1)
    print("   spread of the estimates over datasets vs the median bootstrap and Hessian SE:")
    for k, pname in enumerate(NAMES):
        med_h = np.median(hse[:, k]) if hse.size else float("nan")
        print(f"   {pname:<10} sd(estimates) {sd[k]:.3g}   median bootstrap SE "
              f"{np.median(se[:, k]):.3g}   median Hessian SE {med_h:.3g}")
    result["sd_estimates"] = sd.tolist()
    result["median_boot_se"] = np.median(se, axis=0).tolist()
    result["median_hessian_se"] = np.median(hse, axis=0).tolist() if hse.size else None
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="dense only, 200 datasets x 500")
    ap.add_argument("--sparse", action="store_true", help="also run the sparse scenario")
    ap.add_argument("--medium", action="store_true", help="also run the medium scenario")
    ap.add_argument("--interior", action="store_true",
                    help="also run the interior scenario (every parameter well inside its box)")
    ap.add_argument("--datasets", type=int, default=None, help="datasets per scenario")
    ap.add_argument("--n-boot", type=int, default=None, help="replicates per dataset")
    ap.add_argument("--seed", type=int, default=20240612)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    names = ["dense"] + [n for n, on in (("sparse", args.sparse), ("medium", args.medium),
                                         ("interior", args.interior)) if on and not args.quick]
    out = []
    t0 = time.perf_counter()
    for name in names:
        cfg = SCENARIOS[name]
        datasets = args.datasets or (200 if args.quick else cfg["datasets"])
        n_boot = args.n_boot or (500 if args.quick else cfg["n_boot"])
        out.append(run_scenario(name, datasets, n_boot, args.seed, args.jobs))
    print(f"\nseufit {seufit.__version__}; total {time.perf_counter() - t0:.0f} s on "
          f"{args.jobs} process(es); coverage is of the 95 % two-sided intervals; the Wald "
          "interval is the fit's Hessian interval (variant forced to standard)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
