"""Small cells (issue #9, item 3): searched for in every page, every export format and the
command line's outputs, on data built to hold many; no patient-level rows in any export; no
patient identifier in any log.

The data: the sample health system at 1,200 patients over 12 months (rare races and
languages, small payers, crossed strata and months are small there), with seven patients'
results moved to a site of their own. The true counts of every stratum are counted again from
the raw files with pandas (`tests.independent`, `tests.test_data_quality.expected_completeness`),
sharing nothing with the engine; each count from 1 to 10 among them is a small cell searched
for. A small cell is found when an output shows a count (cases, events, non-events, patients,
missing, ...) from 1 to 10, or when a total known from the raw data minus the counts an output
shows leaves 1 to 10 (the hidden cells would be given back by subtraction). Outputs are read
as a person or a program would: page elements through AppTest (tables, charts' text, metrics,
markdown), CSV and XLSX with csv and openpyxl, PPTX with python-pptx, PDF with pypdf, SVG as
XML, PNG through the figure it was drawn from and its metadata.
"""
from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import manage
import metrics
import snapshots
from metrics import privacy
from sample_data.generator import generate
from snapshots import View, images
from tests import independent
from tests.conftest import REPO, copy_sqlite
from tests.test_data_quality import expected_completeness, raw_tables
from tests.test_importer import (
    GOOD_PATIENTS,
    GOOD_RESULTS,
    PATIENT_HEADER,
    RESULT_HEADER,
    write_csv,
)
from tests.test_snapshots import (
    csv_rows,
    image_server,  # noqa: F401  (a fixture: the chart server)
    pdf_text,
    pptx_text,
    svg_text,
    xlsx_cells,
)

PATIENTS = 1_200
MONTHS = 12
TINY_SITE = "Harbor Outreach Van"
TINY_PATIENTS = 7
SINGLE = ("race", "ethnicity", "preferred_language", "interpreter_needed", "sex", "age_group",
          "payer", "adi_decile", "site")
CROSSED = (("race", "preferred_language"), ("race", "site"), ("preferred_language", "payer"))
MONTHLY = ("race", "preferred_language", "site")
FORMATS = ("csv", "xlsx", "pdf", "pptx", "svg", "png")
CLI_MEASURES = ("cbp", "bcs_e", "readmit_30d")  # the domain's test covers every measure

# --- the data -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extract(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small-cells-extract")
    written = generate(folder, patients=PATIENTS, months=MONTHS)
    results = pd.read_csv(written["results"], dtype=str, keep_default_na=False)
    chosen = results.loc[results["measure_id"] == "cbp", "patient_id"].drop_duplicates()
    results.loc[results["patient_id"].isin(chosen.iloc[:TINY_PATIENTS]), "site"] = TINY_SITE
    results.to_csv(written["results"], index=False)
    return written


@pytest.fixture(scope="module")
def url(extract, tmp_path_factory):
    from store import import_extract
    from store.engine import dispose_engine

    url = f"sqlite:///{tmp_path_factory.mktemp('small-cells-db') / 'equity.db'}"
    import_extract(extract["patients"], extract["results"], value_map_csv=extract["value_map"],
                   database_url=url)
    yield url
    dispose_engine(url)


@pytest.fixture(scope="module")
def cases(extract) -> pd.DataFrame:
    return independent.raw_cases(extract)


@pytest.fixture(scope="module")
def measures(url) -> list[str]:
    import store

    return [m["measure_id"] for m in store.measures_loaded(url)
            if m["kind"] == "proportion" and m["cases"]]


@pytest.fixture(autouse=True)
def _local_admin(monkeypatch):
    monkeypatch.setenv("EQUITY_LOCAL_ROLE", "admin")
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")


def truth(cases: pd.DataFrame, measure: str, by, where=None) -> pd.DataFrame:
    """The true counts of a table: its dimensions, denominator, numerator, non_events."""
    by = [by] if isinstance(by, str) else list(by)
    frame = independent.counts(cases, measure, by, where)
    frame["non_events"] = frame["denominator"] - frame["numerator"]
    return frame


