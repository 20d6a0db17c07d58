"""The data-quality checks, declared as data: one list, one place.

Every check is a dict, compiled by `data_quality.runner` either into a Great Expectations 1.x
expectation (run as SQL by GE's SQL data source) or, for the import gate inside an open
transaction, into plain SQLAlchemy Core with the same meaning. Adding a check is adding a dict.

Keys of a check:
  name          stable id: used in `critical`, the history and the command line
  table         the table it runs on (`patients` or `results`): the GE suite `equity.<table>`
  category      structure | integrity | completeness | vocabulary | unknown | plausibility |
                freshness | consistency
  expectation   the GE 1.x expectation type, in snake case (`expect_column_values_to_be_unique`)
  kwargs        its arguments. A string "$key" is replaced by the value of `key` (a threshold of
                THRESHOLDS or a date-dependent value, see `settings`), "1-$key" by one minus
                it; inside SQL text `$key` is replaced textually (only values computed here,
                never user input, are substituted)
  where         optional {column: value}: only rows where every column equals its value count
                (a GE row_condition); a value None means the column is NULL
  per_row       unexpected_rows_expectation only: the query returns rows of the table, so its
                count can also be given as a percent of the table's rows. GE puts the batch in
                place of {batch} as "(SELECT ...) AS subselect", or without an alias when the
                query has a JOIN (then the query names it: "FROM {batch} AS r JOIN ...")
  distinct      column checks without `where` only: the expectation runs on the column's
                distinct values (a query of SELECT DISTINCT), and the rows holding the
                unexpected ones are counted in SQL. The same counts; for a regular
                expression over a column of a few dozen values (the months), a pattern
                matched a few dozen times instead of once per row: SQLite has no regex of its
                own and calls Python's per row (35 s of a 70 s validation at 13.8M results)
  critical      True: blocks an import by default (DEFAULT_CRITICAL)
  description   what it means, in words (shown by `manage.py validate` and the app)

`mostly` (GE): the least share of the rows considered that must meet the expectation. Rows
considered are all rows for `expect_column_values_to_not_be_null`, and the rows with a value
(NULL left out) for the others — so "Unknown share" is a share of the recorded values.
"""
from __future__ import annotations

import copy
import hashlib
import json
from datetime import date
from pathlib import Path

from store.vocabulary import ASKED_NO_ANSWER, ETHNICITIES, PAYERS, RACES, SEXES, UNKNOWN, YES_NO

SUITE = "equity"  # the GE suites are named equity.patients and equity.results

# --- thresholds (change them here, per call with `thresholds=`, or in a JSON file) ----------
THRESHOLDS: dict[str, float] = {
    # completeness: the least share of patients with the field recorded (not empty)
    "complete.race": 0.95,
    "complete.ethnicity": 0.95,
    "complete.preferred_language": 0.95,
    "complete.interpreter_needed": 0.95,
    "complete.sex": 0.99,
    "complete.birth_year": 0.99,
    "complete.payer": 0.99,
    "complete.adi_decile": 0.90,  # optional column; addresses that cannot be geocoded
    # the largest share of recorded values that may be Unknown or Asked but no answer
    "unknown_share.race": 0.10,
    "unknown_share.ethnicity": 0.10,
    "unknown_share.sex": 0.10,
    # values in the data contract's vocabulary (the importer refuses others: 1.0)
    "vocabulary": 1.0,
    # plausibility: birth year not in the future and not more than this many years ago
    "max_age_years": 120,
    # freshness: the latest period with results must be at most this many months old
    "freshness_months": 3,
    # consistency: the least share of patients needing an interpreter whose language is known
    "interpreter_language": 1.0,
}

# --- the checks ---------------------------------------------------------------------------
_PERIOD_REGEX = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_NOT_KNOWN = [UNKNOWN, ASKED_NO_ANSWER]


def _complete(column: str) -> dict:
    return {
        "name": f"{column}_complete", "table": "patients", "category": "completeness",
        "expectation": "expect_column_values_to_not_be_null",
        "kwargs": {"column": column, "mostly": f"$complete.{column}"},
        "description": f"{column} is recorded (not empty) for at least the threshold share "
                       "of patients",
    }


def _in_vocabulary(column: str, values) -> dict:
    return {
        "name": f"{column}_in_vocabulary", "table": "patients", "category": "vocabulary",
        "expectation": "expect_column_values_to_be_in_set",
        "kwargs": {"column": column, "value_set": list(values), "mostly": "$vocabulary"},
        "description": f"every recorded {column} is a canonical label of the data contract",
    }


def _unknown_share(column: str, values) -> dict:
    return {
        "name": f"{column}_unknown_share", "table": "patients", "category": "unknown",
        "expectation": "expect_column_values_to_not_be_in_set",
        "kwargs": {"column": column, "value_set": list(values),
                   "mostly": f"1-$unknown_share.{column}"},
        "description": f"{' + '.join(values)} stay below the threshold share of the recorded "
                       f"{column} values",
    }


