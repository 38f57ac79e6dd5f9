"""Statistical validation of the parametric bootstrap (issue 3).

Every check compares seufit with a reference it does not share code with:

* each replicate's fit against an independent brute-force optimum (grid search
  plus scipy multi-start L-BFGS-B on the replicate's own box, written here);
* a model whose MLE, standard error and BCa acceleration are known in closed form
  (piecewise-constant cross-section: sigma_k = N_k / E_k for each group of runs);
* the acceleration against the analytic implicit-function slopes of the MLE, and those
  slopes against finite differences of the real estimator;
* the BCa interval against a hand computation;
* the interval coverage over many simulated datasets, by a binomial test.

The full Weibull coverage study is ``studies/bootstrap_coverage.py`` (too slow here).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
import reference
from scipy import stats

import seufit
from seufit.estimator import fit_counts
from seufit.uncertainty.bootstrap import (
    acceleration,
    acceleration_from_slopes,
    bca_interval,
    influence_slopes,
)

EXAMPLES = ("cic_mpa_stubs", "mle_article", "bootstrap_article")
AT_OPT_TOL = 1e-6


def _check_replicates_at_optimum(res):
    """Compare every replicate with its brute-force optimum; return the misses."""
    misses = []
    for i in range(res.n_boot):
        n = res.counts[i].astype(float)
        keep = n > 0 if res.zeros == "exclude" else np.ones(n.size, bool)
        if np.sum(n > 0) < 3:
            assert res.cause[i] == 1  # skipped by the article's rule, and counted
            continue
        assert res.cause[i] == 0, f"replicate {i} failed: cause {res.cause[i]}"
        x, e, c = res.let[keep], res.exposure[keep], n[keep]
        theta = res.draws_all[i]
        lo, hi = reference.rule_box(x, e, c)
        assert np.all(theta >= lo * (1 - 1e-9)) and np.all(theta <= hi * (1 + 1e-9))
        own = reference.poisson_nll(theta, x, e, c)
        assert own == pytest.approx(res.nll[i], rel=1e-9, abs=1e-9)  # same objective
        ref = reference.brute_force_profiled(x, e, c)[0]
        if res.nll[i] > ref + AT_OPT_TOL:
            misses.append((i, res.nll[i] - ref))
    return misses


# Sparse campaign of the benchmark: 8 runs of 1e7 ions/cm2, 30 events.
SPARSE = pd.DataFrame({"let": [2.0, 4.0, 8.0, 14.0, 22.0, 35.0, 50.0, 70.0], "fluence": 1e7,
                       "events": [0, 2, 2, 4, 8, 3, 7, 4]})


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_replicate_reaches_its_brute_force_optimum(name):
    fr = seufit.fit(f"example:{name}")
    res = seufit.bootstrap(fr, n_boot=60, seed=11, progress=False)
    assert _check_replicates_at_optimum(res) == []


def test_sparse_replicates_mostly_reach_their_brute_force_optimum():
    # With ~30 events the 4-parameter likelihood has many local optima.  The threshold-
    # corner starts and the log(cap - let_th) coordinate fixed the 0.022 miss of these 40
    # replicates, and the second corner start the 6e-4 miss that remained.
    # docs/bootstrap.md has the 6,000-replicate check (6 misses, all below 0.012).
    fr = seufit.fit(SPARSE)
    res = seufit.bootstrap(fr, n_boot=40, seed=11, progress=False)
    assert _check_replicates_at_optimum(res) == []


def test_include_replicates_with_a_zero_run_kink_reach_their_brute_force_optimum():
    # bootstrap_article under zeros="include": the zero-event run at LET 1 puts a kink in
    # the box, and the replicates' optima spread over kink intervals and w basins.  Seed 5's
    # first 300 replicates: misses by 1.6e-6, 9e-4 and 0.17 before the pin release and the
    # corner start with the best screen point (docs/bootstrap.md).
    fr = seufit.fit("example:bootstrap_article", zeros="include")
    res = seufit.bootstrap(fr, n_boot=300, seed=5, progress=False)
    opts = res.provenance["options"]
    assert opts["corner_start"] and opts["extra_starts"] == 1 and not opts["kink_starts"]
    assert _check_replicates_at_optimum(res) == []


# -- a model with a closed-form answer --------------------------------------------------
def _step(x, th):
    return np.where(np.asarray(x)[None, :] < 10.0, th[:, :1], th[:, 1:2])


def _step_jac(x, th):
    low = (np.asarray(x) < 10.0).astype(float)
    J = np.empty((len(th), len(x), 2))
    J[..., 0] = low
    J[..., 1] = 1.0 - low
    return J


# sigma(L) = sigma_low below LET 10, sigma_high above: sigma_k = N_k / E_k exactly.
STEP = seufit.UserModel(names=("sigma_low", "sigma_high"), func=_step, jac=_step_jac,
                        hess=lambda x, th: np.zeros((len(th), len(x), 2, 2)),
                        bounds=((1e-12, 1e-12), (1.0, 1.0)), transforms=("log", "log"),
                        label="two-level step")
STEP_LET = np.array([2.0, 4.0, 6.0, 8.0, 12.0, 20.0, 30.0, 40.0])
STEP_FLUENCE = np.array([1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0]) * 1e6
STEP_TRUE = np.array([5e-6, 2e-5])  # 50 and 200 expected events
LOW = STEP_LET < 10.0


def _step_data(counts):
    return pd.DataFrame({"let": STEP_LET, "fluence": STEP_FLUENCE, "events": counts})


def _groups(counts):
    n = np.array([counts[LOW].sum(), counts[~LOW].sum()], float)
    e = np.array([STEP_FLUENCE[LOW].sum(), STEP_FLUENCE[~LOW].sum()])
    return n, e


@pytest.fixture(scope="module")
def step_boot():
    counts = np.random.default_rng(1).poisson(_step(STEP_LET, STEP_TRUE[None])[0] * STEP_FLUENCE)
    fr = seufit.fit(_step_data(counts), model=STEP, zeros="include")
    res = seufit.bootstrap(fr, n_boot=4000, seed=3, progress=False)
    return counts, fr, res


def test_step_model_mle_is_closed_form(step_boot):
    counts, fr, res = step_boot
    n, e = _groups(counts)
    assert fr.theta == pytest.approx(n / e, rel=1e-7)
    assert res.success_rate == 1.0


def test_bootstrap_se_and_quantiles_match_poisson_theory(step_boot):
    counts, fr, res = step_boot
    n, e = _groups(counts)
    # sigma_k* = Poisson(N_k) / E_k exactly: SE sqrt(N_k) / E_k.
    tol = 5.0 / np.sqrt(2 * (res.n_success - 1))  # five Monte Carlo standard errors
    assert res.se == pytest.approx(np.sqrt(n) / e, rel=tol)
    for k in range(2):
        lo, hi = stats.poisson.ppf([0.025, 0.975], n[k]) / e[k]
        assert abs(res.percentile[k, 0] - lo) * e[k] <= 2.0  # within two counts
        assert abs(res.percentile[k, 1] - hi) * e[k] <= 2.0


def test_acceleration_is_the_poisson_mean_textbook_value(step_boot):
    counts, fr, res = step_boot
    n, _ = _groups(counts)
    # Skewness / 6 of the Poisson mean: 1 / (6 sqrt(sum lambda_hat)); sum lambda_hat = N_k.
    assert res.a == pytest.approx(1.0 / (6.0 * np.sqrt(n)), rel=1e-3)


def test_one_parameter_model_bootstraps():
    const = seufit.UserModel(names=("sigma",),
                             func=lambda x, th: np.broadcast_to(th[:, :1], (len(th), len(x))),
                             bounds=((1e-12,), (1.0,)), transforms=("log",))
    counts = np.random.default_rng(2).poisson(2e-5 * STEP_FLUENCE)
    fr = seufit.fit(_step_data(counts), model=const, zeros="include")
    res = seufit.bootstrap(fr, n_boot=500, seed=1, progress=False)
    assert res.se[0] == pytest.approx(np.sqrt(counts.sum()) / STEP_FLUENCE.sum(), rel=0.2)
    # Textbook acceleration of a Poisson mean: 1 / (6 sqrt(total expected count)).
    assert res.a[0] == pytest.approx(1 / (6 * np.sqrt(res.lam_hat.sum())), rel=0.05)


def test_acceleration_kernel_is_exact_for_a_linear_estimator():
    rng = np.random.default_rng(4)
    lam = np.array([3.0, 8.0, 20.0, 50.0, 90.0])
    counts = rng.poisson(lam, size=(3000, lam.size)).astype(float)
    b = np.array([[0.5, -1.0, 2e-3], [0.1, 0.3, 1e-3], [-0.2, 0.05, 4e-3],
                  [0.02, 0.01, -1e-3], [0.01, -0.02, 2e-4]])
    draws = np.array([1.0, -2.0, 0.3]) + (counts - lam) @ b
    expect = (b**3 * lam[:, None]).sum(0) / (6 * ((b**2 * lam[:, None]).sum(0)) ** 1.5)
    assert acceleration(draws, counts, lam) == pytest.approx(expect, rel=1e-8)


def _analytic_acceleration(fr):
    """Efron's parametric acceleration from the implicit-function slopes of the MLE:
    b_i = H^-1 J_i / lambda_i (d theta / d N_i), a = sum b^3 lambda / (6 (sum b^2 lambda)^1.5)."""
    fd = fr.fit_data
    lam = fr.predict(fd.let) * fd.exposure
    J = fr.model.derivatives(fr.theta[None, :], fd.let, order=1)[1][0] * fd.exposure[:, None]
    pos = lam > 0
    b = np.zeros_like(J)
    b[pos] = np.linalg.solve(fr.hessian, J[pos].T).T / lam[pos, None]
    return (b**3 * lam[:, None]).sum(0) / (6 * ((b**2 * lam[:, None]).sum(0)) ** 1.5)


def test_acceleration_matches_implicit_function_slopes_when_nearly_linear():
    # The mle_article curve with 100 times the fluence: the estimator is nearly linear
    # in the counts over the bootstrap spread, so the regression slopes are the derivatives.
    base = seufit.fit("example:mle_article")
    d = base.data
    fluence = 100 * d.fluence
    counts = np.random.default_rng(5).poisson(base.predict(d.let) * fluence)
    fr = seufit.fit(pd.DataFrame({"let": d.let, "fluence": fluence, "events": counts}),
                    zeros="include")
    assert fr.at_bound == ()
    res = seufit.bootstrap(fr, n_boot=4000, seed=1, progress=False)
    a_exact = _analytic_acceleration(fr)
    assert np.all(np.abs(a_exact) > 4e-4)
    assert res.a == pytest.approx(a_exact, rel=0.06, abs=5e-5)


def _finite_difference_slopes(fr, delta=0.1):
    """d theta_hat / d N_i of the real estimator by central differences: the data refitted
    with N_i +/- delta (the Poisson likelihood takes non-integer counts)."""
    fd = fr.fit_data
    N = fd.events.astype(float)
    out = np.empty((N.size, fr.theta.size))
    for i in range(N.size):
        C = np.vstack([N, N])
        C[0, i] += delta
        C[1, i] -= delta
        bf = fit_counts(fr.model, fd.let, fd.exposure, C, fr.theta[None, :], zeros=fr.zeros,
                        tol=1e-14)
        out[i] = (bf.theta[0] - bf.theta[1]) / (2 * delta)
    return out


def test_influence_slopes_are_the_estimators_derivatives_in_the_counts():
    fr = seufit.fit("example:mle_article")
    assert fr.at_bound == ()
    b, why = influence_slopes(fr)
    assert "implicit-function" in why
    fd_b = _finite_difference_slopes(fr)
    # Each parameter's slopes to 1e-3 of its largest one (measured: 5e-5 at delta 0.1).
    assert np.all(np.abs(b - fd_b) <= 1e-3 * np.abs(fd_b).max(axis=0))


def test_influence_acceleration_on_the_article_data():
    # The regression slopes are a linear fit of the estimator over the bootstrap spread and
    # differ from its derivatives at the MLE with a few hundred events (docs/bootstrap.md:
    # w 0.003 against 0.016 here); acceleration="influence" uses the derivatives.
    fr = seufit.fit("example:mle_article")
    res = seufit.bootstrap(fr, n_boot=500, seed=1, progress=False, acceleration="influence")
    lam = fr.predict(fr.fit_data.let) * fr.fit_data.exposure
    expect = acceleration_from_slopes(_finite_difference_slopes(fr), lam)
    assert res.a_method == "influence"
    assert res.a == pytest.approx(expect, rel=1e-3)
    # The intervals use it.
    for k in range(4):
        low, high, _ = bca_interval(np.sort(res.draws[:, k]), fr.theta[k], float(res.a[k]),
                                    0.95)
        assert res.bca[k] == pytest.approx([low, high], rel=1e-6)
    # The default stays the regression, and the summary can switch without refitting.
    reg = res.with_level(0.95, acceleration="regression")
    assert reg.a_method == "regression"
    assert reg.a == pytest.approx(acceleration(res.draws, res.counts[res.ok].astype(float),
                                               lam))
    assert res.with_level(0.90).a_method == "influence"  # a new level keeps the method
    assert np.abs(reg.a - res.a).max() > 1e-3


def test_influence_acceleration_falls_back_to_the_regression_on_a_bound():
    fr = seufit.fit("example:cic_mpa_stubs")
    assert "w" in fr.at_bound
    assert influence_slopes(fr)[0] is None
    res = seufit.bootstrap(fr, n_boot=300, seed=2, progress=False, acceleration="influence")
    assert res.a_method == "regression" and "w on a bound" in res.a_reason
    assert res.to_dict()["acceleration"]["requested"] == "influence"
    lam = fr.predict(fr.fit_data.let) * fr.fit_data.exposure
    assert res.a == pytest.approx(acceleration(res.draws, res.counts[res.ok].astype(float), lam))
    # A parameter held fixed by the user is on no bound, but the MLE's slopes in it are 0.
    lo, hi = (v.copy() for v in seufit.fit("example:mle_article").bounds)
    lo[2] = hi[2] = 2.0
    fixed = seufit.fit("example:mle_article", bounds=(lo, hi))
    assert fixed.at_bound == () and influence_slopes(fixed) == (None, "a parameter is held fixed")
    # A zero-event run kept in the likelihood just above the threshold expects 1e-6 events:
    # its slope is a correct derivative (~1 / lambda) but no linear effect of its count.
    d = seufit.fit("example:mle_article").data
    df = pd.DataFrame({"let": np.r_[2.0, d.let], "fluence": np.r_[1e7, d.fluence],
                       "events": np.r_[0, d.events]})
    near = seufit.fit(df, zeros="include")
    assert near.at_bound == ()
    b, why = influence_slopes(near)
    assert b is None and "fewer than 1 event" in why
    with pytest.raises(ValueError, match="acceleration must be"):
        seufit.bootstrap(fr, n_boot=50, seed=2, progress=False, acceleration="jackknife")


# -- BCa by hand --------------------------------------------------------------------------
def _quantile(sorted_x, q):
    """Linear-interpolation quantile (numpy's default), written out."""
    h = (len(sorted_x) - 1) * q
    j = int(np.floor(h))
    if j >= len(sorted_x) - 1:
        return sorted_x[-1]
    return sorted_x[j] + (h - j) * (sorted_x[j + 1] - sorted_x[j])


def test_bca_interval_matches_a_hand_computation():
    draws = np.array([2.1, 3.4, 1.7, 2.9, 3.0, 2.5, 4.2, 2.5, 1.2, 3.8, 2.5, 5.1, 2.2, 3.1, 2.7])
    estimate, a, cl = 2.5, 0.1, 0.90
    below, ties = np.sum(draws < estimate), np.sum(draws == estimate)
    assert (below, ties) == (4, 3)
    z0 = stats.norm.ppf((4 + 0.5 * 3) / 15)
    levels = []
    for z in (stats.norm.ppf(0.05), stats.norm.ppf(0.95)):
        levels.append(stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z))))
    s = np.sort(draws)
    low, high, z0_got = bca_interval(draws, estimate, a, cl)
    assert z0_got == pytest.approx(z0, rel=1e-12)
    assert low == pytest.approx(_quantile(s, levels[0]), rel=1e-12)
    assert high == pytest.approx(_quantile(s, levels[1]), rel=1e-12)
    assert levels == pytest.approx([0.0229, 0.8768], abs=1e-4)