def true_small_cells(cases, measures, raw) -> int:
    """Every count from 1 to 10 among the strata the outputs below cover."""
    found = 0
    for measure in measures:
        for by in [*[[b] for b in SINGLE], *[list(c) for c in CROSSED],
                   *[[b, "period"] for b in MONTHLY]]:
            counts = truth(cases, measure, by)[["denominator", "numerator", "non_events"]]
            found += int(counts.apply(lambda c: c.between(1, 10)).to_numpy().sum())
    for by in ("site", "period", "payer"):
        table = expected_completeness(*raw, by)
        table["complete"] = (table["patients"] - table["missing"] - table["unknown"]
                             - table["asked_but_no_answer"])
        columns = ["patients", "missing", "unknown", "asked_but_no_answer", "complete"]
        found += int(table[columns].apply(lambda c: c.between(1, 10)).to_numpy().sum())
    return found


# --- reading counts out of what is shown ----------------------------------------------------

NUMBER = r"\d{1,3}(?:,\d{3})+|\d+"
# "3 of 7", "3 of 7 patients", "n = 7", "7 cases": counts as the charts and summaries write
# them (not "3 of 12 items", "page 1 of 2", "4.5 of", "12 of 20 %").
OF = re.compile(rf"(?<![\w.,])(?<!page )(?<!Page )({NUMBER}) of ({NUMBER})(?![.,]?\d)"
                r"(?!\s*%)(?!\s+(?:items|checks|runs|groups|measures|months|phases|views|"
                r"steps|entries|sessions|questions|resources|goals|interventions|"
                r"race-adjusted tools|tools))")
# The tracker counts checklist items, phases, questions and clinical tools, not patients.
NOT_PATIENTS = ("items", "elements met", "phases", "self-assessment", "flagged gaps",
                "questions", "group-months", "Commit:", "Learn:", "Data:", "Vision:",
                "Launch:", "race-adjusted tools")
N_IS = re.compile(rf"\bn = ({NUMBER})(?![.,]?\d)")
CASES = re.compile(rf"(?<![\w.,])({NUMBER}) (?:cases|patients seen)\b")
OF_PATIENTS = re.compile(rf"\bof ({NUMBER}) (?:patients|cases)\b")  # "45.5 % of 7 patients"
COUNT_COLUMNS = {"denominator", "numerator", "cases", "met", "met the measure", "events",
                 "met the measure or events", "patients", "patients seen",
                 "with a known value", "missing", "unknown", "asked_but_no_answer",
                 "standardised_cases", "results", "estimated", "cases counted"}
PAIRS = (("denominator", "numerator"), ("cases", "met"), ("cases", "met the measure"),
         ("cases", "events"), ("cases", "met the measure or events"),
         ("patients seen", "with a known value"))


