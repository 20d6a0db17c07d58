"""The tracker's pages (Commit, Learn, Vision, Launch) through Streamlit's AppTest: each page
runs on sample data and on an empty database, saves what is typed, keeps what is typed across
reruns and refused saves, and says "changed by X — reload" when someone else saved first.

Each page script is run directly (as the frame will run it) with the sidebar's filters preset
in session state; tests that write use a copy of the sample database."""
from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from streamlit.testing.v1 import AppTest

import tracker
from tests.conftest import REPO, copy_sqlite
from ui.filters import GlobalFilters

PAGES = ["commit", "learn", "vision", "launch"]


@pytest.fixture(scope="module")
def sample_copy(sample_sqlite, tmp_path_factory):
    """A private copy of the sample database for this module (its cached aggregates are
    shared by the tests that write)."""
    from store.engine import dispose_engine

    url = copy_sqlite(sample_sqlite, tmp_path_factory.mktemp("tracker-pages") / "equity.db")
    yield url
    dispose_engine(url)


@pytest.fixture
def writable_sample(sample_copy):
    """The sample data with an empty tracker: every tracker row of earlier tests removed."""
    from sqlalchemy import delete

    from store.engine import get_engine
    from tracker import schema
    from tracker.seed import seed

    tracker.ensure_tables(sample_copy)
    with get_engine(sample_copy).begin() as conn:
        for table in reversed(schema.TABLES):
            conn.execute(delete(table))
    seed(get_engine(sample_copy))
    return sample_copy


def page_on(url: str, monkeypatch, name: str, user: str = "Ana",
            filters: GlobalFilters | None = None) -> AppTest:
    monkeypatch.setenv("EQUITY_DATABASE_URL", url)
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")
    app = AppTest.from_file(str(REPO / "pages" / f"{name}.py"), default_timeout=120)
    app.session_state["filters"] = filters or GlobalFilters(None, None, [])
    app.session_state["tracker_user"] = user
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(app: AppTest, *kinds: str) -> str:
    return " ".join(str(e.value) for kind in kinds for e in app.get(kind))


def click(app: AppTest, key: str) -> AppTest:
    app.button(key=key).click().run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def figure(app: AppTest, index: int = 0) -> dict:
    return json.loads(app.get("plotly_chart")[index].proto.spec)


def progress_text(app: AppTest) -> str:
    return app.get("progress")[0].proto.text


# --- every page runs ----------------------------------------------------------------------
@pytest.mark.parametrize("name", PAGES)
def test_every_tracker_page_runs_on_sample_data(name, sample_sqlite, monkeypatch):
    # Read only: the page adds the tracker's seed rows (as the sidebar does), nothing else.
    app = page_on(sample_sqlite, monkeypatch, name)
    assert app.title and app.title[0].value.startswith(name.capitalize())
    assert progress_text(app).startswith(f"{name.capitalize()}: ")
    assert app.text_input(key="tracker_user_input").value == "Ana"
    assert app.get("expander"), "the phase's checklist is shown"


@pytest.mark.parametrize("name", PAGES)
def test_every_tracker_page_runs_on_an_empty_database(name, sqlite_url, monkeypatch):
    app = page_on(sqlite_url, monkeypatch, name)
    assert progress_text(app).startswith(f"{name.capitalize()}: 0 %")
    if name == "vision":
        assert "load data first" in texts(app, "info")
    if name == "launch":
        assert "No chartered goal yet" in texts(app, "info")


