"""Taking views to a meeting from the app (AppTest): download buttons on the overview, the
explorer and a goal; the meeting pack page (collect, order, build, save, reopen); saving a
view's numbers and seeing "since last time". Files are opened with their own readers.

Tests that write use a private copy of the sample database."""
from __future__ import annotations

import io

import pytest
from pptx import Presentation
from pypdf import PdfReader

import snapshots
from tests.conftest import copy_sqlite
from tests.test_pages import app_on
from tests.test_snapshots import image_server  # noqa: F401  (a fixture)


@pytest.fixture
def sample_copy(sample_sqlite, tmp_path):
    from store.engine import dispose_engine

    url = copy_sqlite(sample_sqlite, tmp_path / "equity.db")
    yield url
    dispose_engine(url)


CBP_BY_RACE = "Controlling high blood pressure by race"


def downloads(app) -> dict[str, list[str]]:
    """Label -> file ids of every download button on the page."""
    found: dict[str, list[str]] = {}
    for button in app.get("download_button"):
        found.setdefault(button.proto.label, []).append(button.proto.deferred_file_id)
    return found


def deck_text(data: bytes) -> str:
    deck = Presentation(io.BytesIO(data))
    return " ".join(shape.text_frame.text for slide in deck.slides for shape in slide.shapes
                    if shape.has_text_frame)


def button(app, label: str):
    return next(b for b in app.button if b.label == label)


def test_the_overview_exports_its_gaps_and_the_phase_progress(sample_sqlite, monkeypatch,
                                                               deferred_files, image_server):  # noqa: F811
    app = app_on(sample_sqlite, monkeypatch)
    found = downloads(app)
    # Two panels: the largest gaps and the progress through the phases.
    assert len(found["Slides (PPTX)"]) == 2 and len(found["Table (CSV)"]) == 2
    gaps_csv, phases_csv = (deferred_files[i] for i in found["Table (CSV)"])
    assert gaps_csv[0].startswith("largest_gaps") and phases_csv[0].startswith("phases")
    text = gaps_csv[1]().decode("utf-8-sig")
    assert "Largest meaningful gaps" in text and "Flag rule" in text
    assert "Commit" in phases_csv[1]().decode("utf-8-sig")
    name, make = deferred_files[found["Slides (PPTX)"][0]]
    assert name.endswith(".pptx") and "largest meaningful gaps" in deck_text(make()).lower()


def test_a_pack_is_collected_ordered_built_saved_and_reopened(sample_copy, monkeypatch,
                                                              deferred_files, image_server):  # noqa: F811
    app = app_on(sample_copy, monkeypatch, "pages/explorer.py")
    button(app, "Add to the meeting pack").click().run()
    assert button(app, "In the meeting pack").disabled

    app.switch_page("pages/pack.py").run()
    assert not app.exception, [e.value for e in app.exception]
    listed = [m.value for m in app.markdown if m.value.startswith("1.")]
    assert listed and CBP_BY_RACE in listed[0]

    app.switch_page("pages/overview.py").run()
    buttons = [b for b in app.button if b.label == "Add to the meeting pack"]
    buttons[0].click().run()  # the largest gaps
    app.switch_page("pages/pack.py").run()
    order = [m.value for m in app.markdown if m.value[:2] in ("1.", "2.")]
    assert CBP_BY_RACE in order[0] and "Largest meaningful gaps" in order[1]
    button_up = [b for b in app.button if b.label == "Up"][1]
    button_up.click().run()
    order = [m.value for m in app.markdown if m.value[:2] in ("1.", "2.")]
    assert "Largest meaningful gaps" in order[0] and CBP_BY_RACE in order[1]

    app.text_input(key="meeting_pack_title").set_value("Quality committee, December").run()
    found = downloads(app)
    name, make = deferred_files[found["Pack as slides (PPTX)"][0]]
    assert name.startswith("pack_Quality-committee") and name.endswith(".pptx")
    deck = Presentation(io.BytesIO(make()))
    # Title, the two views, methods.
    assert len(deck.slides) == 4
    assert "Quality committee, December" in deck_text(make())
    name, make = deferred_files[found["Pack as PDF"][0]]
    pages = PdfReader(io.BytesIO(make())).pages
    assert len(pages) >= 4 and "Quality committee" in pages[0].extract_text()

    app.text_input(key="pack_save_name").set_value("committee")
    next(b for b in app.button if b.label == "Save the pack").click().run()
    assert any("Saved as" in s.value for s in app.success)
    saved = snapshots.load_pack("committee", sample_copy)
    assert saved.title == "Quality committee, December"
    assert [v.kind for v in saved.views] == ["largest_gaps", "disparity"]

    button(app, "Empty the pack").click().run()
    assert any("The pack is empty" in i.value for i in app.info)
    button(app, "Open").click().run()
    order = [m.value for m in app.markdown if m.value[:2] in ("1.", "2.")]
    assert len(order) == 2 and "Largest meaningful gaps" in order[0]


def test_an_empty_pack_starts_from_the_standard_pack(sample_copy, monkeypatch):
    app = app_on(sample_copy, monkeypatch, "pages/pack.py")
    button(app, "Start from the standard pack").click().run()
    labels = [m.value for m in app.markdown if m.value[:1].isdigit()]
    assert any("Largest meaningful gaps" in m for m in labels)
    assert any("Progress through the five phases" in m for m in labels)


def test_saved_numbers_show_what_changed_since_last_time(sample_copy, monkeypatch,
                                                         deferred_files, image_server):  # noqa: F811
    app = app_on(sample_copy, monkeypatch, "pages/explorer.py")
    assert not [t for t in app.toggle if t.label.startswith("Show what changed")]
    button(app, "Save these numbers for the next meeting").click().run()
    assert any("Saved as snapshot" in s.value for s in app.success)
    assert snapshots.snapshot_list(sample_copy)[0]["kind"] == "disparity"

    toggle = next(t for t in app.toggle if t.label.startswith("Show what changed"))
    toggle.set_value(True).run()
    assert not app.exception, [e.value for e in app.exception]
    words = " ".join(m.value for m in app.markdown)
    assert "Since last time: snapshot" in words and "reference group" in words
    found = downloads(app)
    name, make = deferred_files[found["Slides (PPTX)"][0]]
    # The view slide, the changes slide and the methods slide.
    deck = Presentation(io.BytesIO(make()))
    assert len(deck.slides) == 3 and "Since last time" in deck_text(make())
    entries = snapshots.audit_entries(sample_copy)
    assert {"snapshot_freeze", "export"} <= {e["action"] for e in entries}


def test_the_data_quality_page_exports_completeness_by_site(sample_sqlite, monkeypatch,
                                                            deferred_files):
    app = app_on(sample_sqlite, monkeypatch, "pages/quality.py")
    found = downloads(app)
    name, make = deferred_files[found["Table (CSV)"][0]]
    assert name.startswith("completeness_site_race")
    text = make().decode("utf-8-sig")
    assert "Race recorded, by site" in text and "Patients seen" in text
    assert "Riverside University Hospital" in text
    # Completeness views are not frozen: no save button there.
    assert not [b for b in app.button if b.label.startswith("Save these numbers")]
