"""``seufit analyze`` from the command line."""

from __future__ import annotations

import json

import pytest

import seufit.cli
import seufit.cli.analyze_cmd  # noqa: F401  (registers the command until cli/__init__ does)

QUICK = ["--n-boot", "300", "--n-sweep", "20000", "-q"]


def run(*args: str) -> int:
    return seufit.cli.main(["analyze", *args])


def test_writes_a_report(tmp_path, capsys):
    out = tmp_path / "rep"
    assert run("example:bootstrap_article", "-o", str(out), "--seed", "4", *QUICK) == 0
    msg = capsys.readouterr().out
    assert f"report written to {out}" in msg and "seed 4" in msg
    d = json.loads((out / "report.json").read_text())
    assert d["seed"] == 4 and d["bootstrap"]["n_boot"] == 300
    assert d["command"] == ("seufit analyze example:bootstrap_article -o REPORT_DIR --seed 4 "
                            "--n-boot 300 --n-sweep 20000")
    page = (out / "report.html").read_text()
    assert ("seufit analyze example:bootstrap_article --output " + str(out)
            + " --seed 4 --n-boot 300 --n-sweep 20000 --quiet") in page


def test_summary_printed_and_overrides_recorded(tmp_path, capsys):
    out = tmp_path / "rep"
    assert run("example:cic_mpa_stubs", "-o", str(out), "--seed", "1", "--n-boot", "200",
               "--n-sweep", "0", "--no-profile", "--ci", "percentile", "--zeros", "include",
               "--gof", "off", "--cl", "0.9") == 0
    text = capsys.readouterr().out
    assert "verdict:" in text and "decisions:" in text
    d = json.loads((out / "report.json").read_text())
    dec = {x["name"]: x for x in d["decisions"]}
    assert dec["interval"]["choice"] == "bootstrap percentile" and dec["interval"]["overridden"]
    assert dec["goodness_of_fit"]["overridden"]
    assert dec["profile"]["choice"] == "skipped" and dec["profile"]["overridden"]
    assert d["cl"] == 0.9 and d["fit"]["zeros"] == "include"
    assert d["options"]["zeros"] == "include"


def test_same_seed_same_json(tmp_path):
    for name in ("a", "b"):
        assert run("example:mle_article", "-o", str(tmp_path / name), "--seed", "9",
                   "--n-boot", "100", "--no-profile", "-q") == 0
    assert (tmp_path / "a" / "report.json").read_bytes() == \
        (tmp_path / "b" / "report.json").read_bytes()


def test_all_zero_data(tmp_path, csv_file, capsys):
    data = csv_file("let,fluence,events\n1,1e7,0\n5,1e7,0\n10,1e7,0\n40,1e7,0\n")
    out = tmp_path / "rep"
    assert run(str(data), "-o", str(out), "--seed", "1") == 0
    text = capsys.readouterr().out
    assert "no events observed: upper limits only" in text and "FAIL" not in text
    assert "-- PASS;" in text
    d = json.loads((out / "report.json").read_text())
    assert d["parameters"] == {} and len(d["fit"]["upper_limits"]) == 4
    assert d["fit"]["envelope_limits"][0]["sigma_upper"] == pytest.approx(3.6889 / 4e7, 1e-4)
    html = (out / "report.html").read_text()
    assert "Runs pooled at and above each LET" in html
    assert 'id="seufit-envelope-limit"' in (out / "figures" / "cross_section.svg").read_text()
    assert d["input"]["sha256"] and d["input"]["source"] == str(data)


def test_bad_input_exit_2(tmp_path, csv_file, capsys):
    data = csv_file("let,fluence,events\n1,1e7,-3\n")
    assert run(str(data), "-o", str(tmp_path / "rep")) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seufit: error:") and "negative" in err and "\n" not in err
    assert not (tmp_path / "rep").exists()
    assert run("nothere.csv", "-o", str(tmp_path / "rep")) == 2


def test_bad_output_exit_2(tmp_path, capsys):
    afile = tmp_path / "f.txt"
    afile.write_text("x")
    assert run("example:mle_article", "-o", str(afile), *QUICK) == 2
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("keep")
    assert run("example:mle_article", "-o", str(other), *QUICK) == 2
    assert "not a seufit report" in capsys.readouterr().err
    assert (other / "keep.txt").read_text() == "keep"


def test_usage_errors_exit_2(tmp_path):
    assert run("example:mle_article") == 2  # no -o
    assert run("example:mle_article", "-o", str(tmp_path / "r"), "--ci", "nope") == 2
    assert run("example:mle_article", "-o", str(tmp_path / "r"), "--n-boot", "5") == 2


@pytest.mark.slow
def test_real_example_default_settings(tmp_path, capsys):
    """The README's first command: the bundled real campaign, 20,000 replicates."""
    out = tmp_path / "cic"
    assert run("example:cic_mpa_stubs", "-o", str(out), "--seed", "2024") == 0
    d = json.loads((out / "report.json").read_text())
    assert d["bootstrap"]["n_boot"] == 20_000 and d["bootstrap"]["config"] == "conservative"
    assert d["bootstrap"]["success_rate"] > 0.98
    assert d["sweep"]["n_samples"] == 1_000_000
    assert len(d["report"]["figures"]) == 6
    assert "report written" in capsys.readouterr().out