# --- Commit -------------------------------------------------------------------------------
def test_commit_answers_a_question_adds_a_champion_and_signs(sqlite_url, monkeypatch):
    app = page_on(sqlite_url, monkeypatch, "commit")
    assert "Commit: 0 %" in progress_text(app)
    app.radio(key="question:known.access:answer").set_value("Partly").run()
    app.text_input(key="question:known.access:note").set_value("Only for ED visits").run()
    click(app, "question:known.access:save")
    stored = next(q for q in tracker.self_assessment(sqlite_url)
                  if q["question_id"] == "known.access")
    assert (stored["answer"], stored["note"], stored["changed_by"]) == (
        "Partly", "Only for ED visits", "Ana")
    assert stored["answered_on"] == date.today()
    assert "Answer saved." in texts(app, "success")

    app.text_input(key="champion:new:name").set_value("Ana Ruiz").run()
    app.text_input(key="champion:new:department").set_value("Medicine").run()
    click(app, "champion:new:add")
    assert [c["name"] for c in tracker.champions(sqlite_url)] == ["Ana Ruiz"]
    assert app.text_input(key="champion:new:name").value == ""  # the form starts afresh
    assert "Commit: 17 %" in progress_text(app)  # 1 of 6: the champions item

    app.text_area(key="commitment:text").set_value("We commit to equity.").run()
    click(app, "commitment:save")
    app.text_input(key="commitment:sign:signer").set_value("Dr Chen").run()
    click(app, "commitment:sign:sign")
    assert tracker.commitment(sqlite_url)["signed_by"] == "Dr Chen"
    assert "Signed by Dr Chen" in texts(app, "success")
    assert "Commit: 33 %" in progress_text(app)


def test_the_crosswalk_tab_shows_the_mapping(sqlite_url, monkeypatch):
    app = page_on(sqlite_url, monkeypatch, "commit")
    labels = {metric.label: metric.value for metric in app.metric}
    assert labels == {"CMS HCHE: elements met": "0 of 5", "TJC equity: elements met": "0 of 6"}
    markdown = texts(app, "markdown")
    assert "**○ Domain 1: equity is a strategic priority** — not met yet" in markdown
    assert "- ○ Commit: Commitment statement signed by leaders *(decided by the data)*" in markdown
    # A champion on the roster: its item is done, and shows so under CMS domain 5.
    tracker.add_champion(sqlite_url, "Ana", "Ana Ruiz")
    app.run()
    assert "- ✓ Commit: Equity champions identified (champions roster)" in texts(app,
                                                                                "markdown")


def test_a_conflicting_save_keeps_the_typed_text_and_says_who_changed_it(sqlite_url,
                                                                       monkeypatch):
    app = page_on(sqlite_url, monkeypatch, "commit")
    key = "item:commit.leader"
    assert app.text_input(key=f"{key}:owner").value == ""
    # Ben saves the same item from another browser.
    entry = tracker.item(sqlite_url, "commit.leader")
    tracker.update_item(sqlite_url, "commit.leader", entry["version"], "Ben", owner="Dr Chen")
    app.text_input(key=f"{key}:owner").set_value("Dr Ruiz").run()
    click(app, f"{key}:save")
    errors = texts(app, "error")
    assert "changed by Ben at" in errors and "reload" in errors
    assert app.text_input(key=f"{key}:owner").value == "Dr Ruiz"  # nothing typed is lost
    assert tracker.item(sqlite_url, "commit.leader")["owner"] == "Dr Chen"
    assert "Changed by Ben" in texts(app, "warning")
    click(app, f"{key}:reload")
    assert app.text_input(key=f"{key}:owner").value == "Dr Chen"
    app.text_input(key=f"{key}:owner").set_value("Dr Chen and Dr Ruiz").run()
    click(app, f"{key}:save")
    assert tracker.item(sqlite_url, "commit.leader")["owner"] == "Dr Chen and Dr Ruiz"
    assert [c["changed_by"] for c in tracker.history(sqlite_url, "item", "commit.leader")
            ] == ["Ana", "Ben"]


def test_an_untouched_form_follows_someone_elses_save(sqlite_url, monkeypatch):
    app = page_on(sqlite_url, monkeypatch, "commit")
    entry = tracker.item(sqlite_url, "commit.plan")
    tracker.update_item(sqlite_url, "commit.plan", entry["version"], "Ben", owner="Board")
    app.run()
    assert app.text_input(key="item:commit.plan:owner").value == "Board"
    assert "Changed by" not in texts(app, "warning")


def test_nothing_typed_is_lost_on_a_rerun(sqlite_url, monkeypatch):
    app = page_on(sqlite_url, monkeypatch, "commit")
    app.text_input(key="champion:new:name").set_value("Dana Lee").run()
    app.text_area(key="commitment:text").set_value("Draft words").run()
    app.text_input(key="tracker_user_input").set_value("Ben").run()  # another widget: rerun
    assert app.text_input(key="champion:new:name").value == "Dana Lee"
    assert app.text_area(key="commitment:text").value == "Draft words"
    click(app, "champion:new:add")
    assert [(c["name"], c["changed_by"]) for c in tracker.champions(sqlite_url)] == [
        ("Dana Lee", "Ben")]
    assert app.text_area(key="commitment:text").value == "Draft words"  # still unsaved


