"""``seufit fit``: bad input, all-zero data, the JSON record, end-to-end runs."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import norm

import seufit
from seufit.cli import main
from seufit.data import example_path

GOOD = "let,fluence,events\n1,1e6,2\n2,1e6,5\n5,1e6,12\n10,1e6,20\n20,1e6,30\n"

# name -> (file content or None for special cases, fragments the message must contain)
BAD = {
    "missing_column": ("let,fluence\n1,1e6\n2,1e6\n", ["missing required column", "events"]),
    "non_numeric": (GOOD.replace("5,1e6,12", "5,abc,12"),
                    ["row 3", "column 'fluence'", "'abc' is not a number"]),
    "nan": (GOOD.replace("10,1e6,20", "10,1e6,nan"), ["row 4", "column 'events'", "not finite"]),
    "empty_cell": (GOOD.replace("10,1e6,20", "10,,20"), ["row 4", "column 'fluence'", "empty"]),
    "inf": (GOOD.replace("2,1e6,5", "inf,1e6,5"), ["row 2", "column 'let'", "not finite"]),
    "negative_counts": (GOOD.replace("1,1e6,2", "1,1e6,-2"),
                        ["row 1", "column 'events'", "negative"]),
    "non_integer_counts": (GOOD.replace("1,1e6,2", "1,1e6,2.5"),
                           ["row 1", "column 'events'", "whole"]),
    "zero_fluence": (GOOD.replace("20,1e6,30", "20,0,30"), ["row 5", "column 'fluence'"]),
    "negative_fluence": (GOOD.replace("20,1e6,30", "20,-1e6,30"), ["row 5", "column 'fluence'"]),
    "negative_let": (GOOD.replace("1,1e6,2", "-1,1e6,2"), ["row 1", "column 'let'"]),
    "angle_90": ("let,fluence,events,Tilt\n1,1e6,2,0\n2,1e6,5,90\n5,1e6,12,0\n10,1e6,20,0\n",
                 ["row 2", "column 'Tilt'", "90"]),
    "angle_above_90": ("let,fluence,events,angle\n1,1e6,2,0\n2,1e6,5,120\n5,1e6,12,0\n",
                       ["row 2", "column 'angle'"]),
    "empty_file": ("", ["empty"]),
    "blank_file": ("\n  \n\n", ["empty"]),
    "comments_only": ("# nothing here\n# at all\n", ["no header"]),
    "header_only": ("let,fluence,events\n", ["header only"]),
    "ragged_row": (GOOD.replace("5,1e6,12", "5,1e6"), ["line 4", "2 fields"]),
    "text_not_csv": ("Dear colleague\nplease find the beam log attached\n", ["not a CSV"]),
    "fewer_than_4_runs_with_events": ("let,fluence,events\n1,1e6,0\n2,1e6,3\n5,1e6,4\n"
                                      "10,1e6,0\n20,1e6,9\n", ["only 3 run(s) with events"]),
    "zero_bits": ("let,fluence,events,bits\n1,1e6,2,0\n2,1e6,5,8\n",
                  ["row 1", "column 'bits'", "positive"]),
    "negative_bits": ("let,fluence,events,N_bits\n1,1e6,2,8\n2,1e6,5,-8\n",
                      ["row 2", "column 'N_bits'"]),
    "duplicate_columns": ("let,fluence,events,counts\n1,1e6,2,2\n", ["'events'", "'counts'",
                                                                    "duplicate"]),
    "binary_file": (None, ["binary"]),
    "nonexistent": (None, ["no such file"]),
    "directory": (None, ["directory"]),
}


def _bad_path(tmp_path, name):
    content = BAD[name][0]
    if name == "binary_file":
        p = tmp_path / "dump.csv"
        p.write_bytes(bytes(range(256)) * 8)
        return p
    if name == "nonexistent":
        return tmp_path / "no_such_file.csv"
    if name == "directory":
        p = tmp_path / "adir.csv"
        p.mkdir()
        return p
    p = tmp_path / f"{name}.csv"
    p.write_text(content, encoding="utf-8")
    return p


def run_cli(argv, capsys):
    """Run ``seufit`` in-process.

    Parameters
    ----------
    argv : list of str
        Arguments after ``seufit``.
    capsys : pytest fixture

    Returns
    -------
    (int, str, str)
        Exit code, stdout, stderr.
    """
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_gives_exit_2_and_one_line_naming_the_file(name, tmp_path, capsys):
    path = _bad_path(tmp_path, name)
    rc, out, err = run_cli(["fit", path], capsys)
    assert rc == 2
    lines = err.strip("\n").splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Traceback" not in out
    assert lines[0].startswith("seufit: error: ")
    assert "internal error" not in lines[0]
    assert path.name in lines[0]
    for fragment in BAD[name][1]:
        assert fragment in lines[0], (fragment, lines[0])


def test_usage_error_exit_code_is_2(capsys):
    rc, _, err = run_cli(["fit", "--zeros", "drop", "example:mle_article"], capsys)
    assert rc == 2 and "--zeros" in err


def test_all_zero_data(tmp_path, capsys):
    p = tmp_path / "quiet.csv"
    p.write_text("LET,Fluence,Upsets\n1.3,2e6,0\n10,1e6,0\n40,4e6,0\n", encoding="utf-8")
    out_json = tmp_path / "quiet.json"
    rc, out, err = run_cli(["fit", p, "--json", out_json], capsys)
    assert rc == 0 and err == ""
    assert "No curve can be fitted" in out
    assert "zero-event upper limits" in out and out.count("sigma <") == 3 + 3
    # pooled: 7e6 at LET <= 1.3, 3.69 two-sided
    assert f"LET <= 1.3: sigma < {3.68888 / 7e6:.3g} cm2/device (3 run(s)" in out
    rec = json.loads(out_json.read_text())
    for name in ("sigma_sat", "let_th", "s", "w"):
        assert rec["parameters"][name] == {**rec["parameters"][name], "value": None, "se": None,
                                           "ci_low": None, "ci_high": None}
    assert rec["nll"] is None and rec["variant"] is None
    np.testing.assert_allclose([u["sigma_upper"] for u in rec["upper_limits"]],
                               np.log(40.0) / np.array([2e6, 1e6, 4e6]), rtol=1e-12)


def _json_record(tmp_path, capsys, data, *extra):
    out_json = tmp_path / "fit.json"
    rc, out, err = run_cli(["fit", data, "--json", out_json, *extra], capsys)
    assert rc == 0, err
    return json.loads(out_json.read_text()), out_json


def test_json_schema_standard(tmp_path, capsys):
    src = tmp_path / "mle.csv"
    shutil.copy(example_path("mle_article"), src)
    rec, _ = _json_record(tmp_path, capsys, src)
    required = {"parameters", "nll", "variant", "variant_reason", "converged", "at_bound",
                "n_events", "n_points", "upper_limits", "provenance"}
    assert required <= set(rec)
    assert list(rec["parameters"]) == ["sigma_sat", "let_th", "s", "w"]
    z = norm.ppf(0.975)
    for p in rec["parameters"].values():
        assert {"value", "se", "ci_low", "ci_high"} <= set(p)
        assert all(isinstance(p[k], float) for k in ("value", "se", "ci_low", "ci_high"))
        assert p["ci_low"] == pytest.approx(p["value"] - z * p["se"], rel=1e-9)
        assert p["ci_high"] == pytest.approx(p["value"] + z * p["se"], rel=1e-9)
    assert rec["variant"] == "standard" and rec["converged"] is True
    assert isinstance(rec["at_bound"], list) and rec["upper_limits"] == []
    assert rec["n_events"] == 381 and rec["n_points"] == 8
    res = seufit.fit(src)
    assert rec["nll"] == pytest.approx(res.nll, abs=1e-9)
    prov = rec["provenance"]
    assert prov["version"] == seufit.__version__
    assert prov["input_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert prov["options"]["zeros"] == "exclude" and prov["options"]["cl"] == 0.95
    assert all(p["ci_method"] == "wald" for p in rec["parameters"].values())


def test_json_flags_a_wald_interval_past_the_box():
    """bootstrap_article under include: the Wald low end of sigma_sat is negative; the
    JSON says so next to the number, as the text table does."""
    rec = seufit.fit("example:bootstrap_article", zeros="include").to_dict()
    sig = rec["parameters"]["sigma_sat"]
    assert sig["ci_low"] < 0 and sig["ci_method"] == "wald"
    assert sig["flags"] == ["Wald outside the box"]
    rec = seufit.fit("example:mle_article").to_dict()
    assert rec["parameters"]["let_th"]["flags"] == ["Wald outside the box"]  # [-3.97, 7.90]
    assert [rec["parameters"][n]["flags"] for n in ("sigma_sat", "s", "w")] == [[], [], []]


def test_json_with_zeros_has_nulls_and_limits(tmp_path, capsys):
    rec, _ = _json_record(tmp_path, capsys, "example:bootstrap_article")
    assert rec["variant"] == "with_zeros"
    for p in rec["parameters"].values():
        assert isinstance(p["value"], float)
        assert p["se"] is None and p["ci_low"] is None and p["ci_high"] is None
    (u,) = rec["upper_limits"]
    assert {"let", "fluence", "sigma_upper", "cl"} <= set(u)
    assert u["let"] == 1.0 and u["fluence"] == 1e6 and u["cl"] == 0.95
    assert u["sigma_upper"] == pytest.approx(np.log(40.0) / 1e6, rel=1e-12)
    assert rec["n_points"] == 7 and rec["n_events"] == 148


def test_same_data_twice_gives_identical_json(tmp_path, capsys):
    _, p1 = _json_record(tmp_path, capsys, "example:cic_mpa_stubs")
    first = p1.read_bytes()
    _, p2 = _json_record(tmp_path, capsys, "example:cic_mpa_stubs")
    assert p2.read_bytes() == first


def test_cli_options_reach_the_fit(tmp_path, capsys):
    rec, _ = _json_record(tmp_path, capsys, "example:cic_mpa_stubs", "--no-tilt")
    assert rec["provenance"]["options"]["tilt"] is False
    ref = seufit.fit("example:cic_mpa_stubs", tilt=False)
    assert rec["nll"] == pytest.approx(ref.nll, abs=1e-9)
    rec, _ = _json_record(tmp_path, capsys, "example:bootstrap_article", "--zeros", "include",
                          "--sided", "one-sided", "--cl", "0.9")
    assert rec["variant"] == "standard" and rec["n_points"] == 8
    assert rec["upper_limits"][0]["sigma_upper"] == pytest.approx(np.log(10.0) / 1e6, rel=1e-12)
    rec, _ = _json_record(tmp_path, capsys, "example:mle_article", "--variant", "small_sample")
    assert rec["variant"] == "small_sample" and "forced" in rec["variant_reason"]
    assert rec["parameters"]["s"]["se"] is None


def test_text_output_names_the_parameters(capsys):
    rc, out, _ = run_cli(["fit", "example:mle_article"], capsys)
    assert rc == 0
    for name in ("sigma_sat", "let_th", "s", "w", "standard", "converged: yes"):
        assert name in out


# -- end to end, in a fresh interpreter ----------------------------------------------------


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "seufit", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_end_to_end_fit_with_json(tmp_path):
    proc = _run("fit", "example:cic_mpa_stubs", "--json", "out.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    rec = json.loads((tmp_path / "out.json").read_text())
    assert rec["provenance"]["input"] == "example:cic_mpa_stubs"
    assert rec["provenance"]["input_sha256"] == hashlib.sha256(
        example_path("cic_mpa_stubs").read_bytes()).hexdigest()
    assert rec["nll"] == pytest.approx(seufit.fit("example:cic_mpa_stubs").nll, abs=1e-9)


def test_end_to_end_bad_input(tmp_path):
    (tmp_path / "beam.csv").write_text("LET,Fluence\n1,1e6\n", encoding="utf-8")
    proc = _run("fit", "beam.csv", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and "beam.csv" in lines[0] and "events" in lines[0]


@pytest.mark.parametrize("args", [
    ["fit", "{data}", "--json", "{data}"],
    ["bootstrap", "{data}", "-n", "20", "--json", "{out}", "--draws", "{data}"],
    ["profile", "{data}", "--plot", "{data}"],
    ["sweep", "{data}", "-n", "100", "--csv", "{data}"],
])
def test_an_output_never_overwrites_the_data(args, tmp_path, capsys):
    data = tmp_path / "d.npz" if "--draws" in args else tmp_path / "d.csv"
    if "--plot" in args:
        data = tmp_path / "d.png"
    text = "let,fluence,events\n5,1e7,3\n10,1e7,12\n20,1e7,45\n40,1e7,71\n80,1e7,82\n"
    data.write_text(text)
    argv = [a.format(data=data, out=tmp_path / "o.json") for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is the input data file" in err
    assert data.read_text() == text


def test_two_outputs_on_one_path_are_refused(tmp_path, capsys):
    same = tmp_path / "same.out"
    assert main(["sweep", "example:cic_mpa_stubs", "-n", "100", "--json", str(same),
                 "--csv", str(same)]) == 2
    assert "name the same file" in capsys.readouterr().err
    assert not same.exists()


@pytest.mark.parametrize("exc, code, text", [
    (np.linalg.LinAlgError("Eigenvalues did not converge"), 1, "internal error: LinAlgError"),
    (MemoryError(), 2, "not enough memory"),
    (ValueError("cl must be between 0 and 1"), 2, "error: cl must be"),
])
def test_exit_codes_tell_our_failures_from_the_users(exc, code, text, monkeypatch, capsys):
    """A linear-algebra failure is ours (exit 1) although numpy makes it a ValueError;
    running out of memory is the request's size (exit 2); both in one line."""
    import seufit.cli.fit_cmd as fc

    def boom(*a, **k):
        raise exc

    monkeypatch.setattr(fc, "fit", boom)
    assert main(["fit", "example:cic_mpa_stubs"]) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and text in err


