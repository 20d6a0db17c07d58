"""Data quality: expectation suites run in the database, completeness by group, run history.

Importing this package is cheap: Great Expectations (seconds to import) is imported only
inside `run_checks` when it runs with the `gx` engine. Importing it also registers the history
tables on `store.schema.metadata`, so `store.ensure_schema` creates them.

    run_checks(database_url)            every check with Great Expectations; stored in history
    gate(connection)                    the critical checks as SQL inside an open transaction
    completeness_by("site"|"period"|"payer")   counts of missing/unknown/asked per group,
                                        small cells suppressed (completeness_counts: raw)
    validation_history(), latest_run(), compare_with_previous()
"""
from data_quality.advice import SCORED_FIELDS, next_steps, scorecard
from data_quality.completeness import (
    BY,
    FIELDS,
    completeness_by,
    completeness_by_site_and_month,
    completeness_counts,
    site_month_counts,
)
from data_quality.runner import CheckResult, ValidationReport, gate, run_checks
from data_quality.schema import (
    compare_with_previous,
    ensure_tables,
    latest_run,
    validation_history,
    validation_results,
    validation_runs,
)
from data_quality.suites import (
    CHECK_NAMES,
    CHECKS,
    DEFAULT_CRITICAL,
    THRESHOLDS,
    build_checks,
    load_config,
)

__all__ = [
    "BY", "CHECKS", "CHECK_NAMES", "CheckResult", "DEFAULT_CRITICAL", "FIELDS", "THRESHOLDS",
    "completeness_by_site_and_month", "next_steps", "scorecard", "SCORED_FIELDS",
    "ValidationReport", "build_checks", "compare_with_previous", "completeness_by",
    "completeness_counts", "site_month_counts",
    "ensure_tables", "gate", "latest_run", "load_config", "run_checks", "validation_history",
    "validation_results", "validation_runs",
]
