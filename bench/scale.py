"""Benchmark harness: the project at a large health system's volume, against two baselines.

    python -m bench.scale [--patients 200000 2000000] [--requests 30]
                          [--postgres URL | --no-postgres] [--skip-import]

For each size (200,000 patients ≈ 1M result rows, 2,000,000 ≈ 10M), the extract is generated
once into bench/.cache (git-ignored). Then, in the same run, each in a process of its own so
that its peak memory is its own:

- the project's import as `manage.py import` runs it (read, check, write, index, the critical
  data-quality checks as SQL, count table; one transaction) into SQLite and PostgreSQL:
  seconds and result rows/s;
- validation: every data-quality check with Great Expectations, in that database;
- disparity-table latency: the same seeded 30 mixed requests (one measure, one stratifier or
  two crossed, two filters, a period range) through `metrics.stratify`, median and p95;
- two baselines over the same raw rows: a plain pandas groupby on the rows held in memory,
  and DuckDB's GROUP BY over the raw tables (the project's own raw-row SQL,
  `metrics.aggregate.raw_count_query`, compiled for PostgreSQL's syntax), each followed by
  the same statistics (`metrics.disparity.disparity_table`) so that every path answers with
  the same disparity table. Their "load" is the time to get the raw rows into memory or
  into DuckDB, from the project's SQLite database (cached).

Every request's counts are compared across the four paths; a disagreement stops the run.
Prints one table with the ratios against the targets (project median ≤ DuckDB's; ≥ 10×
faster than pandas). --skip-import reuses the databases of an earlier run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.disparity import percentile
from bench.import_extract import CACHE, extract, rows_in
from bench.validate import DEFAULT_POSTGRES

TARGET_VS_DUCKDB = 1.0   # project median / DuckDB median, at most
TARGET_VS_PANDAS = 10.0  # pandas median / project median, at least


# --- the steps, each run in a process of its own -------------------------------------------

def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_import(url: str, patients: int) -> dict:
    from data_quality import gate
    from store import import_extract

    files = extract(int(patients))
    started = time.perf_counter()
    # As `manage.py import` does: the critical checks run on the new rows inside the
    # import's transaction (SQL); the full Great Expectations run is the validation step.
    summary = import_extract(files["patients"], files["results"],
                             value_map_csv=files["value_map"], database_url=url, gate=gate)
    return {"seconds": time.perf_counter() - started, "results": summary.results,
            "patients": summary.patients, "steps": summary.steps}


def step_validate(url: str, patients: int) -> dict:
    from bench.validate import TODAY
    from data_quality import run_checks
    from data_quality.runner import _import_gx

    _import_gx()  # GE's own start-up (5-7 s) is not the validation's
    started = time.perf_counter()
    report = run_checks(url, today=TODAY, store=False, engine="gx")
    return {"seconds": time.perf_counter() - started, "checks": len(report.results),
            "failed": len(report.failed)}


def answer(table) -> str:
    """A digest of a disparity table's groups and counts, to compare paths by."""
    by = table.attrs["by"]
    rows = table[[*by, "denominator", "numerator"]].astype(str).values.tolist()
    return hashlib.sha1(json.dumps(sorted(rows)).encode()).hexdigest()[:12]


def _timed_requests(run, chosen: list[dict]) -> dict:
    run(chosen[0])  # the first request pays for imports and connections: not counted
    seconds, answers = [], []
    for request in chosen:
        started = time.perf_counter()
        table = run(request)
        seconds.append(time.perf_counter() - started)
        answers.append(answer(table))
    return {"latencies": seconds, "answers": answers}


def step_project(url: str, requests_json: str) -> dict:
    import metrics

    chosen = json.loads(requests_json)
    return _timed_requests(lambda request: metrics.stratify(**request, database_url=url),
                           chosen)


def _statistics(counts, request: dict, names: list[str], measures: dict):
    """The project's own statistics on a baseline's counts (the same disparity table)."""
    from metrics.disparity import disparity_table

    kind, higher = measures[request["measure_id"]]
    table = disparity_table(counts, names, kind, higher, "largest")
    table.attrs["by"] = names
    return table


def _measures(sqlite_url: str) -> dict:
    with sqlite3.connect(_sqlite_path(sqlite_url)) as conn:
        return {row[0]: (row[1], bool(row[2])) for row in
                conn.execute("SELECT measure_id, kind, higher_is_better FROM measures")}


def _sqlite_path(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).database


def _duckdb_file(patients: int) -> Path:
    return CACHE / f"raw-{patients}.duckdb"