def _form_on_and_off():
    import streamlit as st

    from ui.tracker_forms import Edit

    if st.session_state.get("shown", True):
        edit = Edit("note:1", {"text": "stored"}, 1, "Ana", None)
        st.text_input("Text", key=edit.key("text"))


def test_typed_text_survives_leaving_the_page_and_coming_back():
    app = AppTest.from_function(_form_on_and_off)
    app.run()
    assert app.text_input(key="note:1:text").value == "stored"
    app.text_input(key="note:1:text").set_value("typed, not saved").run()
    app.session_state["shown"] = False  # another page: Streamlit drops the widget's state
    app.run()
    assert not app.text_input
    app.session_state["shown"] = True
    app.run()
    assert app.text_input(key="note:1:text").value == "typed, not saved"


def test_a_refused_save_explains_why(sqlite_url, monkeypatch):
    app = page_on(sqlite_url, monkeypatch, "commit")
    click(app, "champion:new:add")  # no name
    assert "needs a name" in texts(app, "error")
    assert tracker.champions(sqlite_url) == []


# --- Learn --------------------------------------------------------------------------------
def test_learn_logs_a_session_and_shows_resources_and_glossary(sqlite_url, monkeypatch):
    app = page_on(sqlite_url, monkeypatch, "learn")
    assert "No session logged yet." in texts(app, "info")
    app.text_input(key="learning:new:topic").set_value("Levels of racism").run()
    app.selectbox(key="learning:new:format").set_value("Grand rounds").run()
    app.number_input(key="learning:new:participants").set_value(42).run()
    click(app, "learning:new:add")
    [entry] = tracker.learning_log(sqlite_url)
    assert (entry["topic"], entry["format"], entry["participants"]) == (
        "Levels of racism", "Grand rounds", 42)
    log = app.dataframe[0].value
    assert list(log["Topic"]) == ["Levels of racism"]
    assert "Learn: 25 %" in progress_text(app)  # 1 of 4 (the algorithms item is in Launch)
    markdown = texts(app, "markdown")
    assert "Jones CP. Levels of racism" in markdown
    assert "**Health equity**" in markdown and "**PDSA cycle**" in markdown
    assert "Sources: " in texts(app, "caption")


# --- Vision -------------------------------------------------------------------------------
def test_vision_charters_a_goal_from_a_flagged_gap(writable_sample, monkeypatch):
    app = page_on(writable_sample, monkeypatch, "vision")
    assert "No goal yet" in texts(app, "info")
    gap = app.selectbox(key="goal_gap")
    assert gap.value != "another" and "flagged" in gap.format_func(gap.value)
    labels = [metric.label for metric in app.metric]
    assert "Cases in the group" in labels and any(label.startswith("Reference: ")
                                                   for label in labels)
    markdown = texts(app, "markdown")
    assert markdown.count("✓ **") >= 5, "the suggested target and deadline are SMART"
    prefix = next(k.key.rsplit(":", 1)[0] for k in app.text_input
                  if k.key and k.key.startswith("goal:new:") and k.key.endswith(":title"))
    app.text_input(key=f"{prefix}:title").set_value("Close the gap on the first flag").run()
    click(app, f"{prefix}:charter")
    [goal] = tracker.goals(writable_sample)
    assert (goal["title"], goal["status"], goal["created_by"]) == (
        "Close the gap on the first flag", "chartered", "Ana")
    assert goal["flagged"] and goal["baseline_n"] >= 30
    assert "Chartered: Close the gap on the first flag" in texts(app, "success")
    assert "Project charter: Close the gap on the first flag" in texts(app, "markdown")
    assert app.get("download_button")
    assert "Vision: 50 %" in progress_text(app)


def test_vision_refuses_an_implausible_target(sample_sqlite, monkeypatch):
    app = page_on(sample_sqlite, monkeypatch, "vision")
    prefix = next(k.key.rsplit(":", 1)[0] for k in app.number_input
                  if k.key and k.key.startswith("goal:new:"))
    app.number_input(key=f"{prefix}:target").set_value(99.0).run()
    assert "✗ **Achievable**" in texts(app, "markdown")
    assert app.button(key=f"{prefix}:charter").disabled
    assert tracker.goals(sample_sqlite) == []


