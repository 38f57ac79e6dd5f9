"""Bootstrap API, reproducibility across backends, archive and CLI."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

import seufit
from seufit.cli import main
from seufit.uncertainty.bootstrap import choose_config, replicate_starts


@pytest.fixture(scope="module")
def cic_fit():
    return seufit.fit("example:cic_mpa_stubs")


@pytest.fixture(scope="module")
def cic_boot(cic_fit):
    return seufit.bootstrap(cic_fit, n_boot=400, seed=11)


def _same(a, b):
    np.testing.assert_array_equal(a.draws_all, b.draws_all)
    np.testing.assert_array_equal(a.cause, b.cause)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.nll, b.nll)
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())


def test_same_seed_same_result_different_seed_differs(cic_fit, cic_boot):
    again = seufit.bootstrap(cic_fit, n_boot=400, seed=11)
    _same(cic_boot, again)
    other = seufit.bootstrap(cic_fit, n_boot=400, seed=12)
    assert not np.array_equal(other.counts, cic_boot.counts)


def test_chunk_size_does_not_change_results(cic_fit, cic_boot):
    for chunk in (7, 150, 10_000):
        _same(cic_boot, seufit.bootstrap(cic_fit, n_boot=400, seed=11, chunk_size=chunk))
    # Drawn chunk by chunk, the counts are one draw of all replicates from the seed: what
    # anyone can regenerate with numpy alone.
    two = seufit.bootstrap(cic_fit, n_boot=400, seed=11, chunk_size=7, jobs=2)
    one_draw = np.random.default_rng(np.random.SeedSequence(11)).poisson(
        two.lam_hat, size=(400, two.lam_hat.size))
    np.testing.assert_array_equal(two.counts, one_draw)


def test_chunk_size_does_not_change_sparse_results_with_screen_and_kinks():
    # Sparse data with zeros kept: grid screen, extra starts and kink starts all in play.
    from pathlib import Path

    fr = seufit.fit(Path(__file__).parent / "data" / "sparse_zeros.csv", zeros="include")
    ref = seufit.bootstrap(fr, n_boot=1000, seed=11, chunk_size=1000)
    for chunk in (3, 7, 150):
        _same(ref, seufit.bootstrap(fr, n_boot=1000, seed=11, chunk_size=chunk))


def test_serial_equals_processes_equals_dask(cic_fit, cic_boot):
    """serial = joblib workers (threads on the compiled path) = ProcessPoolExecutor = dask
    LocalCluster, bit for bit (joblib processes: the NumPy-path test below)."""
    _same(cic_boot, seufit.bootstrap(cic_fit, n_boot=400, seed=11, jobs=2, chunk_size=100))
    with ProcessPoolExecutor(2) as ex:
        _same(cic_boot, seufit.bootstrap(cic_fit, n_boot=400, seed=11, executor=ex,
                                         chunk_size=64))
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        _same(cic_boot, seufit.bootstrap(cic_fit, n_boot=400, seed=11,
                                         executor=client.get_executor(), chunk_size=100))


def test_forced_numpy_path_holds_in_worker_processes(cic_fit):
    # solver_backend("numpy") in the parent must reach joblib workers too, or jobs=2
    # would silently run the compiled path and give (slightly) different draws.
    from seufit.optimize import solver_backend

    with solver_backend("numpy"):
        one = seufit.bootstrap(cic_fit, n_boot=200, seed=5)
        two = seufit.bootstrap(cic_fit, n_boot=200, seed=5, jobs=2, chunk_size=50)
    _same(one, two)
    assert two.provenance["solver"] == "numpy"


def test_jobs_use_threads_on_the_compiled_path_and_processes_on_numpy(cic_fit, monkeypatch):
    import joblib

    from seufit import parallel
    from seufit.optimize import compiled_enabled, solver_backend

    seen = []
    real_parallel, real_threads = joblib.Parallel, parallel.ThreadPoolExecutor

    def spy_parallel(*args, **kwargs):
        seen.append(kwargs.get("prefer"))
        return real_parallel(*args, **kwargs)

    def spy_threads(*args, **kwargs):
        seen.append("threads")
        return real_threads(*args, **kwargs)

    monkeypatch.setattr(joblib, "Parallel", spy_parallel)
    monkeypatch.setattr(parallel, "ThreadPoolExecutor", spy_threads)
    if compiled_enabled():
        seufit.bootstrap(cic_fit, n_boot=40, seed=5, jobs=2, chunk_size=20)
        assert seen == ["threads"]
        seen.clear()
    with solver_backend("numpy"):
        seufit.bootstrap(cic_fit, n_boot=40, seed=5, jobs=2, chunk_size=20)
    assert seen[0] == "processes"


def test_counts_are_poisson_at_the_fitted_means(cic_fit, cic_boot):
    lam = cic_fit.predict(cic_fit.fit_data.let) * cic_fit.fit_data.exposure
    np.testing.assert_allclose(cic_boot.lam_hat, lam)
    # Mean of 400 Poisson draws per run within 5 standard errors of lambda.
    se = np.sqrt(lam / 400)
    assert np.all(np.abs(cic_boot.counts.mean(axis=0) - lam) < 5 * se)


def test_summary_statistics_match_numpy(cic_boot):
    D = cic_boot.draws
    np.testing.assert_allclose(cic_boot.covariance, np.cov(D.T))
    np.testing.assert_allclose(cic_boot.se, D.std(axis=0, ddof=1))
    np.testing.assert_allclose(cic_boot.percentile[:, 0], np.quantile(D, 0.025, axis=0))
    np.testing.assert_allclose(cic_boot.percentile[:, 1], np.quantile(D, 0.975, axis=0))
    assert cic_boot.n_success + sum(cic_boot.failures.values()) == cic_boot.n_boot


def test_failures_are_counted_by_cause_never_dropped():
    # Sparse data: many replicates have fewer than 3 runs with events.
    import pandas as pd

    df = pd.DataFrame({"let": [2, 5, 10, 20, 40], "fluence": [1e7] * 5,
                       "events": [1, 1, 2, 3, 4]})
    fr = seufit.fit(df)
    b = seufit.bootstrap(fr, n_boot=300, seed=2)
    article = "fewer than 3 runs with events (the bootstrap article's rule)"
    data_rule = "fewer LETs with events than parameters (the data fit's rule)"
    nonzero = (b.counts > 0).sum(axis=1)
    # Each rule under its own cause, counted exactly.
    assert b.failures[article] == np.sum(nonzero < 3) > 0
    assert b.failures[data_rule] == np.sum(nonzero == 3) > 0  # 5 distinct LETs here
    # The data fit needs 4 LETs with events for 4 parameters; so does every replicate.
    assert np.all(nonzero[b.ok] >= 4)
    assert b.n_success + sum(b.failures.values()) == 300
    assert np.all(np.isnan(b.draws_all[~b.ok]))
    assert b.config == "conservative"


def test_an_archive_before_the_cause_split_is_reclassified_from_its_counts(tmp_path):
    import pandas as pd

    df = pd.DataFrame({"let": [2, 5, 10, 20, 40], "fluence": [1e7] * 5,
                       "events": [1, 1, 2, 3, 4]})
    b = seufit.bootstrap(seufit.fit(df), n_boot=300, seed=2)
    assert set(np.unique(b.cause)) >= {0, 1, 5}
    # Write it as the earlier release did: one cause 1 for both rules, no version.
    path = b.save(tmp_path / "new.npz")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    del meta["causes_version"], meta["runs_left_out"]
    arrays["meta"] = np.array(json.dumps(meta))
    arrays["cause"] = np.where(arrays["cause"] == 5, 1, arrays["cause"])
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    np.testing.assert_array_equal(seufit.load_bootstrap(old).cause, b.cause)
    # It did not record the zero-event runs left out: unknown, not 0.
    assert seufit.load_bootstrap(old).to_dict()["runs"]["zero_event_left_out"] is None
    np.testing.assert_array_equal(seufit.load_bootstrap(path).cause, b.cause)


def test_huge_counts_converge(monkeypatch):
    """38 million events: |NLL| ~ 6e8, whose round-off (~1e-7) is above the absolute
    round-off test of the solver; the relative one (optimize.ROUNDOFF_REL) lets every
    replicate converge, on both paths, with bootstrap SEs near the Hessian's."""
    import pandas as pd

    from seufit.optimize import solver_backend

    d = seufit.fit("example:mle_article").data
    df = pd.DataFrame({"let": d.let, "fluence": d.fluence * 1e5,
                       "events": np.round(d.events * 1e5).astype(int)})
    fr = seufit.fit(df)
    assert abs(fr.nll) > 1e8
    for backend in ("auto", "numpy"):
        with solver_backend(backend):
            b = seufit.bootstrap(fr, n_boot=200, seed=1)
        assert b.success_rate == 1.0, (backend, b.failures)
        np.testing.assert_allclose(b.se / fr.se, 1.0, atol=0.2)


