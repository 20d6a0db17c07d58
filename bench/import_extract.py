"""Benchmark: importing an extract, against a plain pandas baseline on the same files.

    python -m bench.import_extract [--patients 20000 200000] [--postgres]

The project's import validates every row against the data contract and writes one
transaction; the baseline is what a script without checks would do (pandas.read_csv, then
DataFrame.to_sql into SQLite). Prints seconds, rows/s and the ratio project / baseline.
Extracts are generated once into bench/.cache (git-ignored).
"""
from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import pandas as pd

from sample_data.generator import generate
from store import import_extract
from store.engine import dispose_engine

CACHE = Path(__file__).resolve().parent / ".cache"


def extract(patients: int) -> dict:
    folder = CACHE / f"extract-{patients}"
    files = {name: folder / f"{name}.csv" for name in ("patients", "results", "value_map")}
    if not all(path.exists() for path in files.values()):
        folder.mkdir(parents=True, exist_ok=True)
        generate(folder, patients=patients)
    return files


def sample_database(patients: int, url: str | None = None, name: str = "sample") -> str:
    """A database holding the cached extract of `patients`, imported once (a SQLite file
    `name`-N.db in the cache unless `url` is given); its URL. Benchmarks that write to it
    (exports add audit rows) take a `name` of their own."""
    url = url or f"sqlite:///{CACHE / f'{name}-{patients}.db'}"
    from store import status

    CACHE.mkdir(parents=True, exist_ok=True)
    if not status(url)["patients"]:
        files = extract(patients)
        import_extract(files["patients"], files["results"], value_map_csv=files["value_map"],
                       database_url=url)
    dispose_engine(url)
    return url


def rows_in(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle) - 1


def project(files: dict, url: str) -> float:
    started = time.perf_counter()
    import_extract(files["patients"], files["results"], value_map_csv=files["value_map"],
                   database_url=url)
    seconds = time.perf_counter() - started
    dispose_engine(url)
    return seconds


def baseline(files: dict, folder: Path) -> float:
    started = time.perf_counter()
    with sqlite3.connect(folder / "baseline.db") as conn:
        for name in ("patients", "results"):
            for chunk in pd.read_csv(files[name], dtype=str, keep_default_na=False,
                                     chunksize=100_000):
                chunk.to_sql(name, conn, if_exists="append", index=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="also import into this PostgreSQL URL (its tables are replaced)")
    args = parser.parse_args()

    print(f"{'patients':>10} {'rows':>11} {'target':<10} {'seconds':>8} {'rows/s':>10} "
          f"{'vs baseline':>11}")
    for patients in args.patients:
        files = extract(patients)
        rows = rows_in(files["patients"]) + rows_in(files["results"])
        with tempfile.TemporaryDirectory() as folder:
            base = baseline(files, Path(folder))
            runs = [("baseline", base),
                    ("sqlite", project(files, f"sqlite:///{folder}/project.db"))]
        if args.postgres:
            runs.append(("postgresql", project(files, args.postgres)))
        for target, seconds in runs:
            print(f"{patients:>10,} {rows:>11,} {target:<10} {seconds:>8.2f} "
                  f"{rows / seconds:>10,.0f} {seconds / base:>10.2f}x")


if __name__ == "__main__":
    main()
