"""Import a health system's extract (patients, results, measures, optional creatinine labs) as
one transaction.

Every row is checked against docs/data-contract.md before anything is committed. When a
problem is found, reading goes on so that the report is complete, nothing is written, and
`ImportRefused` lists the file, line, column, value and rule of each problem.
"""
from __future__ import annotations

import json
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, delete, insert, select

from store import access, audit, counts, vocabulary
from store.bulk import insert_frame
from store.csvfile import FileInfo, read_chunks
from store.engine import ensure_schema
from store.importlock import ImportLock
from store.problems import ImportRefused, Problems
from store.schema import import_batches, lab_results, measures, patients, results

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MEASURES = REPO / "metrics" / "measures.csv"

PATIENT_REQUIRED = (
    "patient_id", "birth_year", "sex", "race", "ethnicity",
    "preferred_language", "interpreter_needed", "payer",
)
PATIENT_OPTIONAL = ("adi_decile",)
RESULT_REQUIRED = ("patient_id", "measure_id", "period", "site", "numerator", "denominator")
RESULT_OPTIONAL = ("value", "exposure")
LARGEST_VALUE = 1e12  # |value| at most: squares and their sums over 10^8 rows stay finite
MEASURE_REQUIRED = ("measure_id", "name", "kind", "higher_is_better")
MEASURE_OPTIONAL = ("unit", "description")
VALUE_MAP_REQUIRED = ("column", "local_value", "standard_value")
LAB_REQUIRED = ("patient_id", "date", "test", "value", "unit")
# Serum creatinine by name or LOINC code; a code also says the unit of its results.
LAB_TESTS = {"creatinine": None, "2160-0": "mg/dL", "14682-9": "µmol/L"}
# Lower-cased spellings (micro sign U+00B5, Greek mu U+03BC, ASCII u) -> the stored unit.
LAB_UNITS = {"mg/dl": "mg/dL", "\u00b5mol/l": "µmol/L", "\u03bcmol/l": "µmol/L",
             "umol/l": "µmol/L"}
# Serum creatinine a laboratory can report, in mg/dL: outside it a value is far more likely in
# the other unit (88 mg/dL is 88 µmol/L mislabelled; 1.0 µmol/L is 1.0 mg/dL) or mistyped.
CREATININE_RANGE_MG_DL = (0.1, 40.0)
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
# Columns whose local codes a value map may translate.
MAPPABLE = ("race", "ethnicity", "sex", "payer", "interpreter_needed", "preferred_language",
            "site", "measure_id")

BIRTH_YEAR_RANGE = (1850, 2100)
# Events of one case of a rate measure: the results table's numerator is a SmallInteger.
MAX_EVENTS = 32_767
# ASCII digits only: a regex's \d also takes full-width and other scripts' digits (１９８０).
_INTEGER = r"[+-]?[0-9]+"
_PERIOD = r"[0-9]{4}-(0[1-9]|1[0-2])"
_NUMBER = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
# The longest free text a column may hold, in characters: what the count table's label
# column holds (String(64)), and what keeps a key within PostgreSQL's B-tree entry limit
# (2,704 bytes; 255 characters are at most 1,020 bytes of UTF-8).
MAX_CHARACTERS = {"patient_id": 255, "preferred_language": 64, "site": 255, "measure_id": 64}


@dataclass
class ImportSummary:
    batch_id: int
    patients: int
    results: int
    measures: int
    seconds: float
    files: list[dict]
    warnings: list[str] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step, in order
    labs: int = 0  # creatinine results of labs.csv


class _Steps(dict):
    """Seconds taken by each step of the import (for `manage.py import` and bench/)."""

    def __init__(self) -> None:
        super().__init__()
        self._last = time.perf_counter()

    def done(self, step: str) -> None:
        now = time.perf_counter()
        self[step] = self.get(step, 0.0) + now - self._last
        self._last = now


