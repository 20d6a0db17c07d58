"""The database schema: one definition, created idempotently on SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

measures = Table(
    "measures",
    metadata,
    Column("measure_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", String(16), nullable=False),  # proportion | mean | rate
    Column("higher_is_better", Boolean, nullable=False),
    Column("unit", Text),
    Column("description", Text),
)

# Demographics are stored as the canonical labels of docs/data-contract.md; NULL means the
# extract left the field empty ("Missing"), which is kept apart from "Unknown" and
# "Asked but no answer" on purpose.
patients = Table(
    "patients",
    metadata,
    # An integer surrogate keeps the results table and its joins small at 10M rows.
    Column("patient_key", Integer, primary_key=True, autoincrement=False),
    Column("patient_id", Text, nullable=False, unique=True),
    Column("birth_year", Integer),
    Column("sex", String(16)),
    Column("race", String(64)),
    Column("ethnicity", String(32)),
    Column("preferred_language", Text),
    Column("interpreter_needed", String(3)),  # Yes | No
    Column("payer", String(16)),
    Column("adi_decile", SmallInteger),
)

results = Table(
    "results",
    metadata,
    Column("patient_key", Integer, ForeignKey("patients.patient_key"), nullable=False),
    Column("measure_id", String(64), ForeignKey("measures.measure_id"), nullable=False),
    Column("period", String(7), nullable=False),  # YYYY-MM sorts and compares as text
    Column("site", Text, nullable=False),
    Column("numerator", SmallInteger, nullable=False),
    Column("denominator", SmallInteger, nullable=False),
    Column("value", Float),
    # Rate measures only: the person-time (patient-days) or admissions the events occurred in.
    Column("exposure", Float),
)
# Columns added after the first release: `store.engine.ensure_schema` adds them to a database
# made before them (create_all only creates missing tables).
ADDED_COLUMNS = (("results", "exposure"), ("result_counts", "exposure"),
                 ("result_margins", "exposure"))
Index("ix_results_measure_period", results.c.measure_id, results.c.period)
Index("ix_results_patient", results.c.patient_key)

# Creatinine results of the optional labs.csv, with what the eGFR impact analysis needs
# computed once at import (metrics/egfr.py), so that its reclassification table is one GROUP
# BY: eGFR is NULL where an equation cannot be applied (sex neither female nor male, age under
# 18 or unknown), which the analysis counts as "not estimable".
lab_results = Table(
    "lab_results",
    metadata,
    Column("lab_key", Integer, primary_key=True, autoincrement=False),  # order in the file
    Column("patient_key", Integer, ForeignKey("patients.patient_key"), nullable=False),
    Column("test_date", String(10), nullable=False),  # YYYY-MM-DD sorts and compares as text
    Column("test", String(16), nullable=False),  # creatinine
    Column("value", Float, nullable=False),  # as reported, in `unit`
    Column("unit", String(8), nullable=False),  # mg/dL | µmol/L
    Column("creatinine_mg_dl", Float, nullable=False),
    Column("age", SmallInteger),  # year of the test minus birth year
    Column("egfr_2009", Float),
    Column("egfr_2021", Float),
    Column("stage_2009", String(3)),
    Column("stage_2021", String(3)),
)
Index("ix_lab_results_patient_date", lab_results.c.patient_key, lab_results.c.test_date)

import_batches = Table(
    "import_batches",
    metadata,
    Column("batch_id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("source", String(16), nullable=False),  # import | sample
    Column("outcome", String(16), nullable=False),  # succeeded | refused
    Column("files", Text, nullable=False),  # JSON: [{"role","name","sha256","bytes","rows"}]
    Column("patients", Integer),
    Column("results", Integer),
    Column("measures", Integer),
    Column("message", Text),
)