def test_bca_counts_round_off_neighbours_of_the_estimate_as_ties():
    # Replicates that stop on the estimate's kink or bound land there up to round-off
    # (an audit found draws at 1 - 2e-10 for an estimate of 1): they tie, as in the
    # ties_at_estimate diagnostic, instead of counting as below.
    draws = np.array([0.5, 0.8, 1.0 - 2e-10, 1.0 - 1e-10, 1.0, 1.0 + 3e-10, 1.4, 1.9])
    _, _, z0 = bca_interval(draws, 1.0, 0.0, 0.9)
    assert z0 == pytest.approx(stats.norm.ppf((2 + 0.5 * 4) / 8), rel=1e-12)
    # 1e-8 away is no tie
    _, _, z0 = bca_interval(np.array([0.5, 1.0 - 1e-8, 1.0, 1.5]), 1.0, 0.0, 0.9)
    assert z0 == pytest.approx(stats.norm.ppf((2 + 0.5) / 4), rel=1e-12)


def test_bca_with_no_bias_and_no_acceleration_is_the_percentile_interval():
    draws = np.random.default_rng(7).gamma(2.0, size=2001)
    estimate = float(np.median(draws))  # one draw equals it, half the others are below
    low, high, z0 = bca_interval(draws, estimate, 0.0, 0.95)
    assert z0 == 0.0
    s = np.sort(draws)
    assert (low, high) == pytest.approx((_quantile(s, 0.025), _quantile(s, 0.975)), rel=1e-12)