def import_extract(
    patients_csv: str | Path,
    results_csv: str | Path,
    measures_csv: str | Path | None = None,
    value_map_csv: str | Path | None = None,
    database_url: str | None = None,
    source: str = "import",
    chunk_rows: int = 100_000,
    gate: Callable[[Connection], object] | None = None,
    labs_csv: str | Path | None = None,
) -> ImportSummary:
    """Replace the current patients and results with the extract's, all or nothing.

    Readers keep seeing the previous data until the new data is complete and committed.
    Raises `ImportRefused` (nothing changed) when any input breaks the data contract, or when
    `gate` (e.g. `data_quality.gate`: the critical checks, run as SQL on the new rows inside
    the open transaction) reports a check that blocks the import. It is a parameter so that
    the database layer does not depend on the data-quality layer above it.

    `labs_csv` (optional) holds creatinine results; without it the previous ones are removed
    too, as an import replaces all the data.
    """
    access.require("import")
    started = time.perf_counter()
    started_at = datetime.now(UTC)
    problems = Problems()
    files = [FileInfo("patients", Path(patients_csv)), FileInfo("results", Path(results_csv))]

    value_map: dict[str, dict[str, str]] = {}
    if value_map_csv is not None:
        files.append(FileInfo("value_map", Path(value_map_csv)))
        value_map = _read_value_map(files[-1], problems)
    labs_info = None
    if labs_csv is not None:
        labs_info = FileInfo("labs", Path(labs_csv))
        files.append(labs_info)
    catalog_info = FileInfo("measures", Path(measures_csv or DEFAULT_MEASURES))
    if measures_csv is not None:
        files.append(catalog_info)
    catalog = _read_measures(catalog_info, problems)
    if measures_csv is not None:
        # A supplied catalog extends and overrides the shipped one.
        shipped = _read_measures(FileInfo("measures", DEFAULT_MEASURES), Problems())
        catalog = {**shipped, **catalog}

    engine = ensure_schema(database_url)
    lock = ImportLock()  # one import at a time (store/importlock.py)
    with engine.connect() as conn:
        checked_keys = _without_foreign_key_checks(conn)
        transaction = conn.begin()
        steps = _Steps()
        try:
            lock.acquire(conn, access.current_user().label)
            conn.execute(delete(results))
            conn.execute(delete(lab_results))
            conn.execute(delete(patients))
            conn.execute(delete(measures))
            deferred = _defer_indexes(conn)
            if catalog and not problems:  # (a refused catalog could break the insert)
                conn.execute(insert(measures), list(catalog.values()))
            steps.done("previous data cleared")
            builder = counts.CountBuilder()
            keys = _load_patients(conn, files[0], value_map, problems, chunk_rows, builder)
            if problems and not keys:
                # The patients file could not be read at all: checking each result against
                # it would only repeat that problem once per row.
                keys = None
            steps.done("patients read, checked, written")
            result_rows = _load_results(conn, files[1], value_map, catalog, keys, problems,
                                        chunk_rows, builder)
            steps.done("results read, checked, written")
            lab_rows = 0
            if labs_info is not None:
                lab_rows = _load_labs(conn, labs_info, keys, problems, chunk_rows)
                steps.done("labs read, checked, written")
            if problems:
                raise ImportRefused(problems)
            for index in deferred:
                index.create(conn)
            if conn.dialect.name == "postgresql":
                # Statistics of the new rows before the gate's checks are planned: with the
                # previous data's, PostgreSQL chose a plan that took minutes at 2M patients
                # for the uniqueness check (ANALYZE samples; about a second, and allowed
                # inside the transaction).
                conn.exec_driver_sql("ANALYZE patients")
                conn.exec_driver_sql("ANALYZE results")
                conn.exec_driver_sql("ANALYZE lab_results")
            steps.done("indexes and statistics")
            if gate is not None:
                checked = gate(conn)
                for failed in checked.blocking:
                    # The examples are the value (possibly patient_ids): shown to the person
                    # importing, left out of the audit log with every other value.
                    shown = failed.examples()
                    problems.add("data-quality gate", None, failed.column,
                                 str(shown) if shown else None, failed.message(examples=False))
                if problems:
                    raise ImportRefused(problems)
                steps.done("data-quality gate")
            described = [info.describe() for info in files]
            batch_id = conn.execute(
                insert(import_batches).returning(import_batches.c.batch_id),
                {
                    "started_at": started_at,
                    "finished_at": datetime.now(UTC),
                    "source": source,
                    "outcome": "succeeded",
                    "files": json.dumps(described),
                    "patients": len(keys or ()),
                    "results": result_rows,
                    "measures": len(catalog),
                    "message": None,
                },
            ).scalar_one()
            # The count table of the new rows, in this same transaction: readers never see
            # rows without their counts (store/counts.py).
            audit.record("import", {"batch_id": batch_id, "source": source, "files": described,
                                    "patients": len(keys or ()), "results": result_rows,
                                    "labs": lab_rows},
                         conn=conn)
            steps.done("files described")
            builder.write(conn)
            steps.done("count table")
            transaction.commit()
            steps.done("commit")
        except BaseException as error:
            transaction.rollback()
            if isinstance(error, ImportRefused):
                lock.record_refusal({
                    "source": source, "files": [info.name for info in files],
                    "problems": len(error.problems),
                    "first": [problem.describe(with_value=False)
                              for problem in error.problems.items[:5]]},
                    database_url)
            raise
        finally:
            lock.release()
            checked_keys()

    warnings = [
        f"{info.name}: ignored unknown column{'s' if len(info.ignored_columns) > 1 else ''} "
        + ", ".join(info.ignored_columns)
        for info in files if info.ignored_columns
    ]
    return ImportSummary(batch_id, len(keys or ()), result_rows, len(catalog),
                         time.perf_counter() - started, described, warnings, dict(steps),
                         lab_rows)


