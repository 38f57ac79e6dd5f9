"""Loading and validating heavy-ion SEU test data.

A dataset is one row per beam run: LET (MeV cm^2/mg), fluence (ions/cm^2) and
the number of events, optionally the tilt angle, the number of bits, the ion,
the run id and the device.  Every problem in the input raises :class:`DataError`
with one line naming the source, the row and the column.
"""

from __future__ import annotations

import csv
import hashlib
import io
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


def _normalise(name: str) -> str:
    s = name.strip().lower()
    s = re.sub(r"[\(\[].*?[\)\]]", "", s).strip()
    s = re.sub(r"[\s\-/\.]+", "_", s).strip("_")
    return s


# Units a column header may carry in brackets, after _unit_key: anything else for these
# columns is an error (a LET in keV/um or a fluence per m2 would be silently wrong).
_UNITS = {
    "let": ({"mevcm2/mg", "mev/(mg/cm2)", "mev/mg/cm2", "mevcm2mg1"}, "MeV·cm²/mg",
            "MeV cm2/mg"),
    "fluence": ({f"{p}{u}" for p in ("", "1", "#", "n", "p", "ion", "ions", "particles")
                 for u in ("/cm2", "cm-2")} - {"1cm-2", "ncm-2", "pcm-2"}, "ions/cm²",
                "ions/cm2"),
    "angle": ({"deg", "degs", "degree", "degrees", "°"}, "degrees", "deg"),
}


# Bracket text that reads as a unit (a slash, a digit, an exponent, a unit symbol);
# other words ("LET (nominal)", "fluence (total)") are labels, not units.
_UNIT_LIKE = re.compile(r"[/\d°^²⁻µμ]|\b(cm|mm|um|m|ev|kev|mev|gev|mg|rad|mrad|deg|degs|degree|"
                        r"degrees|ions?|particles)\b", re.I)


def _unit_key(unit: str) -> str:
    u = unit.strip().lower().replace("²", "2").replace("⁻", "-").replace("¹", "1")
    u = re.sub(r"\s+per\s+", "/", u)  # "ions per cm2"
    u = u.replace("µ", "u").replace("μ", "u")
    u = re.sub(r"[\s·\*\^\.]", "", u)
    if "cm-2" not in u:
        u = u.replace("-", "")  # MeV-cm2/mg, mg-1; kept in cm-2
    return u