@pytest.mark.parametrize("argv", [["bootstrap", "example:cic_mpa_stubs", "-n", "10000001"],
                                  ["sweep", "example:cic_mpa_stubs", "-n", "100000001"],
                                  ["analyze", "example:cic_mpa_stubs", "-o", "x", "--n-boot", "5"]])
def test_sample_counts_are_checked_before_any_work(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("--n-boot" in err or "'-n'" in err)


def test_no_curve_errors_say_where_the_limits_are(tmp_path, capsys):
    few, none = tmp_path / "few.csv", tmp_path / "none.csv"
    few.write_text("let,fluence,events\n5,1e7,0\n10,1e7,2\n20,1e7,5\n")
    none.write_text("let,fluence,events\n5,1e7,0\n10,1e7,0\n20,1e7,0\n")
    assert main(["fit", str(few)]) == 2
    assert "seufit analyze gives the upper limits" in capsys.readouterr().err
    assert main(["profile", str(none)]) == 2
    assert "(seufit fit gives them" in capsys.readouterr().err


def test_an_output_named_as_a_directory_is_refused(tmp_path, capsys):
    target = str(tmp_path / "newdir") + "/"
    assert main(["fit", "example:cic_mpa_stubs", "--json", target]) == 2
    assert "names a directory, not a file" in capsys.readouterr().err
    assert not (tmp_path / "newdir").exists()