def _without_foreign_key_checks(conn: Connection) -> Callable[[], None]:
    """On SQLite, turn the foreign-key checks off on the import's connection (before its
    transaction: the pragma does nothing inside one) and give back the function that turns
    them on again. The import's rows cannot break a key: every result's patient and measure
    and every lab result's patient were looked up in the files themselves (a row that names
    an unknown one refuses the import), and the data-quality gate, when given, checks both
    again in SQL. The checks cost a lookup per row deleted and per row written: at 1M
    patients and 6.9M results, clearing the previous data took 11 s with them and 0.8 s
    without, writing the results 41 s and 38-39 s. Not on PostgreSQL, where turning them off
    needs superuser rights."""
    if conn.dialect.name != "sqlite":
        return lambda: None
    driver = conn.connection.driver_connection
    driver.execute("PRAGMA foreign_keys=OFF")

    def checked() -> None:
        # (after the commit or rollback: the connection goes back to the pool as it came)
        driver.execute("PRAGMA foreign_keys=ON")

    return checked


def _defer_indexes(conn: Connection) -> list:
    """On SQLite, drop the results' indexes for the load and give them back to re-create:
    building an index once after the rows are in is about three times faster than keeping it
    up to date row by row (1M rows: 2.3 s against 6.1 s). Readers are not affected: they see
    the previous rows and indexes until the commit. Not on PostgreSQL, where dropping an index
    would lock readers out of the table until the commit."""
    if conn.dialect.name != "sqlite":
        return []
    indexes = sorted(results.indexes, key=lambda index: index.name)
    for index in indexes:
        index.drop(conn)
    return indexes


# --- the files ----------------------------------------------------------------------------

def _read_value_map(info: FileInfo, problems: Problems) -> dict[str, dict[str, str]]:
    mapping: dict[str, dict[str, str]] = {}
    for frame, lines in read_chunks(info, VALUE_MAP_REQUIRED, (), problems):
        for column, local, standard, line in zip(
            frame["column"].str.lower(), frame["local_value"], frame["standard_value"], lines
        ):
            if column not in MAPPABLE:
                problems.add(info.name, int(line), "column", column,
                             "a value map may translate: " + ", ".join(MAPPABLE))
                continue
            if not local:
                problems.add(info.name, int(line), "local_value", local, "must not be empty")
                continue
            known = mapping.setdefault(column, {}).get(local.lower())
            if known is not None and known != standard:
                problems.add(info.name, int(line), "standard_value", standard,
                             f"{local!r} is already mapped to {known!r} in this file")
                continue
            mapping[column][local.lower()] = standard
    return mapping