def as_count(value) -> float:
    """A shown count as a number; NaN for empty, "n/a", "suppressed" and the like."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return np.nan
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip().replace(",", "")
    return float(text) if re.fullmatch(r"-?\d+(\.\d+)?", text) else np.nan


class Search:
    """The small cells found, with where each was seen."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.outputs: set[str] = set()

    def text(self, where: str, text: str) -> None:
        self.outputs.add(where.split(":")[0])
        for match in OF.finditer(text):
            around = text[max(0, match.start() - 60):match.end() + 30]
            if any(word in around for word in NOT_PATIENTS):
                continue
            part, whole = (as_count(g) for g in match.groups())
            for name, value in (("count", part), ("total", whole), ("rest", whole - part)):
                if privacy.small_cell(value):
                    self.found.append(f"{where}: {name} {value:g} in {around!r}")
        for pattern in (N_IS, CASES, OF_PATIENTS):
            for match in pattern.finditer(text):
                if privacy.small_cell(as_count(match.group(1))):
                    self.found.append(f"{where}: {match.group(0)!r}")

    def frame(self, where: str, frame: pd.DataFrame) -> None:
        self.outputs.add(where.split(":")[0])
        columns = {str(c).strip().lower(): c for c in frame.columns}
        numbers = {name: frame[column].map(as_count).astype(float)
                   for name, column in columns.items() if name in COUNT_COLUMNS}
        for first, second in PAIRS:
            if first in numbers and second in numbers:
                numbers[f"{first} - {second}"] = numbers[first] - numbers[second]
        parts = ("missing", "unknown", "asked_but_no_answer")
        if "patients" in numbers and all(p in numbers for p in parts):
            numbers["complete"] = numbers["patients"] - sum(numbers[p] for p in parts)
        for name, values in numbers.items():
            for position in np.flatnonzero(values.between(1, 10).to_numpy()):
                row = frame.iloc[position]
                self.found.append(f"{where}: {name} {values.iat[position]:g} in row "
                                  f"{row.astype(str).tolist()[:4]}")
        for column in frame.columns:
            if frame[column].dtype == object:
                for value in frame[column].dropna().astype(str).unique():
                    self.text(f"{where}[{column}]", value)

    def recovered(self, where: str, shown: pd.DataFrame, true: pd.DataFrame,
                  names: list[str]) -> None:
        """A total known from the raw data minus what `shown` shows, in every margin (the
        whole table, and each dimension of a crossed one), must not leave 1 to 10."""
        key = true[names].astype(str).agg(" | ".join, axis=1)
        seen = shown.assign(_key=shown[names].astype(str).agg(" | ".join, axis=1)).set_index(
            "_key")
        counts = {"denominator": "denominator", "numerator": "numerator"}
        margins = [np.zeros(len(true), dtype=int)]
        if len(names) > 1:
            margins += [pd.factorize(true[name].astype(str))[0] for name in names]
        for column, shown_column in counts.items():
            values = seen[shown_column].map(as_count) if shown_column in seen else None
            if values is None:
                continue
            given = key.map(values).astype(float)  # NaN: hidden or not listed
            for margin in margins:
                for value in np.unique(margin):
                    members = margin == value
                    total = true.loc[members, column].sum()
                    rest = total - np.nansum(given[members])
                    # A total of 1 to 10 is itself hidden wherever it would be shown.
                    if privacy.small_cell(rest) and not privacy.small_cell(total):
                        self.found.append(f"{where}: total minus shown {column} = {rest:g}")
            if column == "numerator":
                rest_events = true["non_events"] - (seen["denominator"].map(as_count)
                                                    - values).reindex(key).to_numpy()
                for margin in margins:
                    for value in np.unique(margin):
                        members = margin == value
                        hidden = np.isnan(rest_events[members].to_numpy(dtype=float))
                        events = true.loc[members, "non_events"].to_numpy()
                        left = events[hidden].sum()
                        if (hidden.any() and privacy.small_cell(left)
                                and not privacy.small_cell(events.sum())):
                            self.found.append(f"{where}: hidden non-events add up to {left}")


def figure_strings(spec) -> list[str]:
    """Every string of a plotly figure (texts, hover texts, annotations, ticks, titles)."""
    found = []
    if isinstance(spec, dict):
        for value in spec.values():
            found += figure_strings(value)
    elif isinstance(spec, list):
        for value in spec:
            found += figure_strings(value)
    elif isinstance(spec, str):
        found.append(spec)
    return found


def search_figure(search: Search, where: str, figure) -> None:
    spec = figure.to_plotly_json() if hasattr(figure, "to_plotly_json") else figure
    for text in figure_strings({"data": spec.get("data"), "layout": spec.get("layout")}):
        search.text(where, text)


TEXT_ELEMENTS = ("markdown", "caption", "text", "info", "warning", "success", "error", "title",
                 "header", "subheader", "code", "exception", "expander", "json")


def search_app(search: Search, where: str, app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]
    for kind in TEXT_ELEMENTS:
        for element in app.get(kind):
            search.text(f"{where} {kind}", str(getattr(element, "value", "") or ""))
            search.text(f"{where} {kind}", str(getattr(element, "label", "") or ""))
    for metric in app.metric:
        search.text(f"{where} metric", f"{metric.label}: {metric.value}; {metric.proto.help}")
    for index, element in enumerate(app.dataframe):
        search.frame(f"{where} table {index}", element.value)
    for index, element in enumerate(app.get("table")):
        search.frame(f"{where} table {index}", element.value)
    for index, element in enumerate(app.get("plotly_chart")):
        search_figure(search, f"{where} chart {index}", json.loads(element.proto.spec))


# --- pages --------------------------------------------------------------------------------