def step_duckdb_load(sqlite_url: str, patients: int) -> dict:
    """The raw tables copied from the project's SQLite database into a DuckDB file (same
    canonical labels, so the answers can be compared)."""
    import duckdb
    import pandas as pd
    from sqlalchemy.dialects import postgresql

    from store.schema import metadata

    target = _duckdb_file(patients)
    target.unlink(missing_ok=True)
    started = time.perf_counter()
    source = sqlite3.connect(_sqlite_path(sqlite_url))
    with duckdb.connect(str(target)) as conn:
        for name in ("patients", "results"):
            table = metadata.tables[name]
            # The project's column types (a NULL-holding integer column would otherwise
            # arrive as floats, and its labels as '1.0').
            conn.execute(f"CREATE TABLE {name} (" + ", ".join(
                f"{column.name} {column.type.compile(dialect=postgresql.dialect())}"
                for column in table.columns) + ")")
            query = source.execute(f"SELECT {', '.join(table.columns.keys())} FROM {name}")
            while rows := query.fetchmany(500_000):
                frame = pd.DataFrame(rows, columns=table.columns.keys())  # noqa: F841
                conn.execute(f"INSERT INTO {name} SELECT * FROM frame")
    source.close()
    return {"seconds": time.perf_counter() - started}


def step_duckdb(sqlite_url: str, patients: int, requests_json: str) -> dict:
    import duckdb
    import pandas as pd
    from sqlalchemy.dialects import postgresql

    from metrics.aggregate import COUNT_COLUMNS, raw_count_query

    chosen = json.loads(requests_json)
    measures = _measures(sqlite_url)
    conn = duckdb.connect(str(_duckdb_file(patients)), read_only=True)

    def run(request: dict):
        query, names = raw_count_query(request["measure_id"], request["by"],
                                       request["where"], request["period_from"],
                                       request["period_to"])
        sql = str(query.compile(dialect=postgresql.dialect(),
                                compile_kwargs={"literal_binds": True}))
        counts = pd.DataFrame(conn.execute(sql).fetchall(), columns=[*names, *COUNT_COLUMNS])
        return _statistics(counts, request, names, measures)

    return _timed_requests(run, chosen)


def step_pandas(sqlite_url: str, patients: int, requests_json: str) -> dict:
    """The raw rows in memory, labelled once (as an analyst's notebook would), then a filter
    and a groupby per request."""
    import duckdb
    import numpy as np

    from metrics.aggregate import COUNT_COLUMNS
    from store import labels

    chosen = json.loads(requests_json)
    measures = _measures(sqlite_url)
    started = time.perf_counter()
    with duckdb.connect(str(_duckdb_file(patients)), read_only=True) as conn:
        rows = conn.execute("SELECT r.measure_id, r.period, r.site, r.numerator, r.value, "
                            "r.exposure, p.* FROM results r JOIN patients p USING (patient_key) "
                            "WHERE r.denominator = 1").df()
    frame = labels.patient_labels({name: rows[name] for name in labels.PATIENT_LABELLED})
    year = rows["period"].str.slice(0, 4).astype(float).to_numpy()
    ages = labels.age_group_codes(year, rows["birth_year"].astype(float).to_numpy())
    frame["age_group"] = np.array(labels.AGE_LABELS, dtype=object)[ages]
    for name in ("measure_id", "period", "site", "numerator", "value", "exposure"):
        frame[name] = rows[name]
    frame["denominator"] = 1
    frame["value_squared"] = frame["value"] * frame["value"]
    del rows
    loaded = time.perf_counter() - started

    def run(request: dict):
        wanted = frame["measure_id"] == request["measure_id"]
        wanted &= frame["period"].between(request["period_from"], request["period_to"])
        for name, values in request["where"].items():
            wanted &= frame[name].isin(values)
        names = request["by"]
        counts = (frame[wanted].groupby(names, observed=True)
                  [["denominator", "numerator", "value", "value_squared", "exposure"]]
                  .sum(min_count=0).reset_index())
        counts.columns = [*names, *COUNT_COLUMNS]
        return _statistics(counts, request, names, measures)

    result = _timed_requests(run, chosen)
    result["load_seconds"] = loaded
    return result


STEPS = {"import": step_import, "validate": step_validate, "project": step_project,
         "duckdb-load": step_duckdb_load, "duckdb": step_duckdb, "pandas": step_pandas}