def test_bca_beyond_the_pole_takes_the_extreme_draw():
    draws = np.linspace(0.0, 1.0, 101)
    # 1 - a (z0 + z) <= 0 for the upper limit: the level is taken as 1, not wrapped to 0.
    low, high, _ = bca_interval(draws, 0.5, 0.6, 0.95)
    assert high == 1.0 and 0.0 < low < 0.5


def test_result_summary_uses_the_kernels():
    fr = seufit.fit("example:mle_article")
    # jobs=2: the band is computed on two threads, half the grid each; with_level below
    # recomputes every summary serially.
    res = seufit.bootstrap(fr, n_boot=300, seed=2, progress=False, jobs=2)
    assert res.with_level(0.95).band == res.band
    D = res.draws
    assert res.a == pytest.approx(acceleration(D, res.counts[res.ok].astype(float), res.lam_hat),
                                  rel=1e-12)
    # Both intervals clipped to the data's limits: let_th below 5, the lowest LET with events.
    lim = res.data_limits
    assert lim[1, 1] == 5.0 and np.all(np.isinf(np.delete(lim, 1, axis=0)))
    perc = np.quantile(D, [0.025, 0.975], axis=0).T
    assert res.percentile == pytest.approx(np.clip(perc, lim[:, :1], lim[:, 1:]), rel=1e-12)
    for k in range(D.shape[1]):
        lo, hi, z0 = bca_interval(D[:, k], res.theta_hat[k], res.a[k], 0.95)
        lo, hi = np.clip([lo, hi], *lim[k])
        assert (res.bca[k, 0], res.bca[k, 1], res.z0[k]) == pytest.approx((lo, hi, z0), rel=1e-12)
    assert res.se == pytest.approx(D.std(axis=0, ddof=1), rel=1e-12)
    # The band: pointwise quantiles of the replicate curves, from the reference formula.
    # Many curves are exactly 0 at the low LETs (ties, which the summary's sort handles).
    let = np.asarray(res.band["let"])
    curves = np.array([reference.weibull(let, *t) for t in D])
    assert (curves[:, 0] == 0).sum() > 10
    low, high = np.quantile(curves, [0.025, 0.975], axis=0)
    np.testing.assert_allclose(res.band["low"], low, rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.band["high"], high, rtol=1e-12, atol=0)