def _read_measures(info: FileInfo, problems: Problems) -> dict[str, dict]:
    catalog: dict[str, dict] = {}
    booleans = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
    for frame, lines in read_chunks(info, MEASURE_REQUIRED, MEASURE_OPTIONAL, problems):
        for row, line in zip(frame.to_dict("records"), lines):
            line = int(line)
            measure_id = row["measure_id"]
            if not measure_id:
                problems.add(info.name, line, "measure_id", "", "must not be empty")
                continue
            if measure_id in catalog:
                problems.add(info.name, line, "measure_id", measure_id, "duplicate measure_id")
                continue
            if len(measure_id) > MAX_CHARACTERS["measure_id"]:
                problems.add(info.name, line, "measure_id", measure_id,
                             f"longer than the {MAX_CHARACTERS['measure_id']} characters a "
                             "measure_id may have")
            if not row["name"]:
                problems.add(info.name, line, "name", "", "must not be empty")
            kind = row["kind"].lower()
            if kind not in vocabulary.MEASURE_KINDS:
                problems.add(info.name, line, "kind", row["kind"],
                             "one of: " + ", ".join(vocabulary.MEASURE_KINDS))
            elif kind == "rate" and vocabulary.rate_multiplier(row["unit"]) is None:
                problems.add(info.name, line, "unit", row["unit"], vocabulary.RATE_UNIT_RULE)
            higher = booleans.get(row["higher_is_better"].lower())
            if higher is None:
                problems.add(info.name, line, "higher_is_better", row["higher_is_better"],
                             "true or false")
            catalog[measure_id] = {
                "measure_id": measure_id,
                "name": row["name"],
                "kind": kind,
                "higher_is_better": bool(higher),
                "unit": row["unit"] or None,
                "description": row["description"] or None,
            }
    return catalog


def _load_patients(conn: Connection, info: FileInfo, value_map, problems: Problems,
                   chunk_rows: int, builder: counts.CountBuilder) -> dict[str, int]:
    """Check and insert the patients; returns patient_id -> surrogate key."""
    keys: dict[str, int] = {}
    first_line = array("q")  # line of each key (compact: 2M Python ints took 72 MB)
    for frame, lines in read_chunks(info, PATIENT_REQUIRED, PATIENT_OPTIONAL, problems,
                                    chunk_rows):
        frame = _apply_value_map(frame, value_map)
        ids = frame["patient_id"].tolist()
        chunk_keys = np.zeros(len(frame), dtype=np.int64)
        for position, (patient_id, line) in enumerate(zip(ids, lines)):
            if not patient_id:
                problems.add(info.name, int(line), "patient_id", "", "required: must not be empty")
                continue
            known = keys.get(patient_id)
            if known is not None:
                problems.add(info.name, int(line), "patient_id", patient_id,
                             f"duplicate patient_id: first seen on line {first_line[known - 1]:,}")
                continue
            keys[patient_id] = chunk_keys[position] = len(keys) + 1
            first_line.append(int(line))

        for column in ("patient_id", "preferred_language"):
            _too_long(frame[column], info.name, column, lines, problems)
        birth_year = _integers(frame["birth_year"], info.name, "birth_year", lines, problems,
                               BIRTH_YEAR_RANGE, "a whole-number year from 1850 to 2100")
        adi = _integers(frame["adi_decile"], info.name, "adi_decile", lines, problems,
                        (1, 10), "a whole number from 1 to 10")
        labels = {
            column: _controlled(frame[column], info.name, column, lines, problems)
            for column in ("sex", "race", "ethnicity", "interpreter_needed", "payer")
        }
        if problems:
            continue  # keep checking the rest of the file, but write nothing more
        language = frame["preferred_language"].where(frame["preferred_language"] != "", None)
        rows = pd.DataFrame({
            "patient_key": chunk_keys,
            "patient_id": frame["patient_id"],
            "birth_year": birth_year,
            "sex": labels["sex"],
            "race": labels["race"],
            "ethnicity": labels["ethnicity"],
            "preferred_language": language,
            "interpreter_needed": labels["interpreter_needed"],
            "payer": labels["payer"],
            "adi_decile": adi,
        })
        insert_frame(conn, patients, rows)
        builder.add_patients(chunk_keys, rows)
    return keys


