"""Goodness of fit: deviance, Pearson, residuals and the bootstrap p-value."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import xlogy
from scipy.stats import chi2

import seufit
from seufit.gof import (
    GoodnessOfFit,
    bootstrap_deviance_pvalue,
    deviance_of,
    goodness_of_fit,
)


def _data(let, events, fluence=1e7):
    let = np.asarray(let, float)
    return seufit.load(pd.DataFrame({"let": let, "fluence": np.broadcast_to(fluence, let.shape),
                                     "events": events}))


def _weibull(let, sat, l0, s, w):
    z = np.clip(np.asarray(let, float) - l0, 0, None) / w
    return sat * -np.expm1(-(z**s))


def _ref_deviance(lam, n):
    """Textbook Poisson deviance, written independently with xlogy (0 log 0 = 0)."""
    return 2.0 * np.sum(xlogy(n, n) - xlogy(n, lam) - (n - lam))


@pytest.fixture(scope="module")
def cic():
    return seufit.fit("example:cic_mpa_stubs")


@pytest.fixture(scope="module")
def cic_gof(cic):
    return goodness_of_fit(cic)


def test_statistics_match_independent_formulas(cic, cic_gof):
    fd = cic.fit_data
    lam = _weibull(fd.let, *cic.theta) * fd.exposure
    n = fd.events
    D = _ref_deviance(lam, n)
    X2 = np.sum((n - lam) ** 2 / lam)
    assert cic_gof.deviance == pytest.approx(D, rel=1e-10)
    assert cic_gof.pearson == pytest.approx(X2, rel=1e-10)
    assert cic_gof.dof == fd.n_runs - 4 == 6
    assert cic_gof.p_chi2 == pytest.approx(chi2.sf(D, 6), rel=1e-10)
    assert cic_gof.p_pearson == pytest.approx(chi2.sf(X2, 6), rel=1e-10)
    assert cic_gof.applicable


def test_residuals_add_up(cic, cic_gof):
    m = cic_gof.in_fit
    assert np.sum(cic_gof.pearson_residuals[m] ** 2) == pytest.approx(cic_gof.pearson)
    assert np.sum(cic_gof.deviance_residuals[m] ** 2) == pytest.approx(cic_gof.deviance)
    # Signs follow N - lambda.
    sign = np.sign(cic_gof.observed - cic_gof.expected)
    np.testing.assert_array_equal(np.sign(cic_gof.deviance_residuals), sign)
    rf = cic_gof.pearson_residuals[m]
    assert cic_gof.residual_mean == pytest.approx(rf.mean())
    assert cic_gof.residual_sd == pytest.approx(np.std(rf, ddof=1))
    assert cic_gof.residual_max_abs == pytest.approx(np.abs(rf).max())


def test_flagged_runs(cic, cic_gof):
    r = cic_gof.pearson_residuals
    assert cic_gof.flagged == tuple(np.flatnonzero(np.abs(r) > 2))
    assert cic_gof.flagged == (1,)  # run 2, Ne at 3.3 MeV cm2/mg: r = +2.1
    assert cic_gof.flagged_labels == ("run 2",)


def test_two_step_curve_rejected():
    # Two plateaus (a sensitive and a very sensitive node): no Weibull follows both.
    let = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0, 20.0, 30.0, 40.0, 60.0, 80.0])
    sigma = np.where(let < 1.5, 0.0, 2e-6) + np.where(let < 25, 0.0, 2e-5)
    counts = np.round(sigma * 1e7).astype(int)  # 0, then 20, then 220 events
    r = seufit.fit(_data(let, counts))
    g = goodness_of_fit(r)
    assert g.applicable and g.dof >= 3
    assert g.deviance / g.dof > 5
    assert g.p_chi2 < 1e-4 and g.p_pearson < 1e-4


def test_good_fit_not_rejected():
    rng = np.random.default_rng(3)
    let = np.array([1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 16.0, 20.0, 30.0, 40.0, 60.0, 80.0])
    counts = rng.poisson(_weibull(let, 1e-5, 1.0, 1.5, 15.0) * 2e7)
    g = goodness_of_fit(seufit.fit(_data(let, counts, 2e7)))
    assert g.p_chi2 > 0.05 and g.residual_max_abs < 3


def test_bootstrap_pvalue_formula():
    d_star = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert bootstrap_deviance_pvalue(3.0, d_star) == pytest.approx(4 / 6)  # ties count
    assert bootstrap_deviance_pvalue(10.0, d_star) == pytest.approx(1 / 6)  # never 0
    assert bootstrap_deviance_pvalue(0.0, d_star) == pytest.approx(1.0)
    assert bootstrap_deviance_pvalue(2.0, [1.0, np.nan, 5.0, np.inf]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        bootstrap_deviance_pvalue(1.0, [np.nan])


def test_bootstrap_pvalue_in_result(cic):
    rng = np.random.default_rng(0)
    d_star = rng.chisquare(6, 999)
    g = goodness_of_fit(cic, replicate_deviances=d_star)
    expected = (1 + np.sum(d_star >= g.deviance)) / 1000
    assert g.bootstrap_p == pytest.approx(expected)
    assert g.n_replicates == 999 and g.p_value == g.bootstrap_p
    # Replicates drawn from chi2(6) reproduce the chi2 p-value within Monte Carlo error.
    assert abs(g.bootstrap_p - g.p_chi2) < 4 * np.sqrt(g.p_chi2 / 999)


def test_deviance_of(cic, cic_gof):
    fd = cic.fit_data
    assert deviance_of(cic, cic.theta, fd.events) == pytest.approx(cic_gof.deviance)
    rng = np.random.default_rng(5)
    thetas = cic.theta * np.array([[1.0, 1, 1, 1], [1.1, 1, 1, 1], [1, 0.9, 1.2, 0.8]])
    counts = rng.poisson(50, size=(3, fd.n_runs))
    D = deviance_of(cic, thetas, counts)
    assert D.shape == (3,)
    for b in range(3):
        lam = _weibull(fd.let, *thetas[b]) * fd.exposure
        assert D[b] == pytest.approx(_ref_deviance(lam, counts[b]), rel=1e-10)
    with pytest.raises(ValueError):
        deviance_of(cic, cic.theta, fd.events[:-1])


def test_zero_runs_excluded_from_statistic():
    r = seufit.fit("example:bootstrap_article")  # run #1 has no event, left out
    g = goodness_of_fit(r)
    assert not g.in_fit[0] and g.in_fit[1:].all() and g.dof == 3
    lam0 = g.expected[0]
    assert g.pearson_residuals[0] == pytest.approx(-np.sqrt(lam0))
    fd = r.fit_data
    lam = _weibull(fd.let, *r.theta) * fd.exposure
    assert g.deviance == pytest.approx(_ref_deviance(lam, fd.events), rel=1e-10)


def test_not_applicable_with_few_dof():
    g = goodness_of_fit(seufit.fit(_data([2.0, 5.0, 10.0, 20.0, 40.0, 60.0],
                                         [3, 15, 40, 70, 85, 90])))
    assert g.dof == 2 and not g.applicable and "power" in g.reason
    assert g.p_chi2 is not None
    g0 = goodness_of_fit(seufit.fit(_data([2.0, 5.0, 10.0, 40.0], [3, 15, 40, 90])))
    assert g0.dof == 0 and g0.p_chi2 is None and not g0.applicable


def test_no_curve():
    g = goodness_of_fit(seufit.fit(_data([1.0, 5.0, 20.0], [0, 0, 0])))
    assert g.deviance is None and not g.applicable and g.reason == "no curve fitted"
    assert "no curve fitted" in str(g)
    json.dumps(g.to_dict())


def test_outputs(cic_gof):
    d = cic_gof.to_dict()
    assert json.loads(json.dumps(d))["dof"] == 6
    assert len(d["runs"]) == 10 and d["flagged"] == [{"index": 1, "label": "run 2"}]
    text = str(cic_gof)
    assert "deviance" in text and "Pearson" in text and "run 2" in text
    html = cic_gof._repr_html_()
    assert "<table" in html and "14.63" in html
    assert isinstance(cic_gof, GoodnessOfFit)