CHECKS: list[dict] = [
    # structure
    {"name": "patients_present", "table": "patients", "category": "structure",
     "expectation": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1},
     "critical": True, "description": "the patients table is not empty"},
    {"name": "results_present", "table": "results", "category": "structure",
     "expectation": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1},
     "critical": True, "description": "the results table is not empty"},
    {"name": "period_parseable", "table": "results", "category": "structure",
     "expectation": "expect_column_values_to_match_regex",
     "kwargs": {"column": "period", "regex": _PERIOD_REGEX}, "distinct": True,
     "critical": True, "description": "every period is a month written YYYY-MM"},
    # integrity
    {"name": "patient_id_unique", "table": "patients", "category": "integrity",
     "expectation": "expect_column_values_to_be_unique", "kwargs": {"column": "patient_id"},
     "critical": True, "description": "no patient_id occurs twice"},
    {"name": "result_patient_exists", "table": "results", "category": "integrity",
     "expectation": "unexpected_rows_expectation",
     "kwargs": {"unexpected_rows_query":
                "SELECT r.patient_key, r.measure_id, r.period FROM {batch} AS r "
                "LEFT JOIN patients AS p ON p.patient_key = r.patient_key "
                "WHERE p.patient_key IS NULL"},
     "per_row": True, "critical": True,
     "description": "every result belongs to a patient of the patients table"},
    {"name": "result_measure_exists", "table": "results", "category": "integrity",
     "expectation": "unexpected_rows_expectation",
     "kwargs": {"unexpected_rows_query":
                "SELECT r.patient_key, r.measure_id, r.period FROM {batch} AS r "
                "LEFT JOIN measures AS m ON m.measure_id = r.measure_id "
                "WHERE m.measure_id IS NULL"},
     "per_row": True, "critical": True,
     "description": "every result's measure is in the measure catalog"},
    # A rate measure's case counts its events (any number): its rows carry an exposure.
    {"name": "numerator_0_1", "table": "results", "category": "integrity",
     "expectation": "expect_column_values_to_be_in_set",
     "kwargs": {"column": "numerator", "value_set": [0, 1]}, "where": {"exposure": None},
     "critical": True, "description": "numerator is 0 or 1 (rows without an exposure: every "
                                      "kind but rate)"},
    {"name": "denominator_0_1", "table": "results", "category": "integrity",
     "expectation": "expect_column_values_to_be_in_set",
     "kwargs": {"column": "denominator", "value_set": [0, 1]},
     "critical": True, "description": "denominator is 0 or 1"},
    {"name": "numerator_le_denominator", "table": "results", "category": "integrity",
     "expectation": "expect_column_pair_values_a_to_be_greater_than_b",
     "kwargs": {"column_A": "denominator", "column_B": "numerator", "or_equal": True},
     "where": {"exposure": None},
     "critical": True, "description": "numerator <= denominator (no met case that is excluded; "
                                      "rows without an exposure)"},
    # completeness of the demographic fields
    *(_complete(column) for column in (
        "race", "ethnicity", "preferred_language", "interpreter_needed", "sex", "birth_year",
        "payer", "adi_decile")),
    # vocabularies (preferred_language is free text: no vocabulary to check)
    _in_vocabulary("race", RACES),
    _in_vocabulary("ethnicity", ETHNICITIES),
    _in_vocabulary("sex", SEXES),
    _in_vocabulary("payer", PAYERS),
    _in_vocabulary("interpreter_needed", YES_NO),
    # Unknown + Asked but no answer
    _unknown_share("race", _NOT_KNOWN),
    _unknown_share("ethnicity", _NOT_KNOWN),
    _unknown_share("sex", [UNKNOWN]),
    # plausibility
    {"name": "birth_year_plausible", "table": "patients", "category": "plausibility",
     "expectation": "expect_column_values_to_be_between",
     "kwargs": {"column": "birth_year", "min_value": "$earliest_birth_year",
                "max_value": "$current_year"},
     "description": "birth year is not in the future and not more than max_age_years ago"},
    {"name": "period_not_future", "table": "results", "category": "plausibility",
     "expectation": "unexpected_rows_expectation",
     "kwargs": {"unexpected_rows_query":
                "SELECT patient_key, measure_id, period FROM {batch} "
                "WHERE period > '$current_period'"},
     "per_row": True, "description": "no result is dated after the current month"},
    # freshness
    {"name": "results_fresh", "table": "results", "category": "freshness",
     "expectation": "unexpected_rows_expectation",
     "kwargs": {"unexpected_rows_query":
                "SELECT MAX(period) AS latest_period FROM {batch} "
                "HAVING MAX(period) IS NULL OR MAX(period) < '$freshness_cutoff'"},
     "per_row": False,
     "description": "the latest period with results is at most freshness_months old"},
    # consistency
    {"name": "interpreter_needs_language", "table": "patients", "category": "consistency",
     "expectation": "expect_column_values_to_not_be_null",
     "kwargs": {"column": "preferred_language", "mostly": "$interpreter_language"},
     "where": {"interpreter_needed": "Yes"},
     "description": "a patient who needs an interpreter has a preferred language recorded "
                    "(an interpreter for which language?)"},
    # "No Unknown race beside a specific race" is a check for systems that store several
    # races per patient (one row per race): there, a patient recorded both as Unknown and as,
    # say, Asian contradicts themself. Our contract has one race value per patient (patients
    # with several races are mapped to Multiracial before export), so Unknown cannot stand
    # beside another race and the check reduces to nothing. What remains of it is that a
    # patient has one record: two rows for one patient_id (which could carry Unknown in one
    # and a race in the other) are caught by `patient_id_unique` above.
]