def in_process_of_its_own(step: str, *args) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.scale", "--step", step,
                           *map(str, args)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode != 0:
        sys.exit(f"bench step {step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the table ------------------------------------------------------------------------------

def postgres_url(base: str, patients: int) -> str | None:
    """A schema of its own on the server for this size (kept between runs), or None."""
    from sqlalchemy import create_engine, text

    schema = f"equity_scale_{patients}"
    try:
        admin = create_engine(base, connect_args={"connect_timeout": 3})
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        admin.dispose()
    except Exception as error:  # noqa: BLE001 (reported, and the run goes on without it)
        print(f"PostgreSQL at {base} skipped: {str(error).splitlines()[0]}")
        return None
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {memory:.0f} GB RAM, {platform.platform()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def run(args) -> None:
    from bench.disparity import requests

    print(f"Machine: {machine()}", flush=True)
    lines = ["| result rows | path | import / load s | rows/s | validation s | median ms "
             "| p95 ms | peak MB (import / validation / requests) |",
             "|---:|---|---:|---:|---:|---:|---:|---|"]
    verdicts = []
    for patients in args.patients:
        files = extract(patients)
        rows = rows_in(files["results"])
        targets = [("project, SQLite", f"sqlite:///{CACHE / f'scale-{patients}.db'}")]
        if not args.no_postgres:
            url = postgres_url(args.postgres, patients)
            if url:
                targets.append(("project, PostgreSQL", url))
        sqlite_url = targets[0][1]
        chosen = None
        figures = {}
        for name, url in targets:
            imported = None if args.skip_import else in_process_of_its_own(
                "import", url, patients)
            if imported:
                print(f"{rows:,} rows {name}: imported in {imported['seconds']:.1f} s "
                      + ", ".join(f"{k} {v:.1f}" for k, v in imported["steps"].items()),
                      flush=True)
            if chosen is None:
                from store.engine import dispose_engine

                chosen = json.dumps(requests(url, args.requests))
                dispose_engine(url)
            validated = in_process_of_its_own("validate", url, patients)
            served = in_process_of_its_own("project", url, chosen)
            figures[name] = (imported, validated, served)
            print(f"{rows:,} rows {name}: validated in {validated['seconds']:.1f} s; "
                  f"median {statistics.median(served['latencies']) * 1000:.0f} ms", flush=True)
        if args.skip_import and _duckdb_file(patients).exists():
            loaded = {"seconds": float("nan"), "peak_mb": float("nan")}
        else:
            loaded = in_process_of_its_own("duckdb-load", sqlite_url, patients)
        duck = in_process_of_its_own("duckdb", sqlite_url, patients, chosen)
        pandas_ = in_process_of_its_own("pandas", sqlite_url, patients, chosen)
        reference = figures["project, SQLite"][2]["answers"]
        for name, served in [*((n, f[2]) for n, f in figures.items()), ("DuckDB", duck),
                             ("pandas", pandas_)]:
            if served["answers"] != reference:
                sys.exit(f"{name} answers differ from the project's on SQLite at {rows:,} rows")

        def cell(value, pattern):
            return "—" if value is None or value != value else format(value, pattern)

        for name, (imported, validated, served) in figures.items():
            median = statistics.median(served["latencies"])
            seconds = imported["seconds"] if imported else None
            lines.append(
                f"| {rows:,} | {name} | {cell(seconds, '.1f')} | "
                f"{cell(rows / seconds if seconds else None, ',.0f')} | "
                f"{validated['seconds']:.1f} | {median * 1000:.1f} | "
                f"{percentile(served['latencies'], 0.95) * 1000:.1f} | "
                f"{cell(imported and imported['peak_mb'], ',.0f')} / "
                f"{validated['peak_mb']:,.0f} / {served['peak_mb']:,.0f} |")
        for name, served, load in (("DuckDB GROUP BY on the raw rows", duck, loaded["seconds"]),
                                   ("pandas groupby on the raw rows in memory", pandas_,
                                    pandas_["load_seconds"])):
            lines.append(
                f"| {rows:,} | {name} (baseline) | {cell(load, '.1f')} | — | — | "
                f"{statistics.median(served['latencies']) * 1000:.1f} | "
                f"{percentile(served['latencies'], 0.95) * 1000:.1f} | "
                f"— / — / {served['peak_mb']:,.0f} |")
        duck_median = statistics.median(duck["latencies"])
        pandas_median = statistics.median(pandas_["latencies"])
        for name, (_, _, served) in figures.items():
            median = statistics.median(served["latencies"])
            verdicts.append(
                f"{rows:,} rows, {name}: project / DuckDB = {median / duck_median:.2f} "
                f"(target ≤ {TARGET_VS_DUCKDB:g}: "
                f"{'met' if median / duck_median <= TARGET_VS_DUCKDB else 'NOT MET'}); "
                f"pandas / project = {pandas_median / median:.1f}× "
                f"(target ≥ {TARGET_VS_PANDAS:g}×: "
                f"{'met' if pandas_median / median >= TARGET_VS_PANDAS else 'NOT MET'})")
    print()
    print("\n".join(lines))
    print()
    print("\n".join(verdicts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[200_000, 2_000_000])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, metavar="URL",
                        help="server for a schema of each size (its tables are replaced)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--skip-import", action="store_true",
                        help="reuse the databases of an earlier run")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.step:
        result = STEPS[args.step](*rest)
        result["peak_mb"] = peak_mb()
        print(json.dumps(result))
        return
    run(args)


if __name__ == "__main__":
    main()
