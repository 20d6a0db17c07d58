"""The command line over the same functions the dashboard uses.

    python manage.py init                      create the schema (idempotent)
    python manage.py import PATIENTS.csv RESULTS.csv [--measures M.csv] [--value-map MAP.csv]
                                                    [--labs LABS.csv] [--config CHECKS.json]
    python manage.py sample [--patients N] [--seed S]
    python manage.py status
    python manage.py metrics --measure ID --by COLUMN [--by COLUMN2]
        [--where COLUMN=VALUE ...] [--from YYYY-MM] [--to YYYY-MM]
        [--reference largest|best|overall|GROUP] [--format csv|json]
    python manage.py snapshot --measure ID --by COLUMN [--where COLUMN=VALUE ...]
        [--from YYYY-MM] [--to YYYY-MM] --format pptx|pdf|png|svg|csv|xlsx --out PATH
    python manage.py pack NAME|PACK.json [--format pptx|pdf] --out PATH
    python manage.py progress [--format json]
    python manage.py algorithms [--format csv|json]
    python manage.py validate [--format json] [--config CHECKS.json]
    python manage.py completeness --by site|period|payer [--format csv|json]

Exit codes: 0 success, 1 a failure of the system (e.g. the database cannot be reached),
2 refused input (nothing changed).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sample_data.load import DEFAULT_PATIENTS, DEFAULT_SEED

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def _init(args) -> int:
    import data_quality
    import snapshots
    import tracker
    from store import describe, ensure_schema

    ensure_schema(args.database_url)
    data_quality.ensure_tables(args.database_url)
    snapshots.ensure_tables(args.database_url)
    tracker.ensure_tables(args.database_url)
    print(f"Schema ready in {describe(args.database_url)}")
    return EXIT_OK


def _import(args) -> int:
    from store import import_extract

    for path in (args.patients, args.results, args.measures, args.value_map, args.labs):
        if path is not None and not Path(path).is_file():
            print(f"Import refused: {path}: no such file; the database was not changed.",
                  file=sys.stderr)
            return EXIT_REFUSED
    summary = import_extract(args.patients, args.results, measures_csv=args.measures,
                             value_map_csv=args.value_map, database_url=args.database_url,
                             gate=_gate(args), labs_csv=args.labs)
    _print_summary(summary)
    _check_after_import(args, summary)
    return EXIT_OK


def _checks_config(args) -> dict:
    import data_quality

    return data_quality.load_config(args.config) if getattr(args, "config", None) else {}


def _gate(args):
    """The import gate with the configured critical checks and thresholds."""
    import functools

    import data_quality

    return functools.partial(data_quality.gate, **_checks_config(args))


def _sample(args) -> int:
    from sample_data.load import load_sample

    summary = load_sample(args.database_url, patients=args.patients, seed=args.seed,
                          end_period=args.end, gate=_gate(args))
    _print_summary(summary)
    _check_after_import(args, summary)
    return EXIT_OK


def _check_after_import(args, summary) -> None:
    """Run every check on the committed batch and store the results with it (warnings only:
    what blocks an import was checked inside its transaction)."""
    import data_quality

    report = data_quality.run_checks(args.database_url, batch_id=summary.batch_id,
                                     **_checks_config(args))
    failed = report.failed
    print(f"Data quality: {len(report.results)} checks, {len(failed)} not met"
          + (" (warnings; see `python manage.py validate`)" if failed else "") + ".")
    for result in failed:
        print(f"  - {result.message()}")


def _validate(args) -> int:
    import data_quality

    report = data_quality.run_checks(args.database_url, **_checks_config(args))
    if args.format == "json":
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        for result in report.results:
            print(("ok    " if result.success else "FAIL  ") + result.message())
        print(f"{'All checks met' if report.success else 'Some checks not met'} "
              f"({len(report.results) - len(report.failed)} of {len(report.results)}).")
    return report.exit_code


def _completeness(args) -> int:
    import data_quality

    table = data_quality.completeness_by(args.by, args.database_url)
    if args.format == "json":
        print(table.to_json(orient="records", indent=2))
    else:
        sys.stdout.write(table.to_csv(index=False))
    return EXIT_OK


def _where_pairs(conditions: list[str]) -> dict[str, list[str]]:
    """--where COLUMN=VALUE options as a filter mapping; a repeated column allows several."""
    where: dict[str, list[str]] = {}
    for condition in conditions:
        column, sep, value = condition.partition("=")
        if not sep or not column.strip():
            raise ValueError(f"--where takes COLUMN=VALUE, not {condition!r}")
        where.setdefault(column.strip(), []).append(value)
    return where


def _metrics(args) -> int:
    import metrics

    where = _where_pairs(args.where)
    table = metrics.stratify(args.measure, args.by, where=where, period_from=args.period_from,
                             period_to=args.period_to, reference=args.reference,
                             database_url=args.database_url)
    if args.format == "json":
        print(table.to_json(orient="records", indent=2))
    else:
        sys.stdout.write(table.to_csv(index=False))
    return EXIT_OK


def _snapshot(args) -> int:
    import snapshots

    path = snapshots.snapshot(
        args.measure, args.by, where=_where_pairs(args.where), period_from=args.period_from,
        period_to=args.period_to, fmt=args.format, out=args.out, reference=args.reference,
        database_url=args.database_url, actor=args.actor, kind=args.kind, group=args.group)
    print(f"Wrote {path}")
    return EXIT_OK


def _pack(args) -> int:
    import snapshots

    path = snapshots.pack(args.pack, fmt=args.format, out=args.out,
                          database_url=args.database_url, actor=args.actor)
    print(f"Wrote {path}")
    return EXIT_OK


def _progress(args) -> int:
    import tracker

    report = tracker.progress_report(args.database_url)
    print(json.dumps(report, indent=2) if args.format == "json"
          else tracker.progress_text(report))
    return EXIT_OK


def _algorithms(args) -> int:
    import pandas as pd

    import tracker
    from snapshots.tables import neutralise
    from tracker.records import plain

    if args.format == "json":
        listed = [{name: plain(value) for name, value in row.items()}
                  for row in tracker.algorithms(args.database_url)]
        print(json.dumps({"summary": tracker.review_summary(args.database_url),
                          "algorithms": listed}, indent=2))
    elif args.format == "csv":
        headers, rows = tracker.inventory_table(args.database_url)
        # A spreadsheet must not run a typed owner or note as a formula.
        sys.stdout.write(pd.DataFrame(rows, columns=headers).map(neutralise)
                         .to_csv(index=False))
    else:
        print(tracker.leader_line(tracker.review_summary(args.database_url)))
        for row in tracker.algorithms(args.database_url):
            decided = f" — {row['owner']}, {row['decision_date']}" if row["decided"] else ""
            print(f"  [{'x' if row['decided'] else ' '}] {row['tool']}: {row['status']}"
                  f"{decided}")
    return EXIT_OK


def _status(args) -> int:
    from store import status

    print(json.dumps(status(args.database_url), indent=2, default=str))
    return EXIT_OK


def _print_summary(summary) -> None:
    for warning in summary.warnings:
        print(f"Note: {warning}", file=sys.stderr)
    print(f"Imported {summary.patients:,} patients, {summary.results:,} results and "
          f"{summary.measures} measures"
          + (f", {summary.labs:,} creatinine results" if summary.labs else "")
          + f" in {summary.seconds:.1f} s (batch {summary.batch_id}).")
    if summary.steps:
        print("Steps: " + "; ".join(f"{step} {seconds:.1f} s"
                                    for step, seconds in summary.steps.items()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="manage.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL (default: EQUITY_DATABASE_URL or data/equity.db)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("init", help="create the database schema").set_defaults(run=_init)

    load = commands.add_parser("import", help="replace the data with an extract (one transaction)")
    load.add_argument("patients", metavar="PATIENTS.csv")
    load.add_argument("results", metavar="RESULTS.csv")
    load.add_argument("--measures", metavar="MEASURES.csv",
                      help="measure catalog extending the shipped one")
    load.add_argument("--value-map", metavar="MAP.csv",
                      help="column,local_value,standard_value: translate local codes")
    load.add_argument("--labs", metavar="LABS.csv",
                      help="patient_id,date,test,value,unit: creatinine results for the eGFR "
                           "impact analysis (docs/data-contract.md)")
    load.add_argument("--config", metavar="CHECKS.json",
                      help="data-quality thresholds and the critical checks that block an "
                           "import (see docs/data-quality.md)")
    load.set_defaults(run=_import)

    sample = commands.add_parser("sample", help="generate and import a synthetic health system")
    sample.add_argument("--patients", type=_positive, default=DEFAULT_PATIENTS, metavar="N")
    sample.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S")
    sample.add_argument("--end", default=None, metavar="YYYY-MM",
                        help="last month of the 24 generated (default 2026-10)")
    sample.set_defaults(run=_sample)

    commands.add_parser("status", help="row counts and the last import, as JSON").set_defaults(
        run=_status)

    table = commands.add_parser("metrics", help="print the disparity table of a measure")
    _view_arguments(table)
    table.add_argument("--format", choices=("csv", "json"), default="csv")
    table.set_defaults(run=_metrics)

    progress = commands.add_parser("progress", help="progress through the five phases")
    progress.add_argument("--format", choices=("text", "json"), default="text")
    progress.set_defaults(run=_progress)

    inventory = commands.add_parser(
        "algorithms", help="the inventory of race-based clinical algorithms and their review")
    inventory.add_argument("--format", choices=("text", "csv", "json"), default="text")
    inventory.set_defaults(run=_algorithms)

    snap = commands.add_parser(
        "snapshot", help="export one view: chart (png, svg), table (csv, xlsx), one-page pdf "
                         "or pptx deck")
    _view_arguments(snap)
    snap.add_argument("--kind", default="disparity",
                      choices=("disparity", "share", "trend", "control"))
    snap.add_argument("--group", default=None, metavar="GROUP",
                      help="the group of a control chart (--kind control)")
    snap.add_argument("--format", required=True,
                      choices=("pptx", "pdf", "png", "svg", "csv", "xlsx"))
    snap.add_argument("--out", required=True, metavar="PATH", help="a folder or a file path")
    snap.add_argument("--actor", default=None,
                      help="who exports, for the audit log (default: EQUITY_ACTOR or the OS "
                           "user)")
    snap.set_defaults(run=_snapshot)

    pack = commands.add_parser(
        "pack", help="build a saved meeting pack (or a pack JSON file) on the current data")
    pack.add_argument("pack", metavar="NAME|PACK.json")
    pack.add_argument("--format", default="pptx", choices=("pptx", "pdf"))
    pack.add_argument("--out", required=True, metavar="PATH", help="a folder or a file path")
    pack.add_argument("--actor", default=None, help="who exports, for the audit log")
    pack.set_defaults(run=_pack)

    validate = commands.add_parser(
        "validate", help="run the data-quality checks (exit 1 when any is not met)")
    validate.add_argument("--format", choices=("text", "json"), default="text")
    validate.add_argument("--config", metavar="CHECKS.json",
                          help="thresholds and critical checks (see docs/data-quality.md)")
    validate.set_defaults(run=_validate)

    complete = commands.add_parser(
        "completeness", help="missing, unknown and asked-but-no-answer shares by group")
    complete.add_argument("--by", required=True, choices=("site", "period", "payer"))
    complete.add_argument("--format", choices=("csv", "json"), default="csv")
    complete.set_defaults(run=_completeness)
    return parser


def _view_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that say which view: measure, stratifiers, filters, months, reference."""
    parser.add_argument("--measure", required=True, metavar="ID")
    parser.add_argument("--by", required=True, action="append", metavar="COLUMN",
                        help="stratifier; give it twice to cross two")
    parser.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                        help="filter; repeat a column to allow several values")
    parser.add_argument("--from", dest="period_from", metavar="YYYY-MM")
    parser.add_argument("--to", dest="period_to", metavar="YYYY-MM")
    parser.add_argument("--reference", default="largest",
                        metavar="largest|best|overall|GROUP")


def _positive(text: str) -> int:
    number = int(text)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole number")
    return number


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sqlalchemy.exc import SQLAlchemyError

    from store import ImportRefused, describe

    try:
        return args.run(args)
    except ImportRefused as refused:
        print(refused, file=sys.stderr)
        return EXIT_REFUSED
    except ValueError as error:
        print(f"Refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"Database error at {describe(args.database_url)}: {reason}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        if os.environ.get("EQUITY_DEBUG"):
            raise
        print(f"Failed: {type(error).__name__}: {error} (set EQUITY_DEBUG=1 for the details)",
              file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
