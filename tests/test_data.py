"""Reading SEU test data: aliases, tilt, per-bit exposure, validation."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest

from seufit.data import DataError, TestData, example_names, example_path, load


@pytest.mark.parametrize(
    "header",
    [
        "let,fluence,events",
        "LET,Fluence,Counts",
        "Let (MeV cm2/mg),FLUENCE_CM2,Upsets",
        "let_mev,fluence [ions/cm2],errors",
        "LET,Phi,N",
        "linear energy transfer,ions-cm2,SEUs",
        " LET0 , Fluence_Ions , Event ",
    ],
)
def test_column_aliases_and_case(csv_file, header):
    d = load(csv_file(f"{header}\n1.5,1e6,3\n10,2e6,17\n"))
    np.testing.assert_array_equal(d.let, [1.5, 10.0])
    np.testing.assert_array_equal(d.fluence, [1e6, 2e6])
    np.testing.assert_array_equal(d.events, [3, 17])


def test_column_order_does_not_matter(csv_file):
    d = load(csv_file("Errors,Tilt,Fluence_cm2,LET\n3,0,1e6,1.5\n17,0,2e6,10\n"))
    np.testing.assert_array_equal(d.let, [1.5, 10.0])
    np.testing.assert_array_equal(d.events, [3, 17])


def test_optional_columns_are_read(csv_file):
    p = csv_file("Run_ID,Species,DUT,LET,Fluence,Events,Tilt,N_Bits\n"
                 "a1,Kr,chip7,30,1e6,5,0,1024\n")
    d = load(p)
    assert d.run == ("a1",) and d.ion == ("Kr",) and d.device == ("chip7",)
    assert d.bits[0] == 1024 and d.angle[0] == 0
    assert d.labels() == ["run a1"]


def test_semicolon_and_tab_separators(csv_file):
    for sep in (";", "\t"):
        d = load(csv_file(sep.join(["let", "fluence", "events"]) + "\n"
                          + sep.join(["2", "1e6", "4"]) + "\n"))
        assert d.n_runs == 1 and d.events[0] == 4


def test_tilt_correction_on_the_cic_example():
    d = load("example:cic_mpa_stubs")
    raw = pd.read_csv(example_path("cic_mpa_stubs"))
    assert d.n_runs == 10
    cos30 = np.cos(np.radians(30.0))
    # Run 3: Ne at 30 degrees, LET 3.3 -> effective 3.81; fluence * cos.
    assert d.angle[2] == 30
    assert round(d.let[2], 2) == 3.81
    assert d.let[2] == pytest.approx(3.3 / cos30, rel=1e-14)
    assert d.fluence[2] == pytest.approx(raw["fluence"][2] * cos30, rel=1e-14)
    assert d.let_nominal[2] == 3.3 and d.fluence_nominal[2] == raw["fluence"][2]
    # Normal-incidence runs unchanged.
    others = np.arange(10) != 2
    np.testing.assert_array_equal(d.let[others], raw["let"][others])
    np.testing.assert_array_equal(d.fluence[others], raw["fluence"][others])
    assert any("tilt" in n for n in d.notes)
    # Same number of events: tilt changes the exposure, not the counts.
    assert d.n_events == raw["events"].sum()


def test_tilt_switched_off():
    d = load("example:cic_mpa_stubs", tilt=False)
    raw = pd.read_csv(example_path("cic_mpa_stubs"))
    np.testing.assert_array_equal(d.let, raw["let"])
    np.testing.assert_array_equal(d.fluence, raw["fluence"])
    assert not d.tilt_corrected


def test_runs_at_the_same_let_stay_separate():
    d = load("example:cic_mpa_stubs", tilt=False)
    # Runs 2 and 3 are both Ne at 3.3 without tilt correction: two rows, not one.
    assert d.n_runs == 10
    assert np.sum(d.let == 3.3) == 2
    np.testing.assert_array_equal(d.events[d.let == 3.3], [21, 18])


def test_bits_give_per_bit_exposure(csv_file):
    d = load(csv_file("let,fluence,events,bits\n5,1e6,12,4096\n20,2e6,40,4096\n"))
    assert d.per_bit and d.sigma_unit == "cm2/bit"
    np.testing.assert_array_equal(d.exposure, [4.096e9, 8.192e9])
    np.testing.assert_allclose(d.cross_section, [12 / 4.096e9, 40 / 8.192e9], rtol=1e-15)
    d2 = load(csv_file("let,fluence,events\n5,1e6,12\n", "b.csv"))
    assert not d2.per_bit and d2.sigma_unit == "cm2/device"
    np.testing.assert_array_equal(d2.exposure, d2.fluence)


def test_tilt_and_bits_combine(csv_file):
    d = load(csv_file("let,fluence,events,angle,bits\n10,1e6,3,60,100\n"))
    assert d.let[0] == pytest.approx(20.0, rel=1e-13)
    assert d.exposure[0] == pytest.approx(0.5e6 * 100, rel=1e-13)


def test_comments_and_blank_lines(csv_file):
    p = csv_file("# campaign 2024, device X\n\nlet,fluence,events\n# a comment row\n"
                 "1,1e6,0\n\n  # indented comment\n2,1e6,5\n")
    d = load(p)
    np.testing.assert_array_equal(d.let, [1.0, 2.0])
    np.testing.assert_array_equal(d.events, [0, 5])
    assert not any("'#'" in n for n in d.notes)  # free-text comments are no runs


def test_commented_out_runs_are_counted_not_silent(csv_file):
    # A run commented out, or a run id starting with '#', is skipped as a comment: the
    # data's notes (printed with every result) say how many and where.
    d = load(csv_file("# header comment, a, b, c\nrun,let,fluence,events\n#1,1,1e7,3\n"
                      "2,5,1e7,10\n# 3, 10, 1e7, 30\n# note: beam unstable\n"
                      "# beam off, restart, see, log\n4,20,1e7,50\n"))
    np.testing.assert_array_equal(d.let, [5.0, 20.0])
    (note,) = [n for n in d.notes if "'#'" in n]
    assert note.startswith("2 line(s)") and "(lines 3, 5)" in note
    one = load(csv_file("let,fluence,events\n1,1e6,2\n#2,1e6,5\n"))
    assert any("(line 3)" in n for n in one.notes)


@pytest.mark.parametrize("text", [
    "#,LET,Fluence,Events\n1,5,1e7,0\n2,10,1e7,3\n",
    "# campaign 7, DUT A\n#;LET;Fluence;Events\n\n1;5;1e7;0\n2;10;1e7;3\n",
    "# ,let,flux,duration_s,events\n1,5,1e4,1000,0\n2,10,1e4,1000,3\n",
    "#,Ion,LET,Fluence,Events\n1,Ne,5,1e7,0\n2,Ar,10,1e7,3\n",  # text in other columns
    "#,LET,Fluence,Events,\n1,5,1e7,0,\n2,10,1e7,3,\n",  # a trailing separator
    "#,LET,Fluence,Events\n,,,\n1,5,1e7,0\n2,10,1e7,3\n",  # an empty spreadsheet row
    "#\tLET\tFluence\tEvents\t\n1\t5\t1e7\t0\t\n2\t10\t1e7\t3\t\n",
])
def test_a_header_whose_first_cell_is_a_hash_is_the_header(csv_file, text):
    # A spreadsheet's row-number column named '#': the header starts like a comment.
    d = load(csv_file(text))
    np.testing.assert_array_equal(d.let, [5.0, 10.0])
    np.testing.assert_array_equal(d.events, [0, 3])
    assert any("header starts with '#'" in n for n in d.notes)
    assert any("ignored column(s): '#" in n for n in d.notes)


@pytest.mark.parametrize("text", [
    "#,LET,Fluence,Events\nlet,fluence,events\n5,1e7,0\n10,1e7,3\n",  # a real header below
    "#,LET,Fluence,Events\nrun,let,fluence,events\n1,5,1e7,0\n",  # ... of the same width
    "# LET, fluence and events, as measured\nlet,fluence,events\n5,1e7,0\n",
])
def test_a_hash_comment_above_a_header_stays_a_comment(csv_file, text):
    d = load(csv_file(text))
    assert d.let[0] == 5.0
    assert not any("header starts with '#'" in n for n in d.notes)


@pytest.mark.parametrize("text", [
    "#,LET,Fluence,Events\n1,5,1e7\n",  # field counts differ
    "#,LET,Fluence,Runs\n1,5,1e7,0\n",  # no events column named
    "# campaign, 2024, DUT A, B\n1,5,1e7,0\n",  # free text above data without a header
])
def test_a_hash_line_that_is_no_header_is_not_taken_as_one(csv_file, text):
    # the first run is then read as the header, as before
    with pytest.raises(DataError, match="found columns: '1', '5'"):
        load(csv_file(text))


@pytest.mark.parametrize("text, match", [
    ("#;LET;Fluence;Events\n1;5,5;1e7;0\n2;10;1e7;3\n", "column 'LET': '5,5' is not a number"),
    ("#,LET,Fluence,Events\n1,5,1e7,x\n", "row 1 \\(line 2\\), column 'Events'"),
])
def test_a_hash_header_over_a_bad_cell_gets_the_usual_message(csv_file, text, match):
    with pytest.raises(DataError, match=match):
        load(csv_file(text))


def test_a_commented_first_run_below_a_hash_header(csv_file):
    d = load(csv_file("#,LET,Fluence,Events\n#1,5,1e7,0\n2,10,1e7,3\n3,20,1e7,4\n"))
    np.testing.assert_array_equal(d.let, [10.0, 20.0])
    assert any("header starts with '#'" in n for n in d.notes)
    assert any("skipped as comments (line 2)" in n for n in d.notes)


def test_flux_times_duration_fallback(csv_file):
    d = load(csv_file("let,flux,duration_s,events\n3,1e4,200,5\n9,2e4,50,7\n"))
    np.testing.assert_array_equal(d.fluence, [2e6, 1e6])
    assert any("flux" in n for n in d.notes)


def test_dataframe_input_matches_csv(csv_file):
    text = "LET,Fluence,Counts,tilt\n1.5,1e6,3,0\n10,2e6,17,45\n"
    from_csv = load(csv_file(text))
    df = pd.DataFrame({"LET": [1.5, 10.0], "Fluence": [1e6, 2e6], "Counts": [3, 17],
                       "tilt": [0, 45]})
    from_df = load(df)
    for name in ("let", "fluence", "events", "angle"):
        np.testing.assert_array_equal(getattr(from_df, name), getattr(from_csv, name))
    assert from_df.source == "<DataFrame>"
    assert len(from_df.sha256) == 64


def test_dataframe_nan_names_row_and_column():
    df = pd.DataFrame({"let": [1.0, np.nan], "fluence": [1e6, 1e6], "events": [1, 2]})
    with pytest.raises(DataError, match=r"<DataFrame>: row 1, column 'let'"):
        load(df)


def test_sha256_is_of_the_file_bytes(csv_file):
    text = "let,fluence,events\n1,1e6,3\n"
    p = csv_file(text)
    assert load(p).sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert load(p, name="nice").source == "nice"


def test_examples():
    assert set(example_names()) == {"cic_mpa_stubs", "mle_article", "bootstrap_article"}
    mle = load("example:mle_article")
    np.testing.assert_array_equal(mle.events, [3, 12, 28, 45, 62, 71, 78, 82])
    assert mle.n_events == 381
    boot = load("example:bootstrap_article")
    assert boot.n_events == 148 and int((boot.events == 0).sum()) == 1
    with pytest.raises(DataError, match="unknown example"):
        load("example:nope")


def test_bare_example_name_gets_a_hint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="did you mean example:mle_article"):
        load("mle_article")


def test_testdata_is_immutable():
    d = load("example:mle_article")
    with pytest.raises(AttributeError):
        d.let = np.zeros(8)
    with pytest.raises(ValueError):
        d.events[0] = 7
    assert isinstance(d, TestData)


def test_subset_keeps_labels():
    d = load("example:cic_mpa_stubs")
    s = d.subset(d.events > 30)
    assert s.n_runs == int((d.events > 30).sum())
    assert s.run == tuple(r for r, e in zip(d.run, d.events, strict=True) if e > 30)


def test_pooled_devices_repeated_rows_and_inconsistent_fluence_are_named(csv_file):
    d = load(csv_file("let,fluence,events,device,flux,duration\n1,1e7,3,A,1e4,1000\n"
                      "5,1e7,10,A,1e4,1000\n5,1e7,10,A,1e4,1000\n1,5e7,30,B,1e4,1000\n"
                      "9,1e7,7,B,x,1000\n"))
    assert d.n_runs == 5  # all kept
    (dev,) = [n for n in d.notes if "devices" in n]
    assert dev.startswith("runs of 2 devices (A: 3, B: 2 runs) fitted as one curve")
    (dup,) = [n for n in d.notes if "identical" in n]
    assert dup.startswith("1 row(s)") and "row 3 (line 4) repeats row 2 (line 3)" in dup
    (flu,) = [n for n in d.notes if "flux x duration" in n]
    # row 4 is off by a factor 5; row 5's flux is no number: not checked, not an error
    assert "in 1 row(s)" in flu and "row 4 (line 5): 5e+07 vs 1e+07" in flu
    clean = load(csv_file("let,fluence,events,device\n1,1e7,3,A\n5,1e7,10,A\n"))
    assert clean.notes == ()


@pytest.mark.parametrize("column, ok", [
    ("LET (MeV cm2/mg)", True), ("LET [MeV·cm²/mg]", True), ("LET (MeV-cm^2/mg)", True),
    ("LET (MeV cm2 mg-1)", True), ("LET [keV/um]", False), ("LET (MeV)", False),
    # words in brackets are labels, not units (a review found these refused)
    ("LET (nominal)", True), ("Fluence (total)", True), ("Fluence (ions per cm2)", True),
    ("Fluence [ions/cm2]", True), ("Fluence (cm-2)", True), ("fluence (ions·cm⁻²)", True),
    ("Fluence (1/cm^2)", True), ("Fluence (ions/m2)", False), ("Fluence [ions/um2]", False),
    ("angle (deg)", True), ("tilt [°]", True), ("angle (rad)", False),
])
def test_a_unit_in_a_header_must_be_the_one_seufit_reads(column, ok):
    # Before, any bracketed unit was dropped: a LET in keV/um or a fluence per m2 was read
    # as MeV cm2/mg and ions/cm2 without a word.
    df = pd.DataFrame({"let": [1.0, 5.0, 10.0, 20.0], "fluence": [1e7] * 4,
                       "events": [1, 5, 10, 20]})
    key = "let" if "LET" in column else "fluence" if "luence" in column else None
    if key is None:
        df[column] = 0.0
    else:
        df = df.rename(columns={key: column})
    if ok:
        np.testing.assert_array_equal(load(df).let, [1.0, 5.0, 10.0, 20.0])
    else:
        with pytest.raises(DataError, match=r"column '.*': unit '.*' is not .*; convert") as e:
            load(df)
        assert "\n" not in str(e.value)


def test_spreadsheet_exports(csv_file):
    # Excel's "sep=;" line names the separator; rows of separators only are blank lines.
    d = load(csv_file("sep=;\nlet;fluence;events\n1;1e7;3\n;;\n5;1e7;10\n,,\n"))
    np.testing.assert_array_equal(d.events, [3, 10])
    # A decimal comma gets a hint, on one line.
    with pytest.raises(DataError, match=r"row 1 \(line 2\), column 'let': '1,3' is not a "
                                        r"number \(a decimal comma\? .* 1\.3\)$"):
        load(csv_file("let;fluence;events\n1,3;1e7;3\n"))
    with pytest.raises(DataError, match=r"e\.g\. 1\.000; or a thousands separator: 1000\)$"):
        load(csv_file("let;fluence;events\n1,000;1e7;3\n"))
    with pytest.raises(DataError, match=r"'abc' is not a number$"):
        load(csv_file("let;fluence;events\nabc;1e7;3\n"))


RUNS = ["5,1e7,3,Kr", "10,1e7,12,Kr", "15,1e7,28,Kr", "20,1e7,45,Kr", "30,1e7,62,Kr",
        "40,1e7,71,Kr"]


@pytest.mark.parametrize("edit, where", [
    ({4: '30,1e7,62,"Xe'}, "line 6: a quote (\") opened in column 'ion' is not closed"),
    ({2: '15,1e7,28,"Kr', 3: '20,1e7,45,Kr"'}, "line 4: a quote (\") opened in column 'ion'"),
    ({0: '5,1e7,"3'}, "line 2: a quote (\") opened in column 'events'"),
    ({0: '5,1e7,3,Kr,"x'}, "line 2: a quote (\") opened in column 5"),
])
def test_an_open_quote_never_swallows_or_merges_runs(csv_file, edit, where):
    # csv lets a quoted cell run over lines: an unclosed quote took in every run below it
    # (loaded as 5 runs, no word), a quote closed a line later merged two runs into one.
    rows = [edit.get(i, r) for i, r in enumerate(RUNS)]
    with pytest.raises(DataError, match=r"a cell cannot span lines \(close the quote, or "
                                        r"remove the line break inside the cell\)$") as e:
        load(csv_file("let,fluence,events,ion\n" + "\n".join(rows) + "\n"))
    assert where in str(e.value) and "\n" not in str(e.value)
    # Quotes closed on their line are fine, separators inside them too.
    d = load(csv_file('let,fluence,events,ion\n"5","1e7","3","Kr, 15 MeV/u"\n', "ok.csv"))
    assert d.ion == ("Kr, 15 MeV/u",)


def test_a_header_cell_over_two_lines_is_one_header_cell(csv_file):
    # Excel writes a header cell with a line break as a quoted cell over two lines.
    d = load(csv_file('"LET\n(MeV cm2/mg)";Fluence;"Events\n(count)"\n5;1e7;3\n10;1e7;12\n'
                      "#15;1e7;28\n"))
    np.testing.assert_array_equal(d.events, [3, 12])
    assert any("(line 6)" in n for n in d.notes)  # line numbers count the header's lines
    with pytest.raises(DataError, match=r"column 'LET \(keV/um\)': unit 'keV/um'"):
        load(csv_file('"LET\n(keV/um)",Fluence,Events\n5,1e7,3\n'))
    with pytest.raises(DataError, match=r"line 4: a quote \(\"\) opened in column "
                                        r"'Events \(count\)' is not closed on this line"):
        load(csv_file('let,fluence,"Events\n(count)"\n5,1e7,3\n10,1e7,"12\n15,1e7,28\n'))
    with pytest.raises(DataError, match=r"line 2: unbalanced quote \(\"\) in the header$"):
        load(csv_file('# log\nlet,fluence,"events\n5,1e7,3\n10,1e7,12\n'))
    df = pd.DataFrame({"LET\n(MeV cm2/mg)": [5.0], "fluence": [1e7], "events": ["3\n4"]})
    with pytest.raises(DataError, match=r"column 'events': '3\\n4' is not a number$"):
        load(df)


@pytest.mark.parametrize("key, column, ok", [
    ("bits", "bits (Mbit)", False), ("bits", "bits (kbit)", False),
    ("bits", "n_bits [x1000]", False), ("bits", "bits (total)", True),
    ("events", "events (x1000)", False), ("events", "events (%)", False),
    ("events", "Upsets (rate)", False), ("events", "events (counts)", True),
    ("events", "events (#)", True), ("events", "SEU (upsets)", True),
    # flux x duration: per second and seconds, or an error (not minutes read as seconds)
    ("duration", "duration (min)", False), ("duration", "duration_s (h)", False),
    ("flux", "flux (ions/cm2/min)", False), ("duration", "duration (s)", True),
    ("duration", "duration [sec]", True), ("flux", "flux (ions/(cm2 s))", True),
    ("flux", "flux (ions cm-2 s-1)", True), ("flux", "flux (ions/cm²/s)", True),
    # one level of nested brackets; every bracket is read, not only the first
    ("let", "LET (MeV/(mg/cm2))", True), ("let", "LET [MeV/(mg/cm2)] (nominal)", True),
    ("let", "LET (keV/(mg/cm2))", False), ("let", "LET (nominal) (keV/um)", False),
])
def test_counts_flux_and_duration_headers_carry_no_other_unit(key, column, ok):
    df = pd.DataFrame({"let": [1.0, 5.0], "fluence": [1e6, 1e6], "events": [2, 5],
                       "bits": [4, 4], "flux": [1e4, 1e4], "duration": [100, 100]})
    if key in ("flux", "duration"):
        df = df.drop(columns="fluence")  # fluence = flux x duration
    df = df.rename(columns={key: column})
    if ok:
        np.testing.assert_array_equal(load(df).fluence, [1e6, 1e6])
    else:
        with pytest.raises(DataError, match=rf"column '{re.escape(column)}': .*(not|no unit)"
                           ) as e:
            load(df)
        assert "\n" not in str(e.value)


def test_flux_and_duration_in_other_units_skip_only_the_cross_check():
    # With a fluence column, flux x duration only checks it: a duration in minutes skips
    # the check, with a note, and the fluence is read; without one it is refused.
    df = pd.DataFrame({"let": [1.0], "fluence": [6e6], "events": [2], "flux": [1e4],
                       "duration (min)": [10]})
    d = load(df)
    assert d.fluence[0] == 6e6
    assert any(n.startswith("flux x duration not compared with the fluence: column "
                            "'duration (min)': unit 'min' is not seconds") for n in d.notes)
    with pytest.raises(DataError, match=r"column 'duration \(min\)': unit 'min' is not seconds"):
        load(df.drop(columns="fluence"))


def test_a_fluence_from_flux_and_duration_below_one_ion_is_refused():
    df = pd.DataFrame({"let": [1.0, 5.0], "flux": [1e-9, 1e4], "duration": [300, 300],
                       "events": [0, 2]})
    with pytest.raises(DataError, match=r"row 0, column 'flux': fluence \(flux x duration\) "
                                        r"below 1 ion/cm2"):
        load(df)


@pytest.mark.parametrize("column", ["Events (SEFI)", "Events (SEL)", "Errors (SBU+MBU)",
                                    "Events (per run)", "Counts (raw)"])
def test_a_count_column_may_name_what_was_counted(column):
    d = load(pd.DataFrame({"let": [1.0, 5.0], "fluence": [1e7, 1e7], column: [0, 4]}))
    np.testing.assert_array_equal(d.events, [0, 4])


@pytest.mark.parametrize("label", ["LET (not tilt corrected)",
                                   "LET (MeV cm2/mg) (not corrected)",
                                   "LET (corrected for Al degrader)", "LET (uncorrected)"])
def test_a_let_said_not_to_be_tilt_corrected_is_corrected(label):
    d = load(pd.DataFrame({label: [5.0, 20.0], "fluence": [1e7, 1e7], "events": [3, 9],
                           "angle": [0, 60]}))
    assert d.let[1] == pytest.approx(40.0)


def test_a_let_labelled_effective_is_not_tilt_corrected_twice():
    df = pd.DataFrame({"LET (effective)": [5.0, 20.0], "fluence": [1e7, 1e7],
                       "events": [3, 9], "angle": [0, 60]})
    with pytest.raises(DataError, match=r"column 'LET \(effective\)' says the LET is already "
                                        r"effective .* column 'angle' .*--no-tilt") as e:
        load(df)
    assert "\n" not in str(e.value)
    for label in ("LET [eff.]", "LET (tilt corrected)"):
        with pytest.raises(DataError, match="--no-tilt"):
            load(df.rename(columns={"LET (effective)": label}))
    np.testing.assert_array_equal(load(df, tilt=False).let, [5.0, 20.0])
    flat = df.assign(angle=[0, 0])  # no tilted run: nothing corrected twice
    np.testing.assert_array_equal(load(flat).let, [5.0, 20.0])
    assert load(df.rename(columns={"LET (effective)": "LET (nominal)"})).let[1] == (
        pytest.approx(40.0))


def test_bits_must_be_whole(csv_file):
    with pytest.raises(DataError, match=r"row 2 \(line 3\), column 'bits': number of bits "
                                        r"must be a whole number \(got 2\.5\)$"):
        load(csv_file("let,fluence,events,bits\n5,1e7,3,1024\n10,1e7,12,2.5\n"))


@pytest.mark.parametrize("text, line", [
    ("let,fluence,events,ion\n5,1e7,3,Kr\n#100,1e7,90\n", 3),  # a field fewer
    ("let,fluence,events,ion\n5,1e7,3,Kr\n#100,1e7,90,Xe,beam unstable\n", 3),  # one more
    ("let;fluence;events\n5;1e7;3\n# 100;1e7;90\n", 3),
    ("let;fluence;events\n5;1e7;3\n#100;1,0E+07;90\n", 3),  # decimal comma
    ("sep=;\nlet;fluence;events\n5;1e7;3\n\n#100;1,0E+07;90\n", 5),
])
def test_a_commented_run_is_noted_whatever_its_field_count(csv_file, text, line):
    d = load(csv_file(text))
    assert d.n_runs == 1
    (note,) = [n for n in d.notes if "'#'" in n]
    assert note.startswith("1 line(s)") and f"(line {line})" in note


def test_ignored_columns_are_named(csv_file):
    d = load(csv_file("LET_eff,let,fluence,events,status,Tilt,N_bits,Species,Run,DUT,SEL,flux,"
                      "duration_s,\n4,4,1e7,3,BEAM LOST,0,8,Kr,r1,A,0,1e4,1000,\n"))
    assert "ignored column(s): 'LET_eff', 'status', 'SEL' (not used by seufit)" in d.notes
    # a nameless column is named by its position, only when it holds something
    d = load(csv_file("let,fluence,events,\n5,1e7,3,\n10,1e7,12,x\n"))
    assert d.notes == ("ignored column(s): column 4 (no name) (not used by seufit)",)
    assert load(csv_file("let,fluence,events,\n5,1e7,3,\n")).notes == ()
    assert not any("ignored" in n for n in load("example:cic_mpa_stubs").notes)


def test_encodings_excel_writes(tmp_path):
    # UTF-8 BOM plus a Latin-1 byte: the BOM is not part of the first column's name.
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbflet,fluence,events,ion\n5,1e7,3,X\xe9\n")
    d = load(p)
    assert d.ion == ("X\xe9",) and d.let[0] == 5
    # Excel's "Unicode Text" is UTF-16 with a BOM and tabs.
    for enc in ("utf-16-le", "utf-16-be"):
        p = tmp_path / f"{enc}.csv"
        bom = "\ufeff".encode(enc)
        p.write_bytes(bom + "let\tfluence\tevents\r\n5\t1e7\t3\r\n10\t1e7\t12\r\n".encode(enc))
        np.testing.assert_array_equal(load(p).events, [3, 12])


def test_field_count_message_names_the_separator(csv_file):
    with pytest.raises(DataError, match=r"line 2: has 1 fields \(separator tab\), header has 3$"):
        load(csv_file("let\tfluence\tevents\n5,1e7,3\n"))
    with pytest.raises(DataError, match=r"line 3: has 2 fields \(separator ';'\), header has 3$"):
        load(csv_file("let;fluence;events\n5;1e7;3\n10;1e7\n"))


def test_phi_next_to_a_fluence_is_called_ambiguous(csv_file):
    with pytest.raises(DataError, match=r"both mean 'fluence'; 'phi' is ambiguous \(the "
                                        r"fluence, or a roll angle\)"):
        load(csv_file("let,fluence,events,theta,phi\n5,1e7,3,0,45\n"))


@pytest.mark.parametrize("txt", ["1_0000000", "\u0661\u0662", "\uff11\uff12", "0x10", "1e",
                                 "\u22121"])
def test_numbers_are_plain_ascii(csv_file, txt):
    # float() takes '1_0000000' and non-ASCII digits; a data file should not.
    with pytest.raises(DataError, match=rf"row 2 \(line 3\), column 'fluence': '{txt}' is not "
                                        "a number$"):
        load(csv_file(f"let,fluence,events\n5,1e7,3\n10,{txt},12\n"))
    d = load(csv_file("let,fluence,events\n.5,1E+07,3\n5.,+1e7,12\n", "ok.csv"))
    np.testing.assert_array_equal(d.let, [0.5, 5.0])


@pytest.mark.parametrize("cell, column, text", [
    ("1e-300", "fluence", "fluence below 1 ion/cm2"),
    ("0.5", "fluence", "fluence below 1 ion/cm2"),
    ("1e300", "events", "event count too large to be a count"),
])
def test_extreme_values_are_named_not_fitted(cell, column, text, tmp_path):
    rows = {"let": ["5", "10", "20", "40", "80"], "fluence": ["1e7"] * 5,
            "events": ["3", "12", "45", "71", "82"]}
    rows[column][2] = cell
    f = tmp_path / "x.csv"
    f.write_text("let,fluence,events\n" + "".join(
        f"{a},{b},{c}\n" for a, b, c in zip(rows["let"], rows["fluence"], rows["events"],
                                            strict=True)))
    with pytest.raises(DataError, match=rf"row 3 \(line 4\), column '{column}': {text}"):
        load(f)


def test_a_windows_1252_comment_cell_stays_on_its_line(tmp_path):
    # "…" is byte 0x85 in Windows-1252; read as Latin-1 it was U+0085, a line break for
    # str.splitlines, and the row fell apart ("has 1 fields").
    f = tmp_path / "cp1252.csv"
    f.write_bytes("let,fluence,events,ion\n5,1e7,3,Kr… unstable\n10,1e7,12,Xe – 131\n"
                  .encode("cp1252"))
    d = load(f)
    np.testing.assert_array_equal(d.events, [3, 12])
    assert d.ion == ("Kr… unstable", "Xe – 131")
