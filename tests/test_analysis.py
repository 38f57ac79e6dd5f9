"""seufit.analysis: the decision tree, its overrides, and analyze() on every kind of dataset."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

import seufit
from seufit.analysis import (
    INTERVAL_METHODS,
    SCHEMA,
    Analysis,
    analyze,
    reproduce_command,
    rule_curve,
    rule_zeros,
)

FAST = {"n_boot": 300, "n_sweep": 20_000}


def _data(let, events, fluence=1e7, runs=True):
    let = np.asarray(let, float)
    df = pd.DataFrame({"let": let, "fluence": np.broadcast_to(fluence, let.shape),
                       "events": events})
    if runs:
        df["run"] = [f"r{i}" for i in range(len(let))]
    return seufit.load(df)


def _two_step():
    """Two plateaus (two sensitive nodes): no Weibull follows both."""
    let = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0, 20.0, 30.0, 40.0, 60.0, 80.0])
    sigma = np.where(let < 1.5, 0.0, 2e-6) + np.where(let < 25, 0.0, 2e-5)
    return _data(let, np.round(sigma * 1e7).astype(int))


@pytest.fixture(scope="module")
def cic():
    return analyze("example:cic_mpa_stubs", seed=11, **FAST)


@pytest.fixture(scope="module")
def boot_article():
    return analyze("example:bootstrap_article", seed=3, **FAST)


@pytest.fixture(scope="module")
def all_zero():
    return analyze(_data([1, 5, 10, 20, 40], [0, 0, 0, 0, 0]), seed=1, **FAST)


@pytest.fixture(scope="module")
def two_step():
    return analyze(_two_step(), seed=2, **FAST)


def _json(a: Analysis) -> str:
    return json.dumps(a.to_dict(), allow_nan=False)


# -- bundled datasets -------------------------------------------------------------------

def test_real_example_parameter_at_bound(cic):
    assert cic.fitted and cic.fit.variant == "standard"
    assert "w" in cic.fit.at_bound
    assert cic.check("at_bound").status == "WARNING"
    # w at its bound: the normal approximation fails, the Wald interval is not quoted.
    assert cic.chosen in ("bca", "percentile", "profile")
    dec = cic.decision("interval")
    assert "w at a bound" in dec.reason and not dec.overridden
    # Every method is reported for every parameter; the bound is flagged.
    for m in INTERVAL_METHODS:
        assert cic.intervals["methods"][m]["available"], m
    w = cic.intervals["parameters"]["w"]
    assert "high end at bound" in w["profile"]["note"]
    assert "outside the parameter box" in w["wald"]["note"]
    lo, hi = cic.interval("w")
    assert lo <= cic.params["w"] <= hi


def test_real_example_decisions_and_checks(cic):
    names = [d.name for d in cic.decisions]
    assert names == ["curve", "zeros", "variant", "bootstrap", "interval", "goodness_of_fit",
                     "profile", "sweep"]
    assert all(d.reason and d.rule and d.option for d in cic.decisions)
    assert cic.decision("bootstrap").choice.startswith("conservative, 300")
    assert cic.decision("bootstrap").overridden  # n_boot=300 replaced the rule's 20,000
    assert [c.name for c in cic.data_checks] == [
        "events", "zero_event_runs", "events_per_parameter", "min_count", "mean_count",
        "let_coverage", "excess_zeros", "overdispersion", "tilt"]
    assert cic.fit_checks[-1].name == "goodness_of_fit"
    assert cic.check("identifiability").status == "WARNING"  # sigma_sat ~ w, bootstrap r
    g = cic.check("goodness_of_fit")
    assert g.value["n_replicates"] == cic.bootstrap.n_success
    assert g.value["p_value"] == pytest.approx(cic.gof.bootstrap_p)
    assert cic.status == "WARNING"


def test_bootstrap_gof_pvalue_uses_refitted_replicates(cic):
    d_star = cic.bootstrap.deviances()
    ref = (1 + np.sum(d_star >= cic.gof.deviance)) / (1 + np.isfinite(d_star).sum())
    assert cic.gof.bootstrap_p == pytest.approx(ref)


def test_sparse_article_example(boot_article):
    a = boot_article
    assert a.decision("zeros").choice == "exclude"  # the zero lies below the threshold
    assert a.fit.variant == "with_zeros"
    assert a.chosen == "percentile"  # series rule: a zero-event run, no BCa
    assert not a.intervals["methods"]["wald"]["available"]
    assert a.check("upper_limits").status == "PASS"


def test_dense_article_example():
    a = analyze("example:mle_article", seed=5, **FAST)
    assert a.fitted and a.fit.variant == "standard"
    assert a.check("goodness_of_fit").status == "PASS"
    assert a.chosen in INTERVAL_METHODS


# -- no curve ---------------------------------------------------------------------------

def test_all_zero_data(all_zero):
    a = all_zero
    assert not a.fitted and a.chosen is None
    assert a.decision("curve").choice == "upper limits only"
    assert len(a.fit.upper_limits) == 5
    assert a.bootstrap is None and a.profile is None and a.sweep is None
    assert a.caveats == ()  # no quoted interval to qualify
    for k in ("curve", "bootstrap", "profile", "sweep"):
        assert a.skipped[k]
    # No events is a result (an immune part), not a failed analysis: the checks on what a
    # curve needs do not apply, and the limits are the result.
    assert a.check("events").status == "N/A"
    assert a.check("upper_limits").status == "PASS"
    assert a.status == "PASS"
    # The runs pooled under any non-decreasing curve: 5 x 1e7 at LET <= 1, 3.69 two-sided.
    env = a.fit.envelope_limits
    assert [e.let for e in env] == [1, 5, 10, 20, 40]
    assert env[0].sigma_upper == pytest.approx(3.6889 / 5e7, rel=1e-4)
    assert env[-1].sigma_upper == pytest.approx(3.6889 / 1e7, rel=1e-4)
    st, summary = a.verdict()
    assert summary.startswith("no events observed: upper limits only, sigma < 7.38e-08 "
                              "cm2/device at every LET <= 1 and < 3.69e-07 at LET 40 "
                              "(95 % two-sided")
    assert "runs pooled at and above each LET" in str(a)
    d = json.loads(_json(a))
    assert d["parameters"] == {} and d["bootstrap"] is None
    assert len(d["input"]["runs"]) == 5
    assert len(d["fit"]["envelope_limits"]) == 5 and d["verdict"]["status"] == "PASS"


def test_a_curve_too_sparse_to_fit_still_fails_without_pooled_limits():
    # Events in too few runs for a curve is a failed campaign, unlike no events at all.
    a = analyze(_data([1, 5, 10, 20, 40], [0, 0, 0, 1, 2]), seed=1, **FAST)
    assert not a.fitted and a.status == "FAIL" and a.check("events").status == "FAIL"
    assert a.check("upper_limits").status == "N/A"
    assert a.verdict()[1].startswith("no curve fitted: upper limits only")
    # Events can contradict the non-decreasing curve the pooled limits assume: none quoted.
    assert a.fit.envelope_limits == ()
    # The text gives the per-run exact intervals (part of the result here), as the HTML.
    from scipy.stats import chi2

    text = str(a)
    assert "runs with events (exact 95 % two-sided Garwood intervals):" in text
    line = next(ln for ln in text.splitlines() if "LET 40, 2 events" in ln)
    lo, hi = chi2.ppf(0.025, 4) / 2 / 1e7, chi2.ppf(0.975, 6) / 2 / 1e7
    assert f"[{lo:.4g}, {hi:.4g}]" in line


def test_too_few_runs_with_events_even_when_forced():
    d = _data([1, 5, 10, 20, 40], [0, 0, 2, 5, 0])
    a = analyze(d, seed=1, curve="on", **FAST)
    assert not a.fitted
    dec = a.decision("curve")
    assert "impossible" in dec.reason and "2 run(s) with events" in dec.reason
    runs = a.to_dict()["input"]["runs"]
    assert runs[2]["sigma_low"] > 0 and runs[0]["sigma_low"] == 0


def test_mean_count_rule_and_override():
    let = np.arange(1, 61, dtype=float)
    ev = np.zeros(60, int)
    ev[[20, 30, 40, 50]] = 1  # 4 events in 60 runs: 0.067 per run
    d = _data(let, ev, runs=False)
    fit, dec = rule_curve(d, "auto")
    assert not fit and "0.0667 events per run" in dec.reason
    a = analyze(d, seed=1, **FAST)
    assert not a.fitted and a.check("mean_count").status == "FAIL"
    forced = analyze(d, seed=1, curve="on", n_boot=0, profile=False)
    assert forced.fitted
    dec = forced.decision("curve")
    assert dec.overridden and dec.automatic == "upper limits only"


# -- a curve the Weibull cannot follow ----------------------------------------------------

def test_two_step_curve_fails_goodness_of_fit(two_step):
    a = two_step
    assert a.fitted
    g = a.check("goodness_of_fit")
    # B = 300 replicates cannot give p < 1/301; no replicate comes near the observed
    # deviance, so the chi2 tail decides.
    assert g.status == "FAIL" and "beyond every bootstrap replicate" in g.value["p_source"]
    assert a.check("overdispersion").status == "FAIL"
    assert len(a.gof.flagged) >= 3
    assert a.status == "FAIL" and "NOT acceptable" in a.verdict()[1]


# -- zero handling --------------------------------------------------------------------------

def test_informative_zero_enters_the_likelihood_with_the_sound_rule():
    d = _data([0.5, 1, 2, 5, 10, 20, 40, 60], [0, 0, 3, 0, 30, 60, 80, 85])
    zeros, dec = rule_zeros(d, "auto")
    assert zeros == "include" and "run r3" in dec.reason
    a = analyze(d, seed=1, zeros="auto", **FAST)
    assert a.fit.zeros == "include" and a.fit.fit_mask.all()
    # Default: the articles' exclude, not an override, but the sound rule's view is recorded.
    excl = analyze(d, seed=1, **FAST)
    dz = excl.decision("zeros")
    assert excl.fit.zeros == "exclude" and not dz.overridden and dz.automatic == "include"
    assert "--zeros auto" in dz.reason
    assert excl.check("upper_limits").status == "FAIL"  # the curve runs through that zero


def test_zeros_that_contradict_the_curve_force_a_refit_with_the_sound_rule():
    # A long zero-event run just below the lowest LET with events: the curve fitted
    # without it predicts events there.
    d = _data([2.0, 3, 5, 10, 20, 40, 60], [0, 3, 8, 30, 60, 80, 85],
              fluence=[1e8, 1e7, 1e7, 1e7, 1e7, 1e7, 1e7])
    assert seufit.fit(d).limits_ok is False
    default = analyze(d, seed=1, **FAST)  # articles' exclude: the contradiction is a FAIL
    assert default.fit.zeros == "exclude" and default.check("upper_limits").status == "FAIL"
    a = analyze(d, seed=1, zeros="auto", **FAST)
    dec = a.decision("zeros")
    assert dec.choice == "include" and "refit with include" in dec.reason
    assert a.fit.zeros == "include"
    assert a.check("zero_event_runs").value == 1


# -- overrides ------------------------------------------------------------------------------

def test_overrides_are_recorded(boot_article):
    a = analyze("example:bootstrap_article", seed=3, variant="small_sample", config="full",
                ci="profile", gof="off", **FAST)
    assert a.fit.variant == "small_sample" and a.decision("variant").overridden
    assert a.decision("variant").automatic == "with_zeros"
    assert a.bootstrap.config == "full" and a.decision("bootstrap").overridden
    assert a.chosen == "profile" and a.decision("interval").overridden
    assert a.decision("interval").automatic == "percentile"
    assert a.decision("goodness_of_fit").overridden
    assert a.check("goodness_of_fit").status == "N/A"
    assert "gof='off'" in a.decision("goodness_of_fit").reason
    cmd = a.command
    for flag in ("--variant small_sample", "--config full", "--ci profile", "--gof off",
                 "--n-boot 300", "--seed 3"):
        assert flag in cmd


def test_unavailable_interval_request_falls_back(boot_article):
    a = analyze("example:bootstrap_article", seed=3, ci="wald", **FAST)
    assert a.chosen == "percentile"
    dec = a.decision("interval")
    assert "asked for wald but it is not available" in dec.reason and not dec.overridden


def test_gof_forced_on_with_few_dof():
    # 6 runs with events: dof 2 < 3, not judged by default; forced on it is judged.
    rng = np.random.default_rng(1)
    let = np.array([2.0, 5, 10, 20, 40, 60])
    lam = 1e-5 * -np.expm1(-((let - 1) / 15) ** 1.5) * 1e7
    d = _data(let, rng.poisson(lam))
    auto = analyze(d, seed=1, **FAST)
    assert auto.decision("goodness_of_fit").choice == "not judged"
    assert auto.check("goodness_of_fit").status == "N/A"
    on = analyze(d, seed=1, gof="on", **FAST)
    assert on.decision("goodness_of_fit").overridden
    assert on.check("goodness_of_fit").status in ("PASS", "WARNING", "FAIL")


def test_no_bootstrap_uses_chi2_and_still_reports():
    a = analyze("example:cic_mpa_stubs", seed=1, n_boot=0, n_sweep=0)
    assert a.bootstrap is None and a.sweep is None
    assert a.decision("bootstrap").choice == "off" and a.decision("bootstrap").overridden
    assert a.check("goodness_of_fit").value["p_source"] == "chi2"
    assert a.check("bootstrap_success").status == "N/A"
    assert a.chosen == "profile"  # Wald fails (w at a bound), no bootstrap: the profile
    assert not a.intervals["methods"]["bca"]["available"]


def test_profile_missing_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "seufit.uncertainty.profile", None)
    a = analyze("example:mle_article", seed=1, **FAST)
    assert a.profile is None and "not available" in a.skipped["profile"]
    assert a.sweep is None and "profile" in a.skipped["sweep"]
    assert a.intervals["methods"]["profile"]["available"] is False
    assert "not available" in a.intervals["methods"]["profile"]["reason"]


@pytest.mark.parametrize("kw", [{"zeros": "sometimes"}, {"cl": 1.5}, {"ci": "hessian"},
                                {"gof": "maybe"}, {"n_boot": 5}, {"n_sweep": -1},
                                {"variant": "x"}, {"config": "fast"}, {"curve": "yes"}])
def test_bad_options(kw):
    with pytest.raises(ValueError):
        analyze("example:mle_article", **kw)


# -- reproducibility and views ----------------------------------------------------------------

def test_same_seed_same_record(cic):
    again = analyze("example:cic_mpa_stubs", seed=11, **FAST)
    assert _json(again) == _json(cic)
    other = analyze("example:cic_mpa_stubs", seed=12, **FAST)
    assert other.to_dict()["bootstrap"] != cic.to_dict()["bootstrap"]


def test_drawn_seed_is_recorded_and_reproduces():
    a = analyze("example:mle_article", n_boot=100, n_sweep=5000)
    assert isinstance(a.seed, int) and a.to_dict()["seed"] == a.seed
    assert f"--seed {a.seed}" in a.command
    b = analyze("example:mle_article", seed=a.seed, n_boot=100, n_sweep=5000)
    assert _json(a) == _json(b)


def test_views(cic):
    text = str(cic)
    for part in ("verdict:", "decisions:", "data checks:", "fit checks:", "all 95 % intervals",
                 "bootstrap BCa"):
        assert part in text
    page = cic._repr_html_()
    assert page.count("<table") >= 5 and "seufit-warning" in page
    d = json.loads(_json(cic))
    assert d["schema"] == SCHEMA
    assert set(d) >= {"decisions", "checks", "intervals", "fit", "goodness_of_fit", "bootstrap",
                      "profile", "sweep", "provenance", "command", "seed"}
    assert d["provenance"]["input_sha256"] == cic.data.sha256
    assert d["intervals"]["chosen"] == cic.chosen
    assert d["parameters"]["w"]["ci_method"] == cic.chosen


def test_notebook_view_shows_the_curve_and_residual_figures(cic, monkeypatch):
    import base64
    import re

    page = cic._repr_html_()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2  # cross-section and residuals
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Cross-section against LET" in page and "Pearson residuals" in page

    # A figure that fails to draw leaves a visible note, not an exception in the notebook.
    import seufit.report.html as report_html

    def boom(a, key):
        raise RuntimeError("no renderer")

    monkeypatch.setattr(report_html, "make_figure", boom)
    page = cic._repr_html_()
    assert "figure cross_section unavailable: RuntimeError: no renderer" in page
    assert page.count("<table") >= 5


def test_reproduce_command_quotes_paths():
    cmd = reproduce_command("my data/run 1.csv", {"zeros": "include", "cl": 0.9}, 7)
    assert cmd == ("seufit analyze 'my data/run 1.csv' -o REPORT_DIR --seed 7 --zeros include "
                   "--cl 0.9")


def test_per_bit_intervals_are_not_called_at_bound_by_an_absolute_tolerance():
    import pandas as pd

    df = pd.DataFrame({"let": [2, 5, 10, 20, 40, 60], "fluence": [1e7] * 6,
                       "events": [3, 15, 40, 70, 90, 95], "bits": [1e6] * 6})
    a = analyze(df, seed=1, **FAST)
    assert a.fit.data.per_bit and a.fit.theta[0] < 1e-9  # cm2/bit: ~1e-11
    sig_line = next(ln for ln in str(a).splitlines() if ln.strip().startswith("sigma_sat"))
    assert "at bound" not in sig_line, sig_line


def test_a_two_let_campaign_gets_upper_limits_only():
    d = _data([5, 5, 40, 40, 40], [10, 12, 50, 55, 60])
    a = analyze(d, seed=1, **FAST)
    assert not a.fit.fitted and "distinct LET" in a.decision("curve").reason


def test_guarded_quotes_percentile_where_the_rule_quotes_bca_on_a_bound(cic):
    # cic: w on its bound and >= 50 events, no zeros: the series' rule quotes BCa, and the
    # text says so with the way out; "guarded" quotes percentile and records the override.
    assert cic.chosen == "bca"
    assert any(m.startswith("BCa quoted with w on a bound") and "--ci guarded" in m
               for m in cic.caveats)
    g = analyze("example:cic_mpa_stubs", seed=11, ci="guarded", **FAST)
    assert g.chosen == "percentile"
    dec = g.decision("interval")
    assert dec.overridden and dec.automatic == "bca" and "guarded rule" in dec.reason
    assert not any(m.startswith("BCa quoted") for m in g.caveats)
    # the bootstrap section says the same (review: it said BCa and flagged it)
    assert g.bootstrap.ci_method == "percentile"
    assert not any("prefer --ci percentile" in f for f in g.bootstrap.diagnostics["flags"])
    assert g.interval("w") == tuple(g.intervals["parameters"]["w"]["percentile"][k]
                                    for k in ("low", "high"))
    # Where the rule does not pick BCa with a bound, guarded is the rule.
    two = analyze("example:bootstrap_article", seed=3, ci="guarded", **FAST)
    assert two.chosen != "bca" and not two.decision("interval").overridden


def test_clipped_bootstrap_ends_are_noted_in_the_report():
    a = analyze("example:bootstrap_article", seed=5, n_boot=2000, profile=False)
    iv = a.intervals["parameters"]["let_th"]["percentile"]
    assert iv["high"] == 2.0 and "clipped to the data's limit" in iv["note"]
    assert any(m.startswith("bootstrap: let_th: percentile interval's high end clipped at 2")
               for m in a.messages)
    assert "clipped at 2" in str(a)


def test_one_sided_zero_event_limits(all_zero):
    # bootstrap_article has one zero-event run (fluence 1e6): 95 % one-sided is
    # -ln(0.05) = 2.996 events, two-sided 3.689; the record and the reproduce line say so.
    one = analyze("example:bootstrap_article", seed=3, n_boot=0, profile=False,
                  sided="one-sided")
    (u,) = one.fit.upper_limits
    assert u.sided == "one-sided" and u.sigma_upper == pytest.approx(-np.log(0.05) / 1e6)
    assert "--sided one-sided" in one.command
    two = analyze("example:bootstrap_article", seed=3, n_boot=0, profile=False)
    assert two.fit.upper_limits[0].sigma_upper == pytest.approx(3.6889 / 1e6, rel=1e-4)
    assert "--sided" not in two.command
    # no curve: the limits-only path takes it too
    z = analyze(_data([1, 5, 10, 20, 40], [0, 0, 0, 0, 0]), seed=1, sided="one-sided")
    assert {v.sided for v in z.fit.upper_limits} == {"one-sided"}
    assert all_zero.fit.upper_limits[0].sided == "two-sided"
    with pytest.raises(ValueError, match="sided"):
        analyze("example:bootstrap_article", sided="upper")


def test_sidedness_changes_the_printed_limits_not_the_zero_rule():
    # A zero-event run at LET 4.5 where the curve fitted without it expects 3.3 events:
    # above the one-sided 95 % limit (3.0), below the two-sided one (3.69).  zeros="auto"
    # judges against the two-sided limit either way (review finding: one-sided used to
    # switch the fit to include and move let_th).
    df = pd.DataFrame({"let": [5, 10, 20, 40, 80, 4.5], "fluence": [1e7] * 5 + [1.0],
                       "events": [10, 40, 90, 150, 170, 0]})
    fr = seufit.fit(df)
    df.loc[5, "fluence"] = 3.3 / fr.model.value(fr.theta[None, :], np.array([4.5]))[0, 0]
    got = {}
    for sided in ("two-sided", "one-sided"):
        a = analyze(df, seed=1, n_boot=0, profile=False, n_sweep=0, zeros="auto", sided=sided)
        got[sided] = a
        assert a.decision("zeros").choice == "exclude"
    np.testing.assert_array_equal(got["one-sided"].fit.theta, got["two-sided"].fit.theta)
    # what is shown does follow the sidedness: the one-sided limit is exceeded
    (u,) = got["one-sided"].fit.upper_limits
    assert u.sided == "one-sided" and u.curve_below is False


def test_caveats_stand_next_to_the_result(cic):
    """What limits the quoted intervals is said under the result table (text, notebook
    HTML, JSON), not among the closing notes."""
    text = str(cic)
    head, _, rest = text.partition("  caveats on these intervals:")
    assert "result (" in head and rest.index("  decisions:") > 0
    cav = rest[:rest.index("  decisions:")]
    assert "BCa quoted with w on a bound" in cav
    # w on its upper bound, and sigma_sat tied to it (bootstrap r about +0.95)
    w_line = next(c for c in cic.caveats if c.startswith("w at its upper bound"))
    assert "every interval holds only for w <= " in w_line and "sigma_sat (r = +0.9" in w_line
    assert "caveats on these intervals" in cic._repr_html_()
    assert "sigma at the highest tested LET (" in cic._repr_html_()
    assert json.loads(_json(cic))["caveats"] == list(cic.caveats)
    # the systematic uncertainties a Poisson likelihood cannot see, said every time
    assert cic.caveats[-1].startswith("counting statistics only: the beam's fluence")


def test_caveats_of_a_small_or_unstable_bootstrap():
    a = analyze("example:mle_article", seed=1, n_boot=60, profile=False, n_sweep=0)
    few = [c for c in a.caveats if c.startswith("only 60 replicates fitted")]
    assert few and "outer 2 draws" in few[0]
    se_change = a.bootstrap.diagnostics["stability"]["se_relative_change"]
    moved = [k for k, v in se_change.items() if v > 0.10]
    assert moved  # 2 x 30 draws
    assert any(c.startswith("the bootstrap standard error of " + ", ".join(moved))
               and "--n-boot" in c for c in a.caveats)
    # The default 20,000: standard errors stable; the relative change of the near-zero
    # let_th-w correlation (r about 0.09) still flags the article's diagnostic, but the
    # marginal intervals quoted do not depend on it: no caveat.
    b = analyze("example:mle_article", seed=1, profile=False, n_sweep=0)
    assert not b.bootstrap.diagnostics["stability"]["stable"]
    assert max(b.bootstrap.diagnostics["stability"]["se_relative_change"].values()) < 0.10
    assert not any(c.startswith("only") or "two halves" in c for c in b.caveats)


def test_sigma_at_the_highest_tested_let(cic):
    """sigma at the top LET: the fitted curve there (independent Weibull formula) and the
    percentile interval of the replicate curves there; shown in text, HTML and JSON."""
    from reference import weibull

    t = cic.sigma_top
    top = float(cic.data.let.max())
    th = cic.fit.theta
    assert t["let"] == top
    assert t["value"] == pytest.approx(weibull(np.array([top]), *th)[0], rel=1e-12)
    assert t["fraction_of_sigma_sat"] == pytest.approx(t["value"] / th[0], rel=1e-12)
    sig = np.array([weibull(np.array([top]), *row)[0] for row in cic.bootstrap.draws])
    lo, hi = np.quantile(sig, [0.025, 0.975])
    assert (t["low"], t["high"]) == (pytest.approx(lo, rel=1e-12), pytest.approx(hi, rel=1e-12))
    assert t["low"] < t["value"] < t["high"]
    assert "sigma at the highest tested LET (" in str(cic)
    assert json.loads(_json(cic))["sigma_at_highest_let"]["value"] == t["value"]
    no_boot = analyze("example:cic_mpa_stubs", seed=1, n_boot=0, profile=False, n_sweep=0)
    assert no_boot.sigma_top["low"] is None and no_boot.sigma_top["value"] == t["value"]


def test_an_interval_cut_by_the_box_reads_as_a_one_sided_bound(cic):
    g = analyze("example:cic_mpa_stubs", seed=11, ci="guarded", **FAST)  # percentile
    rows = {r[0]: r for r in g.result_rows()}
    w = rows["w"]
    assert "high end at bound" in w[6] and "low end at bound" not in w[6]
    assert w[6].endswith(f"one-sided: w >= {seufit._format.num(w[2], 4)} (97.5 %)")
    lt = rows["let_th"]  # [0, 1.278]: an upper bound on the threshold
    assert lt[6].endswith(f"one-sided: let_th <= {seufit._format.num(lt[3], 4)} (97.5 %)")
    assert "one-sided" not in rows["s"][6]  # inside the box
    assert "result (95 % two-sided bootstrap percentile intervals)" in str(g)
    assert json.loads(_json(g))["parameters"]["w"]["note"] == w[6]
    # BCa (the rule's choice here) under-covers with w on its bound: no one-sided reading
    assert cic.chosen == "bca" and "one-sided" not in {r[0]: r for r in
                                                      cic.result_rows()}["w"][6]