def registry_pages() -> list[str]:
    """The page files of ui/frame.py's registry (read from its source: a Page object built
    outside a running app has no file or URL to read back)."""
    source = (REPO / "ui" / "frame.py").read_text(encoding="utf-8")
    return re.findall(r'st\.Page\("(pages/[a-z_]+\.py)"', source)


def run_page(url: str, monkeypatch, page: str, query: dict | None = None) -> AppTest:
    import streamlit as st

    monkeypatch.setenv("EQUITY_DATABASE_URL", url)
    st.cache_data.clear()  # a cached table of another test must not stand in for this one
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.run()
    app.switch_page(page).run()
    return app


EXPLORER_QUERIES = [
    *({"by": by, "view": "Table", "adjust": "age-adjusted"} for by in SINGLE),
    *({"by": "race", "view": view} for view in ("Groups", "Over time", "Control chart",
                                                 "Share of outcomes", "All measures")),
    {"by": "site", "view": "Over time"}, {"by": "preferred_language", "view": "Groups"},
    *({"by": a, "by2": b, "view": "Table"} for a, b in CROSSED),
    {"by": "race", "view": "Table", "measure": "bcs_e", "payer": "Medicaid"},
]


def search_pages(search: Search, url: str, monkeypatch) -> None:
    pages = registry_pages()
    assert len(pages) >= 11 and "pages/admin.py" in pages
    for page in pages:
        search_app(search, page, run_page(url, monkeypatch, page))
    for query in EXPLORER_QUERIES:
        app = run_page(url, monkeypatch, "pages/explorer.py", query)
        search_app(search, f"pages/explorer.py?{query}", app)
    for field in ("preferred_language", "sex"):
        app = run_page(url, monkeypatch, "pages/quality.py", {"field": field})
        search_app(search, f"pages/quality.py?field={field}", app)


# --- exports --------------------------------------------------------------------------------

def export_views() -> list[View]:
    views = [View("disparity", "cbp", by) for by in ("race", "preferred_language", "site",
                                                       "payer")]
    views += [View("disparity", "cbp", list(pair)) for pair in CROSSED]
    views += [View("share", "cbp", "race"), View("trend", "cbp", "race"),
              View("trend", "cbp", "preferred_language"),
              View("control", "cbp", "race", group="White"),
              View("largest_gaps"), View("phases")]
    views += [View("completeness", by=by, field=field) for by in ("site", "period", "payer")
              for field in ("race", "preferred_language")]
    return views


def table_blocks(rows: list[list]) -> list[pd.DataFrame]:
    """The tables of a CSV or a sheet: a header row holding a count column, then its rows
    up to the first empty one."""
    blocks, index = [], 0
    while index < len(rows):
        row = [("" if v is None else str(v)) for v in rows[index]]
        if any(cell.strip().lower() in COUNT_COLUMNS for cell in row):
            body = []
            index += 1
            while index < len(rows) and any(str(v or "").strip() for v in rows[index]):
                body.append([("" if v is None else v) for v in rows[index]][:len(row)])
                index += 1
            width = len(row)
            blocks.append(pd.DataFrame([b + [""] * (width - len(b)) for b in body],
                                       columns=[f"{c}" if c else f"_{i}"
                                                for i, c in enumerate(row)]))
        index += 1
    return blocks


def xlsx_rows(path: Path) -> list[list]:
    from openpyxl import load_workbook

    rows = []
    for sheet in load_workbook(path).worksheets:
        rows += [list(row) for row in sheet.iter_rows(values_only=True)] + [[]]
    return rows


def search_file(search: Search, where: str, path: Path, fmt: str) -> list[pd.DataFrame]:
    """Search one exported file, read with its own reader; returns its tables (csv, xlsx)."""
    tables = []
    if fmt in ("csv", "xlsx"):
        rows = csv_rows(path) if fmt == "csv" else xlsx_rows(path)
        tables = table_blocks(rows)
        for index, table in enumerate(tables):
            search.frame(f"{where} table {index}", table)
        text = "\n".join(" ".join(str(v) for v in row if v is not None) for row in rows)
        if fmt == "xlsx":
            text += "\n" + "\n".join(str(c.value) for c in xlsx_cells(path))
        search.text(where, text)
    elif fmt == "pdf":
        search.text(where, pdf_text(path))
    elif fmt == "pptx":
        search.text(where, pptx_text(path))
    elif fmt == "svg":
        search.text(where, svg_text(path))
    elif fmt == "png":
        from PIL import Image

        with Image.open(path) as image:
            search.text(where, "\n".join(f"{k}: {v}" for k, v in image.text.items()))
    return tables