def _check_unit(label: str, key: str, column: str) -> None:
    """A unit in the header of ``column`` (``key``: let, fluence, angle) must be the one
    seufit reads; one line naming the column otherwise."""
    m = re.search(r"[\(\[](.*?)[\)\]]", column)
    if key not in _UNITS or m is None or not _UNIT_LIKE.search(m.group(1)):
        return
    ok, pretty, plain = _UNITS[key]
    if _unit_key(m.group(1)) not in ok:
        what = {"let": "LET", "fluence": "fluence", "angle": "the tilt angle"}[key]
        raise DataError(f"{label}: column '{column}': unit '{m.group(1).strip()}' is not "
                        f"{pretty}; convert the values (seufit reads {what} in {pretty}) and "
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
        ``device``.  Lines starting with ``#`` are comments.
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


def _number(txt: str) -> float:
    try:
        return float(txt)
    except ValueError:
        return math.nan


def _cell(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "nan"
    return str(v)


def _parse_csv(raw: bytes, label: str):
    if not raw.strip():
        raise DataError(f"{label}: file is empty")
    if b"\x00" in raw[:4096]:
        raise DataError(f"{label}: not a text CSV file (binary content)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
            raise DataError(f"{label}: not a text CSV file") from None
    all_lines = list(enumerate(text.splitlines(), start=1))
    forced = None
    m = re.fullmatch(r"\s*sep=(.)\s*", next((ln for _, ln in all_lines if ln.strip()), ""))
    if m:  # Excel's "sep=;" first line names the separator
        forced = m.group(1)
        first_no = next(i for i, ln in all_lines if ln.strip())
        all_lines = [(i, ln) for i, ln in all_lines if i != first_no]
    # Rows of separators only (a spreadsheet's empty rows) are blank lines.
    lines = [(i, ln) for i, ln in all_lines
             if ln.strip(" \t,;") and not ln.lstrip().startswith("#")]
    if not lines:
        raise DataError(f"{label}: file has no header and no data (only comments or blank lines)")
    first = lines[0][1]
    delim = forced or max([",", ";", "\t"], key=first.count)
    if first.count(delim) == 0:
        raise DataError(
            f"{label}: line {lines[0][0]}: not a CSV header (no ',', ';' or tab separator found)")
    try:
        parsed = list(csv.reader(io.StringIO("\n".join(ln for _, ln in lines)), delimiter=delim))
    except csv.Error as exc:
        raise DataError(f"{label}: not a readable CSV file ({exc})") from None
    header = parsed[0]
    rows, where = [], []
    for (lineno, _), rec in zip(lines[1:], parsed[1:]):
        if len(rec) != len(header):
            raise DataError(
                f"{label}: line {lineno}: has {len(rec)} fields, header has {len(header)}")
        rows.append(rec)
        where.append(f"row {len(rows)} (line {lineno})")
    return header, rows, where, _commented_rows(all_lines, lines[0][0], delim, len(header))


def _commented_rows(all_lines, header_line: int, delim: str, n_fields: int) -> str | None:
    """A note naming the '#' lines below the header that have the header's field count.

    Such a line is a run commented out (or a run whose first cell starts with '#'):
    skipped as a comment, but never silently.
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
        # ... and at least three numbers (LET, fluence, events): not a sentence with commas
        if len(rec) == n_fields and sum(not math.isnan(_number(c)) for c in rec) >= 3:
            hits.append(lineno)
    if not hits:
        return None
    shown = ", ".join(map(str, hits[:10])) + (", ..." if len(hits) > 10 else "")
    where = f"line {shown}" if len(hits) == 1 else f"lines {shown}"
    return (f"{len(hits)} line(s) starting with '#' look like runs and were skipped as "
            f"comments ({where})")


def _build(header, rows, where, label, digest, tilt, skipped=None) -> TestData:
    canon: dict[str, int] = {}
    for j, col in enumerate(header):
        key = _LOOKUP.get(_normalise(col))
        if key is None:
            continue
        if key in canon:
            raise DataError(
                f"{label}: duplicate columns: '{header[canon[key]]}' and '{col}' both mean '{key}'")
        canon[key] = j
        _check_unit(label, key, col)
    notes: list[str] = [skipped] if skipped else []
    if "fluence" not in canon:
        norm = {_normalise(c): j for j, c in enumerate(header)}
        if "flux" in norm and ("duration_s" in norm or "duration" in norm):
            canon["_flux"] = norm["flux"]
            canon["_duration"] = norm.get("duration_s", norm.get("duration"))
            notes.append("fluence computed as flux x duration")
    missing = [c for c in REQUIRED if c not in canon and not (c == "fluence" and "_flux" in canon)]
    if missing:
        found = ", ".join(repr(h) for h in header) or "none"
        raise DataError(f"{label}: missing required column(s) {', '.join(missing)} "
                        f"(found columns: {found})")
    if not rows:
        raise DataError(f"{label}: header only, no data rows")

    def numeric(key: str) -> np.ndarray:
        j = canon[key]
        out = np.empty(len(rows))
        for i, rec in enumerate(rows):
            txt = rec[j].strip()
            if txt == "":
                raise DataError(f"{label}: {where[i]}, column '{header[j]}': empty cell")
            try:
                val = float(txt)
            except ValueError:
                hint = ""
                if re.fullmatch(r"[-+]?\d*,\d+(e[-+]?\d+)?", txt, re.I):
                    hint = (" (a decimal comma? write it with a point, e.g. "
                            f"{txt.replace(',', '.')}"
                            + (f"; or a thousands separator: {txt.replace(',', '')}"
                               if re.fullmatch(r"[-+]?\d+,\d{3}", txt) else "") + ")")
                raise DataError(f"{label}: {where[i]}, column '{header[j]}': '{txt}' is not a "
                                f"number{hint}") from None
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
        return rows[i][j].strip()

    let = numeric("let")
    check("let", let, let <= 0, "LET must be positive")
    if "fluence" in canon:
        fluence = numeric("fluence")
        check("fluence", fluence, fluence <= 0, "fluence must be positive")
    else:
        flux, dur = numeric("_flux"), numeric("_duration")
        check("_flux", flux, flux <= 0, "flux must be positive")
        check("_duration", dur, dur <= 0, "duration must be positive")
        fluence = flux * dur
    norm_cols = {_normalise(c): j for j, c in enumerate(header)}
    dur_key = "duration_s" if "duration_s" in norm_cols else "duration"
    if "fluence" in canon and "flux" in norm_cols and dur_key in norm_cols:
        # Both given: fluence is used; a disagreement (a typo in one of them) is named.
        # Informative columns only: cells that are no numbers skip the check, not the file.
        product = np.array([_number(r[norm_cols["flux"]]) * _number(r[norm_cols[dur_key]])
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
    angle = np.zeros_like(let)
    if "angle" in canon:
        angle = numeric("angle")
        check("angle", angle, np.abs(angle) >= 90, "tilt angle must be below 90 degrees")
    bits = None
    if "bits" in canon:
        bits = numeric("bits")
        check("bits", bits, bits <= 0, "number of bits must be positive")

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