def _load_results(conn: Connection, info: FileInfo, value_map, catalog: dict[str, dict],
                  keys: dict[str, int] | None, problems: Problems, chunk_rows: int,
                  builder: counts.CountBuilder) -> int:
    written = 0
    mean_measures = {m for m, row in catalog.items() if row["kind"] == "mean"}
    rate_measures = {m for m, row in catalog.items() if row["kind"] == "rate"}
    # Keys are 1..N in the order the patients were read: a hash index of the ids, built
    # once, gives each result's key (Series.map(dict) would rebuild it for every chunk).
    known_ids = None if keys is None else pd.Index(list(keys), dtype=object)
    for frame, lines in read_chunks(info, RESULT_REQUIRED, RESULT_OPTIONAL, problems,
                                    chunk_rows):
        frame = _apply_value_map(frame, value_map)

        empty = (frame["patient_id"] == "").to_numpy()
        if keys is None:
            patient_key = None
            unmatched = np.zeros(len(frame), dtype=bool)
        else:
            patient_key = known_ids.get_indexer(frame["patient_id"].to_numpy(dtype=object)) + 1
            unmatched = patient_key == 0
        _report_each(frame["patient_id"], empty, info.name, "patient_id", lines, problems,
                     "required: must not be empty")
        _report_each(frame["patient_id"], unmatched & ~empty, info.name, "patient_id", lines,
                     problems, "no patient with this patient_id in the patients file")

        measure_id = frame["measure_id"]
        unknown = ~measure_id.isin(catalog.keys()).to_numpy()
        _report_grouped(measure_id, unknown, info.name, "measure_id", lines, problems,
                        "not in the measure catalog (add it with --measures)")

        bad_period = ~frame["period"].str.fullmatch(_PERIOD).to_numpy(dtype=bool)
        _report_each(frame["period"], bad_period, info.name, "period", lines, problems,
                     "a month as YYYY-MM (e.g. 2025-03)")

        no_site = (frame["site"] == "").to_numpy()
        _report_each(frame["site"], no_site, info.name, "site", lines, problems,
                     "required: must not be empty")
        _too_long(frame["site"], info.name, "site", lines, problems)

        is_mean = measure_id.isin(mean_measures).to_numpy()
        is_rate = measure_id.isin(rate_measures).to_numpy()
        numerator = frame["numerator"].where(~(is_mean & (frame["numerator"] == "")), "0")
        events_rule = f"a whole number of events from 0 to {MAX_EVENTS:,} (rate measure)"
        # Checked only where a rate measure is: an extract without one pays nothing.
        events = (_integers(numerator.where(is_rate, ""), info.name, "numerator", lines,
                            problems, (0, MAX_EVENTS), events_rule) if is_rate.any()
                  else pd.Series(pd.NA, index=frame.index, dtype="Int64"))
        bad_events = is_rate & events.isna().to_numpy()
        _report_each(numerator, bad_events & (numerator == "").to_numpy(), info.name,
                     "numerator", lines, problems, "required: " + events_rule)
        bad_num = np.where(is_rate, bad_events, ~numerator.isin(("0", "1")).to_numpy())
        _report_each(numerator, bad_num & ~is_rate, info.name, "numerator", lines, problems,
                     "0 or 1")
        bad_den = ~frame["denominator"].isin(("0", "1")).to_numpy()
        _report_each(frame["denominator"], bad_den, info.name, "denominator", lines, problems,
                     "0 or 1 (0 = excluded case)")
        num = np.where(bad_num, 0, np.where(is_rate, events.fillna(0).to_numpy(dtype=np.int64),
                                            numerator.to_numpy() == "1")).astype(np.int16)
        den = np.where(bad_den, 0, frame["denominator"].to_numpy() == "1").astype(np.int8)
        # Any kind: an excluded case counts no event (a rate's case may count several).
        over = ~bad_num & ~bad_den & (num > 0) & (den == 0)
        _report_each(frame["numerator"], over & ~is_rate, info.name, "numerator", lines,
                     problems, "numerator cannot be 1 when denominator is 0")
        _report_each(frame["numerator"], over & is_rate, info.name, "numerator", lines,
                     problems, "must be 0 when denominator is 0 (an excluded case has no "
                     "counted events)")
        exposure = _exposure(frame["exposure"], is_rate, ~is_rate & ~unknown,
                             is_rate & (den == 1), info.name, lines, problems)

        raw_value = frame["value"]
        has_value = (raw_value != "").to_numpy()
        well_formed = has_value & raw_value.str.fullmatch(_NUMBER).to_numpy(dtype=bool)
        value = pd.to_numeric(raw_value.where(well_formed, None), errors="coerce")
        # 1e999 is well formed but overflows to infinity, and 1e200's square does (the count
        # table keeps the sum of squares for the standard deviation): no sum or mean could
        # use them. No clinical value comes near the bound.
        numbers = value.to_numpy(dtype=float, na_value=np.nan)
        finite = np.isnan(numbers) | (np.abs(numbers) <= LARGEST_VALUE)
        bad_value = has_value & ~well_formed
        _report_each(raw_value, bad_value, info.name, "value", lines, problems,
                     "a number (e.g. 132 or 7.4), or empty")
        _report_each(raw_value, well_formed & ~finite, info.name, "value", lines, problems,
                     f"a number too large to be counted (at most {LARGEST_VALUE:.0e} either "
                     "way: larger overflows to infinity in the sums of squares)")
        needs_value = is_mean & (den == 1) & ~has_value
        _report_each(raw_value, needs_value, info.name, "value", lines, problems,
                     "required for a mean-type measure when denominator is 1")

        if problems:
            continue
        rows = pd.DataFrame({
            "patient_key": patient_key.astype(np.int64),
            "measure_id": measure_id,
            "period": frame["period"],
            "site": frame["site"],
            "numerator": num,
            "denominator": den,
            "value": value,
            "exposure": exposure,
        })
        insert_frame(conn, results, rows)
        builder.add_results(rows["patient_key"].to_numpy(), measure_id, frame["period"],
                            frame["site"], num, den, value, exposure)
        written += len(rows)
    return written


