"""Pre- and post-fit checks on handcrafted datasets, against independent references."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2, poisson

import seufit
from seufit import checks as C
from seufit.checks import (
    Check,
    checks_html,
    checks_table,
    correlation_matrix,
    excess_zeros_check,
    overdispersion_check,
    poisson_binomial_sf,
    post_fit_checks,
    pre_fit_checks,
    worst_status,
)


def _data(let, events, fluence=1e7, **extra):
    let = np.asarray(let, float)
    df = pd.DataFrame({"let": let, "fluence": np.broadcast_to(fluence, let.shape),
                       "events": events, **extra})
    return seufit.load(df)


def _weibull(let, sat=1e-5, l0=1.0, s=1.5, w=15.0):
    let = np.asarray(let, float)
    z = np.clip(let - l0, 0, None) / w
    return sat * -np.expm1(-(z**s))


def _by_name(checks):
    return {c.name: c for c in checks}


LETS = np.array([1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0, 20.0, 30.0, 40.0, 60.0, 80.0])


@pytest.fixture(scope="module")
def cic():
    return seufit.fit("example:cic_mpa_stubs")


@pytest.fixture(scope="module")
def mle():
    return seufit.fit("example:mle_article")


@pytest.fixture(scope="module")
def boot():
    return seufit.fit("example:bootstrap_article")


@pytest.fixture(scope="module")
def bad_zero():
    """A zero-event run at LET 5 where the curve predicts about a dozen events."""
    return seufit.fit(_data([0.5, 1, 2, 5, 10, 20, 40, 60], [0, 0, 3, 0, 30, 60, 80, 85],
                            run=list("abcdefgh")))


# -- Check ---------------------------------------------------------------------------

def test_check_validates_status_and_serialises():
    with pytest.raises(ValueError):
        Check("x", "OK", 1, "bad status")
    c = Check("x", "WARNING", {"a": np.float64(1.5), "b": np.array([1, 2]), "c": np.nan}, "m")
    d = c.to_dict()
    assert json.loads(json.dumps(d)) == {"name": "x", "status": "WARNING",
                                         "value": {"a": 1.5, "b": [1, 2], "c": None},
                                         "message": "m"}
    assert not c.ok and Check("y", "N/A", None, "").ok
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.status = "PASS"


def test_worst_status_and_tables():
    cs = [Check("a", "PASS", 1, "fine"), Check("b", "N/A", None, "n/a"),
          Check("c", "WARNING", 2, "hmm")]
    assert worst_status(cs) == "WARNING"
    assert worst_status(cs + [Check("d", "FAIL", 0, "no")]) == "FAIL"
    assert worst_status([]) == "N/A"
    text = checks_table(cs)
    assert text.count("\n") == 2 and "WARNING" in text and "hmm" in text
    html = checks_html(cs)
    assert html.count("<tr") == 4 and 'class="seufit-warning"' in html


# -- pre-fit -------------------------------------------------------------------------

def test_pre_fit_all_zero():
    # No events: the checks on what a curve needs do not apply (the limits are the result).
    res = _by_name(pre_fit_checks(_data([1, 5, 20, 60], [0, 0, 0, 0])))
    assert res["events"].status == "N/A" and "only upper limits" in res["events"].message
    assert res["events_per_parameter"].status == "N/A"
    assert res["mean_count"].status == "N/A" and "upper limits are the result" in \
        res["mean_count"].message
    # One event in four runs still fails them.
    one = _by_name(pre_fit_checks(_data([1, 5, 20, 60], [0, 0, 0, 1])))
    assert [one[k].status for k in ("events", "events_per_parameter", "mean_count")] == \
        ["FAIL", "FAIL", "PASS"]
    assert res["min_count"].status == "N/A"
    assert res["zero_event_runs"].status == "N/A"


def test_pre_fit_dense_article_example():
    res = _by_name(pre_fit_checks("example:mle_article"))
    assert [c.status for c in res.values()] == ["PASS", "PASS", "PASS", "WARNING", "PASS",
                                                "WARNING"]
    assert res["events"].value == {"events": 381, "runs": 8, "runs_with_events": 8}
    # every run has events: the onset is not observed (ECSS-E-ST-10-12C)
    assert res["let_coverage"].message.startswith("onset not observed: the lowest tested LET")
    assert res["events_per_parameter"].value == pytest.approx(381 / 4)
    assert res["min_count"].value == 3  # the 5-event rule of the bootstrap article
    assert res["mean_count"].value == pytest.approx(381 / 8)


@pytest.mark.parametrize("events, epp_status", [
    ([1, 1, 2, 1, 1, 1, 1, 1], "FAIL"),         # 9 events: < 2.5 per parameter
    ([1, 2, 2, 3, 4, 6, 6, 6], "WARNING"),      # 30 events: < 50
    ([1, 5, 6, 6, 6, 6, 10, 10], "PASS"),       # 50 events: exactly 12.5 per parameter
])
def test_events_per_parameter_thresholds(events, epp_status):
    res = _by_name(pre_fit_checks(_data(LETS[:8], events)))
    assert res["events_per_parameter"].status == epp_status
    assert res["events_per_parameter"].value == pytest.approx(sum(events) / 4)


def test_min_count_rule():
    assert _by_name(pre_fit_checks(_data(LETS[:6], [5, 9, 9, 9, 9, 9])))["min_count"].status \
        == "PASS"
    c = _by_name(pre_fit_checks(_data(LETS[:6], [0, 4, 9, 9, 9, 9])))["min_count"]
    assert (c.status, c.value) == ("WARNING", 4)  # zeros do not count as the minimum


def test_mean_count_threshold():
    ev = np.zeros(60, int)
    ev[-4:] = [1, 1, 2, 1]  # 5 events in 60 runs: 0.083 per run
    res = _by_name(pre_fit_checks(_data(np.linspace(1, 80, 60), ev)))
    assert res["mean_count"].status == "FAIL"
    ev[-6:] = [1, 1, 1, 1, 1, 1]
    ev[-4:] = [1, 1, 2, 1]  # 7 events: 0.117 per run
    assert _by_name(pre_fit_checks(_data(np.linspace(1, 80, 60), ev)))["mean_count"].status \
        == "PASS"


def test_events_check_runs_and_dof():
    res = _by_name(pre_fit_checks(_data(LETS[:5], [0, 0, 10, 20, 30])))
    assert res["events"].status == "FAIL"  # 3 runs with events for 4 parameters
    res = _by_name(pre_fit_checks(_data(LETS[:6], [0, 5, 10, 20, 30, 40])))
    assert res["events"].status == "WARNING"  # 5 fitted points: 1 dof
    res = _by_name(pre_fit_checks(_data(LETS[:6], [0, 5, 10, 20, 30, 40]), zeros="include"))
    assert res["events"].status == "WARNING" and "2 degree" in res["events"].message
    with pytest.raises(ValueError):
        pre_fit_checks(_data(LETS[:6], [0, 5, 10, 20, 30, 40]), zeros="drop")
    # Five runs with events at one LET: one point of the curve, no fit (as the curve rule
    # and the fit say); before, a WARNING about 1 degree of freedom.
    res = _by_name(pre_fit_checks(_data(np.full(5, 20.0), [50, 48, 55, 101, 52])))
    assert res["events"].status == "FAIL" and "1 distinct LET" in res["events"].message
    res = _by_name(pre_fit_checks(_data(np.repeat(LETS[:4], 2), [5, 6, 10, 9, 20, 21, 30, 33])))
    assert res["events"].status == "PASS"  # 4 distinct LETs, 8 points


def test_zero_runs_below_and_above_threshold():
    below = _by_name(pre_fit_checks(_data(LETS[:7], [0, 0, 3, 8, 20, 30, 40])))
    assert below["zero_event_runs"].status == "PASS" and below["zero_event_runs"].value == 2
    above = _by_name(pre_fit_checks(_data(LETS[:7], [0, 2, 3, 0, 20, 30, 40])))
    assert above["zero_event_runs"].status == "WARNING" and "#4" in above["zero_event_runs"].message


# -- post-fit ------------------------------------------------------------------------

def test_post_fit_names_and_order(mle):
    names = [c.name for c in post_fit_checks(mle)]
    assert names == ["converged", "at_bound", "sigma_sat_plausible", "let_th_plausible",
                     "s_plausible", "w_plausible", "saturation", "identifiability",
                     "bootstrap_success", "interval_width", "upper_limits", "excess_zeros",
                     "overdispersion", "tilt"]
    assert tuple(names) == C._POST_NAMES  # the no-curve list is the same


def test_post_fit_without_curve():
    r = seufit.fit(_data([1, 5, 20, 60], [0, 0, 0, 0]))
    res = _by_name(post_fit_checks(r))
    assert len(res) == 14
    assert all(c.status == "N/A" for k, c in res.items() if k != "upper_limits")
    # No events: the limits are the result, and the check says which one holds everywhere.
    assert res["upper_limits"].status == "PASS"
    assert "sigma < 9.22e-08 cm2/device at every LET <= 1" in res["upper_limits"].message


def test_parameter_at_bound_cic(cic):
    assert cic.at_bound == ("w",)  # the data-derived box: w <= 2 x LET span
    res = _by_name(post_fit_checks(cic))
    assert res["at_bound"].status == "WARNING" and res["at_bound"].value == {"w": "upper"}
    assert res["w_plausible"].status == "WARNING"  # w = 122 > LET range 61
    assert res["converged"].status == "PASS"


def test_dense_example_plausible(mle):
    res = _by_name(post_fit_checks(mle))
    for name in ("converged", "at_bound", "sigma_sat_plausible", "let_th_plausible",
                 "s_plausible", "w_plausible", "excess_zeros", "overdispersion"):
        assert res[name].status == "PASS", res[name]
    assert res["upper_limits"].status == "N/A"
    assert res["bootstrap_success"].status == "N/A"


def test_sigma_sat_below_garwood_lower_limit(mle):
    d = mle.data
    i = int(np.argmax(d.events / d.exposure))
    # Independent Garwood lower limit: chi2.ppf(alpha/2, 2n) / 2, two-sided 95 %.
    lower = chi2.ppf(0.025, 2 * d.events[i]) / 2 / d.exposure[i]
    for factor, status in ((0.99, "WARNING"), (1.01, "PASS")):
        theta = mle.theta.copy()
        theta[0] = factor * lower
        r = dataclasses.replace(mle, theta=theta)
        c = _by_name(post_fit_checks(r))["sigma_sat_plausible"]
        assert c.status == status
        assert c.value["garwood_lower"] == pytest.approx(lower, rel=1e-10)


@pytest.mark.parametrize("k, value, name, status", [
    (1, 5.0, "let_th_plausible", "FAIL"),     # = lowest LET with events
    (1, 4.99, "let_th_plausible", "PASS"),
    (2, 0.25, "s_plausible", "WARNING"),
    (2, 7.5, "s_plausible", "WARNING"),
    (2, 6.9, "s_plausible", "PASS"),
    (3, 75.1, "w_plausible", "WARNING"),      # LET range of the example is 75
    (3, 74.9, "w_plausible", "PASS"),
])
def test_plausibility_thresholds(mle, k, value, name, status):
    theta = mle.theta.copy()
    theta[k] = value
    assert _by_name(post_fit_checks(dataclasses.replace(mle, theta=theta)))[name].status \
        == status


def test_saturation_measured(mle):
    c = _by_name(post_fit_checks(mle))["saturation"]
    ref = _weibull(80.0, *mle.theta) / mle.theta[0]  # independent curve evaluation
    assert c.status == "PASS" and ref > 0.99
    assert c.value["fraction"] == pytest.approx(ref, rel=1e-12)
    assert c.value["let"] == 80.0
    assert c.value["sigma_at_let"] == pytest.approx(ref * mle.theta[0], rel=1e-12)
    assert "reaches 99 % of sigma_sat at the highest tested LET (80)" in c.message


def test_saturation_not_reached_cic(cic):
    # w at its 2 x span cap: the curve is at 45.8 % of sigma_sat at the last ion (Xe, 62.5).
    c = _by_name(post_fit_checks(cic))["saturation"]
    sig = _weibull(62.5, *cic.theta)
    assert c.status == "WARNING"
    assert c.value["fraction"] == pytest.approx(sig / cic.theta[0], rel=1e-12)
    assert c.value["sigma_at_let"] == pytest.approx(sig, rel=1e-12)
    assert "reaches only 45 % of sigma_sat at the highest tested LET (62.5)" in c.message
    assert "(w at its upper bound)" in c.message
    assert f"quote sigma(62.5) = {sig:.4g} cm2/device" in c.message


@pytest.mark.parametrize("fraction, status", [(0.899, "WARNING"), (0.901, "PASS")])
def test_saturation_threshold(mle, fraction, status):
    # Place w so that the curve is at `fraction` of sigma_sat at LET 80.
    theta = mle.theta.copy()
    _, l0, s, _ = theta
    theta[3] = (80.0 - l0) / (-np.log1p(-fraction)) ** (1 / s)
    c = _by_name(post_fit_checks(dataclasses.replace(mle, theta=theta)))["saturation"]
    assert c.status == status and c.value["fraction"] == pytest.approx(fraction, rel=1e-9)
    assert "w at its upper bound" not in c.message  # w is not on its bound here


def test_saturation_uses_every_run():
    # The highest LET counts whatever the fit did with the run: zeros left out still
    # tested the part there.
    r = seufit.fit(_data([2, 5, 10, 20, 40, 60, 90], [3, 12, 30, 60, 80, 85, 0]))
    assert not r.fit_mask[-1]
    assert _by_name(post_fit_checks(r))["saturation"].value["let"] == 90.0


def test_let_th_on_zero_run_kink():
    # Zeros kept in the likelihood: let_th placed exactly on a zero-event LET is a kink.
    r = seufit.fit("example:bootstrap_article", zeros="include")
    theta = r.theta.copy()
    theta[1] = 1.0
    c = _by_name(post_fit_checks(dataclasses.replace(r, theta=theta)))["let_th_plausible"]
    assert c.status == "WARNING" and "kink" in c.message


def test_identifiability_from_covariance_and_supplied(mle):
    cov = mle.covariance
    sd = np.sqrt(np.diag(cov))
    ref = cov / sd[:, None] / sd[None, :]
    corr, source = correlation_matrix(mle)
    assert source == "covariance"
    np.testing.assert_allclose(corr, ref, rtol=1e-12)
    c = _by_name(post_fit_checks(mle))["identifiability"]
    iu = np.triu_indices(4, 1)
    assert c.value["max_abs"] == pytest.approx(np.abs(ref[iu]).max())
    assert c.status == ("WARNING" if np.abs(ref[iu]).max() > 0.8 else "PASS")
    weak = np.eye(4)
    weak[2, 3] = weak[3, 2] = -0.79
    assert _by_name(post_fit_checks(mle, correlation=weak))["identifiability"].status == "PASS"
    weak[2, 3] = weak[3, 2] = -0.81
    c = _by_name(post_fit_checks(mle, correlation=weak))["identifiability"]
    assert c.status == "WARNING" and "s~w" in c.message and c.value["source"] == "supplied"


def test_identifiability_from_hessian_or_na(boot):
    assert boot.covariance is None  # with_zeros variant: no Wald covariance
    corr, source = correlation_matrix(boot)
    assert source == "Hessian inverse"
    inv = np.linalg.inv(boot.hessian)
    sd = np.sqrt(np.diag(inv))
    np.testing.assert_allclose(corr, inv / np.outer(sd, sd), atol=1e-8)
    broken = dataclasses.replace(boot, hessian=-np.eye(4))
    assert correlation_matrix(broken)[0] is None
    assert _by_name(post_fit_checks(broken))["identifiability"].status == "N/A"


@pytest.mark.parametrize("rate, status", [
    (0.995, "PASS"), (0.98, "PASS"), (0.95, "PASS"), (0.9499, "WARNING"), (0.90, "WARNING"),
    (0.8999, "FAIL"), (None, "N/A"),
])
def test_bootstrap_success_levels(mle, rate, status):
    assert _by_name(post_fit_checks(mle, success_rate=rate))["bootstrap_success"].status \
        == status


def test_bootstrap_success_rejects_percent(mle):
    with pytest.raises(ValueError):
        post_fit_checks(mle, success_rate=97.0)


def test_bootstrap_duck_typing(mle):
    ns = SimpleNamespace(success_rate=0.85, correlation=np.eye(4), intervals=None)
    res = _by_name(post_fit_checks(mle, ns))
    assert res["bootstrap_success"].status == "FAIL"
    assert res["identifiability"].value["source"] == "supplied"
    res = _by_name(post_fit_checks(mle, {"success_rate": 0.99}, success_rate=0.91))
    assert res["bootstrap_success"].status == "WARNING"  # keyword wins


def test_interval_width(mle):
    th = dict(zip(mle.names, mle.theta, strict=True))
    narrow = {n: (0.8 * v, 1.2 * v) for n, v in th.items()}
    c = _by_name(post_fit_checks(mle, intervals=narrow))["interval_width"]
    assert c.status == "PASS"
    assert c.value["s"] == pytest.approx(0.4)
    assert c.value["let_th"] == pytest.approx(0.4 * th["let_th"] / 5.0)  # LET scale 5
    wide = dict(narrow, s=(0.1 * th["s"], 1.2 * th["s"]))
    c = _by_name(post_fit_checks(mle, intervals=wide))["interval_width"]
    assert c.status == "WARNING" and "s width" in c.message
    outside = dict(narrow, w=(1.1 * th["w"], 1.3 * th["w"]))
    c = _by_name(post_fit_checks(mle, intervals=outside))["interval_width"]
    assert c.status == "WARNING" and "outside" in c.message
    # Default: the fit's own Wald intervals.
    c = _by_name(post_fit_checks(mle))["interval_width"]
    ref = (mle.ci_high[0] - mle.ci_low[0]) / mle.theta[0]
    assert c.value["sigma_sat"] == pytest.approx(ref) and "Wald" in c.message
    with pytest.raises(ValueError):
        post_fit_checks(mle, intervals={"nope": (0, 1)})


def _width(fit, intervals):
    return _by_name(post_fit_checks(fit, intervals=intervals))["interval_width"]


def test_interval_end_on_a_conventional_bound_warns(mle):
    # Box of the example: sigma_sat [0.5, 10] x 8.2e-6, s [0.1, 10], w [0.1, 150].
    lo_b, hi_b = mle.bounds
    th = dict(zip(mle.names, mle.theta, strict=True))
    narrow = {n: (0.8 * v, 1.2 * v) for n, v in th.items()}
    assert _width(mle, narrow).status == "PASS"
    # Each interval is narrower than its estimate (the width rule passes) but one end is
    # where the box stopped it.
    for k, name, iv in ((0, "sigma_sat", (lo_b[0], 1.2 * th["sigma_sat"])),
                        (2, "s", (lo_b[2], 1.8))):
        c = _width(mle, dict(narrow, **{name: iv}))
        assert c.value[name] <= C.REL_WIDTH_WARN
        assert c.status == "WARNING", c
        assert f"{name}: lower end at its bound {lo_b[k]:.4g}" in c.message
        assert "cut by the box" in c.message
    # Within 1e-9 of the box width counts as on it; 1e-6 inside does not.
    w_hi = hi_b[3]
    near = dict(narrow, w=(0.8 * th["w"], w_hi * (1 - 1e-12)))
    far = dict(narrow, w=(0.8 * th["w"], th["w"] + (1 - 1e-6) * (w_hi - th["w"])))
    # w is 21 in a box up to 150: its own width rule fires too, so compare the messages.
    assert "w: upper end at its bound 150" in _width(mle, near).message
    assert "at its bound" not in _width(mle, far).message


def test_interval_that_is_the_whole_box_warns(mle):
    # The sparse case: w at its upper bound and an interval from bound to bound, whose
    # width (0.999 x estimate) the width rule alone passes.
    lo_b, hi_b = mle.bounds
    theta = mle.theta.copy()
    theta[3] = hi_b[3]
    r = dataclasses.replace(mle, theta=theta)
    th = dict(zip(r.names, theta, strict=True))
    iv = {n: (0.8 * v, 1.2 * v) for n, v in th.items()}
    iv["w"] = (lo_b[3], hi_b[3])
    c = _width(r, iv)
    assert c.value["w"] < C.REL_WIDTH_WARN
    assert c.status == "WARNING" and "w: the interval is its whole box [0.1, 150]" in c.message


def test_let_th_physical_ends_are_one_sided_not_cut(mle):
    th = dict(zip(mle.names, mle.theta, strict=True))
    narrow = {n: (0.8 * v, 1.2 * v) for n, v in th.items()}
    lmin = 5.0  # lowest LET with events: let_th's cap, the data's own limit
    assert mle.bounds[1][1] == lmin and mle.bounds[0][1] == 0.0
    c = _width(mle, dict(narrow, let_th=(0.0, 1.2 * th["let_th"])))
    assert c.status == "PASS" and "let_th lower end at its physical limit 0" in c.message
    c = _width(mle, dict(narrow, let_th=(0.8 * th["let_th"], lmin)))
    assert c.status == "PASS" and "let_th upper end at the data's limit 5" in c.message
    # Both: the interval is let_th's whole box [0, cap] (relative width exactly 1).
    c = _width(mle, dict(narrow, let_th=(0.0, lmin)))
    assert c.value["let_th"] == pytest.approx(1.0)
    assert c.status == "WARNING" and "covers its whole box [0, 5]" in c.message
    # A lower bound the user chose is a box, not physics.
    lo_b = mle.bounds[0].copy()
    lo_b[1] = 0.5
    r = dataclasses.replace(mle, bounds=(lo_b, mle.bounds[1]))
    c = _width(r, dict(narrow, let_th=(0.5, 1.2 * th["let_th"])))
    assert c.status == "WARNING" and "let_th: lower end at its bound 0.5" in c.message


def test_quoted_cic_intervals_on_the_box(cic):
    # The BCa intervals analyze quotes for the CIC campaign (seed 1): let_th [0, 1.3] is
    # its whole box (0 to the lowest LET with events), w's upper end is its 2 x span cap.
    iv = {"sigma_sat": (3.151e-05, 7.151e-05), "let_th": (0.0, 1.3), "s": (0.5329, 0.892),
          "w": (48.84, cic.bounds[1][3])}
    c = _by_name(post_fit_checks(cic, intervals=iv, interval_source="bootstrap BCa"))[
        "interval_width"]
    assert max(c.value.values()) <= C.REL_WIDTH_WARN  # the old rule's PASS
    assert c.status == "WARNING"
    assert "let_th: the interval [0, 1.3] covers its whole box [0, 1.3]" in c.message
    assert "w: upper end at its bound 122.4, not determined by the data" in c.message


def test_upper_limit_exceeded(bad_zero):
    res = _by_name(post_fit_checks(bad_zero))
    c = res["upper_limits"]
    assert c.status == "FAIL" and "run d" in c.message
    u = [u for u in bad_zero.upper_limits if u.label == "run d"][0]
    assert c.value["run d"] == pytest.approx(u.sigma_fit / (chi2.ppf(0.975, 2) / 2 / 1e7))
    assert c.value["run a"] < 1


def test_upper_limits_respected(boot):
    assert _by_name(post_fit_checks(boot))["upper_limits"].status == "PASS"


# -- excess zeros --------------------------------------------------------------------

def _brute_sf(k, p):
    """P(sum of Bernoulli(p_i) >= k) by enumerating every outcome."""
    total = 0.0
    for bits in itertools.product((0, 1), repeat=len(p)):
        if sum(bits) >= k:
            total += np.prod([pi if b else 1 - pi for b, pi in zip(bits, p, strict=True)])
    return total


def test_poisson_binomial_sf_exact():
    p = np.array([0.9, 0.05, 0.3, 0.5, 1e-6, 0.99, 0.2, 0.7, 0.0, 1.0])
    for k in range(0, 12):
        assert poisson_binomial_sf(k, p) == pytest.approx(_brute_sf(k, p), abs=1e-14)


def test_poisson_binomial_normal_branch():
    p = np.full(3000, 0.01)  # binomial(3000, 0.01): mean 30
    from scipy.stats import binom
    assert poisson_binomial_sf(40, p) == pytest.approx(binom.sf(39, 3000, 0.01), rel=0.15)


def test_excess_zeros_expectation(bad_zero):
    c = excess_zeros_check(bad_zero)
    d = bad_zero.data
    lam = _weibull(d.let, *bad_zero.theta) * d.exposure  # independent curve evaluation
    expected = poisson.pmf(0, lam).sum()
    assert c.value["observed"] == 3
    assert c.value["expected"] == pytest.approx(expected, rel=1e-9)
    p_count = _brute_sf(3, np.exp(-lam))
    assert c.value["p_count"] == pytest.approx(p_count, rel=1e-9)
    # Three zeros where 1.4 are expected is unremarkable as a count (p about 0.02) ...
    assert 0.001 < p_count < 0.05
    # ... but run d expects a dozen events: P(0) = exp(-lambda_d), union over runs as rare.
    lam_d = lam[3]
    p_worst = np.exp(-lam)[np.exp(-lam) <= np.exp(-lam_d)].sum()
    assert c.value["worst_run"] == "run d"
    assert c.value["p_worst"] == pytest.approx(p_worst, rel=1e-9)
    assert c.value["p_value"] == pytest.approx(2 * min(p_count, p_worst), rel=1e-9)
    assert c.status == "FAIL" and "run d" in c.message


def test_excess_zeros_consistent(boot):
    c = excess_zeros_check(boot)
    assert c.status == "PASS" and c.value["observed"] == 1
    assert 0.5 < c.value["expected"] < 1.5  # the LET-1 run sits below the threshold


# -- overdispersion ------------------------------------------------------------------

def test_overdispersion_negative_binomial_noise():
    rng = np.random.default_rng(7)
    mu = _weibull(LETS) * 2e7  # 5 to 200 expected events
    k = 5.0  # variance mu + mu^2 / 5: strongly over-dispersed
    counts = rng.negative_binomial(k, k / (k + mu))
    r = seufit.fit(_data(LETS, counts, fluence=2e7))
    c = overdispersion_check(r)
    assert c.status in ("WARNING", "FAIL")
    assert c.value["pearson_per_dof"] > 1.5
    # Independent Pearson statistic over the fitted runs.
    fd = r.fit_data
    lam = _weibull(fd.let, *r.theta) * fd.exposure
    ref = np.sum((fd.events - lam) ** 2 / lam) / (fd.n_runs - 4)
    assert c.value["pearson_per_dof"] == pytest.approx(ref, rel=1e-9)
    assert c.value["p_pearson"] == pytest.approx(chi2.sf(ref * (fd.n_runs - 4),
                                                         fd.n_runs - 4), rel=1e-9)


def test_overdispersion_poisson_noise_passes():
    rng = np.random.default_rng(11)
    counts = rng.poisson(_weibull(LETS) * 2e7)
    c = overdispersion_check(seufit.fit(_data(LETS, counts, fluence=2e7)))
    assert c.status == "PASS" and c.value["pearson_per_dof"] < 1.5
    # The unsound rule: variance/mean of the counts across LETs measures the curve.
    assert counts.var(ddof=1) / counts.mean() > 10


def test_overdispersion_large_but_not_significant():
    # Poisson draws from the Weibull itself (the model is right): Pearson chi2/dof 1.73 on
    # 4 dof happens by chance (p 0.14); the old "ratio > 1.5" rule warned on it.
    let = LETS[[2, 3, 4, 5, 6, 8, 10, 11]]
    r = seufit.fit(_data(let, [2, 10, 17, 21, 34, 51, 35, 55], fluence=5e6))
    c = overdispersion_check(r)
    fd = r.fit_data
    lam = _weibull(fd.let, *r.theta) * fd.exposure
    pearson = np.sum((fd.events - lam) ** 2 / lam)
    assert c.value["dof"] == 4
    assert c.value["pearson_per_dof"] == pytest.approx(pearson / 4, rel=1e-9)
    assert c.value["p_pearson"] == pytest.approx(chi2.sf(pearson, 4), rel=1e-9)
    assert pearson / 4 > 1.5 and min(c.value["p_pearson"], c.value["p_deviance"]) > 0.05
    assert c.status == "PASS"
    big = max(c.value["pearson_per_dof"], c.value["deviance_per_dof"])
    assert f"dispersion estimate {big:.3g} > 1.5 but not significant" in c.message
    assert "on 4 dof" in c.message


def test_overdispersion_needs_dof():
    r = seufit.fit(_data(LETS[:4], [5, 10, 20, 30]))
    assert overdispersion_check(r).status == "N/A"


def test_real_campaign_scatter(cic):
    # The CIC campaign scatters more than Poisson about the Weibull (p about 0.02).
    c = overdispersion_check(cic)
    assert c.status == "WARNING" and 0.005 < c.value["p_pearson"] < 0.05


def test_thresholds_are_exported():
    assert C.S_RANGE == (0.3, 7.0) and C.CORRELATION_LIMIT == 0.8
    assert (C.SUCCESS_EXCELLENT, C.SUCCESS_GOOD, C.SUCCESS_MARGINAL) == (0.98, 0.95, 0.90)


def test_too_little_scatter_warns():
    # Counts equal to the rounded expectation: far less scatter than Poisson allows.
    counts = np.round(_weibull(LETS) * 1e8).astype(int)  # 25 to 1000 events
    c = overdispersion_check(seufit.fit(_data(LETS, counts, fluence=1e8)))
    assert c.status == "WARNING" and "less scatter" in c.message
    assert c.value["p_pearson_lower"] < 0.001


def test_user_model_skips_weibull_rules():
    model = seufit.UserModel(
        names=("a", "b"), bounds=([1e-8, 0.1], [1e-3, 100.0]), transforms=("log", "log"),
        func=lambda x, t: t[:, :1] * -np.expm1(-x[None, :] / t[:, 1:2]))
    res = _by_name(post_fit_checks(seufit.fit("example:mle_article", model=model)))
    assert all(res[n].status == "N/A" for n in ("sigma_sat_plausible", "let_th_plausible",
                                                "s_plausible", "w_plausible", "saturation"))
    assert "not a Weibull4 fit" in res["saturation"].message
    assert res["overdispersion"].value["dof"] == 6
    assert res["identifiability"].value["pair"] == "a~b"


# -- tilt ------------------------------------------------------------------------------

_TILT_LETS = np.array([2.0, 4.0, 8.0, 12.0, 20.0, 30.0, 45.0, 60.0])


def _tilt_data(factor, angles=(60.0, 45.0), lets=(4.0, 8.0), fluence=2e7, tilt=True):
    """Normal-incidence runs at their expected counts, plus tilted runs whose counts are
    ``factor`` x what the cosine law predicts (factor 1: the law holds)."""
    let = np.concatenate([_TILT_LETS, lets])
    ang = np.concatenate([np.zeros(_TILT_LETS.size), angles])
    cos = np.cos(np.radians(ang))
    lam = _weibull(let / cos) * fluence * cos
    lam[_TILT_LETS.size:] *= factor
    df = pd.DataFrame({"let": let, "fluence": fluence, "events": np.round(lam).astype(int),
                       "angle": ang})
    return seufit.fit(seufit.load(df, tilt=tilt)), lam


def _two_sided_poisson_p(n, mu):
    # P(X <= n) and P(X >= n) by explicit sums (no scipy)
    pmf = [math.exp(-mu + k * math.log(mu) - math.lgamma(k + 1)) for k in range(n + 1)]
    low = sum(pmf)
    high = 1.0 - low + pmf[-1]
    return min(1.0, 2.0 * min(low, high))


def test_tilt_consistent_with_the_cosine_law_passes():
    r, _ = _tilt_data(1.0, angles=(30.0, 45.0))
    c = C.tilt_check(r)
    assert c.status == "PASS", c
    v = c.value
    assert v["runs"] == 2 and v["max_angle"] == 45.0
    lam = r.predict(r.data.let) * r.data.exposure
    assert v["observed"] == int(r.data.events[-2:].sum())
    assert v["expected"] == pytest.approx(lam[-2:].sum(), rel=1e-12)
    assert v["p_total"] == pytest.approx(_two_sided_poisson_p(v["observed"], v["expected"]),
                                         rel=1e-9)
    per_run = [_two_sided_poisson_p(int(n), m) for n, m in zip(r.data.events[-2:], lam[-2:])]
    assert v["p_worst"] == pytest.approx(min(1.0, 2 * min(per_run)), rel=1e-9)
    assert v["p_value"] == pytest.approx(min(1.0, 2 * min(v["p_total"], v["p_worst"])))
    assert v["p_value"] > 0.5
    assert "they are in the fit, so the test is conservative" in c.message


def test_tilt_runs_that_break_the_cosine_law_are_flagged():
    # A device whose tilted runs give 45 % of the cosine-law cross-section.
    r, _ = _tilt_data(0.45, angles=(30.0, 45.0))
    c = C.tilt_check(r)
    assert c.status == "FAIL", c  # combined p about 1e-4
    assert c.value["ratio"] < 0.8 and c.value["p_value"] < 0.001
    assert "cosine law" in c.message and "disagree" in c.message
    assert c.value["p_total"] == pytest.approx(
        _two_sided_poisson_p(c.value["observed"], c.value["expected"]), rel=1e-9)
    r, _ = _tilt_data(0.6, angles=(30.0, 45.0))
    assert C.tilt_check(r).status == "WARNING"  # 0.001 < p < 0.05 (0.013)


def test_tilted_runs_off_in_opposite_directions_are_flagged():
    # One tilted run 1.8 x the law, the other 0.6 x: the total agrees, the runs do not.
    let = np.concatenate([_TILT_LETS, [4.0, 8.0]])
    ang = np.concatenate([np.zeros(_TILT_LETS.size), [45.0, 45.0]])
    cos = np.cos(np.radians(ang))
    lam = _weibull(let / cos) * 2e7 * cos
    lam[-2:] *= [1.8, 0.6]
    r = seufit.fit(seufit.load(pd.DataFrame({"let": let, "fluence": 2e7, "angle": ang,
                                             "events": np.round(lam).astype(int)})))
    c = C.tilt_check(r)
    assert c.value["p_total"] > 0.05  # the sum alone would pass
    assert c.status in ("WARNING", "FAIL") and c.value["p_value"] < 0.05
    assert c.value["worst_run"] in r.data.labels()[-2:]


def test_tilt_zero_event_runs_left_out_of_the_fit_are_named():
    r, _ = _tilt_data(1.0, angles=(30.0, 45.0), lets=(1.0, 8.0))  # LET 1.15: below let_th
    assert r.data.events[-2] == 0 and not r.fit_mask[-2]
    c = C.tilt_check(r)
    assert "1 of them in the fit, 1 left out (zero-event runs)" in c.message
    only, _ = _tilt_data(1.0, angles=(30.0,), lets=(0.5,))  # below the threshold, no event
    assert C.tilt_check(only).status == "N/A"
    assert "nothing to test" in C.tilt_check(only).message


def test_tilt_above_60_degrees_warns_even_when_consistent():
    r, _ = _tilt_data(1.0, angles=(-65.0, 30.0))  # a negative tilt is a tilt
    c = C.tilt_check(r)
    assert c.value["p_value"] > 0.05 and c.value["max_angle"] == 65.0
    assert c.status == "WARNING" and "above 60 deg" in c.message
    at60, _ = _tilt_data(1.0, angles=(60.0, 30.0))
    assert C.tilt_check(at60).status == "PASS"  # 60 itself is not above 60


def test_tilt_not_applicable():
    r = seufit.fit(_data(_TILT_LETS, np.round(_weibull(_TILT_LETS) * 2e7).astype(int),
                         fluence=2e7))
    assert C.tilt_check(r).status == "N/A"  # no angle column
    r, _ = _tilt_data(1.0, tilt=False)
    c = C.tilt_check(r)
    assert c.status == "N/A" and "switched off" in c.message
    none = seufit.fit(_data([1, 5, 20, 60], [0, 0, 0, 0], angle=[0, 30, 0, 0]))
    assert C.tilt_check(none).status == "N/A"


def test_tilt_in_the_analysis_data_checks(cic):
    # cic_mpa_stubs: one run at 30 deg (Ne, LET 3.3 -> 3.81)
    c = _by_name(post_fit_checks(cic))["tilt"]
    assert c.value["runs"] == 1 and c.value["max_angle"] == 30.0
    assert c.value["observed"] == 18


# -- LET coverage ---------------------------------------------------------------------

def test_let_coverage_onset_bracketed_or_not():
    ok = _by_name(pre_fit_checks(_data([1, 2, 5, 20, 60], [0, 0, 3, 10, 12])))["let_coverage"]
    assert ok.status == "PASS"
    assert ok.value == {"lowest_let_with_events": 5.0, "zero_runs_below": 2, "highest_let": 60.0}
    assert "no event at LET 2, events from 5" in ok.message and ">= 60" in ok.message
    # a zero-event run above the lowest LET with events does not bracket the onset
    no = _by_name(pre_fit_checks(_data([5, 10, 20, 40], [3, 0, 10, 12])))["let_coverage"]
    assert no.status == "WARNING" and no.value["zero_runs_below"] == 0
    assert "40 < 60: saturation must then be measured" in no.message
    # nor does a zero-event run at that same LET
    same = _by_name(pre_fit_checks(_data([5, 5, 10, 20, 40], [0, 3, 5, 8, 9])))["let_coverage"]
    assert same.status == "WARNING"
    none = _by_name(pre_fit_checks(_data([1, 5], [0, 0])))["let_coverage"]
    assert none.status == "N/A"