def assert_aggregate_rows_only(where: str, tables: list[pd.DataFrame], patient_ids: set[str],
                               text: str) -> None:
    """No export holds a patient-level row: no patient_id column, no patient_id value."""
    for table in tables:
        assert not {"patient_id", "patient_key"} & {str(c).lower() for c in table.columns}, \
            where
    words = set(re.findall(r"[A-Za-z0-9_-]+", text))
    leaked = words & patient_ids
    assert not leaked, (where, sorted(leaked)[:5])


def file_text(path: Path, fmt: str) -> str:
    if fmt == "csv":
        return "\n".join(",".join(r) for r in csv_rows(path))
    if fmt == "xlsx":
        return "\n".join(str(c.value) for c in xlsx_cells(path))
    if fmt == "pdf":
        return pdf_text(path)
    if fmt == "pptx":
        return pptx_text(path)
    if fmt == "svg":
        return path.read_text(encoding="utf-8")
    return path.read_bytes().decode("latin-1")


def search_exports(search: Search, url: str, cases: pd.DataFrame, folder: Path,
                   patient_ids: set[str]) -> None:
    for index, view in enumerate(export_views()):
        rendered = snapshots.render(view, url)
        search_figure(search, f"{view.label()} figure", images.figure_for_file(rendered))
        for fmt in FORMATS:
            path = snapshots.export(view, fmt, folder / f"view-{index}", url, actor="tests")
            where = f"{path.name} ({view.label()})"
            tables = search_file(search, where, path, fmt)
            assert_aggregate_rows_only(where, tables, patient_ids, file_text(path, fmt))
            if view.kind == "disparity" and fmt in ("csv", "xlsx") and tables:
                by = list(view.by)
                table = tables[0]
                labels = [metrics.strata.stratifier(b).label for b in by]
                shown = pd.DataFrame({
                    **{b: table[label].astype(str) for b, label in zip(by, labels)},
                    "denominator": table["Cases"], "numerator": table["Met the measure"]})
                search.recovered(where, shown, truth(cases, view.measure_id, by), by)
    pack = snapshots.leaders_pack("cbp")
    for fmt in snapshots.PACK_FORMATS:
        built = snapshots.build_pack(pack, fmt, url, actor="tests")
        path = snapshots.write(built, folder / f"pack.{fmt}")
        search_file(search, f"pack {path.name}", path, fmt)
        assert_aggregate_rows_only(f"pack {fmt}", [], patient_ids, file_text(path, fmt))


def search_command_line(search: Search, url: str, cases: pd.DataFrame, measures, folder: Path,
                        capsys, patient_ids: set[str]) -> None:
    for measure in measures:
        for by in [[b] for b in SINGLE] + [list(c) for c in CROSSED]:
            argv = ["--database-url", url, "metrics", "--measure", measure, "--format", "csv"]
            for name in by:
                argv += ["--by", name]
            assert manage.main(argv) == 0
            out = capsys.readouterr().out
            table = pd.read_csv(io.StringIO(out), keep_default_na=False, dtype=str)
            where = f"manage.py metrics {measure} {by}"
            search.frame(where, table)
            search.recovered(where, table, truth(cases, measure, by), by)
            assert_aggregate_rows_only(where, [table], patient_ids, out)
    for by in ("site", "period", "payer"):
        for fmt in ("csv", "json"):
            argv = ["--database-url", url, "completeness", "--by", by, "--format", fmt]
            assert manage.main(argv) == 0
            out = capsys.readouterr().out
            table = (pd.read_csv(io.StringIO(out), keep_default_na=False, dtype=str)
                     if fmt == "csv" else pd.DataFrame(json.loads(out)))
            search.frame(f"manage.py completeness {by} {fmt}", table)
            assert_aggregate_rows_only(f"completeness {by}", [table], patient_ids, out)
    for fmt in FORMATS:
        out = folder / f"cli.{fmt}"
        argv = ["--database-url", url, "snapshot", "--measure", "cbp", "--by", "race",
                "--by", "preferred_language", "--format", fmt, "--out", str(out)]
        assert manage.main(argv) == 0, capsys.readouterr().err
        path = next(folder.glob(f"cli*.{fmt}"))
        search_file(search, f"manage.py snapshot {fmt}", path, fmt)
        assert_aggregate_rows_only(f"snapshot {fmt}", [], patient_ids, file_text(path, fmt))
    pack_file = folder / "leaders.json"
    pack_file.write_text(snapshots.leaders_pack("cbp").to_json())
    for fmt in snapshots.PACK_FORMATS:
        out = folder / f"cli-pack.{fmt}"
        argv = ["--database-url", url, "pack", str(pack_file), "--format", fmt, "--out",
                str(out)]
        assert manage.main(argv) == 0, capsys.readouterr().err
        search_file(search, f"manage.py pack {fmt}", out, fmt)
    capsys.readouterr()


