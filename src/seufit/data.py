"""Loading and validating heavy-ion SEU test data.

A dataset is one row per beam run: LET (MeV cm^2/mg), fluence (ions/cm^2) and
the number of events, optionally the tilt angle, the number of bits, the ion,
the run id and the device.  Every problem in the input raises :class:`DataError`
with one line naming the source, the row and the column.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import math
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DataError", "TestData", "load", "example_names", "example_path"]


class DataError(ValueError):
    """Bad input data; the message is one line naming source, row and column."""


# Canonical column -> accepted spellings (after normalisation: lower case, units
# in brackets removed, spaces and dashes as underscores).
ALIASES: dict[str, tuple[str, ...]] = {
    "let": ("let", "let_mev", "let_mev_cm2_mg", "let_nominal", "linear_energy_transfer", "let0"),
    "fluence": (
        "fluence", "fluence_cm2", "fluence_ions_cm2", "phi", "ions_cm2", "flu", "fluence_ions",
    ),
    "events": (
        "events", "event", "counts", "count", "upsets", "upset", "errors", "error", "n",
        "n_events", "nevents", "seu", "seus", "n_seu", "n_upsets", "num_events", "observed",
    ),
    "angle": ("angle", "tilt", "theta", "angle_deg", "tilt_deg", "incidence_angle", "tilt_angle"),
    "bits": ("bits", "n_bits", "nbits", "bit_count", "num_bits", "memory_bits"),
    "ion": ("ion", "species", "ion_species", "beam"),
    "run": ("run", "run_id", "runid", "run_number", "run_no"),
    "device": ("device", "dut", "device_id", "part", "sample", "serial"),
}
_LOOKUP = {alias: canon for canon, names in ALIASES.items() for alias in names}
REQUIRED = ("let", "fluence", "events")
EXAMPLES = ("cic_mpa_stubs", "mle_article", "bootstrap_article")


# A bracketed part of a header, with one level of nesting: "LET (MeV/(mg/cm2))".
_BRACKET = re.compile(r"[(\[]((?:[^()\[\]]|[(\[][^()\[\]]*[)\]])*)[)\]]")
# Line breaks as str.splitlines sees them (a header cell from Excel, a DataFrame column).
_BREAKS = r"\n\r\v\f\x1c-\x1e\x85\u2028\u2029"


def _normalise(name: str) -> str:
    s = _BRACKET.sub("", name.strip().lower()).strip()
    s = re.sub(r"[\s\-/\.]+", "_", s).strip("_")
    return s


def _flat(name: str) -> str:
    """A header cell on one line: Excel's "LET\\n(MeV cm2/mg)" reads "LET (MeV cm2/mg)"."""
    return re.sub(rf"\s*[{_BREAKS}]\s*", " ", name)


def _one_line(text: str) -> str:
    """``text`` with its line breaks escaped, so that a message stays one line."""
    return re.sub(f"[{_BREAKS}]", lambda m: repr(m.group())[1:-1], text)


def _per_second(per_cm2: set[str]) -> set[str]:
    """Flux units: each fluence unit per second (ions/cm2/s, ions/(cm2 s), ions cm-2 s-1)."""
    out = set()
    for u in per_cm2:
        if u.endswith("/cm2"):
            n = u[:-4]
            out |= {f"{u}/s", f"{u}/sec", f"{u}s", f"{n}/(cm2s)", f"{n}/(scm2)", f"{n}/s/cm2"}
        else:
            out.add(f"{u}s-1")
    return out


# Units a column header may carry in brackets, after _unit_key: anything else for these
# columns is an error (a LET in keV/um or a fluence per m2 would be silently wrong).
_PER_CM2 = ({f"{p}{u}" for p in ("", "1", "#", "n", "p", "ion", "ions", "particles")
             for u in ("/cm2", "cm-2")} - {"1cm-2", "ncm-2", "pcm-2"})