def _load_labs(conn: Connection, info: FileInfo, keys: dict[str, int] | None,
               problems: Problems, chunk_rows: int) -> int:
    """Check the creatinine results and store each with its eGFR by both equations."""
    from metrics import egfr

    written = 0
    known_ids = None if keys is None else pd.Index(list(keys), dtype=object)
    people = _lab_patients(conn, len(keys or ()))
    for frame, lines in read_chunks(info, LAB_REQUIRED, (), problems, chunk_rows):
        empty = (frame["patient_id"] == "").to_numpy()
        if known_ids is None:
            patient_key = np.zeros(len(frame), dtype=np.int64)
        else:
            patient_key = known_ids.get_indexer(frame["patient_id"].to_numpy(dtype=object)) + 1
            _report_each(frame["patient_id"], (patient_key == 0) & ~empty, info.name,
                         "patient_id", lines, problems,
                         "no patient with this patient_id in the patients file")
        _report_each(frame["patient_id"], empty, info.name, "patient_id", lines, problems,
                     "required: must not be empty")

        raw_date = frame["date"]
        dates = pd.to_datetime(raw_date.where(raw_date.str.fullmatch(_DATE), None),
                               format="%Y-%m-%d", errors="coerce")
        bad_date = dates.isna().to_numpy()
        _report_each(raw_date, bad_date, info.name, "date", lines, problems,
                     "a date as YYYY-MM-DD (e.g. 2025-03-14)")

        test = frame["test"].str.lower()
        known_test = test.isin(LAB_TESTS.keys()).to_numpy()
        _report_grouped(frame["test"], ~known_test, info.name, "test", lines, problems,
                        "one of: creatinine, 2160-0 (LOINC, creatinine in mg/dL), 14682-9 "
                        "(LOINC, creatinine in µmol/L)")
        unit = frame["unit"].str.lower().map(LAB_UNITS)
        known_unit = unit.notna().to_numpy()
        _report_grouped(frame["unit"], ~known_unit, info.name, "unit", lines, problems,
                        "one of: mg/dL, µmol/L (also written μmol/L or umol/L)")
        expected = test.map(LAB_TESTS)
        mismatch = (known_unit & expected.notna() & (expected != unit)).to_numpy(dtype=bool)
        _report_each(frame["unit"], mismatch, info.name, "unit", lines, problems,
                     "LOINC 2160-0 is creatinine in mg/dL and 14682-9 in µmol/L: the test "
                     "code and the unit disagree")

        raw_value = frame["value"]
        well_formed = raw_value.str.fullmatch(_NUMBER).to_numpy(dtype=bool)
        value = pd.to_numeric(raw_value.where(well_formed, None), errors="coerce") \
            .to_numpy(dtype=float, na_value=np.nan)
        _report_each(raw_value, ~well_formed, info.name, "value", lines, problems,
                     "a number (e.g. 0.9 or 80)")
        positive = well_formed & (value > 0)
        _report_each(raw_value, well_formed & ~positive, info.name, "value", lines, problems,
                     "a creatinine result must be greater than 0")
        creatinine = egfr.creatinine_mg_dl(np.where(positive & known_unit, value, np.nan),
                                           unit.where(unit.notna(), "mg/dL"))
        low, high = CREATININE_RANGE_MG_DL
        implausible = positive & known_unit & ~((creatinine >= low) & (creatinine <= high))
        _report_each(raw_value, implausible, info.name, "value", lines, problems,
                     f"outside the serum creatinine a laboratory reports ({low} to {high:g} "
                     f"mg/dL, {low * egfr.MICROMOL_PER_MG_DL:.1f} to "
                     f"{high * egfr.MICROMOL_PER_MG_DL:,.0f} µmol/L): most likely the other "
                     "unit or a typing error")

        matched = patient_key > 0
        year = dates.dt.year.to_numpy(dtype=float, na_value=np.nan)
        age = year - people["birth_year"][patient_key]
        before_birth = matched & ~bad_date & (age < 0)
        _report_each(raw_date, before_birth, info.name, "date", lines, problems,
                     "before the patient's birth year in the patients file")
        if problems:
            continue
        female = pd.Series(people["female"][patient_key]).map({1.0: True, 0.0: False})
        black = people["black"][patient_key]
        e2009 = egfr.ckd_epi_2009(creatinine, age, female, black)
        e2021 = egfr.ckd_epi_2021(creatinine, age, female)
        rows = pd.DataFrame({
            "lab_key": np.arange(written + 1, written + len(frame) + 1),
            "patient_key": patient_key,
            "test_date": raw_date,
            "test": "creatinine",
            "value": value,
            "unit": unit,
            "creatinine_mg_dl": creatinine,
            "age": pd.array(age, dtype="Float64").astype("Int64"),
            "egfr_2009": e2009,
            "egfr_2021": e2021,
            "stage_2009": egfr.ckd_stage(e2009),
            "stage_2021": egfr.ckd_stage(e2021),
        })
        insert_frame(conn, lab_results, rows)
        written += len(rows)
    return written


