"""Benchmark: disparity-table latency, from the raw rows (before) and from the count table.

    python -m bench.disparity [--patients 200000 2000000] [--requests 30] [--postgres URL]

For each size, a sample database is built once into bench/.cache (git-ignored; the extract
cache of bench.import_extract), then 30 mixed requests — one measure, one stratifier or two
crossed, two filters, a period range — go through `metrics.stratify`, first with the counts
taken by a GROUP BY over `results JOIN patients` (metrics.aggregate.raw_group_counts, what
the engine did before the count table), then from the count table (metrics.counts). Prints
the median and p95 latency of each, the ratio, the raw rows and the count-table cells. The
same requests (seeded) in both; the two answers are checked to be equal.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

from sqlalchemy import func, select

import metrics
from bench.import_extract import sample_database
from metrics import aggregate, counts
from store.counts import LABELLED
from store.engine import dispose_engine, get_engine
from store.schema import results

MEASURES = ["cbp", "gsd_poor", "bcs_e", "col_e", "readmit_30d", "ed_analgesia", "sdoh_screen",
            "interpreter_use", "falls_injury", "ppc_timely"]
DEMOGRAPHIC = list(LABELLED)  # the stratifiers labelled in the count table




def requests(url: str, count: int, seed: int = 8) -> list[dict]:
    """Mixed requests: a measure, one stratifier or two crossed, two filters on other
    stratifiers (one or two groups each), a period range of 6 to 24 months."""
    rng = random.Random(seed)
    menus = {name: metrics.groups_present(name, database_url=url)
             for name in [*DEMOGRAPHIC, "site", "period"]}
    months = menus["period"]
    chosen = []
    for _ in range(count):
        by = rng.sample(DEMOGRAPHIC + ["site"], rng.choice([1, 2]))
        others = [name for name in DEMOGRAPHIC + ["site"] if name not in by]
        where = {name: rng.sample(menus[name], min(len(menus[name]), rng.choice([1, 2])))
                 for name in rng.sample(others, 2)}
        length = rng.randint(6, len(months))
        start = rng.randint(0, len(months) - length)
        chosen.append({"measure_id": rng.choice(MEASURES), "by": by, "where": where,
                       "period_from": months[start], "period_to": months[start + length - 1]})
    return chosen


def timed(chosen: list[dict], url: str) -> tuple[list[float], list]:
    seconds, tables = [], []
    for request in chosen:
        started = time.perf_counter()
        tables.append(metrics.stratify(**request, database_url=url))
        seconds.append(time.perf_counter() - started)
    return seconds, tables


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[200_000])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="also run on this PostgreSQL URL (its tables are replaced)")
    args = parser.parse_args()

    print(f"{'patients':>10} {'database':<10} {'raw rows':>11} {'cells':>10} {'path':<12} "
          f"{'median ms':>9} {'p95 ms':>8} {'vs raw':>7}")
    for patients in args.patients:
        targets = [("sqlite", sample_database(patients))]
        if args.postgres:
            targets.append(("postgresql", sample_database(patients, args.postgres)))
        for name, url in targets:
            counts.ensure(url)  # a database made before the count table gets it here
            with get_engine(url).connect() as conn:
                rows = conn.execute(select(func.count()).select_from(results)).scalar_one()
                cells = conn.execute(select(func.count()).select_from(
                    counts.result_counts)).scalar_one()
            chosen = requests(url, args.requests)
            fast = metrics.group_counts
            try:
                metrics.group_counts = aggregate.raw_group_counts
                raw, expected = timed(chosen, url)
            finally:
                metrics.group_counts = fast
            new, got = timed(chosen, url)
            for one, other in zip(expected, got):
                columns = list(one.columns)
                key = one.attrs["by"]
                left = one.sort_values(key).reset_index(drop=True)
                right = other[columns].sort_values(key).reset_index(drop=True)
                assert left[key + ["denominator", "numerator"]].equals(
                    right[key + ["denominator", "numerator"]]), "the two paths disagree"
            base = statistics.median(raw)
            for path, seconds in (("raw GROUP BY", raw), ("count table", new)):
                print(f"{patients:>10,} {name:<10} {rows:>11,} {cells:>10,} {path:<12} "
                      f"{statistics.median(seconds) * 1000:>9.1f} "
                      f"{percentile(seconds, 0.95) * 1000:>8.1f} "
                      f"{statistics.median(seconds) / base:>6.3f}x")
            dispose_engine(url)


if __name__ == "__main__":
    main()