_UNITS = {
    "let": ({"mevcm2/mg", "mev/(mg/cm2)", "mev/mg/cm2", "mevcm2mg1"}, "MeV·cm²/mg",
            "MeV cm2/mg"),
    "fluence": (_PER_CM2, "ions/cm²", "ions/cm2"),
    "angle": ({"deg", "degs", "degree", "degrees", "°"}, "degrees", "deg"),
    "flux": (_per_second(_PER_CM2), "ions/cm²/s", "ions/cm2/s"),
    "duration": ({"s", "sec", "secs", "second", "seconds"}, "seconds", "s"),
}
_WHAT = {"let": "LET", "fluence": "fluence", "angle": "the tilt angle", "flux": "the flux",
         "duration": "the duration"}
# Counts take no unit: a bracket on events or bits may only repeat that they are counts
# ("events (#)"); "events (x1000)" or "bits (Mbit)" would be read 1000 or 1e6 times off.
_COUNT_WORDS = {"#", "n", "no", "nr", "number", "count", "counts", "total", "event", "events",
                "upset", "upsets", "error", "errors", "seu", "seus", "bit", "bits",
                "per device", "per dut", "per chip"}


# Bracket text that reads as a unit (a slash, a digit, an exponent, a unit symbol);
# other words ("LET (nominal)", "fluence (total)") are labels, not units.
_UNIT_LIKE = re.compile(r"[/\d°^²⁻µμ]|\b(cm|mm|um|m|ev|kev|mev|gev|mg|rad|mrad|deg|degs|degree|"
                        r"degrees|ions?|particles|s|secs?|seconds?|ms|mins?|minutes?|h|hrs?|"
                        r"hours?)\b", re.I)
# A LET header that says it is already tilt corrected: "LET (effective)", "LET [corr.]".
# Bracket text on a count column that reads as a multiplier or a rate, not a label:
# "(x1000)", "(Mbit)", "(%)", "(rate)", "(/s)", "(per s)" -- but "(SEFI)", "(SBU+MBU)",
# "(per run)" or "(raw)" name what was counted and are read.
_COUNT_SCALE = re.compile(r"\d|%|/|\brate\b|\bper\s*(s|sec|second|min|minute|h|hour|cm2?)\b|"
                          r"\b(x|[kmgt]i?b|[kmgt]i?bits?|kilo\w*|mega\w*|giga\w*|thousands?|"
                          r"millions?)\b", re.I)
# A LET header saying the tilt correction is already in it; "not corrected",
# "uncorrected" and "corrected for the degrader" say otherwise.
_EFFECTIVE = re.compile(r"(?<![a-z])(eff|effective|tilt[\s_-]*corr(ected)?|"
                        r"cos(ine)?[\s_-]*corr(ected)?)(?![a-z])", re.I)
_NOT_EFFECTIVE = re.compile(r"(?<![a-z])(not|non|un)[\s_-]*(tilt[\s_-]*)?(eff|corr)", re.I)


def _unit_key(unit: str) -> str:
    u = unit.strip().lower().replace("²", "2").replace("⁻", "-").replace("¹", "1")
    u = re.sub(r"\s+per\s+", "/", u)  # "ions per cm2"
    u = u.replace("µ", "u").replace("μ", "u")
    u = re.sub(r"[\s·\*\^\.]", "", u)
    if "cm-2" not in u:
        u = u.replace("-", "")  # MeV-cm2/mg, mg-1; kept in cm-2
    return u