def test_config_and_ci_rules():
    assert choose_config(np.array([10, 20, 30]))[0] == "full"
    assert choose_config(np.array([4, 20, 30]))[0] == "conservative"
    assert choose_config(np.array([5, 10, 20]))[0] == "conservative"  # 35 < 50 events
    mle = seufit.bootstrap(seufit.fit("example:mle_article"), n_boot=200, seed=1)
    assert mle.ci_method == "bca"
    zeros = seufit.bootstrap(seufit.fit("example:bootstrap_article"), n_boot=200, seed=1)
    assert zeros.ci_method == "percentile" and "zero" in zeros.ci_reason
    forced = seufit.bootstrap(seufit.fit("example:bootstrap_article"), n_boot=200, seed=1,
                              ci="bca", config="full")
    assert forced.ci_method == "bca" and "forced" in forced.config_reason


def test_include_mode_starts_each_replicate_once_on_each_side_of_the_zero_run_kink(
        monkeypatch):
    # The zero run at LET 1 lies inside [0, 2): every replicate gets the warm start and one
    # start below the kink and one above it, each once (shared starts in the data's kink
    # intervals used to repeat the replicate's own).
    import seufit.estimator as est

    fr = seufit.fit("example:bootstrap_article", zeros="include")
    fd = fr.fit_data
    seen = []
    real = est.minimize_batch

    def spy(obj, th0, lo, hi, transforms, rows, **kw):
        seen.append((np.asarray(rows).copy(), np.asarray(th0).copy()))
        return real(obj, th0, lo, hi, transforms, rows=rows, **kw)

    monkeypatch.setattr(est, "minimize_batch", spy)
    counts = np.random.default_rng(3).poisson(fr.predict(fd.let) * fd.exposure, (50, 8))
    counts[:, 1] = 4  # every replicate's cap at LET 2: one kink (LET 1) inside its box
    est.fit_counts(fr.model, fd.let, fd.exposure, counts, replicate_starts(fr),
                   zeros="include")
    rows = np.concatenate([r for r, _ in seen[:2]])
    th0 = np.vstack([t for _, t in seen[:2]])
    assert np.array_equal(np.bincount(rows), np.full(50, 3))
    for r in range(50):
        lets = np.sort(th0[rows == r, 1])
        assert lets[0] < 1.0 < lets[2] and np.unique(lets).size == 3


