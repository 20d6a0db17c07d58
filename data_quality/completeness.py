"""Completeness of the demographic fields by site, by month and by payer, counted in SQL.

For each group, the patients seen in it (each counted once, however many results they have)
are split into missing (empty), Unknown, Asked but no answer, and complete (a known value),
so the team sees where and since when data capture fails. Plain SQLAlchemy Core: one GROUP BY
over distinct (group, patient) pairs; only the counts come back to Python.
"""
from __future__ import annotations

import pandas as pd
from sqlalchemy import String, case, exists, func, literal, select

from metrics import privacy
from store import access
from store.engine import get_engine
from store.schema import patients, results
from store.vocabulary import ASKED_NO_ANSWER, MISSING, PAYERS, UNKNOWN

FIELDS = ("race", "ethnicity", "preferred_language", "interpreter_needed", "sex", "birth_year",
          "payer", "adi_decile")
BY = ("site", "period", "payer")
COLUMNS = ("field", "group", "patients", "missing", "unknown", "asked_but_no_answer",
           "complete_percent")


def completeness_by(by: str, database_url: str | None = None,
                    fields=FIELDS) -> pd.DataFrame:
    """`completeness_counts` as it may be shown: small-cell suppression applied.

    The counts are counts of patients, so each of patients, missing, unknown,
    asked_but_no_answer and the complete patients behind complete_percent follows the one
    rule (`metrics.privacy`): a count from 1 to 10 is empty (NA), a group of 1 to 10 patients
    is empty whole, and complementary cells are emptied so that none can be worked out from
    the row's patients or a field's total over the groups. complete_percent is shown only
    when the complete count is: with the patients shown it would give that count back.
    """
    counts = completeness_counts(by, database_url, fields)
    if counts.empty:
        return counts
    counts["complete"] = (counts["patients"] - counts["missing"] - counts["unknown"]
                          - counts["asked_but_no_answer"])
    shown = privacy.suppress_counts(
        counts, ["missing", "unknown", "asked_but_no_answer", "complete"], within=["field"],
        totals=["patients"])
    shown["complete_percent"] = shown["complete_percent"].where(shown["complete"].notna())
    return shown.drop(columns="complete")


def completeness_counts(by: str, database_url: str | None = None,
                        fields=FIELDS) -> pd.DataFrame:
    """One row per field and group: field, group, patients, missing, unknown,
    asked_but_no_answer, complete_percent. Not suppressed: for computing only; what is shown
    comes from `completeness_by`.

    by      "site" (where the results were measured), "period" (the month of the results) or
            "payer" (the patient's payer; "Missing" when empty)
    A patient counts in a site or month when they have at least one result there (excluded
    cases included: the patient was seen); by payer, every patient with at least one result.
    complete_percent = 100 * (patients - missing - unknown - asked_but_no_answer) / patients,
    rounded to 2 decimals. Unknown and Asked but no answer apply to text fields only.
    """
    access.require("data_quality")
    if by not in BY:
        raise ValueError(f"by must be one of {', '.join(BY)}, not {by!r}")
    unknown_fields = [f for f in fields if f not in patients.c]
    if unknown_fields:
        raise ValueError(f"not a patient field: {', '.join(unknown_fields)}")

    if by == "payer":
        seen = exists().where(results.c.patient_key == patients.c.patient_key)
        pairs = (select(func.coalesce(patients.c.payer, literal(MISSING)).label("grp"),
                        patients.c.patient_key.label("patient_key"))
                 .where(seen).subquery("pairs"))
    else:
        pairs = (select(results.c[by].label("grp"), results.c.patient_key.label("patient_key"))
                 .distinct().subquery("pairs"))

    counts = [func.count().label("patients")]
    for name in fields:
        column = patients.c[name]
        counts.append(func.sum(case((column.is_(None), 1), else_=0)).label(f"{name}__missing"))
        if isinstance(column.type, String):
            counts.append(func.sum(case((column == UNKNOWN, 1), else_=0))
                          .label(f"{name}__unknown"))
            counts.append(func.sum(case((column == ASKED_NO_ANSWER, 1), else_=0))
                          .label(f"{name}__asked"))
    query = (
        select(pairs.c.grp, *counts)
        .select_from(pairs.join(patients, patients.c.patient_key == pairs.c.patient_key))
        .group_by(pairs.c.grp)
    )
    with get_engine(database_url).connect() as conn:
        grouped = conn.execute(query).mappings().all()

    rows = []
    for name in fields:
        for group in grouped:
            seen_patients = int(group["patients"])
            missing = int(group[f"{name}__missing"] or 0)
            unknown = int(group.get(f"{name}__unknown") or 0)
            asked = int(group.get(f"{name}__asked") or 0)
            complete = seen_patients - missing - unknown - asked
            rows.append({
                "field": name, "group": group["grp"], "patients": seen_patients,
                "missing": missing, "unknown": unknown, "asked_but_no_answer": asked,
                "complete_percent": round(100 * complete / seen_patients, 2),
            })
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    if frame.empty:
        return frame
    field_order = {name: i for i, name in enumerate(fields)}
    frame["_field"] = frame["field"].map(field_order)
    frame["_group"] = frame["group"].map(_group_key(by))
    frame = frame.sort_values(["_field", "_group"], kind="stable").drop(columns=["_field",
                                                                                 "_group"])
    for column in ("patients", "missing", "unknown", "asked_but_no_answer"):
        frame[column] = frame[column].astype("int64")
    return frame.reset_index(drop=True)