def _lab_patients(conn: Connection, count: int) -> dict[str, np.ndarray]:
    """Birth year, female (1/0, NaN when neither) and Black of each patient key, read back
    from the rows this import wrote; position 0 stands for an unmatched patient_id."""
    from metrics.egfr import BLACK

    birth_year = np.full(count + 1, np.nan)
    female = np.full(count + 1, np.nan)
    black = np.zeros(count + 1, dtype=bool)
    rows = conn.execute(select(patients.c.patient_key, patients.c.birth_year, patients.c.sex,
                               patients.c.race))
    for batch in iter(lambda: rows.fetchmany(100_000), []):
        key, year, sex, race = (np.asarray(column, dtype=object) for column in zip(*batch))
        key = key.astype(np.int64)
        birth_year[key] = pd.to_numeric(pd.Series(year), errors="coerce").to_numpy(float)
        female[key] = pd.Series(sex).map({"Female": 1.0, "Male": 0.0}).to_numpy(float)
        black[key] = race == BLACK
    return {"birth_year": birth_year, "female": female, "black": black}


def _exposure(raw: pd.Series, is_rate: np.ndarray, other_kind: np.ndarray, needed: np.ndarray,
              file: str, lines, problems) -> pd.Series:
    """The exposure of each case: a number > 0 for a rate measure (required when the case is
    counted), empty for every other kind (`other_kind`: rows of known measures that are not
    rates)."""
    given = (raw != "").to_numpy()
    well_formed = given.copy()
    if given.any():  # most extracts have no rate measure: no pattern matching for them
        well_formed[given] = raw[given].str.fullmatch(_NUMBER).to_numpy(dtype=bool)
    exposure = pd.to_numeric(raw.where(well_formed & is_rate, None), errors="coerce")
    numbers = exposure.to_numpy(dtype=float, na_value=np.nan)
    positive = np.isfinite(numbers) & (numbers > 0)
    _report_each(raw, given & other_kind, file, "exposure", lines, problems,
                 "only for rate measures (kind rate): leave it empty for this measure")
    _report_each(raw, is_rate & given & ~positive, file, "exposure", lines, problems,
                 "a number greater than 0 (the patient-days or admissions of the case, "
                 "e.g. 4 or 2.5)")
    _report_each(raw, needed & ~given, file, "exposure", lines, problems,
                 "required for a rate measure when denominator is 1 (the patient-days or "
                 "admissions of the case)")
    return exposure.where(pd.Series(positive, index=exposure.index))