# -- coverage ------------------------------------------------------------------------------
def test_interval_coverage_of_the_step_model(monkeypatch):
    """500 datasets from the step model, 95 % percentile and BCa intervals: binomial test."""
    # Speed only: every fit and bootstrap records package versions through
    # importlib.metadata, about half the cost of these tiny problems.  Cache the look-up.
    import seufit._provenance as prov

    monkeypatch.setattr(prov, "_version", functools.lru_cache(maxsize=None)(prov._version))
    n_sets, n_boot = 500, 200
    lam = _step(STEP_LET, STEP_TRUE[None])[0] * STEP_FLUENCE
    seeds = np.random.SeedSequence(2024).spawn(n_sets)
    hits = {"percentile": np.zeros(2, int), "bca": np.zeros(2, int)}
    for ss in seeds:
        data_ss, boot_ss = ss.spawn(2)
        counts = np.random.default_rng(data_ss).poisson(lam)
        fr = seufit.fit(_step_data(counts), model=STEP, zeros="include")
        res = seufit.bootstrap(fr, n_boot=n_boot, seed=int(boot_ss.generate_state(1)[0]),
                               progress=False)
        for m in hits:
            iv = getattr(res, m)
            hits[m] += (iv[:, 0] <= STEP_TRUE) & (STEP_TRUE <= iv[:, 1])
    for m, h in hits.items():
        for k in range(2):
            p = stats.binomtest(int(h[k]), n_sets, 0.95).pvalue
            assert p > 1e-3, f"{m} {STEP.names[k]}: coverage {h[k] / n_sets:.3f}, p = {p:.2g}"