def test_the_kink_rule_looks_for_a_zero_run_inside_the_data_box():
    from seufit.uncertainty.bootstrap import _data_kink_in_box

    # bootstrap_article: no event at LET 1, below its lowest LET with events (2).
    assert _data_kink_in_box(seufit.fit("example:bootstrap_article", zeros="include"))
    assert not _data_kink_in_box(seufit.fit("example:bootstrap_article"))  # left out
    assert not _data_kink_in_box(seufit.fit("example:cic_mpa_stubs", zeros="include"))
    # A zero-event run above the lowest LET with events is no kink of let_th's box.
    d = pd.DataFrame({"let": [2.0, 5, 10, 20, 40, 60], "fluence": 1e6,
                      "events": [3, 0, 20, 30, 35, 36]})
    assert not _data_kink_in_box(seufit.fit(d, zeros="include"))


def test_lower_face_start_is_the_datas_optimum_with_let_th_on_its_lower_bound():
    # Checked against scipy (L-BFGS-B from many starts, the independent NLL of
    # tests/reference.py) over sigma_sat, s and w with let_th held at 0.
    from reference import poisson_nll
    from scipy.optimize import minimize

    from seufit.uncertainty.bootstrap import lower_face_start

    fr = seufit.fit("example:bootstrap_article", zeros="include")
    fd = fr.fit_data
    face = lower_face_start(fr)[0]
    lo, hi = fr.bounds
    assert face[1] == lo[1] == 0.0
    x, e, n = fd.let, fd.exposure, fd.events.astype(float)

    def nll(v):  # log sigma_sat, log s, log w
        return poisson_nll(np.array([np.exp(v[0]), 0.0, np.exp(v[1]), np.exp(v[2])]), x, e, n)

    box = [(np.log(lo[k]), np.log(hi[k])) for k in (0, 2, 3)]
    best = min((minimize(nll, [np.log(a), np.log(b), np.log(c)], method="L-BFGS-B",
                         bounds=box, options={"ftol": 1e-15, "gtol": 1e-10})
                for a in (2e-5, 5e-5, 1e-4) for b in (0.5, 1.5, 4.0) for c in (2.0, 15.0, 60.0)),
               key=lambda r: r.fun)
    assert poisson_nll(face, x, e, n) <= best.fun + 1e-8
    np.testing.assert_allclose(face[[0, 2, 3]], np.exp(best.x), rtol=1e-3)


@pytest.mark.parametrize("solver", ["auto", "numpy"])
def test_a_kinked_dense_replicate_reaches_its_let_th_zero_optimum(solver):
    # Replicate 2172 of the include at-optimum study (bootstrap_article, seed 20261122):
    # its optimum has let_th on 0 with s 3.2, w 7.5 (the independent reference of
    # tests/reference.py); from the MLE, the best screen point and the corner point it
    # stopped at let_th 1.2, 1.3 NLL above.  The data's optimum on the let_th = 0 face,
    # the second shared start of dense data with a kink in the box, reaches it.
    from reference import brute_force_profiled

    import seufit.estimator as est
    from seufit.optimize import solver_backend
    from seufit.uncertainty.bootstrap import lower_face_start

    fr = seufit.fit("example:bootstrap_article", zeros="include")
    fd = fr.fit_data
    n = np.array([0, 2, 3, 36, 15, 25, 33, 39.0])
    ref, theta_ref = brute_force_profiled(fd.let, fd.exposure, n)
    assert theta_ref[1] == 0.0 and theta_ref[2] > 2.5
    grid = fr.model.starts(fd.let, fd.events, fd.exposure, fr.bounds)

    def run(starts):
        with solver_backend(solver):  # the settings bootstrap() picks for this case
            return est.fit_counts(fr.model, fd.let, fd.exposure, n[None], starts,
                                  zeros="include", screen=grid, extra_starts=1,
                                  corner_start=True, kink_starts=False, tol=1e-10)

    both = np.vstack([replicate_starts(fr), lower_face_start(fr)])
    assert run(both).nll[0] <= ref + 1e-6
    assert run(replicate_starts(fr)).nll[0] > ref + 1.0