# --- checks shared by the files ---------------------------------------------------------

def _apply_value_map(frame: pd.DataFrame, value_map: dict[str, dict[str, str]]) -> pd.DataFrame:
    for column, mapping in value_map.items():
        if column in frame:
            lowered = frame[column].str.lower()
            mapped = lowered.map(mapping)
            frame[column] = mapped.where(mapped.notna(), frame[column])
    return frame


def _controlled(values: pd.Series, file: str, column: str, lines, problems) -> pd.Series:
    """Canonical labels for a controlled column; empty stays missing (NULL)."""
    accepted = vocabulary.ACCEPTED[column]
    labels = values.str.lower().map(accepted)
    outside = (labels.isna() & (values != "")).to_numpy()
    _report_grouped(values, outside, file, column, lines, problems,
                    "not in the vocabulary: " + vocabulary.RULES[column])
    return labels.astype(object).where(labels.notna(), None)


def _integers(values: pd.Series, file: str, column: str, lines, problems,
              bounds: tuple[int, int], rule: str) -> pd.Series:
    present = (values != "").to_numpy()
    well_formed = values.str.fullmatch(_INTEGER).to_numpy(dtype=bool)
    numbers = pd.to_numeric(values.where(present & well_formed, None), errors="coerce")
    in_range = numbers.between(*bounds).fillna(False).to_numpy(dtype=bool)
    bad = present & ~(well_formed & in_range)
    _report_each(values, bad, file, column, lines, problems, rule)
    return numbers.astype("Int64")


def _too_long(values: pd.Series, file: str, column: str, lines, problems) -> None:
    limit = MAX_CHARACTERS[column]
    too_long = (values.str.len() > limit).to_numpy(dtype=bool)
    _report_each(values, too_long, file, column, lines, problems,
                 f"longer than the {limit} characters a {column} may have")


def _report_each(values: pd.Series, bad: np.ndarray, file, column, lines, problems, rule):
    positions = np.flatnonzero(bad)
    for done, position in enumerate(positions):
        if problems.full:
            problems.add_count(len(positions) - done)
            return
        problems.add(file, int(lines[position]), column, values.iat[position], rule)


def _report_grouped(values: pd.Series, bad: np.ndarray, file, column, lines, problems, rule):
    """One problem per distinct value, with its row count and first line."""
    if not bad.any():
        return
    offending = pd.DataFrame({"value": values.to_numpy()[bad], "line": lines[bad]})
    grouped = offending.groupby("value", sort=False)["line"].agg(["min", "size"])
    for value, (line, count) in grouped.iterrows():
        problems.add_grouped(file, int(line), column, value, rule, int(count))