def _check_unit(label: str, key: str, column: str) -> None:
    """A unit in the header of ``column`` (``key``: let, fluence, angle, flux, duration,
    events, bits) must be the one seufit reads; one line naming the column otherwise."""
    for m in _BRACKET.finditer(column):
        inner = m.group(1).strip()
        if key in ("events", "bits"):
            if inner.lower() not in _COUNT_WORDS and _COUNT_SCALE.search(inner):
                what = "event counts" if key == "events" else "the number of bits"
                raise DataError(f"{label}: column '{column}': '{inner}' in the header: seufit "
                                f"reads {what} as a plain count, with no unit or multiplier; "
                                f"convert the values and drop '{m.group()}'")
            continue
        if key not in _UNITS or not _UNIT_LIKE.search(inner):
            continue
        ok, pretty, plain = _UNITS[key]
        if _unit_key(inner) not in ok:
            raise DataError(f"{label}: column '{column}': unit '{inner}' is not {pretty}; "
                            f"convert the values (seufit reads {_WHAT[key]} in {pretty}) and "
                            f"write the unit as {plain}")


def example_names() -> tuple[str, ...]:
    """Names of the bundled example datasets."""
    return EXAMPLES


def example_path(name: str) -> Path:
    """Path of a bundled example (``cic_mpa_stubs``, ``mle_article``, ``bootstrap_article``)."""
    name = name.removeprefix("example:").removesuffix(".csv")
    if name not in EXAMPLES:
        raise DataError(f"unknown example '{name}'; bundled examples: {', '.join(EXAMPLES)}")
    return Path(str(resources.files("seufit") / "examples" / f"{name}.csv"))


@dataclass(frozen=True, eq=False)
class TestData:
    """Immutable SEU test data, one entry per beam run.

    ``let`` and ``fluence`` are the effective values used by every fit (tilt
    corrected unless switched off); the beam-normal values are kept alongside.
    ``exposure`` = effective fluence x bits: the divisor that turns counts into
    cross-sections (per bit when ``bits`` was given, per device otherwise).
    """

    __test__ = False  # not a pytest class, despite the name

    let: np.ndarray
    fluence: np.ndarray
    events: np.ndarray
    let_nominal: np.ndarray
    fluence_nominal: np.ndarray
    angle: np.ndarray
    bits: np.ndarray | None = None
    ion: tuple[str, ...] | None = None
    run: tuple[str, ...] | None = None
    device: tuple[str, ...] | None = None
    source: str = "<data>"
    sha256: str = ""
    tilt_corrected: bool = True
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self):
        for name in ("let", "fluence", "events", "let_nominal", "fluence_nominal", "angle", "bits"):
            arr = getattr(self, name)
            if arr is not None:
                arr = np.array(arr, dtype=float)
                arr.setflags(write=False)
                object.__setattr__(self, name, arr)

    @property
    def n_runs(self) -> int:
        return int(self.events.size)

    @property
    def n_events(self) -> int:
        return int(self.events.sum())

    @property
    def per_bit(self) -> bool:
        return self.bits is not None

    @property
    def exposure(self) -> np.ndarray:
        return self.fluence * (self.bits if self.bits is not None else 1.0)

    @property
    def cross_section(self) -> np.ndarray:
        return self.events / self.exposure

    @property
    def sigma_unit(self) -> str:
        return "cm2/bit" if self.per_bit else "cm2/device"

    def labels(self) -> list[str]:
        """A short label per run (run id, else ion, else index)."""
        if self.run is not None:
            return [f"run {r}" for r in self.run]
        if self.ion is not None:
            return [f"{ion} #{i + 1}" for i, ion in enumerate(self.ion)]
        return [f"#{i + 1}" for i in range(self.n_runs)]

    def subset(self, mask: np.ndarray) -> TestData:
        """The runs selected by a boolean mask."""
        mask = np.asarray(mask, bool)

        def pick(v):
            if v is None:
                return None
            if isinstance(v, tuple):
                return tuple(x for x, m in zip(v, mask) if m)
            return np.asarray(v)[mask]

        return replace(self, **{k: pick(getattr(self, k)) for k in (
            "let", "fluence", "events", "let_nominal", "fluence_nominal", "angle",
            "bits", "ion", "run", "device")})

    def to_frame(self) -> pd.DataFrame:
        """The runs as a DataFrame (effective and nominal values)."""
        df = pd.DataFrame({
            "let": self.let, "fluence": self.fluence, "events": self.events.astype(int),
            "let_nominal": self.let_nominal, "fluence_nominal": self.fluence_nominal,
            "angle": self.angle,
        })
        for name in ("bits", "ion", "run", "device"):
            v = getattr(self, name)
            if v is not None:
                df[name] = list(v)
        return df

    def __repr__(self) -> str:
        return (f"TestData({self.source!r}, {self.n_runs} runs, {self.n_events} events, "
                f"{int((self.events == 0).sum())} zero-event runs)")


