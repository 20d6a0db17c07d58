"""Meeting snapshots: every format opened with its own reader (python-pptx, pypdf, Pillow,
openpyxl, csv, XML), on a small extract whose suppressed groups have distinctive counts.

The extract (one measure, `cbp`, higher is better): White 2,400 of 3,000 met; Black or
African American 1,560 of 2,400; Asian 1,530 of 1,800; Native Hawaiian or Other Pacific
Islander 4,869 of 4,877 (8 non-events: suppressed); Multiracial 1,029 of 1,373 (the smallest
other group: complementary suppression). None of those hidden numbers may appear in any file.
Sites have formula-like names. Version 2 raises Black patients to 1,800 met and records 500
White patients' race as Unknown (for "since last time").
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pandas as pd
import pytest

import metrics
import snapshots
from snapshots import View, images
from snapshots.schema import audit_entries, last_import, snapshot_rows_frame
from snapshots.views import UnsafeExport, check_safe, safe_filename

SITES = ["Riverside", '=HYPERLINK("x")', "+1", "-2", "@SUM(A1)"]
FORMULA_SITES = SITES[1:]
GROUPS = {  # race: (cases, met) in version 1
    "White": (3000, 2400),
    "Black or African American": (2400, 1560),
    "Asian": (1800, 1530),
    "Multiracial": (1373, 1029),
    "Native Hawaiian or Other Pacific Islander": (4877, 4869),
}
HIDDEN_COUNTS = {"4877", "4,877", "4869", "4,869", "1373", "1,373", "1029", "1,029"}
HIDDEN_RATES = ("99.8", "74.9")  # 99.84 % and 74.95 %
SHOWN_NUMBERS = {"2400", "2,400", "65.0"}  # Black or African American: cases, rate
FORMATS = ("png", "svg", "csv", "xlsx", "pdf", "pptx")
FILTER = {"payer": "Commercial"}  # every patient: the numbers are those of the whole table


# --- the extract --------------------------------------------------------------------------

def write_extract(folder: Path, black_met: int = 1560, white_unknown: int = 0) -> dict:
    """patients.csv and results.csv: one cbp case per patient, spread over 12 months and
    the five sites (Riverside the best); `white_unknown` White patients (met and not met in
    the group's proportion) get race Unknown."""
    folder.mkdir(parents=True, exist_ok=True)
    groups = dict(GROUPS)
    groups["Black or African American"] = (2400, black_met)
    patients, results = [], []
    number = 0
    for race, (cases, met) in groups.items():
        for index in range(cases):
            number += 1
            recorded = race
            if race == "White" and index % 6 == 0 and index // 6 < white_unknown:
                recorded = "Unknown"
            patient_id = f"P{number:06d}"
            patients.append([patient_id, "1960", "female", recorded, "Not Hispanic or Latino",
                             "English", "no", "Commercial"])
            met_it = index < met
            # Riverside sees only patients who met the measure: every other site is worse.
            site = SITES[index % len(SITES)] if met_it else SITES[1 + index % (len(SITES) - 1)]
            results.append([patient_id, "cbp", f"2025-{index % 12 + 1:02d}", site,
                            "1" if met_it else "0", "1"])
    files = {"patients": folder / "patients.csv", "results": folder / "results.csv"}
    for name, header, rows in (
        ("patients", ["patient_id", "birth_year", "sex", "race", "ethnicity",
                      "preferred_language", "interpreter_needed", "payer"], patients),
        ("results", ["patient_id", "measure_id", "period", "site", "numerator",
                     "denominator"], results),
    ):
        with open(files[name], "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    return files


@pytest.fixture(scope="session")
def extracts(tmp_path_factory):
    root = tmp_path_factory.mktemp("snapshot-extracts")
    return {"v1": write_extract(root / "v1"),
            "v2": write_extract(root / "v2", black_met=1800, white_unknown=500)}


def load(extract: dict, url: str):
    from store import import_extract

    return import_extract(extract["patients"], extract["results"], database_url=url)


@pytest.fixture(scope="session")
def small_db(extracts, tmp_path_factory):
    """A SQLite database with version 1 of the extract, loaded once (exports add audit
    rows, nothing else changes)."""
    from store.engine import dispose_engine

    url = f"sqlite:///{tmp_path_factory.mktemp('snapshot-db') / 'equity.db'}"
    load(extracts["v1"], url)
    yield url
    dispose_engine(url)


@pytest.fixture(scope="session")
def image_server():
    """The persistent kaleido server, started once for the session."""
    try:
        images.browser_path()
    except images.ImageServerError as missing:
        if os.environ.get("EQUITY_REQUIRE_BROWSER") == "1":
            pytest.fail(str(missing))
        pytest.skip(str(missing))
    images.start()
    yield
    images.stop()


VIEWS = {
    "disparity": View("disparity", "cbp", "race", where=FILTER),
    "share": View("share", "cbp", "race", where=FILTER),
    "trend": View("trend", "cbp", "race", where=FILTER),
    "control": View("control", "cbp", "race", where=FILTER, group="Black or African American",
                    annotations=[("2025-06", "Outreach started")]),
    "site": View("disparity", "cbp", "site", reference="Riverside"),
}


@pytest.fixture(scope="session")
def every_file(small_db, image_server, tmp_path_factory):
    """Each view above in each format, written once: {(view, format): path}."""
    folder = tmp_path_factory.mktemp("snapshot-files")
    return {(name, fmt): snapshots.export(view, fmt, folder, small_db, actor="tests")
            for name, view in VIEWS.items() for fmt in FORMATS}


# --- readers: each format with its own library --------------------------------------------

def pptx_text(path: Path) -> str:
    from pptx import Presentation

    parts = []
    for slide in Presentation(path).slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                parts.append(shape.text_frame.text)
            if shape.shape_type == 13:  # a picture: its alternative text
                parts.append(shape._element.nvPicPr.cNvPr.get("descr", ""))
        if slide.has_notes_slide:
            parts.append(slide.notes_slide.notes_text_frame.text)
    return "\n".join(parts)


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(path).pages)


def png_text(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as image:
        return "\n".join(f"{key}: {value}" for key, value in image.text.items())


def svg_text(path: Path) -> str:
    root = ElementTree.parse(path).getroot()
    return "\n".join("".join(element.itertext()) for element in root.iter()
                     if element.tag.rsplit("}", 1)[-1] in ("text", "title", "desc"))


def xlsx_cells(path: Path) -> list:
    from openpyxl import load_workbook

    workbook = load_workbook(path)
    return [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row
            if cell.value is not None]


def xlsx_text(path: Path) -> str:
    return "\n".join(str(cell.value) for cell in xlsx_cells(path))


def csv_rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def csv_text(path: Path) -> str:
    return "\n".join(" | ".join(row) for row in csv_rows(path))


READERS = {"pptx": pptx_text, "pdf": pdf_text, "png": png_text, "svg": svg_text,
           "xlsx": xlsx_text, "csv": csv_text}


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def numbers_in(text: str) -> set[str]:
    """Numbers as written: '4,877', '4877', '99.84' (a comma only as a thousands mark)."""
    return set(re.findall(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?", text))


# --- what every export states -------------------------------------------------------------

def test_every_format_holds_the_chart_title_filters_and_dates(every_file, small_db):
    from PIL import Image
    from pptx import Presentation
    from pypdf import PdfReader

    as_of = last_import(small_db)["as_of"].strftime("%Y-%m-%d %H:%M")
    title = "Controlling high blood pressure by race"
    for fmt in FORMATS:
        path = every_file["disparity", fmt]
        text = flat(READERS[fmt](path))
        for expected in (title, "Payer: Commercial", as_of, "Generated"):
            assert expected.lower() in text.lower(), (fmt, expected)
        if fmt not in ("png", "svg"):  # images carry them in the drawing and metadata
            for label in ("Measure", "Stratifier", "Filters", "Reference group", "Period",
                          "Data as of", "Suppression", "Flag rule"):
                assert label in text, (fmt, label)
        assert "Wilson" in text and "docs/methods.md" in text, fmt  # the methods footnote

    deck = Presentation(every_file["disparity", "pptx"])
    pictures = [s for slide in deck.slides for s in slide.shapes if s.shape_type == 13]
    assert len(pictures) == 1
    with Image.open(io.BytesIO(pictures[0].image.blob)) as chart:
        assert chart.width >= 1000 and chart.height >= 400
    assert len(deck.slides) == 2  # the view, methods

    reader = PdfReader(every_file["disparity", "pdf"])
    assert len(reader.pages) == 1  # a one-pager
    assert len(reader.pages[0].images) == 1
    with Image.open(io.BytesIO(reader.pages[0].images[0].data)) as chart:
        assert chart.width >= 1000

    with Image.open(every_file["disparity", "png"]) as chart:
        assert chart.format == "PNG" and chart.width >= 2000  # 1,100 px at scale 2
        assert chart.text["Title"] == title
    svg = ElementTree.parse(every_file["disparity", "svg"]).getroot()
    assert svg.tag.endswith("svg") and len(list(svg.iter())) > 100  # a drawing, not a stub
    assert "Flag rule" in svg_text(every_file["disparity", "svg"])


def test_csv_and_xlsx_keep_numbers_as_numbers(every_file):
    rows = csv_rows(every_file["disparity", "csv"])
    header = next(i for i, row in enumerate(rows) if row[:2] == ["Race", "Cases"])
    table = pd.DataFrame(rows[header + 1:header + 6], columns=rows[header])
    black = table[table["Race"] == "Black or African American"].iloc[0]
    assert int(black["Cases"]) == 2400 and int(black["Met the measure"]) == 1560
    assert float(black["Rate (%)"]) == pytest.approx(65.0)
    assert float(black["Difference from reference (percentage points)"]) == pytest.approx(-15.0)
    assert black["Flagged"] == "yes"
    hidden = table[table["Suppressed"] == "yes"]
    assert set(hidden["Race"]) == {"Multiracial", "Native Hawaiian or Other Pacific Islander"}
    assert (hidden["Cases"] == "").all() and (hidden["Rate (%)"] == "").all()

    cells = xlsx_cells(every_file["disparity", "xlsx"])
    numeric = {round(c.value, 6) for c in cells if c.data_type == "n"}
    assert {2400, 1560, 65.0, -15.0} <= numeric


# --- safe by construction -----------------------------------------------------------------

def test_small_cells_never_appear_in_any_format(every_file, small_db):
    table = metrics.stratify("cbp", "race", database_url=small_db)
    assert set(table.loc[table["suppressed"], "race"]) == {
        "Multiracial", "Native Hawaiian or Other Pacific Islander"}
    for (name, fmt), path in every_file.items():
        if name == "site":
            continue
        text = READERS[fmt](path)
        found = numbers_in(text)
        assert not found & HIDDEN_COUNTS, (name, fmt, found & HIDDEN_COUNTS)
        assert not [n for n in found if n.startswith(HIDDEN_RATES)], (name, fmt)
        if name in ("disparity", "share") and fmt != "png":
            assert "Native Hawaiian or Other Pacific Islander" in flat(text), (name, fmt)
        if name == "disparity" and fmt not in ("png",):
            # The search does see the numbers a format holds: the shown ones are there.
            assert found & SHOWN_NUMBERS, (name, fmt)


def test_trend_hides_every_month_of_a_group_hidden_over_the_whole_period(small_db,
                                                                          image_server):
    raw = metrics.over_time("cbp", "race", database_url=small_db)
    rendered = snapshots.render(VIEWS["trend"], small_db)
    for group in ("Multiracial", "Native Hawaiian or Other Pacific Islander"):
        # Month by month, some cells of these groups (hidden over the whole period) pass the
        # rules on their own; together they would tell much of the hidden totals, so the
        # engine hides every month, and the export keeps it so.
        assert raw.loc[raw["race"] == group, "suppressed"].all()
        months = rendered.table[rendered.table["race"] == group]
        assert len(months) == 12 and months["suppressed"].all()
        assert months["denominator"].isna().all() and months["rate"].isna().all()
    shown = rendered.table[~rendered.table["suppressed"]]
    assert set(shown["race"]) == {"White", "Black or African American", "Asian"}


def test_exports_refuse_a_table_that_carries_a_suppressed_count(small_db, monkeypatch):
    good = metrics.stratify("cbp", "race", database_url=small_db)
    check_safe(good)
    leaking = good.copy()
    hidden = leaking.index[leaking["suppressed"]][0]
    leaking["denominator"] = leaking["denominator"].astype("float")
    leaking.loc[hidden, "denominator"] = 4877.0
    with pytest.raises(UnsafeExport, match="suppressed"):
        check_safe(leaking)
    small = good.copy()
    small.loc[0, "numerator"] = 7
    with pytest.raises(UnsafeExport, match="1 to 10"):
        check_safe(small)

    original = metrics.stratify

    def tampered(*args, **kwargs):
        table = original(*args, **kwargs)
        table.loc[table["suppressed"], "rate"] = 0.9984
        return table

    before = len(audit_entries(small_db, action="export_refused"))
    monkeypatch.setattr(metrics, "stratify", tampered)
    with pytest.raises(UnsafeExport):
        snapshots.export_bytes(View("disparity", "cbp", "race"), "csv", small_db, actor="t")
    refused = audit_entries(small_db, action="export_refused")
    assert len(refused) == before + 1 and "rate" in refused[0]["details"]["reason"]


def test_formula_like_site_names_are_neutralised_while_numbers_stay_numbers(every_file):
    rows = csv_rows(every_file["site", "csv"])
    header = next(i for i, row in enumerate(rows) if row[:2] == ["Site", "Cases"])
    table = [dict(zip(rows[header], row)) for row in rows[header + 1:header + 6]]
    names = [row["Site"] for row in table]
    assert sorted(names) == sorted(["Riverside"] + ["'" + site for site in FORMULA_SITES])
    column = "Difference from reference (percentage points)"
    differences = [row[column] for row in table if row["Site"] != "Riverside"]
    assert all(float(value) < 0 for value in differences)  # numbers, negative, unquoted
    assert not any(value.startswith("'") for value in differences)
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            assert not cell.startswith("-") or re.fullmatch(r"-\d+(\.\d+)?(e-?\d+)?", cell)

    cells = xlsx_cells(every_file["site", "xlsx"])
    assert not [c for c in cells if c.data_type == "f"]  # no formula anywhere
    texts = {c.value for c in cells if c.data_type == "s"}
    assert {"'" + site for site in FORMULA_SITES} <= texts
    assert not texts & set(FORMULA_SITES)
    negative = [c.value for c in cells if c.data_type == "n" and c.value < 0]
    assert len(negative) >= len(FORMULA_SITES)  # differences, still numbers

    assert snapshots.neutralise("\tx") == "'\tx" and snapshots.neutralise("\rx") == "'\rx"
    assert snapshots.neutralise("\uff1dSUM(A1)") == "'\uff1dSUM(A1)"
    assert snapshots.neutralise(-3.25) == -3.25 and snapshots.neutralise("Asian") == "Asian"


def test_file_names_are_built_from_safe_characters(every_file, tmp_path):
    safe = re.compile(r"[A-Za-z0-9_-]+\.(png|svg|csv|xlsx|pdf|pptx)")
    for path in every_file.values():
        assert safe.fullmatch(path.name), path.name
    for nasty in ("../../etc/passwd", '=HYPERLINK("x")', "CON", "a b/c\\d:e*?<>|", "",
                  ".hidden", "Clínica São José", "\x00\n\t"):
        name = safe_filename("disparity", nasty, ext="pdf")
        assert safe.fullmatch(name) and ".." not in name and not name.startswith("."), name
    assert safe_filename("CON", ext="csv") == "export_CON.csv"
    written = snapshots.write(snapshots.Export("x.csv", "text/csv", b"a"),
                              tmp_path / "my report (final).CSV")
    assert written == tmp_path / "my-report-final.csv" and written.read_bytes() == b"a"
    into = snapshots.write(snapshots.Export("x.csv", "text/csv", b"b"), f"{tmp_path}/new/")
    assert into == tmp_path / "new" / "x.csv"  # a trailing slash names a folder to create


# --- the audit log ------------------------------------------------------------------------

def test_every_export_is_recorded_in_the_audit_log(database_url, extracts, image_server):
    load(extracts["v1"], database_url)
    view = View("disparity", "cbp", "race")
    for fmt in FORMATS:
        made = snapshots.export_bytes(view, fmt, database_url, actor="jane@example.org")
        assert made.data and made.filename.endswith("." + fmt)
    rows = audit_entries(database_url, action="export")
    assert len(rows) == len(FORMATS)
    assert sorted(r["details"]["format"] for r in rows) == sorted(FORMATS)
    for row in rows:
        assert row["actor"] == "jane@example.org" and row["at"] is not None
        assert row["details"]["view"]["measure_id"] == "cbp"
        assert row["details"]["view"]["by"] == ["race"]
        assert row["details"]["data_batch_id"] == last_import(database_url)["batch_id"]


# --- since last time ----------------------------------------------------------------------

def test_a_frozen_snapshot_shows_the_change_since_last_time(database_url, extracts,
                                                            image_server):
    from pptx import Presentation

    load(extracts["v1"], database_url)
    view = View("disparity", "cbp", "race")
    assert snapshots.since_last_time(view, database_url) is None
    frozen = snapshots.freeze(view, database_url, actor="champion", label="October meeting")
    stored = snapshot_rows_frame(frozen, database_url)
    hidden = stored[stored["suppressed"]]
    assert len(hidden) == 2 and hidden[["denominator", "numerator", "rate"]].isna().all().all()

    load(extracts["v2"], database_url)
    changes = snapshots.since_last_time(view, database_url)
    black = changes[changes["group"] == "Black or African American"].iloc[0]
    assert black["difference_then"] == pytest.approx(0.65 - 0.80)
    assert black["difference_now"] == pytest.approx(0.75 - 2000 / 2500)
    assert black["change"] == pytest.approx(0.10)
    assert black["status"] == "gap narrower by 10.0 points"
    assert changes.loc[changes["group"] == "White", "status"].iloc[0] == "reference group"
    # Version 2's smallest group, Unknown, is the one complementary suppression hides now,
    # so Multiracial, hidden then, is shown now: each side shows what its table showed.
    assert changes.loc[changes["group"] == "Unknown", "status"].iloc[0] == \
        "new group, suppressed"
    multiracial = changes[changes["group"] == "Multiracial"].iloc[0]
    assert multiracial["status"] == "suppressed then" and pd.isna(multiracial["rate_then"])
    assert multiracial["rate_now"] == pytest.approx(1029 / 1373)
    assert pd.isna(multiracial["change"])
    nhpi = changes[changes["group"] == "Native Hawaiian or Other Pacific Islander"].iloc[0]
    assert nhpi["suppressed_then"] and nhpi["suppressed_now"]
    assert nhpi["status"] == "suppressed then and now"
    assert pd.isna(nhpi["rate_then"]) and pd.isna(nhpi["rate_now"]) and pd.isna(nhpi["change"])
    assert changes.attrs["completeness_then"] == pytest.approx(1.0)
    assert changes.attrs["completeness_now"] == pytest.approx(1 - 500 / 13450)
    assert changes.attrs["snapshot_id"] == frozen and changes.attrs["label"] == "October meeting"

    deck = snapshots.export_bytes(View("disparity", "cbp", "race", since_last_time=True),
                                  "pptx", database_url, actor="champion")
    slides = Presentation(io.BytesIO(deck.data)).slides
    assert len(slides) == 3  # the view, since last time, methods
    text = flat(" ".join(s.text_frame.text for s in slides[1].shapes if s.has_text_frame))
    assert "since last time" in text and "gap narrower by 10.0 points" in text
    assert "-15.0 points \u2192 -5.0 points" in text
    assert "100.0 % \u2192 96.3 %" in text  # race and ethnicity recorded, then and now
    assert "snapshot_freeze" in [r["action"] for r in audit_entries(database_url)]

    gaps = View("largest_gaps")
    snapshots.freeze(gaps, database_url, actor="champion")
    since = snapshots.since_last_time(gaps, database_url)
    assert since["status"].tolist() == ["no change"] * len(since) and len(since) >= 1
    phases = View("phases")
    snapshots.freeze(phases, database_url, actor="champion")
    assert snapshots.since_last_time(phases, database_url)["group"].tolist() == [
        "Commit", "Learn", "Data", "Vision", "Launch"]


# --- meeting packs ------------------------------------------------------------------------

def test_a_saved_pack_regenerates_on_new_data(database_url, extracts, image_server):
    from pptx import Presentation
    from pypdf import PdfReader

    load(extracts["v1"], database_url)
    pack = snapshots.Pack("Equity huddle", (
        View("largest_gaps", top=5),
        View("disparity", "cbp", "race"),
        View("phases"),
        View("control", "cbp", "race", group="Black or African American"),
    ))
    snapshots.save_pack("huddle", pack, database_url, actor="champion")
    stored = json.loads(snapshots.schema.pack_row("huddle", database_url)["views"])
    assert [v["kind"] for v in stored["views"]] == [
        "largest_gaps", "disparity", "phases", "control"]  # specifications, not images

    def deck_text(made) -> tuple[int, str]:
        slides = Presentation(io.BytesIO(made.data)).slides
        return len(slides), flat(pptx_text(io.BytesIO(made.data)))

    first = snapshots.build_pack(snapshots.load_pack("huddle", database_url), "pptx",
                                 database_url, actor="champion", name="huddle")
    count, before = deck_text(first)
    assert count == 6  # title, four views, methods
    assert "Black or African American (65.0 %)" in before
    batch_1 = last_import(database_url)["batch_id"]
    assert f"import batch {batch_1})" in before

    load(extracts["v2"], database_url)
    again = snapshots.build_pack(snapshots.load_pack("huddle", database_url), "pptx",
                                 database_url, actor="champion", name="huddle")
    count, after = deck_text(again)
    assert count == 6
    assert "Black or African American (65.0 %)" not in after
    assert "Black or African American (75.0 %)" in after
    assert f"import batch {last_import(database_url)['batch_id']})" in after
    assert last_import(database_url)["batch_id"] != batch_1

    document = snapshots.build_pack(pack, "pdf", database_url, actor="champion")
    reader = PdfReader(io.BytesIO(document.data))
    assert len(reader.pages) == 6 and "Methods" in reader.pages[-1].extract_text()
    packs = [r for r in audit_entries(database_url, action="export_pack")]
    assert len(packs) == 3 and {r["details"]["format"] for r in packs} == {"pptx", "pdf"}


# --- the specification and the command line -----------------------------------------------

def test_views_round_trip_as_json_and_refuse_bad_specifications():
    view = View("control", "cbp", ["race"], where={"site": ["B", "A"], "payer": "Medicaid"},
                period_from="2025-01", period_to="2025-06", group="Asian",
                annotations=[("2025-03", "Started")])
    assert View.from_json(view.to_json()) == view
    assert view.where == (("payer", ("Medicaid",)), ("site", ("A", "B")))
    pack = snapshots.Pack("T", (view, View("phases")))
    assert snapshots.Pack.from_json(pack.to_json()) == pack
    for bad, message in (
        (dict(kind="pie"), "unknown view kind"),
        (dict(kind="disparity", by="race"), "needs a measure"),
        (dict(kind="disparity", measure_id="cbp", by="shoe_size"), "unknown stratifier"),
        (dict(kind="trend", measure_id="cbp", by=["race", "payer"]), "at most 1"),
        (dict(kind="disparity", measure_id="cbp", by="race", period_from="2025-13"),
         "YYYY-MM"),
        (dict(kind="control", measure_id="cbp", by="race"), "needs the group"),
    ):
        with pytest.raises(ValueError, match=message):
            View(**bad)
    with pytest.raises(ValueError, match="unknown view field"):
        View.from_dict({"kind": "phases", "colour": "red"})

    from datetime import date

    goal = {"goal_id": 3, "title": "Close the BP gap", "measure_id": "cbp",
            "stratifier": "race", "group_name": "Black or African American",
            "reference_group": "White", "filters": '{"site": ["Riverside"]}'}
    run_chart = View.for_goal(goal, [{"name": "Outreach", "start_date": date(2025, 6, 3)}])
    assert run_chart == View("control", "cbp", "race", where={"site": "Riverside"},
                             reference="White", group="Black or African American",
                             annotations=[("2025-06", "Outreach started")],
                             title="Goal: Close the BP gap")


def test_parallel_largest_gaps_equal_metrics(small_db):
    from snapshots.views import largest_gaps

    expected = metrics.largest_gaps(database_url=small_db)
    assert len(expected) >= 1
    pd.testing.assert_frame_equal(largest_gaps(None, None, None, "largest", small_db),
                                  expected)


def test_command_line_functions_write_files(small_db, image_server, tmp_path):
    path = snapshots.snapshot("cbp", "race", {"site": ["Riverside", "+1"]}, "2025-01",
                              "2025-06", "csv", tmp_path, database_url=small_db,
                              actor="cron")
    assert path.parent == tmp_path and path.name.startswith("disparity_cbp_race_filtered_")
    text = csv_text(path)
    assert "Site: +1, Riverside" in text and "Jan 2025 to Jun 2025" in text
    with pytest.raises(ValueError, match="no counted cases"):
        snapshots.snapshot("cbp", "race", {"site": "Nowhere"}, fmt="csv", out=tmp_path,
                           database_url=small_db)
    pack_file = tmp_path / "pack.json"
    pack_file.write_text(snapshots.Pack("Weekly", (View("phases"),)).to_json())
    built = snapshots.pack(pack_file, "pdf", tmp_path / "weekly.pdf", database_url=small_db)
    assert built == tmp_path / "weekly.pdf" and built.read_bytes().startswith(b"%PDF")
    assert audit_entries(small_db, action="export_pack")[0]["actor"] == \
        f"{snapshots.views.default_actor()} (command line)"



# --- the data-quality view: completeness by site ------------------------------------------

COMPLETENESS_SITES = {  # site: (patients seen, race recorded with a known value)
    "Alder": (437, 431),  # 6 not known: a small cell
    "Birch": (389, 301),
    "Cedar": (256, 256),
    "Dogwood": (7, 2),  # 7 patients: a small cell
}
# (The two hidden sites together lack a race for 6 + 5 = 11 patients: more than a small cell,
# so complementary suppression need not hide a third site.)


@pytest.fixture(scope="session")
def completeness_db(tmp_path_factory):
    """Race recorded at four sites, two of them with small cells (see above); the missing
    ones alternate between empty, Unknown and Asked but no answer."""
    from store import import_extract
    from store.engine import dispose_engine

    folder = tmp_path_factory.mktemp("completeness-extract")
    patients, results, number = [], [], 0
    not_known = ["", "Unknown", "Asked but no answer"]
    for site, (seen, known) in COMPLETENESS_SITES.items():
        for index in range(seen):
            number += 1
            race = "White" if index < known else not_known[index % 3]
            patients.append([f"P{number:05d}", "1970", "female", race,
                             "Not Hispanic or Latino", "English", "no", "Commercial"])
            results.append([f"P{number:05d}", "cbp", "2025-03", site, str(index % 2), "1"])
    files = {}
    for name, header, rows in (
        ("patients", ["patient_id", "birth_year", "sex", "race", "ethnicity",
                      "preferred_language", "interpreter_needed", "payer"], patients),
        ("results", ["patient_id", "measure_id", "period", "site", "numerator",
                     "denominator"], results),
    ):
        files[name] = folder / f"{name}.csv"
        with open(files[name], "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    url = f"sqlite:///{folder / 'equity.db'}"
    import_extract(files["patients"], files["results"], database_url=url)
    yield url
    dispose_engine(url)


def test_completeness_by_site_exports_suppress_small_cells_in_every_format(
        completeness_db, image_server, tmp_path):
    view = View("completeness", by="site", field="race")
    table = snapshots.render(view, completeness_db).table
    shown = table.set_index("site")
    assert set(table.loc[table["suppressed"], "site"]) == {"Alder", "Dogwood"}
    assert shown.loc["Birch", "numerator"] == 301 and shown.loc["Cedar", "rate"] == 1.0
    hidden_numbers = {"437", "431", "98.6", "98.63"}
    for fmt in FORMATS:
        path = snapshots.export(view, fmt, tmp_path, completeness_db, actor="tests")
        text = READERS[fmt](path)
        found = numbers_in(text)
        assert not found & hidden_numbers, (fmt, found & hidden_numbers)
        assert "Race recorded, by site" in flat(text), fmt
        if fmt in ("csv", "xlsx", "pdf", "pptx", "svg"):
            # The shown site's numbers are there (the search does see them), the hidden
            # sites by name only.
            assert {"389", "301"} <= found or "77.4" in found, fmt
            assert "Alder" in text and "Dogwood" in text, fmt
    rows = csv_rows(tmp_path / next(p.name for p in tmp_path.iterdir()
                                    if p.suffix == ".csv"))
    alder = next(row for row in rows if row and row[0] == "Alder")
    assert alder[1:4] == ["", "", ""] and alder[-1] == "yes"
    with pytest.raises(ValueError, match="no filters"):
        View("completeness", by="site", where={"payer": "Medicaid"})
    with pytest.raises(ValueError, match="not saved yet"):
        snapshots.freeze(view, completeness_db)
