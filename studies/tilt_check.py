"""The ``tilt`` check: how often it fires when the cosine law holds, and when it fails.

Simulates the bundled real campaign's design (cic_mpa_stubs: ten runs, one of them a
30 degree repeat of the LET 3.3 ion) from its own fitted curve, with Poisson counts.
The tilted run's mean is the curve at its effective LET times its effective fluence
(the law holds) multiplied by ``factor``; factor 1 measures the false-alarm rate,
factors below 1 the power against a device that does not follow the law.  A second
design adds two 45 and 60 degree runs of the LET 9.9 ion.  Each dataset is fitted
(default settings) and ``checks.tilt_check`` judged on it.

Run: python studies/tilt_check.py [--n 1000] [--seed 1]
Results are recorded in docs/checks.md ("Tilted runs").
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import seufit
from seufit.checks import tilt_check


def design(extra: bool) -> pd.DataFrame:
    d = pd.read_csv(seufit.data.example_path("cic_mpa_stubs"))[["let", "angle", "fluence"]]
    if extra:
        d = pd.concat([d, pd.DataFrame({"let": [9.9, 9.9], "angle": [45.0, 60.0],
                                        "fluence": [4.6e6, 4.6e6]})], ignore_index=True)
    return d


def run(n: int, seed: int, factor: float, extra: bool, curve) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    d = design(extra)
    cos = np.cos(np.radians(d["angle"].to_numpy()))
    lam = curve.predict(d["let"].to_numpy() / cos) * d["fluence"].to_numpy() * cos
    tilted = d["angle"].to_numpy() != 0
    lam[tilted] *= factor
    flagged = failed = 0
    ratios = []
    for _ in range(n):
        df = d.assign(events=rng.poisson(lam))
        try:
            c = tilt_check(seufit.fit(df))
        except ValueError:
            failed += 1
            continue
        if c.status == "N/A":  # (no tilted run expects anything: not judged)
            continue
        flagged += c.value["p_value"] < 0.05  # (a tilt above 60 deg warns regardless)
        ratios.append(c.value["ratio"])
    k = n - failed
    return flagged / k, float(np.median(ratios)), failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    curve = seufit.fit("example:cic_mpa_stubs")
    t0 = time.perf_counter()
    print(f"{a.n} datasets per row, seed {a.seed}; flagged = combined p < 0.05")
    print(f"{'design':<34} {'factor':>6} {'flagged':>8} {'median ratio':>13} {'fit errors':>10}")
    for extra, label in ((False, "cic (one run at 30 deg)"),
                         (True, "cic + 45 and 60 deg at LET 9.9")):
        for factor in (1.0, 0.8, 0.6, 0.4):
            rate, med, failed = run(a.n, a.seed, factor, extra, curve)
            print(f"{label:<34} {factor:>6.1f} {rate:>8.3f} {med:>13.3f} {failed:>10d}",
                  flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