def test_which_data_get_the_face_start_and_the_kink_corner(monkeypatch):
    # The face start: data with a kink in the box (a zero-event run kept in by
    # zeros="include"); the kink corner besides: sparse data (< 50 events) of that kind.
    import pandas as pd

    import seufit.uncertainty.bootstrap as bs

    seen = []
    real = bs.fit_counts

    def spy(model, x, expo, counts, starts, **kw):
        seen.append((np.asarray(starts).copy(), kw["kink_corner"]))
        return real(model, x, expo, counts, starts, **kw)

    monkeypatch.setattr(bs, "fit_counts", spy)
    kinked = seufit.fit("example:bootstrap_article", zeros="include")
    boot = seufit.bootstrap(kinked, n_boot=20, seed=1)
    assert seen[-1][0].shape[0] == 2 and seen[-1][0][1, 1] == kinked.bounds[0][1]
    assert not seen[-1][1] and not boot.provenance["options"]["kink_corner"]
    seufit.bootstrap(seufit.fit("example:bootstrap_article"), n_boot=20, seed=1)  # exclude
    assert seen[-1][0].shape[0] == 1 and not seen[-1][1]
    # The benchmark's 30-event dataset: no event at LET 2, inside the let_th box [0, 4].
    sparse = pd.DataFrame({"let": [2.0, 4.0, 8.0, 14.0, 22.0, 35.0, 50.0, 70.0],
                           "fluence": 1e7, "events": [0, 2, 2, 4, 8, 3, 7, 4]})
    fr = seufit.fit(sparse, zeros="include")
    boot = seufit.bootstrap(fr, n_boot=20, seed=1)
    assert seen[-1][0].shape[0] == 2 and seen[-1][0][1, 1] == fr.bounds[0][1]
    assert seen[-1][1] and boot.provenance["options"]["kink_corner"]
    seufit.bootstrap(seufit.fit(sparse), n_boot=20, seed=1)  # exclude: neither
    assert seen[-1][0].shape[0] == 1 and not seen[-1][1]


def test_archive_is_byte_identical_and_a_standard_npz(tmp_path, cic_boot):
    import time

    a = cic_boot.save(tmp_path / "a.npz").read_bytes()
    time.sleep(2.1)  # zip timestamps have a 2 s resolution
    b = cic_boot.save(tmp_path / "b.npz").read_bytes()
    assert a == b
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:  # plain numpy reads it
        np.testing.assert_array_equal(z["draws_all"], cic_boot.draws_all)
        np.testing.assert_array_equal(z["counts"], cic_boot.counts)


def test_archive_roundtrip_and_other_level(tmp_path, cic_boot):
    path = cic_boot.save(tmp_path / "draws.npz")
    back = seufit.load_bootstrap(path)
    np.testing.assert_array_equal(back.draws_all, cic_boot.draws_all)
    np.testing.assert_allclose(back.bca, cic_boot.bca)
    assert back.seed == cic_boot.seed and back.config == cic_boot.config
    at90 = seufit.load_bootstrap(path, cl=0.90)
    np.testing.assert_allclose(at90.percentile, cic_boot.with_level(0.90).percentile)
    # The archived interval method, its reason, the band's LET span and flags survive.
    assert at90.ci_method == cic_boot.ci_method == "bca"
    assert at90.ci_reason == cic_boot.ci_reason
    np.testing.assert_allclose(at90.bca, cic_boot.with_level(0.90).bca)
    assert back.band["let"] == cic_boot.band["let"]
    assert back.diagnostics["flags"] == cic_boot.diagnostics["flags"]
    assert np.all(at90.percentile[:, 1] - at90.percentile[:, 0]
                  <= cic_boot.percentile[:, 1] - cic_boot.percentile[:, 0] + 1e-15)