DEFAULT_CRITICAL: frozenset[str] = frozenset(c["name"] for c in CHECKS if c.get("critical"))
CHECK_NAMES: tuple[str, ...] = tuple(c["name"] for c in CHECKS)


# --- resolving thresholds and dates ---------------------------------------------------------
def _period_of(month_index: int) -> str:
    return f"{month_index // 12:04d}-{month_index % 12 + 1:02d}"


def settings(thresholds: dict | None = None, today: date | None = None) -> dict:
    """The thresholds (defaults overridden by `thresholds`) and the date-dependent values."""
    unknown = set(thresholds or {}) - set(THRESHOLDS)
    if unknown:
        raise ValueError(f"unknown threshold(s): {', '.join(sorted(unknown))}; known: "
                         + ", ".join(THRESHOLDS))
    values: dict = {**THRESHOLDS, **(thresholds or {})}
    for key, value in values.items():
        whole = key in ("max_age_years", "freshness_months")
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            raise ValueError(f"threshold {key} must be a {'whole ' if whole else ''}number, "
                             f"not {value!r}")
        if value < 0 or (not whole and value > 1):
            raise ValueError(f"threshold {key} must be "
                             f"{'>= 0' if whole else 'a share from 0 to 1'}, not {value!r}")
    today = today or date.today()
    current = today.year * 12 + today.month - 1
    values.update({
        "current_year": today.year,
        "earliest_birth_year": today.year - int(values["max_age_years"]),
        "current_period": _period_of(current),
        "freshness_cutoff": _period_of(current - int(values["freshness_months"])),
    })
    return values


def _resolve(value, values: dict):
    if isinstance(value, str):
        if value.startswith("1-$") and value[3:] in values:
            return 1 - values[value[3:]]
        if value.startswith("$") and value[1:] in values:
            return values[value[1:]]
        if "$" in value:  # SQL text: substitute every $key (longest keys first)
            for key in sorted(values, key=len, reverse=True):
                value = value.replace(f"${key}", str(values[key]))
        return value
    if isinstance(value, list):
        return [_resolve(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item, values) for key, item in value.items()}
    return value


def build_checks(thresholds: dict | None = None, today: date | None = None,
                 names=None, critical=None) -> list[dict]:
    """The declared checks with every "$key" resolved, in declaration order.

    `names` keeps only those checks; `critical` (names) replaces each check's `critical`
    flag. Unknown names raise ValueError, so that a typo never silently disables a gate.
    """
    names = [names] if isinstance(names, str) else names
    critical = [critical] if isinstance(critical, str) else critical
    for label, chosen in (("check", names), ("critical check", critical)):
        unknown = set(chosen or ()) - set(CHECK_NAMES)
        if unknown:
            raise ValueError(f"unknown {label}(s): {', '.join(sorted(unknown))}; known: "
                             + ", ".join(CHECK_NAMES))
    values = settings(thresholds, today)
    built = []
    for check in CHECKS:
        if names is not None and check["name"] not in set(names):
            continue
        resolved = copy.deepcopy(check)
        resolved["kwargs"] = _resolve(check["kwargs"], values)
        resolved["critical"] = (check["name"] in set(critical) if critical is not None
                                else bool(check.get("critical")))
        resolved.setdefault("where", None)
        resolved.setdefault("per_row", False)
        resolved.setdefault("distinct", False)
        if resolved["distinct"] and resolved["where"]:
            raise ValueError(f"check {check['name']}: distinct takes no where")
        built.append(resolved)
    return built


def fingerprint(thresholds: dict | None = None) -> str:
    """A short hash of the declarations and thresholds: tells whether two runs checked the
    same things (dates excluded, so a run next month has the same fingerprint)."""
    payload = json.dumps({"checks": CHECKS, "thresholds": {**THRESHOLDS, **(thresholds or {})}},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def load_config(path: str | Path) -> dict:
    """Read {"thresholds": {...}, "critical": [...]} from a JSON file (both keys optional),
    checked against the declarations; returns keyword arguments for `run_checks`."""
    config = json.loads(Path(path).read_text(encoding="utf-8"))
    extra = set(config) - {"thresholds", "critical"}
    if extra:
        raise ValueError(f"{path}: unknown key(s) {', '.join(sorted(extra))}; "
                         "expected thresholds, critical")
    out: dict = {}
    if "thresholds" in config:
        settings(config["thresholds"])  # raises on an unknown threshold
        out["thresholds"] = dict(config["thresholds"])
    if "critical" in config:
        build_checks(critical=config["critical"])  # raises on an unknown check
        out["critical"] = frozenset(config["critical"])
    return out
