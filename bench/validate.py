"""Benchmark: the data-quality checks on the sample data, in SQLite and PostgreSQL.

    python -m bench.validate [--patients 20000 200000] [--postgres URL | --no-postgres]

For each size: the extract is generated once into bench/.cache (git-ignored) and imported
into a fresh SQLite file and, when the server answers, a fresh PostgreSQL schema (dropped
afterwards). Then it times the Great Expectations run of every check (GE's import, seconds,
is timed apart), the same checks as plain SQL, the import gate (critical checks only), and
completeness by site, period and payer. Nothing is stored in the history.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import date

from sqlalchemy import create_engine, text

from bench.import_extract import extract
from data_quality import completeness_by, gate, run_checks
from data_quality.runner import _import_gx
from sample_data.ground_truth import END_PERIOD, month_index
from store import import_extract
from store.engine import dispose_engine, get_engine

DEFAULT_POSTGRES = os.environ.get("EQUITY_TEST_POSTGRES_URL",
                                  "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_AFTER_END = month_index(END_PERIOD) + 1
TODAY = date(_AFTER_END // 12, _AFTER_END % 12 + 1, 15)  # the sample's data are fresh


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def measure(url: str, files: dict) -> list[tuple[str, float, str]]:
    rows = []
    seconds, summary = timed(import_extract, files["patients"], files["results"],
                             value_map_csv=files["value_map"], database_url=url)
    rows.append(("import (for reference)", seconds, f"{summary.results:,} results"))
    seconds, report = timed(run_checks, url, today=TODAY, store=False, engine="gx")
    rows.append(("all checks, Great Expectations", seconds,
                 f"{len(report.results)} checks, {len(report.failed)} failed"))
    seconds, report = timed(run_checks, url, today=TODAY, store=False, engine="sql")
    rows.append(("all checks, plain SQL", seconds,
                 f"{len(report.results)} checks, {len(report.failed)} failed"))
    with get_engine(url).connect() as conn:
        seconds, report = timed(gate, conn, today=TODAY)
    rows.append(("import gate (critical, SQL)", seconds,
                 f"{len(report.results)} checks, blocks: {report.blocks_import}"))
    for by in ("site", "period", "payer"):
        seconds, frame = timed(completeness_by, by, url)
        rows.append((f"completeness by {by}", seconds, f"{len(frame)} rows"))
    dispose_engine(url)
    return rows


def postgres_schema(url: str):
    """A fresh schema on the server (or None when it does not answer) and its drop."""
    try:
        admin = create_engine(url, connect_args={"connect_timeout": 3})
        schema = f"equity_bench_{uuid.uuid4().hex[:10]}"
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:
        print(f"PostgreSQL at {url} skipped: {str(error).splitlines()[0]}")
        return None, None
    separator = "&" if "?" in url else "?"

    def drop():
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{url}{separator}options=-csearch_path%3D{schema}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, metavar="URL",
                        help="server for a fresh, temporary schema (default: the test server)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    seconds, _ = timed(_import_gx)
    print(f"import great_expectations: {seconds:.2f} s (once per process, not in the rows)")
    print(f"{'patients':>10} {'target':<11} {'step':<32} {'seconds':>8}  note")
    for patients in args.patients:
        files = extract(patients)
        targets = []
        with tempfile.TemporaryDirectory() as folder:
            targets.append(("sqlite", f"sqlite:///{folder}/equity.db", None))
            if not args.no_postgres:
                url, drop = postgres_schema(args.postgres)
                if url:
                    targets.append(("postgresql", url, drop))
            for target, url, drop in targets:
                try:
                    for step, taken, note in measure(url, files):
                        print(f"{patients:>10,} {target:<11} {step:<32} {taken:>8.2f}  {note}",
                              flush=True)
                finally:
                    if drop:
                        drop()


if __name__ == "__main__":
    main()