def test_archive_keeps_the_acceleration_and_its_slopes(tmp_path):
    fr = seufit.fit("example:mle_article")
    res = seufit.bootstrap(fr, n_boot=200, seed=3, acceleration="influence")
    back = seufit.load_bootstrap(res.save(tmp_path / "d.npz"))
    assert back.a_method == "influence" and back.a_reason == res.a_reason
    np.testing.assert_array_equal(back.slopes, res.slopes)
    np.testing.assert_allclose(back.a, res.a)
    reg = seufit.load_bootstrap(tmp_path / "d.npz", acceleration="regression")
    np.testing.assert_allclose(reg.a, res.with_level(0.95, acceleration="regression").a)
    # An archive from before the option (no slopes, no request): the regression, and a
    # request for "influence" falls back with the reason.
    with np.load(tmp_path / "d.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "slopes"}
    meta = json.loads(str(arrays["meta"]))
    del meta["a_request"], meta["slopes_reason"]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "old.npz", **arrays)
    old = seufit.load_bootstrap(tmp_path / "old.npz")
    assert old.a_method == "regression"
    np.testing.assert_allclose(old.a, reg.a)
    asked = seufit.load_bootstrap(tmp_path / "old.npz", acceleration="influence")
    assert asked.a_method == "regression" and "no slopes archived" in asked.a_reason