# --- the domain's own tables ----------------------------------------------------------------

def search_domain(search: Search, url: str, cases: pd.DataFrame, measures, raw) -> None:
    """Each true small stratum is suppressed in the table the outputs are drawn from, and no
    margin gives one back."""
    import data_quality

    for measure in measures:
        for by in [[b] for b in SINGLE] + [list(c) for c in CROSSED]:
            table = metrics.stratify(measure, by, database_url=url)
            true = truth(cases, measure, by)
            where = f"stratify {measure} {by}"
            search.frame(where, table)
            search.recovered(where, table, true, by)
            merged = true.merge(table[[*by, "suppressed"]].astype({b: str for b in by}),
                                on=by, how="left")
            small = merged[["denominator", "numerator", "non_events"]].apply(
                lambda c: c.between(1, 10)).any(axis=1)
            for _, row in merged[small & ~merged["suppressed"].fillna(False).astype(bool)
                                 ].iterrows():
                search.found.append(f"{where}: small stratum {row[by].tolist()} shown")
        for by in MONTHLY:
            monthly = metrics.over_time(measure, by, database_url=url)
            where = f"over_time {measure} {by}"
            search.frame(where, monthly)
            search.recovered(where, monthly, truth(cases, measure, [by, "period"]),
                             [by, "period"])
        adjusted = metrics.age_adjusted(measure, "race", database_url=url)
        search.frame(f"age_adjusted {measure}", adjusted)
    for by in ("site", "period", "payer"):
        shown = data_quality.completeness_by(by, url)
        search.frame(f"completeness_by {by}", shown)
        true = expected_completeness(*raw, by)
        for column in ("missing", "unknown", "asked_but_no_answer"):
            for field, rows in true.groupby("field"):
                given = shown[shown["field"] == field].set_index("group")[column]
                rest = rows[column].sum() - given.map(as_count).sum()
                if privacy.small_cell(rest) and not privacy.small_cell(rows[column].sum()):
                    search.found.append(f"completeness_by {by} {field}: total minus shown "
                                        f"{column} = {rest}")
    for field in ("race", "preferred_language", "sex"):
        cells = data_quality.completeness_by_site_and_month(field, url)
        search.frame(f"site by month {field}", cells)
        search_figure(search, f"heat map {field}",
                      __import__("charts").completeness_heatmap(cells, field, 95.0))


# --- the tests ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def patient_ids(extract) -> set[str]:
    return set(pd.read_csv(extract["patients"], dtype=str)["patient_id"])


def assert_none_found(search: Search, figures, outputs: int) -> None:
    figures.add("small cells found", len(search.found))
    assert len(search.outputs) >= outputs, sorted(search.outputs)
    assert not search.found, "\n".join(search.found[:40])


def test_the_domain_tables_hide_every_small_stratum(url, cases, measures, extract, figures):
    raw = raw_tables(extract)
    searched = true_small_cells(cases, measures, raw)
    assert searched >= 1_000, "the data must hold many small cells for the search to mean much"
    assert len(truth(cases, "cbp", "site").query(f"site == '{TINY_SITE}'")) == 1
    figures.add("small cells searched for", searched)
    search = Search()
    search_domain(search, url, cases, measures, raw)
    assert_none_found(search, figures, len(measures) * 15)