def load(
    source: str | Path | pd.DataFrame,
    *,
    tilt: bool = True,
    name: str | None = None,
) -> TestData:
    """Read SEU test data from a CSV file, a bundled example or a DataFrame.

    Parameters
    ----------
    source : path, ``"example:NAME"`` or pandas.DataFrame
        Columns ``let``, ``fluence``, ``events`` (case-insensitive, common
        aliases accepted); optional ``angle``, ``bits``, ``ion``, ``run``,
        ``device``.  Lines starting with ``#`` are comments, except a header whose
        first cell is ``#`` (a row-number column) above the runs (noted).
    tilt : bool
        Apply the tilt correction: effective LET = LET / cos(angle) and
        effective fluence = fluence * cos(angle).
    name : str, optional
        Label used in messages instead of the file name.

    Returns
    -------
    TestData

    Raises
    ------
    DataError
        One line naming the source, row and column of the first problem.
    """
    if isinstance(source, pd.DataFrame):
        label = name or "<DataFrame>"
        header = [str(c) for c in source.columns]
        rows = [[_cell(v) for v in rec] for rec in source.itertuples(index=False, name=None)]
        where = [f"row {i}" for i in source.index]
        digest = hashlib.sha256(source.to_csv(index=False).encode()).hexdigest()
        return _build(header, rows, where, label, digest, tilt)
    src = str(source)
    if src.startswith("example:"):
        path = example_path(src)
        label = name or src
    else:
        path = Path(src)
        label = name or src
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DataError(f"{label}: is a directory, not a CSV file") from None
    except FileNotFoundError:
        hint = ""
        if src in EXAMPLES:
            hint = f" (did you mean example:{src}?)"
        raise DataError(f"{label}: no such file{hint}") from None
    except OSError as exc:
        raise DataError(f"{label}: cannot read file ({exc.strerror or exc})") from None
    digest = hashlib.sha256(raw).hexdigest()
    header, rows, where, skipped = _parse_csv(raw, label)
    return _build(header, rows, where, label, digest, tilt, skipped)


# A number is plain ASCII decimal or scientific notation (inf and nan parse, to be named
# as not finite): float() alone also takes '1_000' and non-ASCII digits ('١٢', '１２').
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?|[-+]?(inf|infinity|nan)", re.I | re.A)


def _float(txt: str) -> float | None:
    """The number written in ``txt``, None if it is not one."""
    txt = txt.strip()
    return float(txt) if _NUMBER.fullmatch(txt) else None


def _number(txt: str) -> float:
    v = _float(txt)
    return math.nan if v is None else v


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return str(v)