def test_cli_bootstrap_acceleration(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bootstrap", "example:mle_article", "-n", "100", "--seed", "4",
                 "--acceleration", "influence", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["acceleration"]["method"] == "influence"
    assert "implicit-function" in capsys.readouterr().out
    assert main(["bootstrap", "example:mle_article", "-n", "100", "--acceleration", "x"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_band_brackets_the_mle_curve(cic_boot):
    band = cic_boot.band
    lo, hi, mle = map(np.asarray, (band["low"], band["high"], band["sigma_mle"]))
    assert lo.shape == hi.shape == mle.shape == (len(band["let"]),)
    inside = (lo <= mle * (1 + 1e-9)) & (mle <= hi * (1 + 1e-9))
    assert inside.mean() > 0.9


def test_band_is_the_pointwise_quantile_of_every_draws_curve(cic_boot):
    # 2,500 draws: the band computes its values in chunks of 1,000 (the last one partial)
    # and sorts them; the reference evaluates every curve at once and takes np.quantile.
    from seufit.uncertainty.bootstrap import _band

    rng = np.random.default_rng(3)
    D = cic_boot.draws_all[cic_boot.cause == 0]
    D = D[rng.integers(0, len(D), 2500)] * np.exp(rng.normal(0, 0.05, (2500, D.shape[1])))
    band = _band(cic_boot, D, 0.9)()
    grid = np.asarray(band["let"])
    vals = cic_boot.fit.model.value(D, grid)  # (draws, LETs)
    low, high = np.quantile(vals, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(band["low"], low, rtol=1e-13, atol=0)
    np.testing.assert_allclose(band["high"], high, rtol=1e-13, atol=0)
    assert band["cl"] == 0.9 and np.all(np.asarray(band["high"]) > np.asarray(band["low"]))


def test_diagnostics_levels_and_hessian_ratio(cic_boot):
    d = cic_boot.diagnostics
    assert cic_boot.success_rate == 1.0 and d["success"] == {"rate": 1.0, "status": "excellent"}
    assert set(d["skewness"]) == set(cic_boot.names)
    ratio = d["hessian_over_bootstrap_se"]
    hse = np.sqrt(np.diag(np.linalg.inv(cic_boot.fit.hessian)))
    assert ratio["s"] == pytest.approx(hse[2] / cic_boot.se[2])
    text = str(cic_boot)
    assert "bootstrap" in text and "sigma_sat" in text
    assert "<table" in cic_boot._repr_html_()


def test_no_progress_output_off_a_terminal(cic_fit, capsys):
    seufit.bootstrap(cic_fit, n_boot=50, seed=0)
    assert capsys.readouterr().err == ""


def test_cli_bootstrap_json_and_draws(tmp_path, capsys):
    out = tmp_path / "b.json"
    npz = tmp_path / "d.npz"
    code = main(["bootstrap", "example:mle_article", "-n", "200", "--seed", "4", "--json",
                 str(out), "--draws", str(npz)])
    assert code == 0
    d = json.loads(out.read_text())
    for key in ("parameters", "correlation", "covariance", "n_boot", "n_success", "failures",
                "success_rate", "config", "config_reason", "diagnostics", "seed", "provenance"):
        assert key in d
    for name in ("sigma_sat", "let_th", "s", "w"):
        assert set(d["parameters"][name]) >= {"value", "se", "ci_low", "ci_high", "ci_method",
                                             "z0", "a"}
    assert d["n_boot"] == 200 and d["seed"] == 4
    assert seufit.load_bootstrap(npz).n_boot == 200


def test_cli_bootstrap_bad_input(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("let,fluence,events\n1,1e6,-3\n")
    assert main(["bootstrap", str(bad), "-n", "50"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.csv" in err[0]


def test_guarded_ci_falls_back_to_percentile_with_a_parameter_on_a_bound(cic_fit, cic_boot):
    assert "w" in cic_fit.at_bound and cic_boot.ci_method == "bca"
    guarded = cic_boot.with_level(0.95, ci="guarded")
    assert guarded.ci_method == "percentile" and "w" in guarded.ci_reason
    np.testing.assert_array_equal(guarded.ci_low, cic_boot.percentile[:, 0])
    mle = seufit.bootstrap(seufit.fit("example:mle_article"), n_boot=200, seed=1, ci="guarded")
    assert mle.ci_method == "bca"  # nothing on a bound: the series rule stands


def test_provenance_names_the_path_that_ran_for_each_model(cic_fit):
    from dataclasses import dataclass

    from seufit.models import Weibull4
    from seufit.optimize import compiled_enabled

    @dataclass(frozen=True)
    class Same(Weibull4):  # a subclass with its own formula: the NumPy path
        def derivatives(self, theta, x, order=2):
            return super().derivatives(theta, x, order)

    fr = seufit.fit(cic_fit.data, model=Same())
    assert fr.provenance["solver"] == "numpy"
    boot = seufit.bootstrap(fr, n_boot=40, seed=3)
    assert boot.provenance["solver"] == "numpy"
    if compiled_enabled():
        assert cic_fit.provenance["solver"].startswith("numba")
    # Profiles minimise a statistic objective, which has no compiled kernel.
    assert seufit.profile(cic_fit, params=["w"]).provenance["solver"] == "numpy"


def test_threads_leave_the_process_wide_solver_setting_alone(cic_fit, cic_boot, monkeypatch):
    # Worker threads already run under the parent's setting; entering solver_backend
    # there would rewrite a process-wide value that other threads may be reading.
    import seufit.uncertainty.bootstrap as bs

    def forbidden(name):
        raise AssertionError("solver_backend entered in a worker thread")

    monkeypatch.setattr(bs, "solver_backend", forbidden)
    _same(cic_boot, seufit.bootstrap(cic_fit, n_boot=400, seed=11, jobs=2, chunk_size=100))


@pytest.mark.parametrize("jobs", [0, 1.5])
def test_jobs_must_be_a_non_zero_whole_number_even_for_one_chunk(cic_fit, jobs):
    # A single chunk runs serially, so joblib never saw jobs=0: it passed silently then,
    # and failed with joblib's own message for larger runs.
    with pytest.raises(ValueError, match="jobs must be a non-zero whole number"):
        seufit.bootstrap(cic_fit, n_boot=40, seed=1, jobs=jobs)


def test_summary_runs_blas_on_one_thread(monkeypatch):
    """Idle threads of a threaded BLAS spin on the cores after a call: the summary's
    large products must not wake them (single_threaded_blas)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from seufit.uncertainty import bootstrap as bs

    seen = []
    original = bs.acceleration

    def spy(*args, **kwargs):
        seen.extend(m["num_threads"] for m in threadpoolctl.threadpool_info()
                    if m["user_api"] == "blas")
        return original(*args, **kwargs)

    monkeypatch.setattr(bs, "acceleration", spy)
    fr = seufit.fit("example:mle_article")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        seufit.bootstrap(fr, n_boot=50, seed=1, progress=False)
        after = [m["num_threads"] for m in threadpoolctl.threadpool_info()
                 if m["user_api"] == "blas"]
    assert seen and set(seen) == {1}
    assert set(after) == {2}  # the caller's setting is restored


@pytest.mark.parametrize("args, words", [
    (["--json", "{f}/x.json"], "is not a directory"),       # a parent that is a file
    (["--json", "{d}"], "names a directory"),
    (["--draws", "{d}/d.parquet"], "must end in .npz"),    # NPZ only, not under another name
    (["--draws", "{d}"], "names a directory"),
    (["--cl", "nan"], "not a number between 0 and 1"),
])
def test_cli_bootstrap_rejects_bad_outputs_before_any_work(tmp_path, capsys, monkeypatch, args,
                                                          words):
    import seufit.uncertainty.bootstrap as bs

    monkeypatch.setattr(bs, "fit_counts", lambda *a, **k: pytest.fail("fitted replicates"))
    afile = tmp_path / "afile"
    afile.write_text("")
    args = [a.format(f=afile, d=tmp_path) for a in args]
    assert main(["bootstrap", "example:mle_article", "-n", "50", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_cli_analyze_rejects_a_file_as_its_report_directory(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main(["analyze", "example:mle_article", "-o", str(afile)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists and is not a directory" in err[0]


def test_cli_a_write_error_is_one_line_not_an_internal_error(tmp_path, capsys, monkeypatch):
    import seufit.cli.bootstrap_cmd as cmd

    def refuse(path, obj):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(cmd, "write_json", refuse)
    out = tmp_path / "b.json"
    assert main(["bootstrap", "example:mle_article", "-n", "50", "--json", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"seufit: error: Permission denied: {out}"]


def test_cli_bootstrap_without_a_fitted_curve_still_writes_what_was_asked(tmp_path, capsys):
    data = tmp_path / "zeros.csv"
    data.write_text("let,fluence,events\n1,1e6,0\n2,1e6,0\n5,1e6,0\n")
    out, npz = tmp_path / "b.json", tmp_path / "d.npz"
    assert main(["bootstrap", str(data), "--json", str(out), "--draws", str(npz)]) == 0
    text = capsys.readouterr().out
    d = json.loads(out.read_text())
    assert d["bootstrap"] is None and "no curve was fitted" in d["bootstrap_reason"]
    assert len(d["upper_limits"]) == 3
    assert not npz.exists() and f"{npz} not written" in text


@pytest.mark.parametrize("kw, words", [
    ({"seed": 1.5}, "seed must be a whole number"),
    ({"n_boot": 20.7}, "n_boot must be a whole number"),
    ({"cl": float("nan")}, "cl must be between 0 and 1"),
    ({"ci": "foo"}, "ci must be auto"),
])
def test_api_options_are_checked_before_any_replicate_is_fitted(cic_fit, monkeypatch, kw, words):
    import seufit.uncertainty.bootstrap as bs

    monkeypatch.setattr(bs, "fit_counts", lambda *a, **k: pytest.fail("fitted replicates"))
    kw = {"n_boot": 50, **kw}
    with pytest.raises(ValueError, match=words):
        seufit.bootstrap(cic_fit, **kw)


def test_too_few_successes_still_reports_the_failures_by_cause(cic_fit, monkeypatch):
    import seufit.uncertainty.bootstrap as bs
    from seufit.estimator import BatchFit

    def all_fail(model, x, expo, counts, *a, **k):
        B, p = counts.shape[0], len(cic_fit.names)
        cause = np.where(np.arange(B) % 2 == 0, 2, 3)
        return BatchFit(np.full((B, p), np.nan), np.full(B, np.nan), cause, np.zeros(B, int))

    monkeypatch.setattr(bs, "fit_counts", all_fail)
    with pytest.raises(ValueError, match=r"only 0 of 50 replicates succeeded.*25 not converged "
                                         r"\(iteration limit\); 25 not converged \(line search"):
        seufit.bootstrap(cic_fit, n_boot=50, seed=1)


@pytest.mark.parametrize("value", [2.0, 1.3])  # 1.3: np.cov's mean of it has round-off
def test_a_parameter_held_fixed_has_no_skewness_flag_and_a_zero(recwarn, value):
    lo, hi = (v.copy() for v in seufit.fit("example:mle_article").bounds)
    lo[2] = hi[2] = value  # s held fixed by the user
    fr = seufit.fit("example:mle_article", bounds=(lo, hi))
    b = seufit.bootstrap(fr, n_boot=300, seed=3, ci="bca")
    assert np.all(b.draws[:, 2] == value) and b.se[2] == 0
    assert not any("tied at the estimate" in f for f in b.diagnostics["flags"])
    assert b.a[2] == 0.0 and b.a[0] != 0.0
    sk = b.diagnostics["skewness"]["s"]
    assert sk["skewness"] is None and "held fixed" in sk["status"]
    assert not any(f.startswith("s:") for f in b.diagnostics["flags"])
    assert not [w for w in recwarn if "Precision loss" in str(w.message)]  # scipy's skew
    assert np.isnan(b.correlation[2, 2]) and b.correlation[0, 0] == 1.0


def test_a_reload_keeps_the_archived_ci_choice_in_its_provenance(tmp_path, cic_fit):
    g = seufit.bootstrap(cic_fit, n_boot=100, seed=1, ci="guarded")
    assert g.ci_method == "percentile"  # w on a bound
    back = seufit.load_bootstrap(g.save(tmp_path / "g.npz"))
    assert back.ci_method == "percentile"
    assert back.to_dict()["provenance"]["options"]["ci"] == "guarded"
    # Another level keeps the rule asked for, in memory as after a reload.
    for r in (g, back):
        g90 = r.with_level(0.9)
        assert g90.ci_method == "percentile" and g90.provenance["options"]["ci"] == "guarded"
    assert g.with_level(0.9, ci="bca").ci_method == "bca"


def test_correlation_diagonal_is_exactly_one_and_provenance_follows_the_summary(cic_boot):
    assert np.all(np.diag(cic_boot.correlation) == 1.0)
    assert cic_boot.to_dict()["provenance"]["options"]["cl"] == 0.95
    other = cic_boot.with_level(0.9, ci="percentile", acceleration="influence")
    opts = other.to_dict()["provenance"]["options"]
    assert (opts["cl"], opts["ci"], opts["acceleration"]) == (0.9, "percentile", "influence")


def test_bca_is_flagged_when_many_replicates_tie_with_an_estimate_off_any_bound():
    # bootstrap_article under zeros="include": let_th sits on the zero-event run's LET (a
    # kink of the likelihood) and about 30 % of the replicates stop there too.
    fr = seufit.fit("example:bootstrap_article", zeros="include")
    assert fr.at_bound == () and fr.theta[1] == 1.0
    b = seufit.bootstrap(fr, n_boot=1000, seed=1, ci="bca")
    assert b.diagnostics["ties_at_estimate"]["let_th"] > 0.2
    assert any("tied at the estimate (let_th" in f for f in b.diagnostics["flags"])
    pct = b.with_level(0.95, ci="percentile")  # the flag is about BCa only
    assert not any("tied at the estimate" in f for f in pct.diagnostics["flags"])


def test_zero_event_runs_left_out_are_stated_and_archived(tmp_path):
    fr = seufit.fit("example:bootstrap_article")  # one zero-event run, zeros="exclude"
    b = seufit.bootstrap(fr, n_boot=100, seed=1)
    assert b.to_dict()["runs"] == {"resampled": 7, "zero_event_left_out": 1}
    assert "1 zero-event run(s) of the data left out" in str(b)
    assert seufit.load_bootstrap(b.save(tmp_path / "b.npz")).runs_left_out == 1
    inc = seufit.bootstrap(seufit.fit("example:bootstrap_article", zeros="include"),
                           n_boot=100, seed=1)
    assert inc.to_dict()["runs"] == {"resampled": 8, "zero_event_left_out": 0}
    assert "left out" not in str(inc).splitlines()[1]


def test_result_arrays_are_read_only_and_the_fits_are_not(cic_fit, cic_boot):
    for name in ("draws_all", "cause", "counts", "se", "correlation", "bca", "theta_hat"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(cic_boot, name)[0] = 0
    # The fit's own array keeps its flags (a view was made read-only, not the array).
    assert cic_fit.theta.flags.writeable
    np.testing.assert_array_equal(cic_boot.theta_hat, cic_fit.theta)


def test_intervals_are_clipped_where_the_data_rule_the_parameter_out(tmp_path):
    # bootstrap_article: 2 events at LET 2, the lowest LET with events.  Replicates with no
    # event there have a higher let_th cap of their own, and 2.5 % of them put let_th above
    # 2, where the data's likelihood is zero.  The quoted ends stop at 2; the unclipped
    # quantiles (numpy, from the draws) are recorded.
    fr = seufit.fit("example:bootstrap_article")
    hit = fr.data.events > 0
    assert fr.model.data_limits(fr.data.let, fr.data.events)[1, 1] == fr.data.let[hit].min() == 2
    b = seufit.bootstrap(fr, n_boot=2000, seed=5)
    raw_hi = float(np.quantile(b.draws[:, 1], 0.975))
    assert raw_hi > 2.5
    assert b.percentile[1, 1] == b.bca[1, 1] == 2.0 and b.ci_high[1] == 2.0
    cut = b.diagnostics["clipped_to_data"]["let_th"]
    assert cut["limits"] == [None, 2.0]
    assert cut["unclipped"]["percentile"][1] == pytest.approx(raw_hi, rel=1e-12)
    assert set(b.diagnostics["clipped_to_data"]) == {"let_th"}
    # The other parameters are the plain quantiles.
    np.testing.assert_allclose(b.percentile[[0, 2, 3], 1],
                               np.quantile(b.draws[:, [0, 2, 3]], 0.975, axis=0))
    assert "clipped at 2" in str(b) and json.loads(json.dumps(b.to_dict()))
    path = b.save(tmp_path / "d.npz")
    back = seufit.load_bootstrap(path)
    assert back.percentile[1, 1] == 2.0 and back.diagnostics["clipped_to_data"] == \
        b.diagnostics["clipped_to_data"]
    # An archive from before the limits were recorded: under exclude every resampled run
    # had events, so the limit is their lowest LET; under include it is unknown (noted).
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    del meta["data_limits"]
    for zeros in ("exclude", "include"):
        meta["zeros"] = zeros
        arrays["meta"] = np.array(json.dumps(meta))
        np.savez(tmp_path / "old.npz", **arrays)
        old = seufit.load_bootstrap(tmp_path / "old.npz")
        if zeros == "exclude":
            assert old.percentile[1, 1] == 2.0 and not old.diagnostics["notes"][1:]
        else:
            assert old.percentile[1, 1] == pytest.approx(raw_hi, rel=1e-12)
            assert "not clipped" in old.diagnostics["notes"][-1]


def test_a_weibull_with_its_own_formula_gets_no_data_limits():
    from dataclasses import dataclass

    from seufit.models import WEIBULL4, Weibull4

    @dataclass(frozen=True)
    class WithBackground(Weibull4):
        def derivatives(self, theta, x, order=2):
            f, J, H = super().derivatives(theta, x, order)
            return f + 1e-12, J, H

    x, n = np.array([1.0, 3.0, 9.0]), np.array([0, 4, 7])
    assert WEIBULL4.data_limits(x, n)[1, 1] == 3.0
    assert np.all(np.isinf(WithBackground().data_limits(x, n)))
    assert np.all(np.isinf(WEIBULL4.data_limits(x, np.zeros(3))))