# The Weibull itself, in the regime where a 95 % interval should cover 95 %: dense data,
# every parameter well inside its box (studies/bootstrap_coverage.py --interior runs the
# same scenario at 1,000 datasets x 1,000 replicates; docs/bootstrap.md).
INTERIOR_LET = np.array([4.0, 6.0, 9.0, 13.0, 18.0, 25.0, 35.0, 50.0, 70.0])
INTERIOR_TRUE = np.array([1e-5, 3.0, 1.5, 20.0])
INTERIOR_FLUENCE = 1e8  # 4,518 expected events, 11 at the lowest LET


def test_interval_coverage_of_the_weibull_fit(monkeypatch):
    """500 dense Weibull datasets, 95 % percentile and BCa intervals: binomial test."""
    import seufit._provenance as prov

    monkeypatch.setattr(prov, "_version", functools.lru_cache(maxsize=None)(prov._version))
    n_sets, n_boot = 500, 200
    lam = reference.weibull(INTERIOR_LET, *INTERIOR_TRUE) * INTERIOR_FLUENCE
    hits = {"percentile": np.zeros(4, int), "bca": np.zeros(4, int)}
    for ss in np.random.SeedSequence(2024).spawn(n_sets):
        data_ss, boot_ss = ss.spawn(2)
        counts = np.random.default_rng(data_ss).poisson(lam)
        fr = seufit.fit(pd.DataFrame({"let": INTERIOR_LET, "fluence": INTERIOR_FLUENCE,
                                      "events": counts}))
        assert not fr.at_bound
        res = seufit.bootstrap(fr, n_boot=n_boot, seed=int(boot_ss.generate_state(1)[0]),
                               progress=False)
        assert res.ci_method == "bca"  # the series' rule: >= 50 events, no zero-event run
        for m in hits:
            iv = getattr(res, m)
            hits[m] += (iv[:, 0] <= INTERIOR_TRUE) & (INTERIOR_TRUE <= iv[:, 1])
    for m, h in hits.items():
        for k, name in enumerate(("sigma_sat", "let_th", "s", "w")):
            p = stats.binomtest(int(h[k]), n_sets, 0.95).pvalue
            assert p > 1e-3, f"{m} {name}: coverage {h[k] / n_sets:.3f}, p = {p:.2g}"