def _decode(raw: bytes, label: str) -> str:
    if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):  # Excel's "Unicode Text"
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise DataError(f"{label}: not valid UTF-16 text (save it as CSV UTF-8)") from None
    # The BOM goes first: the Latin-1 fallback would keep it as a column named 'ï»¿let'.
    raw = raw.removeprefix(codecs.BOM_UTF8)
    # Not UTF-8: an Excel CSV in Windows-1252 ("…", "–" in a comment cell) before Latin-1,
    # which decodes any byte but turns 0x85 into a line break of str.splitlines.
    for enc in ("utf-8", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def _parse_csv(raw: bytes, label: str):
    text = _decode(raw, label)
    if not text.strip():
        raise DataError(f"{label}: file is empty")
    if "\x00" in text[:4096]:
        raise DataError(f"{label}: not a text CSV file (binary content)")
    # Lines end where the csv module ends them; str.splitlines would also split on
    # U+0085, U+2028 and the separators 0x1c-0x1e.
    all_lines = list(enumerate(re.split(r"\r\n|\r|\n", text), start=1))
    forced = None
    m = re.fullmatch(r"\s*sep=(.)\s*", next((ln for _, ln in all_lines if ln.strip()), ""))
    if m:  # Excel's "sep=;" first line names the separator
        forced = m.group(1)
        first_no = next(i for i, ln in all_lines if ln.strip())
        all_lines = [(i, ln) for i, ln in all_lines if i != first_no]

    def kept(ln: str) -> bool:  # rows of separators only (a spreadsheet's empty rows) are blank
        return bool(ln.strip(" \t,;")) and not ln.lstrip().startswith("#")

    start = next((k for k, (_, ln) in enumerate(all_lines) if kept(ln)), None)
    if start is None:
        raise DataError(f"{label}: file has no header and no data (only comments or blank lines)")
    notes = []
    hashed = _hash_header(all_lines, start, forced)
    if hashed is not None:  # "#,LET,Fluence,Events": a row-number column named '#'
        start = hashed
        notes.append(f"line {all_lines[start][0]}: the header starts with '#' (a row-number "
                     "column) and was read as the header, not as a comment")
    # A quoted header cell may span lines (Excel: "LET\n(MeV cm2/mg)"): the header is the
    # first CSV record, however many lines it takes; the separator is counted over them.
    head_no, k = all_lines[start][0], start
    quotes = all_lines[start][1].count('"')
    while quotes % 2 and k + 1 < len(all_lines):
        k += 1
        quotes += all_lines[k][1].count('"')
    head = "\n".join(ln for _, ln in all_lines[start:k + 1])
    delim = _separator(head, forced)
    reader = csv.reader((ln + "\n" for _, ln in all_lines[start:]), delimiter=delim)
    unbalanced = DataError(f'{label}: line {head_no}: unbalanced quote (") in the header')
    try:
        header = next(reader)
    except csv.Error:  # a field over csv's size limit: a quote open down the file
        raise unbalanced from None
    end = start + reader.line_num - 1
    if end == len(all_lines) - 1 and header[-1].endswith("\n"):
        raise unbalanced
    if head.count(delim) == 0:
        raise DataError(
            f"{label}: line {head_no}: not a CSV header (no ',', ';' or tab separator found)")
    header = [_flat(c) for c in header]
    sep = "tab" if delim == "\t" else repr(delim)
    rows, where = [], []
    for lineno, ln in all_lines[end + 1:]:
        if not kept(ln):
            continue
        try:
            rec = next(csv.reader([ln + "\n"], delimiter=delim))
        except csv.Error as exc:
            raise DataError(f"{label}: line {lineno}: not readable as CSV ({exc})") from None
        # Each line is read alone: a quote left open takes in the newline added above, not
        # the runs below (which it would swallow, or merge, without a word).
        j = next((j for j, c in enumerate(rec) if "\n" in c), None)
        if j is not None:
            col = f"'{header[j]}'" if j < len(header) else str(j + 1)
            raise DataError(f'{label}: line {lineno}: a quote (") opened in column {col} is '
                            "not closed on this line: a cell cannot span lines (close the "
                            "quote, or remove the line break inside the cell)")
        if len(rec) != len(header):
            raise DataError(f"{label}: line {lineno}: has {len(rec)} fields (separator {sep}), "
                            f"header has {len(header)}")
        rows.append(rec)
        where.append(f"row {len(rows)} (line {lineno})")
    commented = _commented_rows(all_lines, all_lines[end][0], delim)
    return header, rows, where, notes + ([commented] if commented else [])


def _separator(text: str, forced: str | None) -> str:
    """The separator of a header: Excel's ``sep=`` line if there was one, else the most
    frequent of comma, semicolon and tab in ``text``."""
    return forced or max([",", ";", "\t"], key=text.count)


def _hash_header(all_lines, start: int, forced: str | None) -> int | None:
    """Index of a header line whose first cell is '#' (a spreadsheet's row-number column:
    ``#,LET,Fluence,Events``), or None.

    Lines starting with '#' are comments, so such a header would be skipped and the first
    run read as the header.  A '#' line above the first kept line is taken as the header
    when its first cell is '#' alone, its other cells name LET, events and a fluence or
    flux column, it has the first kept line's number of fields, and that line does not
    itself name LET and events (a real header below a commented-out one).  The nearest
    such line wins; comment lines between it and the runs stay comments.
    """
    first = all_lines[start][1]
    for k in range(start - 1, -1, -1):
        line = all_lines[k][1].lstrip(" ")  # (a trailing tab is a field of a tab file)
        if not line.strip(" \t,;"):
            continue
        if _header_cells(line, first, forced):
            return k
    return None


def _header_cells(line: str, first: str, forced: str | None) -> bool:
    """Whether the '#' line ``line`` is the header of the run ``first`` (_hash_header)."""
    delim = _separator(line, forced)
    if not line.startswith("#") or line.count(delim) == 0:
        return False
    try:
        head = next(csv.reader([line], delimiter=delim))
        rec = next(csv.reader([first], delimiter=delim))
    except (csv.Error, StopIteration):
        return False
    if len(head) != len(rec) or head[0].strip() != "#":
        return False
    norm = [_normalise(_flat(c)) for c in head[1:]]
    names = {"flux" if n == "flux" else _LOOKUP.get(n) for n in norm}  # (flux: no alias)
    if not ({"let", "events"} <= names and names & {"fluence", "flux"}):
        return False
    # The first kept line is a run, not the real header below a commented one (a cell
    # that is not a number then gets the loader's own message, naming row and column).
    below = {_LOOKUP.get(_normalise(_flat(c))) for c in rec}
    return not {"let", "events"} <= below


def _commented_rows(all_lines, header_line: int, delim: str) -> str | None:
    """A note naming the '#' lines below the header that read as runs.

    Such a line is a run commented out (or a run whose first cell starts with '#'):
    skipped as a comment, but never silently.  It reads as a run when it has at least
    three numbers (LET, fluence, events; not a sentence with commas), whatever its field
    count (a field added or lost while commenting it out); with a separator other than
    ',' a decimal comma counts as a number.
    """
    hits = []
    for lineno, ln in all_lines:
        body = ln.lstrip()
        if lineno <= header_line or not body.startswith("#"):
            continue
        try:
            rec = next(csv.reader([body[1:]], delimiter=delim))
        except (csv.Error, StopIteration):
            continue
        if delim != ",":
            rec = [c.replace(",", ".") for c in rec]
        if sum(not math.isnan(_number(c)) for c in rec) >= 3:
            hits.append(lineno)
    if not hits:
        return None
    shown = ", ".join(map(str, hits[:10])) + (", ..." if len(hits) > 10 else "")
    where = f"line {shown}" if len(hits) == 1 else f"lines {shown}"
    return (f"{len(hits)} line(s) starting with '#' look like runs and were skipped as "
            f"comments ({where})")


def _build(header, rows, where, label, digest, tilt, skipped=None) -> TestData:
    header = [_flat(str(h)) for h in header]
    canon: dict[str, int] = {}
    norm: dict[str, int] = {}
    for j, col in enumerate(header):
        n = _normalise(col)
        norm.setdefault(n, j)
        key = _LOOKUP.get(n)
        if key is None:
            continue
        if key in canon:
            why = ""
            if "phi" in (_normalise(header[canon[key]]), _normalise(col)):
                why = ("; 'phi' is ambiguous (the fluence, or a roll angle): rename the column "
                       "that is not the fluence")
            raise DataError(f"{label}: duplicate columns: '{header[canon[key]]}' and '{col}' "
                            f"both mean '{key}'{why}")
        canon[key] = j
        _check_unit(label, key, col)
    notes: list[str] = list(skipped or [])
    dur = norm.get("duration_s", norm.get("duration"))
    if "flux" in norm and dur is not None:  # fluence = flux x duration, or its cross-check
        try:
            _check_unit(label, "flux", header[norm["flux"]])
            _check_unit(label, "duration", header[dur])
        except DataError as exc:
            if "fluence" not in canon:
                raise  # the fluence itself would come out wrong
            # Only a cross-check of the fluence column: skipped, and said so.
            notes.append("flux x duration not compared with the fluence: "
                         + str(exc).removeprefix(f"{label}: "))
        else:
            canon["_flux"], canon["_duration"] = norm["flux"], dur
            if "fluence" not in canon:
                notes.append("fluence computed as flux x duration")
    missing = [c for c in REQUIRED if c not in canon and not (c == "fluence" and "_flux" in canon)]
    if missing:
        found = ", ".join(repr(h) for h in header) or "none"
        raise DataError(f"{label}: missing required column(s) {', '.join(missing)} "
                        f"(found columns: {found})")
    if not rows:
        raise DataError(f"{label}: header only, no data rows")
    # A column seufit does not know is dropped: named, in case it held what seufit needs
    # ("LET_eff", a "status" of "BEAM LOST"); a nameless column only if it holds anything.
    used = set(canon.values())
    ignored = [f"'{h}'" if h.strip() else f"column {j + 1} (no name)"
               for j, h in enumerate(header) if j not in used
               and (h.strip() or any(r[j].strip() not in ("", "nan") for r in rows))]
    if ignored:
        notes.append(f"ignored column(s): {', '.join(ignored)} (not used by seufit)")

    def numeric(key: str) -> np.ndarray:
        j = canon[key]
        out = np.empty(len(rows))
        for i, rec in enumerate(rows):
            txt = rec[j].strip()
            if txt == "":
                raise DataError(f"{label}: {where[i]}, column '{header[j]}': empty cell")
            val = _float(txt)
            if val is None:
                hint = ""
                if re.fullmatch(r"[-+]?\d*,\d+(e[-+]?\d+)?", txt, re.I | re.A):
                    hint = (" (a decimal comma? write it with a point, e.g. "
                            f"{txt.replace(',', '.')}"
                            + (f"; or a thousands separator: {txt.replace(',', '')}"
                               if re.fullmatch(r"[-+]?\d+,\d{3}", txt, re.A) else "") + ")")
                raise DataError(f"{label}: {where[i]}, column '{header[j]}': "
                                f"'{_one_line(txt)}' is not a number{hint}")
            if not math.isfinite(val):
                raise DataError(
                    f"{label}: {where[i]}, column '{header[j]}': value '{txt}' is not finite")
            out[i] = val
        return out

    def check(key: str, values: np.ndarray, bad: np.ndarray, what: str) -> None:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            j = canon[key]
            raise DataError(
                f"{label}: {where[i]}, column '{header[j]}': {what} (got {rec_text(i, j)})")

    def rec_text(i, j):
        return _one_line(rows[i][j].strip())

    let = numeric("let")
    check("let", let, let <= 0, "LET must be positive")
    if "fluence" in canon:
        fluence = numeric("fluence")
        check("fluence", fluence, fluence <= 0, "fluence must be positive")
        # Below one ion per cm2 no test was run: a unit slip (1e7 ions/cm2 written in units
        # of 1e7?), and at 1e-300 the cross-sections overflow.
        check("fluence", fluence, fluence < 1, "fluence below 1 ion/cm2: write it in "
              "ions/cm2")
    else:
        flux, dur = numeric("_flux"), numeric("_duration")
        check("_flux", flux, flux <= 0, "flux must be positive")
        check("_duration", dur, dur <= 0, "duration must be positive")
        fluence = flux * dur
        check("_flux", fluence, fluence < 1, "fluence (flux x duration) below 1 ion/cm2: "
              "write flux in ions/cm2/s and duration in s")
    if "fluence" in canon and "_flux" in canon:
        # Both given: fluence is used; a disagreement (a typo in one of them) is named.
        # Informative columns only: cells that are no numbers skip the check, not the file.
        product = np.array([_number(r[canon["_flux"]]) * _number(r[canon["_duration"]])
                            for r in rows])
        off = np.flatnonzero(np.abs(product - fluence) > 0.01 * fluence)  # NaN: False
        if off.size:
            notes.append(f"fluence differs by more than 1 % from flux x duration in "
                         f"{off.size} row(s), the fluence column is used: "
                         + "; ".join(f"{where[i]}: {fluence[i]:.4g} vs {product[i]:.4g}"
                                     for i in off[:5]) + ("; ..." if off.size > 5 else ""))
    events = numeric("events")
    check("events", events, events < 0, "event counts cannot be negative")
    check("events", events, events != np.round(events), "event counts must be whole numbers")
    # Past 2**53 a float no longer holds every whole number: no count is that large.
    check("events", events, events > 2.0**53, "event count too large to be a count "
          "(above 2**53)")
    angle = np.zeros_like(let)
    if "angle" in canon:
        angle = numeric("angle")
        check("angle", angle, np.abs(angle) >= 90, "tilt angle must be below 90 degrees")
        let_head = header[canon["let"]]
        if tilt and np.any(angle != 0) and _EFFECTIVE.search(let_head) \
                and not _NOT_EFFECTIVE.search(let_head):
            raise DataError(
                f"{label}: column '{header[canon['let']]}' says the LET is already effective "
                f"(tilt corrected) and column '{header[canon['angle']]}' has tilt angles: the "
                "correction would be applied twice; use --no-tilt (tilt=False) or drop the "
                "angle column")
    bits = None
    if "bits" in canon:
        bits = numeric("bits")
        check("bits", bits, bits <= 0, "number of bits must be positive")
        check("bits", bits, bits != np.round(bits), "number of bits must be a whole number")

    def text(key):
        if key not in canon:
            return None
        return tuple(r[canon[key]].strip() for r in rows)

    device = text("device")
    if device is not None and len(set(device)) > 1:
        per = ", ".join(f"{k}: {device.count(k)}" for k in dict.fromkeys(device))
        notes.append(f"runs of {len(set(device))} devices ({per} runs) fitted as one curve: "
                     "right for samples of one part type, wrong for different parts (fit "
                     "each file separately)")
    seen: dict[tuple, int] = {}
    twice = []
    for i, rec in enumerate(rows):
        key = tuple(c.strip() for c in rec)
        if key in seen:
            twice.append(f"{where[i]} repeats {where[seen[key]]}")
        else:
            seen[key] = i
    if twice:
        notes.append(f"{len(twice)} row(s) identical in every column to an earlier one (a run "
                     f"entered twice?), all kept: {'; '.join(twice[:5])}"
                     + ("; ..." if len(twice) > 5 else ""))
    cos = np.cos(np.radians(angle)) if tilt else np.ones_like(angle)
    if tilt and np.any(angle != 0):
        notes.append(f"tilt correction applied to {int((angle != 0).sum())} run(s)")
    elif not tilt and np.any(angle != 0):
        notes.append("tilt correction switched off: angles ignored")
    return TestData(
        let=let / cos, fluence=fluence * cos, events=events, let_nominal=let,
        fluence_nominal=fluence, angle=angle, bits=bits, ion=text("ion"), run=text("run"),
        device=device, source=label, sha256=digest, tilt_corrected=tilt,
        notes=tuple(notes))