def test_a_team_chosen_gap_needs_a_reason(sample_sqlite, monkeypatch):
    app = page_on(sample_sqlite, monkeypatch, "vision")
    app.selectbox(key="goal_gap").set_value("another").run()
    app.selectbox(key="goal_by").set_value("payer").run()
    app.selectbox(key="goal_group").set_value("Medicare").run()
    if "reference group" in texts(app, "warning"):
        pytest.skip("Medicare is the reference group of this measure")
    assert "✗ **Relevant**" in texts(app, "markdown")
    prefix = next(k.key.rsplit(":", 1)[0] for k in app.text_area
                  if k.key and k.key.endswith("|Medicare:relevance"))
    app.text_area(key=f"{prefix}:relevance").set_value("Raised by patients").run()
    assert "✓ **Relevant** — A gap the team chose: Raised by patients" in texts(app,
                                                                                 "markdown")


# --- Launch -------------------------------------------------------------------------------
def chartered_goal(url: str) -> dict:
    """Controlling high blood pressure for Black patients: a gap the sample data builds in
    (34.9 % against 45.0 %, Hayes 2022), halfway to the plausible limit by next year."""
    base = tracker.baseline("cbp", "race", "Black or African American", database_url=url)
    target = (base["baseline_rate"] + tracker.plausible_limit(base)) / 2
    return tracker.create_goal(url, "Ana", base, "Launch test goal", target,
                               date.today() + timedelta(days=365), charter=True)


def test_launch_shows_status_and_a_run_chart_with_the_goal_and_the_start(writable_sample,
                                                                         monkeypatch):
    goal = chartered_goal(writable_sample)
    tracker.add_intervention(writable_sample, "Ana", goal["goal_id"], "Text reminders",
                             date(2026, 3, 1))
    app = page_on(writable_sample, monkeypatch, "launch")
    status = next(m for m in app.metric if m.label == "Status")
    assert status.value in tracker.GOAL_STATUSES
    assert "Launch: 20 %" in progress_text(app)  # 1 of 5: the intervention item is decided
    run = figure(app, 0)
    names = {trace.get("name") for trace in run["data"]}
    assert goal["group_name"] in names and f"{goal['reference_group']} (reference)" in names
    shapes = {shape.get("name") for shape in run["layout"].get("shapes", [])}
    assert {"goal", "start"} <= shapes
    notes = [a.get("text", "") for a in run["layout"].get("annotations", [])]
    assert any(note.startswith("Goal ") for note in notes)
    assert "Start: Text reminders" in notes
    goal_line = next(s for s in run["layout"]["shapes"] if s.get("name") == "goal")
    assert goal_line["y0"] == pytest.approx(goal["target_rate"] * 100)
    control = figure(app, 1)
    assert any(a.get("text") == "Start: Text reminders" for a in
               control["layout"].get("annotations", []))


def test_launch_adds_an_intervention_and_a_pdsa_cycle(writable_sample, monkeypatch):
    goal = chartered_goal(writable_sample)
    app = page_on(writable_sample, monkeypatch, "launch")
    key = f"intervention:new:{goal['goal_id']}"
    app.text_input(key=f"{key}:name").set_value("Community health workers").run()
    app.date_input(key=f"{key}:start_date").set_value(date(2026, 5, 1)).run()
    click(app, f"{key}:add")
    [intervention] = tracker.interventions(writable_sample, goal["goal_id"])
    assert (intervention["name"], intervention["start_date"]) == (
        "Community health workers", date(2026, 5, 1))
    cycle = f"pdsa:new:{intervention['intervention_id']}"
    app.text_area(key=f"{cycle}:plan").set_value("Visit 10 patients; expect 6 controlled").run()
    click(app, f"{cycle}:add")
    [stored] = tracker.pdsa_cycles(writable_sample, intervention["intervention_id"])
    assert stored["number"] == 1 and stored["plan"].startswith("Visit 10 patients")
    notes = [a.get("text", "") for a in figure(app, 0)["layout"].get("annotations", [])]
    assert "Start: Community health workers" in notes
