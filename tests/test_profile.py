"""Profile-likelihood intervals against independent references.

References: exact roots of closed-form profiles (one Poisson count; two counts
with an analytically profiled nuisance; least squares on a linear model), a
brute-force profile written here from the formulas (scipy multi-start at each
point), and iminuit's MINOS (errordef 0.5).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import optimize, stats

import seufit
from seufit.uncertainty.profile import (
    ONE_SIGMA,
    ProfileResult,
    delta_for,
    fit_xy,
    profile,
    profile_reference,
    xy_data,
)

EXAMPLES = ("cic_mpa_stubs", "mle_article", "bootstrap_article")


# ---------------------------------------------------------------- independent pieces
def weibull_nll(theta, x, expo, counts):
    """Poisson NLL of the Weibull curve, written again from the formula."""
    A, L0, s, w = theta
    d = np.maximum(x - L0, 0.0)
    lam = A * -np.expm1(-((d / w) ** s)) * expo
    if np.any((lam <= 0) & (counts > 0)):
        return 1e300
    return float(np.sum(lam) - np.sum(counts[counts > 0] * np.log(lam[counts > 0])))


def brute_conditional_min(fit_res, k, value, n_starts=8, seed=0):
    """Lowest NLL with theta_k = value: L-BFGS-B from many starts, then Nelder-Mead."""
    d = fit_res.fit_data
    x, expo, N = d.let, d.exposure, d.events
    lo, hi = (np.asarray(b, float) for b in fit_res.bounds)
    free = [j for j in range(4) if j != k]
    # log coordinates for the scale parameters, linear for let_th: a fair box for starts
    is_log = np.array([True, False, True, True])

    def to_theta(u):
        th = np.empty(4)
        th[k] = value
        v = np.where(is_log[free], np.exp(u), u)
        th[free] = v
        return th

    with np.errstate(divide="ignore"):
        ulo = np.where(is_log[free], np.log(lo[free]), lo[free])
    uhi = np.where(is_log[free], np.log(hi[free]), hi[free])

    def f(u):
        return weibull_nll(to_theta(np.clip(u, ulo, uhi)), x, expo, N)

    rng = np.random.default_rng(seed)
    th0 = np.asarray(fit_res.theta, float)
    u_mle = np.where(is_log[free], np.log(th0[free]), th0[free])
    starts = [u_mle] + [ulo + rng.random(3) * (uhi - ulo) for _ in range(n_starts)]
    best = np.inf
    bx = None
    for u0 in starts:
        r = optimize.minimize(f, np.clip(u0, ulo, uhi), method="L-BFGS-B",
                              bounds=list(zip(ulo, uhi, strict=True)),
                              options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 3000})
        if r.fun < best:
            best, bx = r.fun, r.x
    r = optimize.minimize(f, bx, method="Nelder-Mead",
                          options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
    return min(best, r.fun)


@pytest.fixture(scope="module")
def fits():
    return {ex: seufit.fit(f"example:{ex}") for ex in EXAMPLES}


@pytest.fixture(scope="module")
def profiles(fits):
    return {ex: profile(f, 0.95) for ex, f in fits.items()}


def constant_model(hi=1e3):
    return seufit.UserModel(names=("mu",), func=lambda x, t: t[:, :1] * np.ones_like(x)[None, :],
                            bounds=([1e-6], [hi]), transforms=("log",))


# ---------------------------------------------------------------- exact references
@pytest.mark.parametrize("n", [1, 4, 30, 400])
@pytest.mark.parametrize("cl", [ONE_SIGMA, 0.95])
def test_single_count_equals_exact_root(n, cl):
    delta = delta_for(cl)
    res = profile(fit_xy([1.0], [n], constant_model(hi=10.0 * n + 50)), cl)

    def dnll(mu):
        return mu - n * math.log(mu) - (n - n * math.log(n)) - delta

    lo = optimize.brentq(dnll, 1e-9, n, xtol=1e-14, rtol=1e-15)
    hi = optimize.brentq(dnll, n, 10.0 * n + 50, xtol=1e-14, rtol=1e-15)
    assert res.interval("mu") == pytest.approx((lo, hi), rel=1e-7)
    assert res.low_status == ("root",) and res.high_status == ("root",)
    assert not res.low_at_bound[0] and not res.high_at_bound[0]


def test_delta_for_levels():
    assert delta_for(ONE_SIGMA) == pytest.approx(0.5, rel=1e-12)
    assert delta_for(0.95) == pytest.approx(0.5 * 1.959963984540054**2, rel=1e-12)
    with pytest.raises(ValueError):
        delta_for(1.0)


def test_two_counts_with_analytic_nuisance():
    """lambda_1 = b, lambda_2 = a + b: the profile over b has a closed form."""
    n1, n2 = 20, 35
    model = seufit.UserModel(names=("a", "b"), func=lambda x, t: t[:, :1] * x + t[:, 1:2],
                             bounds=([-15.0, 1.0], [60.0, 80.0]))
    res = profile(fit_xy([0.0, 1.0], [n1, n2], model), 0.95)
    delta = delta_for(0.95)
    nll_min = (n1 - n1 * math.log(n1)) + (n2 - n2 * math.log(n2))

    def prof_a(a):  # d/db [2b + a - n1 log b - n2 log(a + b)] = 0 -> quadratic in b
        N = n1 + n2
        b = (-(2 * a - N) + math.sqrt((2 * a - N) ** 2 + 8 * n1 * a)) / 4
        return 2 * b + a - n1 * math.log(b) - n2 * math.log(a + b) - nll_min - delta

    a_hat = n2 - n1
    lo = optimize.brentq(prof_a, -n1 + 1e-6, a_hat, xtol=1e-13)
    hi = optimize.brentq(prof_a, a_hat, 55.0, xtol=1e-13)
    assert res.interval("a") == pytest.approx((lo, hi), rel=1e-7)

    def prof_b(b):  # for fixed b, a + b = n2 exactly
        return b - n1 * math.log(b) + n2 - n2 * math.log(n2) - nll_min - delta

    lo_b = optimize.brentq(prof_b, 1.0 + 1e-9, n1, xtol=1e-13)
    hi_b = optimize.brentq(prof_b, n1, 79.0, xtol=1e-13)
    assert res.interval("b") == pytest.approx((lo_b, hi_b), rel=1e-7)


def test_least_squares_profile_is_the_ols_interval():
    """LS on a linear model is exactly quadratic: OLS +- z sigma sqrt((X'X)^-1)."""
    rng = np.random.default_rng(5)
    x = np.arange(10.0, 151.0)
    y = rng.poisson(0.1 * x + 10)
    model = seufit.UserModel(names=("a", "b"), func=lambda x, t: t[:, :1] * x + t[:, 1:2],
                             bounds=([-1.0, -50.0], [1.0, 80.0]))
    res = profile(fit_xy(x, y, model), 0.95, statistic="ls")
    X = np.column_stack([x, np.ones_like(x)])
    beta, rss, *_ = np.linalg.lstsq(X, y.astype(float), rcond=None)
    sigma2 = rss[0] / x.size  # the article's estimate from the minimum
    se = np.sqrt(sigma2 * np.diag(np.linalg.inv(X.T @ X)))
    z = stats.norm.ppf(0.975)
    assert res.statistic.sigma2 == pytest.approx(sigma2, rel=1e-8)
    assert res.ci_low == pytest.approx(beta - z * se, rel=1e-6)
    assert res.ci_high == pytest.approx(beta + z * se, rel=1e-6)


def test_linear_poisson_profile_close_to_hessian():
    rng = np.random.default_rng(11)
    x = np.arange(10.0, 151.0)
    y = rng.poisson(0.1 * x + 10)
    model = seufit.UserModel(names=("a", "b"), func=lambda x, t: t[:, :1] * x + t[:, 1:2],
                             bounds=([-1.0, -50.0], [1.0, 80.0]))
    fr = fit_xy(x, y, model)
    res = profile(fr, ONE_SIGMA)
    half = 0.5 * (res.ci_high - res.ci_low)
    assert half == pytest.approx(fr.se, rel=0.01)
    # and the slow scalar reference agrees to round-off
    ref = profile_reference(fr, ONE_SIGMA, n_starts=2)
    for q in ("a", "b"):
        assert res.interval(q) == pytest.approx(ref[q], rel=1e-7)


# ---------------------------------------------------------------- bundled datasets
@pytest.mark.parametrize("ex", EXAMPLES)
def test_endpoints_bracketed_by_brute_force(ex, fits, profiles):
    """Brute force puts the threshold between e - 1e-3 w and e + 1e-3 w at every endpoint."""
    fr, res = fits[ex], profiles[ex]
    lo_b, hi_b = fr.bounds
    thr = fr.nll + res.delta
    checked = 0
    for i, q in enumerate(res.params):
        k = res.names.index(q)
        width = res.ci_high[i] - res.ci_low[i]
        eta = 1e-3 * width
        for end, status, sign, bound in ((res.ci_low[i], res.low_status[i], -1, lo_b[k]),
                                         (res.ci_high[i], res.high_status[i], 1, hi_b[k])):
            assert status in ("root", "bound")
            if status == "bound":
                assert end == pytest.approx(bound)
                inside = bound - sign * 1e-9 * max(1.0, abs(bound))
                assert brute_conditional_min(fr, k, inside) < thr
                continue
            inner = brute_conditional_min(fr, k, end - sign * eta)
            outer = brute_conditional_min(fr, k, end + sign * eta)
            assert inner < thr < outer, (q, sign, inner - thr, outer - thr)
            checked += 1
    assert checked >= 5


def test_brute_force_profile_reference_on_one_dataset(fits, profiles):
    """The slow scalar reference (brentq on multi-start minima) agrees to 1e-6 of the width."""
    fr, res = fits["mle_article"], profiles["mle_article"]
    ref = profile_reference(fr, 0.95, params=("w",), n_starts=3)
    lo, hi = res.interval("w")
    assert ref["w"] == pytest.approx((lo, hi), abs=1e-6 * (hi - lo))


@pytest.mark.parametrize("ex", EXAMPLES)
def test_agrees_with_minos(ex, fits, profiles):
    """MINOS (errordef 0.5) where it converges; where it differs, brute force decides."""
    iminuit = pytest.importorskip("iminuit")
    fr, res = fits[ex], profiles[ex]
    obj = fr.objective()
    lo, hi = fr.bounds
    scale = np.array([fr.theta[0], 1.0, 1.0, 1.0])  # sigma_sat ~ 1e-5: give MINUIT order one

    def nll(a, b, c, d):
        return float(obj(np.array([[a, b, c, d]]) * scale, 0)[0][0])

    m = iminuit.Minuit(nll, *(fr.theta / scale), name=fr.names)
    m.errordef = 0.5
    m.limits = list(zip(lo / scale, hi / scale, strict=True))
    m.strategy = 2
    m.migrad()
    assert m.fval == pytest.approx(fr.nll, abs=1e-6)
    m.minos(cl=0.95)
    agree = 0
    for i, q in enumerate(res.params):
        me = m.merrors[q]
        width = res.ci_high[i] - res.ci_low[i]
        k = res.names.index(q)
        for mine, valid, val in ((res.ci_low[i], me.lower_valid, m.values[q] + me.lower),
                                 (res.ci_high[i], me.upper_valid, m.values[q] + me.upper)):
            if not valid:
                continue
            val *= scale[k]
            if abs(val - mine) <= 1e-3 * width:
                agree += 1
                continue
            # MINOS differs: it must be MINOS that stopped on a local branch of the
            # profile, i.e. the true conditional minimum at its endpoint is under the
            # threshold, so its interval is too short.
            assert abs(val - fr.theta[k]) < abs(mine - fr.theta[k]), (q, val, mine)
            assert brute_conditional_min(fr, k, val) < fr.nll + res.delta - 0.05, (q, val)
    assert agree >= 5


def test_minos_disagreement_on_mle_article_w(fits, profiles):
    """Documented case: MINOS ends w at 29.30 on a branch with let_th near 0; the true
    conditional minimum there (let_th ~ 3.8) is 1.52 above the minimum, under 1.92."""
    fr, res = fits["mle_article"], profiles["mle_article"]
    lo, hi = res.interval("w")
    assert hi == pytest.approx(32.4335, rel=1e-4)
    assert brute_conditional_min(fr, 3, 29.30286) - fr.nll == pytest.approx(1.516, abs=2e-3)
    c = res.curve("w")
    # the profile switches basin in let_th between w = 25.7 and 27.8
    lt = c.theta[:, 1]
    assert np.any(np.abs(np.diff(lt)) > 2.0)


def test_one_sided_flags_and_points(profiles):
    res = profiles["cic_mpa_stubs"]
    i_l, i_w = res.params.index("let_th"), res.params.index("w")
    assert res.low_at_bound[i_l] and res.ci_low[i_l] == 0.0
    assert res.high_at_bound[i_w] and res.ci_high[i_w] == pytest.approx(res.bounds[1][3])
    assert not res.high_at_bound[i_l] and not res.low_at_bound[i_w]
    for c in res.curves:
        assert np.all(np.diff(c.values) > 0)
        k = res.names.index(c.name)
        j = int(np.argmin(np.abs(c.values - res.theta[k])))
        assert c.delta[j] == pytest.approx(0.0, abs=1e-9)
        assert c.converged.dtype == bool and c.valid.dtype == bool
        # the conditional minimisers hold the profiled value
        assert c.theta[:, k] == pytest.approx(c.values, rel=1e-12)
    assert res.valid


@pytest.mark.parametrize("ex", EXAMPLES)
def test_all_valid_on_examples(ex, profiles):
    assert profiles[ex].valid
    assert np.all(profiles[ex].low_valid) and np.all(profiles[ex].high_valid)


@pytest.mark.parametrize("ex", EXAMPLES)
def test_intervals_contain_estimate_and_profile_is_monotone(ex, profiles):
    res = profiles[ex]
    for i, c in enumerate(res.curves):
        k = res.names.index(c.name)
        assert res.ci_low[i] <= res.theta[k] <= res.ci_high[i]
        inside = (c.values >= res.ci_low[i]) & (c.values <= res.ci_high[i])
        assert np.all(c.delta[inside] <= res.delta + 1e-7)
        assert np.all(c.valid[inside])
        # monotone on each side among the valid points (points far past an endpoint are
        # not restarted; where they are inconsistent they are marked not valid)
        v, dv = c.values[c.valid], c.delta[c.valid]
        j = int(np.argmin(dv))
        assert dv[j] == pytest.approx(0.0, abs=1e-9) and v[j] == pytest.approx(res.theta[k])
        assert np.all(np.diff(dv[: j + 1]) <= 1e-6)
        assert np.all(np.diff(dv[j:]) >= -1e-6)


# ---------------------------------------------------------------- result object and API
def test_result_outputs(profiles):
    res = profiles["mle_article"]
    assert isinstance(res, ProfileResult)
    d = res.to_dict()
    json.dumps(d, allow_nan=False)
    assert set(d["parameters"]) == set(res.names)
    for v in d["parameters"].values():
        assert {"value", "ci_low", "ci_high", "low_at_bound", "high_at_bound"} <= set(v)
    assert d["delta"] == pytest.approx(1.9207, abs=1e-4)
    assert d["provenance"]["input"] == "example:mle_article"
    assert d["provenance"]["input_sha256"]
    text = str(res)
    assert "±" not in text and "+/-" not in text
    assert "95 % low" in text and "w" in text
    html_text = res._repr_html_()
    assert "<table" in html_text and "±" not in html_text


def test_params_subset_and_errors(fits):
    fr = fits["mle_article"]
    res = profile(fr, 0.9, params="s")
    assert res.params == ("s",)
    full = profile(fr, 0.9)
    assert res.interval("s") == pytest.approx(full.interval("s"), rel=1e-8)
    with pytest.raises(ValueError, match="unknown parameter"):
        profile(fr, params=("nope",))
    with pytest.raises(ValueError):
        profile(fr, cl=1.5)


def test_other_statistics_profile(fits):
    fr = fits["bootstrap_article"]
    for stat in ("pearson", "negbin"):
        res = profile(fr, 0.95, statistic=stat)
        assert res.statistic.name == stat
        assert np.all(res.ci_low <= res.ci_high)
    # Pearson's let_th upper end sits just below the cap (lowest LET with events):
    # the reference agrees, despite a grid point with a 1e100 statistic at the cap.
    res = profile(fr, 0.95, statistic="pearson", params=("let_th",))
    ref = profile_reference(fr, 0.95, params=("let_th",), statistic="pearson", n_starts=2)
    assert res.interval("let_th") == pytest.approx(ref["let_th"], abs=1e-5)


def test_user_model_through_fit(fits):
    x = np.arange(10.0, 151.0)
    y = np.random.default_rng(2).poisson(0.1 * x + 10)
    data = xy_data(x, y, name="linear")
    model = seufit.UserModel(names=("a", "b"), func=lambda x, t: t[:, :1] * x + t[:, 1:2],
                             bounds=([-1.0, -50.0], [1.0, 80.0]))
    fr = seufit.fit(data, model=model, zeros="include")
    res = profile(fr, 0.95)
    assert res.model == "user model" and res.source == "linear"
    with pytest.raises(ValueError):
        xy_data([1.0, 2.0], [1.5, 2.0])


def test_redundant_parameter_gives_flat_profile_and_one_sided_interval():
    """lambda = (a + b) x with b >= 0: for a below c_hat = a + b the profile is flat (b
    absorbs it) down to a = 0; above, b = 0 and the profile is that of c alone."""
    x = np.arange(1.0, 20.0)
    y = np.random.default_rng(0).poisson(2 * x)
    model = seufit.UserModel(names=("a", "b"), func=lambda x, t: (t[:, :1] + t[:, 1:2]) * x,
                             bounds=([0.0, 0.0], [5.0, 5.0]))
    res = profile(fit_xy(x, y, model), 0.95)
    c_hat = y.sum() / x.sum()

    def nll(c):
        return c * x.sum() - y.sum() * math.log(c)

    def dnll(c):
        return nll(c) - nll(c_hat) - delta_for(0.95)

    hi = optimize.brentq(dnll, c_hat, 5.0, xtol=1e-13)
    for q in ("a", "b"):
        lo_q, hi_q = res.interval(q)
        assert lo_q == 0.0 and res.low_at_bound[res.params.index(q)]
        assert hi_q == pytest.approx(hi, rel=1e-7)


def test_unbounded_flat_direction_is_reported_failed():
    x = np.arange(1.0, 20.0)
    y = np.random.default_rng(0).poisson(2 * x)
    model = seufit.UserModel(names=("a", "b"), func=lambda x, t: (t[:, :1] + t[:, 1:2]) * x,
                             bounds=([-np.inf, 0.0], [np.inf, np.inf]), initial=(1.0, 1.0))
    res = profile(fit_xy(x, y, model), 0.95, params=("a",))
    assert res.low_status == ("failed",) and np.isnan(res.ci_low[0])
    assert not res.valid
    assert any("not found" in m for m in res.messages)
    assert "not found" in str(res)


@pytest.mark.filterwarnings("ignore:only")  # a small sweep, for its record only
def test_profile_and_sweep_record_the_fits_zero_policy_and_tilt():
    # The intervals are of the fit they were given: its zero policy and tilt are in the
    # provenance (JSON) and the zero policy in the text header.
    out = {}
    for zeros in ("exclude", "include"):
        fr = seufit.fit("example:bootstrap_article", zeros=zeros)
        prof = seufit.profile(fr, params=["s"])
        swp = seufit.sweep(fr, n=2000, seed=1, box=fr.bounds)
        for res in (prof, swp):
            opts = res.to_dict()["provenance"]["options"]
            assert opts["fit_zeros"] == zeros and opts["fit_tilt"] is True
            assert f"zeros={zeros}" in str(res).splitlines()[0]
        out[zeros] = prof.ci_high[0]
    assert out["exclude"] != out["include"]
    notilt = seufit.fit(seufit.load("example:cic_mpa_stubs", tilt=False))
    assert seufit.profile(notilt, params=["s"]).provenance["options"]["fit_tilt"] is False
