"""``seufit profile`` and ``seufit sweep`` on the command line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import seufit
import seufit.cli.likelihood_cmd  # noqa: F401  (registers the commands until cli/__init__ does)
from seufit.cli import cli, main
from seufit.uncertainty.profile import profile

KEYS = {"value", "ci_low", "ci_high", "low_at_bound", "high_at_bound"}


def test_profile_command(tmp_path, capsys):
    js, png = tmp_path / "p.json", tmp_path / "p.png"
    code = main(["profile", "example:cic_mpa_stubs", "--cl", "0.9", "--json", str(js),
                 "--plot", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    assert "profile likelihood" in out and "90 % low" in out and "±" not in out
    d = json.loads(js.read_text())
    assert set(d["parameters"]) == {"sigma_sat", "let_th", "s", "w"}
    for v in d["parameters"].values():
        assert KEYS <= set(v)
    assert d["cl"] == 0.9 and d["delta"] == pytest.approx(1.3528, abs=1e-4)
    ref = profile(seufit.fit("example:cic_mpa_stubs"), 0.9)
    assert d["parameters"]["s"]["ci_high"] == pytest.approx(ref.interval("s")[1], rel=1e-9)
    assert d["parameters"]["w"]["high_at_bound"] is True
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_profile_zeros_include(tmp_path):
    js = tmp_path / "p.json"
    assert main(["profile", "example:bootstrap_article", "--zeros", "include",
                 "--json", str(js)]) == 0
    d = json.loads(js.read_text())
    exc = profile(seufit.fit("example:bootstrap_article"))
    # the zero-event run at LET 1 now constrains let_th: a different interval
    assert d["parameters"]["let_th"]["ci_high"] != pytest.approx(exc.interval("let_th")[1])


def test_sweep_command(tmp_path, capsys):
    csv, js, png = tmp_path / "s.csv", tmp_path / "s.json", tmp_path / "s.png"
    code = main(["sweep", "example:mle_article", "-n", "30000", "--method", "lhs", "--seed", "7",
                 "--csv", str(csv), "--json", str(js), "--plot", str(png),
                 "--pair", "let_th", "s"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "likelihood sweep" in out and "30000 lhs samples (seed 7)" in out
    d = json.loads(js.read_text())
    df = pd.read_csv(csv)
    assert len(df) == 30000
    assert d["n_below_threshold"] == int((df["delta"] <= d["delta"]).sum())
    assert d["seed"] == 7 and d["sampling"] == "lhs" and d["statistic"]["name"] == "poisson"
    for name, v in d["parameters"].items():
        assert KEYS <= set(v)
        below = df.loc[df["delta"] <= d["delta"], name]
        assert v["ci_low"] == pytest.approx(below.min(), rel=1e-8)
        assert v["ci_high"] == pytest.approx(below.max(), rel=1e-8)
    assert png.stat().st_size > 1000
    # same seed, same numbers
    js2 = tmp_path / "s2.json"
    main(["sweep", "example:mle_article", "-n", "30000", "--method", "lhs", "--seed", "7",
          "--json", str(js2)])
    d2 = json.loads(js2.read_text())
    assert d2["parameters"] == d["parameters"]


@pytest.mark.parametrize("stat", ["ls", "pearson", "negbin"])
def test_sweep_statistics(tmp_path, stat):
    js = tmp_path / "s.json"
    assert main(["sweep", "example:bootstrap_article", "-n", "5000", "--statistic", stat,
                 "--seed", "1", "--json", str(js)]) == 0
    d = json.loads(js.read_text())
    assert d["statistic"]["name"] == stat
    assert np.isfinite(d["minimum"])


def test_sweep_warning_printed(capsys):
    assert main(["sweep", "example:mle_article", "-n", "2000", "--box", "bounds",
                 "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "note:" in out and ("needed" in out or "no sample" in out)


def exit_code(args) -> int:
    """Exit code of the command as a console script would give it (click standalone mode)."""
    with pytest.raises(SystemExit) as exc:
        cli.main(args=args, prog_name="seufit")
    return int(exc.value.code or 0)


def test_bad_input_exit_codes(tmp_path, capsys):
    assert exit_code(["profile", str(tmp_path / "missing.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert exit_code(["sweep", "example:mle_article", "--method", "sobol"]) == 2
    assert exit_code(["sweep", "example:mle_article", "-n", "0"]) == 2
    assert exit_code(["sweep", "example:mle_article", "--cl", "1.5"]) == 2
    bad = tmp_path / "zero.csv"
    bad.write_text("let,fluence,events\n1,1e6,0\n2,1e6,0\n")
    assert exit_code(["profile", str(bad)]) == 2
    assert "no curve can be fitted" in capsys.readouterr().err.lower()
    assert exit_code(["sweep", "example:mle_article", "-n", "100", "--seed", "1", "--plot",
                      str(tmp_path / "x.png"), "--pair", "s", "nope"]) == 2
    assert exit_code(["sweep", "example:mle_article", "-n", "100", "--seed", "1"]) == 0


@pytest.mark.parametrize("args, words", [
    (["sweep", "--pair", "let_th", "foo", "--plot", "{d}/f.png", "--json", "{d}/f.json"],
     "two different parameters"),
    (["sweep", "--pair", "s", "s", "--plot", "{d}/f.png", "--json", "{d}/f.json"],
     "two different parameters"),
    (["sweep", "--pair", "s", "w", "--json", "{d}/f.json"], "give --plot"),
    (["profile", "--plot", "{d}/f.xyz", "--json", "{d}/f.json"], "must end in one of .png"),
])
def test_figure_options_are_checked_before_any_work(tmp_path, capsys, monkeypatch, args,
                                                     words):
    # Before: the results printed and the JSON was written, then the run exited 2.
    import seufit.uncertainty.profile as prof_mod

    def no_work(*a, **k):
        raise AssertionError("ran before the options were checked")

    monkeypatch.setattr(prof_mod, "profile", no_work)
    monkeypatch.setattr("seufit.uncertainty.sweep.sweep", no_work)
    argv = [a.format(d=tmp_path) for a in args]
    assert main([argv[0], "example:mle_article", *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "f.json").exists()


@pytest.mark.parametrize("jobs", ["-5", "0", "-2"])
def test_jobs_is_minus_one_or_positive(capsys, jobs):
    assert main(["bootstrap", "example:mle_article", "--jobs", jobs]) == 2
    assert "must be -1 (all cores) or a positive number" in capsys.readouterr().err


def test_main_returns_the_exit_code(tmp_path):
    assert main(["profile", str(tmp_path / "missing.csv")]) == 2
    assert main(["sweep", "example:mle_article", "--statistic", "chi"]) == 2


@pytest.mark.parametrize("cmd", [["profile"], ["sweep", "-n", "2000", "--seed", "1"],
                                 ["bootstrap", "-n", "50", "--seed", "1"]])
def test_commands_on_a_fit_show_the_data_notes(cmd, tmp_path, capsys):
    """What ``seufit fit`` says of the data (a skipped run, runs left out) is said by
    every command built on the fit, on screen and in the JSON."""
    f, js = tmp_path / "d.csv", tmp_path / "r.json"
    f.write_text("let,fluence,events\n1,1e7,0\n5,1e7,3\n10,1e7,12\n#15,1e7,28\n20,1e7,45\n"
                 "40,1e7,71\n80,1e7,82\n")
    assert main([cmd[0], str(f), *cmd[1:], "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "5 of 6 runs in the likelihood (1 zero-event run(s) left out" in out
    assert "note: 1 line(s) starting with '#' look like runs" in out
    assert any("starting with '#'" in m for m in json.loads(js.read_text())["fit_messages"])