def _group_key(by: str):
    if by == "payer":
        order = {payer: i for i, payer in enumerate(PAYERS)}
        return lambda group: (2, "") if group == MISSING else (
            (0, f"{order[group]:03d}") if group in order else (1, str(group).lower()))
    return lambda group: (0, str(group))


def completeness_by_site_and_month(field: str, database_url: str | None = None) -> pd.DataFrame:
    """The heat map's cells as they may be shown: `site_month_counts` with the small-cell
    rule of a proportion (`metrics.privacy`) over the crossed table site by month. A
    suppressed cell (column suppressed) has neither patients nor complete_percent: with
    the patients, the percent would give the complete count back."""
    frame = site_month_counts(field, database_url)
    hidden = privacy.suppress(frame.assign(denominator=frame["patients"],
                                           numerator=frame["complete"]), ["site", "period"])
    frame["patients"] = frame["patients"].astype("Int64").mask(hidden)
    frame["complete_percent"] = frame["complete_percent"].mask(hidden)
    frame["suppressed"] = hidden
    return frame.drop(columns="complete")


def site_month_counts(field: str, database_url: str | None = None) -> pd.DataFrame:
    """For one field: site, period, patients seen there that month, complete (a known value:
    not missing, Unknown or Asked but no answer) and complete_percent. Not suppressed: for
    computing only."""
    access.require("data_quality")
    if field not in FIELDS:
        raise ValueError(f"field must be one of {', '.join(FIELDS)}, not {field!r}")
    column = patients.c[field]
    not_known = column.is_(None)
    if isinstance(column.type, String):
        not_known = not_known | column.in_([UNKNOWN, ASKED_NO_ANSWER])
    pairs = (select(results.c.site, results.c.period, results.c.patient_key)
             .distinct().subquery("pairs"))
    query = (
        select(pairs.c.site, pairs.c.period, func.count().label("patients"),
               func.sum(case((not_known, 0), else_=1)).label("complete"))
        .select_from(pairs.join(patients, patients.c.patient_key == pairs.c.patient_key))
        .group_by(pairs.c.site, pairs.c.period)
        .order_by(pairs.c.site, pairs.c.period)
    )
    with get_engine(database_url).connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(),
                             columns=["site", "period", "patients", "complete"])
    frame["patients"] = frame["patients"].astype("int64")
    frame["complete"] = frame["complete"].astype("int64")
    frame["complete_percent"] = (100 * frame["complete"].astype(float)
                                 / frame["patients"]).round(2)
    return frame
