"""Benchmark: time to the first chart and for a filter change, in a real browser.

    python -m bench.browser [--patients 20000 200000] [--database scale]

For each size, a sample database is built once into bench/.cache (git-ignored), the app is
started with `streamlit run` on 127.0.0.1, and Debian's chromium (driven by playwright)
measures: the overview's first chart after opening the page (cold, then warm) and the whole
overview (the script done, every chart drawn), the explorer's chart after changing the
stratifier, and the whole overview again in a browser that has opened it before (its cache
warm, as a returning leader's). Prints one line per measurement.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.import_extract import sample_database
from store import status

REPO = Path(__file__).resolve().parents[1]
CHART = '[data-testid="stPlotlyChart"] .main-svg'
# The script has finished: no "Running" status, and every chart has drawn its plot.
DONE = """() => !document.querySelector('[data-testid="stStatusWidget"]')
  && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
     .every(el => el.querySelector('.main-svg'))"""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def serve(url: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true"],
        cwd=REPO, env={**os.environ, "EQUITY_DATABASE_URL": url, "EQUITY_LOAD_SAMPLE": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{address}/_stcore/health", timeout=1)
            return process, address
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("streamlit did not start")


VIEWPORT = {"width": 1400, "height": 1300}


def open_overview(page, address: str) -> tuple[float, float]:
    """Seconds from opening the overview to its first chart, and to the whole page."""
    page.set_default_timeout(180_000)
    started = time.perf_counter()
    page.goto(address)
    page.wait_for_selector(CHART)
    first_chart = time.perf_counter() - started
    page.wait_for_function(DONE)
    return first_chart, time.perf_counter() - started


def measure(address: str, repeats: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    timings: dict[str, list[float]] = {"first chart (overview)": [], "whole overview": [],
                                       "filter change (explorer)": [],
                                       "whole overview, returning browser": []}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        for _ in range(repeats):
            page = browser.new_page(viewport=VIEWPORT)
            first_chart, whole = open_overview(page, address)
            timings["first chart (overview)"].append(first_chart)
            timings["whole overview"].append(whole)
            page.goto(f"{address}/explorer")
            page.wait_for_selector(CHART)
            for choice in ("Payer", "Race"):
                started = time.perf_counter()
                page.get_by_label("Stratify by").click()
                page.get_by_role("option", name=choice, exact=True).click()
                word = "Medicaid" if choice == "Payer" else "White"
                page.wait_for_function(
                    "(word) => { const p = document.querySelector("
                    "'[data-testid=\"stPlotlyChart\"] .js-plotly-plot'); return p && "
                    "((p.layout.yaxis || {}).ticktext || []).some(y => String(y)"
                    ".includes(word)); }",
                    arg=word)
                timings["filter change (explorer)"].append(time.perf_counter() - started)
            page.close()
        # A leader who opened the dashboard before: the same browser profile, whose cache
        # holds Streamlit's and plotly's scripts (served with hashed names, cached) and their
        # compiled code. Each repeat above is a new profile, as on a first visit.
        returning = browser.new_context(viewport=VIEWPORT)
        for visit in range(repeats + 2):
            page = returning.new_page()
            _, whole = open_overview(page, address)
            if visit >= 2:  # (the first two visits fill the cache and the code cache)
                timings["whole overview, returning browser"].append(whole)
            page.close()
        returning.close()
        browser.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, nargs="+", default=[20_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", choices=["sample", "scale"], default="sample",
                        help="scale: the database of bench.scale's last run (no import here)")
    args = parser.parse_args()
    print(f"{'patients':>10} {'results':>11} {'measurement':<34} {'first':>7} {'median':>7} "
          f"{'max':>7}  (seconds)")
    for patients in args.patients:
        url = sample_database(patients, name=args.database)
        rows = status(url)["results"]
        process, address = serve(url)
        try:
            for name, values in measure(address, args.repeats).items():
                print(f"{patients:>10,} {rows:>11,} {name:<34} {values[0]:>7.2f} "
                      f"{statistics.median(values):>7.2f} {max(values):>7.2f}")
        finally:
            process.terminate()


if __name__ == "__main__":
    main()