def test_no_page_shows_a_small_cell(url, monkeypatch, figures):
    search = Search()
    search_pages(search, url, monkeypatch)
    assert_none_found(search, figures, 11)


def test_no_export_holds_a_small_cell_or_a_patient_row(url, cases, patient_ids, tmp_path,
                                                      figures, image_server):  # noqa: F811
    search = Search()
    search_exports(search, url, cases, tmp_path, patient_ids)
    assert_none_found(search, figures, len(export_views()) * len(FORMATS))


def test_no_command_line_output_holds_a_small_cell_or_a_patient_row(
        url, cases, patient_ids, tmp_path, capsys, figures, image_server):  # noqa: F811
    search = Search()
    search_command_line(search, url, cases, CLI_MEASURES, tmp_path, capsys, patient_ids)
    assert_none_found(search, figures, len(CLI_MEASURES) * 12)


def test_the_search_finds_small_cells_when_suppression_is_off(url, cases, extract,
                                                              monkeypatch, tmp_path):
    """The same search on the same data, with the rule switched off (no count is small):
    it must find cells in the pages, the command line and the domain's tables."""
    private = copy_sqlite(url, tmp_path / "copy.db")  # a URL of its own: no cached table
    monkeypatch.setattr(privacy, "SMALL_CELL", (11, 10))
    search = Search()
    search_domain(search, private, cases, ["cbp"], raw_tables(extract))
    domain = len(search.found)
    app = run_page(private, monkeypatch, "pages/explorer.py", {"by": "race", "view": "Table"})
    search_app(search, "explorer", app)
    page = len(search.found) - domain
    assert domain > 50 and page > 0, (domain, page)
    # The exporter's own check still refuses what the engine let through.
    with pytest.raises(snapshots.UnsafeExport):
        snapshots.export(View("disparity", "cbp", "race"), "csv", tmp_path, private)


# --- no identifiers in logs ------------------------------------------------------------------

def test_no_patient_id_in_logs_or_the_audit_log_during_a_refused_import_and_page_renders(
        url, extract, tmp_path, monkeypatch, caplog, capfd):
    """A refused import names file, line, column and value to the admin running it (their
    own file, which they must find the row in), but its log lines and its audit-log entry
    carry no value: no patient_id reaches a log."""
    from store import ImportRefused, import_extract
    from store.audit import entries

    private = copy_sqlite(url, tmp_path / "copy.db")
    marked = "PRIVATE-ID-4711"
    bad_patients = [list(row) for row in GOOD_PATIENTS] + [
        [marked, "19x0", "female", "White", "", "English", "no", "Medicare", "3"],
        [marked, "1970", "female", "Nowhere", "", "English", "no", "Medicare", "3"]]
    bad_results = [list(row) for row in GOOD_RESULTS] + [
        [marked, "cbp", "2025-13", "North Clinic", "2", "1", ""],
        ["P-ORPHAN-0815", "cbp", "2025-01", "North Clinic", "1", "1", ""]]
    folder = tmp_path / "bad"
    folder.mkdir()
    files = (write_csv(folder / "patients.csv", PATIENT_HEADER, bad_patients),
             write_csv(folder / "results.csv", RESULT_HEADER, bad_results))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ImportRefused) as refused:
        import_extract(*files, database_url=private)
    assert marked in str(refused.value)  # told to the admin, with its line
    assert manage.main(["--database-url", private, "import", *map(str, files)]) == 2
    told = capfd.readouterr()
    assert marked in told.err and "line" in told.err
    ids = {marked, "P-ORPHAN-0815"} | set(pd.read_csv(extract["patients"], dtype=str)[
        "patient_id"].head(200))
    for page in registry_pages():
        search_app(Search(), page, run_page(private, monkeypatch, page))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    logged += capfd.readouterr().err
    assert not {word for word in re.findall(r"[\w-]+", logged) if word in ids}
    audit = json.dumps([dict(e) for e in entries(private)], default=str)
    assert "import_refused" in audit
    assert not {word for word in re.findall(r"[\w-]+", audit) if word in ids}
