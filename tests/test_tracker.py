"""The five-phase tracker's domain, on SQLite and PostgreSQL: the seeded checklist and its
cross-walk, progress rules decided by the data, SMART goals, goal status from the data,
version-checked edits with an audit trail, and persistence across restarts."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import func, insert, select

import tracker
from store.engine import dispose_engine, ensure_schema, get_engine
from store.schema import measures, patients, results
from tests.conftest import REPO
from tracker import schema

PHASE_IDS = ["commit", "learn", "data", "vision", "launch"]
GROUP, REFERENCE = "Black or African American", "White"


# --- helpers ------------------------------------------------------------------------------
def load_counts(url: str, measure_id: str, cells: dict, higher_is_better: bool = True,
                missing_race: int = 0) -> None:
    """Write one proportion measure with exactly these counts: {(race, 'YYYY-MM'): (cases,
    events)}; `missing_race` extra patients with no race (one result in the first month)."""
    ensure_schema(url)
    with get_engine(url).begin() as conn:
        start = conn.execute(select(func.coalesce(func.max(patients.c.patient_key), 0))
                             ).scalar_one()
        conn.execute(insert(measures).values(
            measure_id=measure_id, name=f"Measure {measure_id}", kind="proportion",
            higher_is_better=higher_is_better, unit="%"))
        people, rows = [], []
        key = start
        first_period = min(period for _, period in cells)
        cells = {**cells, (None, first_period): (missing_race, 0)} if missing_race else cells
        for (race, period), (cases, events) in cells.items():
            for index in range(cases):
                key += 1
                people.append({"patient_key": key, "patient_id": f"P{key}",
                               "birth_year": 1960, "sex": "Female", "race": race,
                               "ethnicity": "Not Hispanic or Latino",
                               "preferred_language": "English", "interpreter_needed": "No",
                               "payer": "Commercial", "adi_decile": 5})
                rows.append({"patient_key": key, "measure_id": measure_id, "period": period,
                             "site": "Main", "numerator": int(index < events),
                             "denominator": 1, "value": None})
        conn.execute(insert(patients), people)
        conn.execute(insert(results), rows)


def months(first: str, count: int) -> list[str]:
    year, month = map(int, first.split("-"))
    listed = []
    for step in range(count):
        index = year * 12 + month - 1 + step
        listed.append(f"{index // 12:04d}-{index % 12 + 1:02d}")
    return listed


def series(before: tuple[int, int], after: tuple[int, int], reference=(150, 105)) -> dict:
    """Six baseline months (2025-01..06) and six after (2025-07..12) for the group; the
    reference group steady."""
    cells = {}
    for index, period in enumerate(months("2025-01", 12)):
        cells[(GROUP, period)] = before if index < 6 else after
        cells[(REFERENCE, period)] = reference
    return cells


def item_of(url: str, item_id: str) -> dict:
    return tracker.item(url, item_id)


def progress(url: str) -> dict:
    return {phase["id"]: phase for phase in tracker.phase_progress(url)}


# --- the seeded checklist -----------------------------------------------------------------
def test_the_checklist_is_seeded_in_phase_order_with_a_visible_crosswalk(database_url):
    tracker.ensure_tables(database_url)
    phases = tracker.checklist(database_url)
    assert [p["id"] for p in phases] == PHASE_IDS
    assert [p["name"] for p in phases] == ["Commit", "Learn", "Data", "Vision", "Launch"]
    assert all(p["items"] for p in phases)
    elements = {e["id"] for f in tracker.frameworks()["frameworks"] for e in f["elements"]}
    assert {"cms.1", "cms.5", "tjc.1", "tjc.6"} <= elements and len(elements) == 11
    mapped = {element for p in phases for i in p["items"] for element in i["crosswalk"]}
    assert mapped <= elements
    assert mapped == elements, f"framework elements with no item: {elements - mapped}"
    rows = tracker.crosswalk(database_url)
    assert len(rows) == 11 and all(row["items"] for row in rows)
    assert tracker.framework_scores(rows) == {"CMS HCHE": (0, 5), "TJC equity": (0, 6)}
    # Nothing is done on an empty database.
    assert all(p["percent"] == 0 for p in phases)


def test_seeding_again_adds_nothing_and_keeps_the_organisations_edits(database_url):
    tracker.ensure_tables(database_url)
    entry = item_of(database_url, "commit.leader")
    tracker.update_item(database_url, "commit.leader", entry["version"], "Ana",
                        owner="Dr Ruiz", status="done")
    dispose_engine(database_url)  # a restart: a new engine, seeded again
    tracker.ensure_tables(database_url)
    with get_engine(database_url).connect() as conn:
        count = conn.execute(select(func.count()).select_from(schema.items)).scalar_one()
        questions = conn.execute(select(func.count()).select_from(schema.questions)
                                 ).scalar_one()
    seeded = sum(len(p["items"]) for p in tracker.checklist(database_url))
    assert count == seeded == 23 and questions == 7
    entry = item_of(database_url, "commit.leader")
    assert (entry["owner"], entry["status"], entry["done"]) == ("Dr Ruiz", "done", True)


def test_the_glossary_and_resources_cite_their_sources():
    resources = {r["id"]: r for r in tracker.resources()}
    assert "ama_aamc_2021" in resources and "vyas_2020" in resources
    terms = tracker.glossary()
    assert {"Health equity", "SMART goal", "PDSA cycle", "Flagged disparity"} <= {
        t["term"] for t in terms}
    for term in terms:
        assert term["sources"] and all(s in resources for s in term["sources"]), term["term"]
        assert term["cited"] == [resources[s]["citation"] for s in term["sources"]]


# --- progress rules from the data ---------------------------------------------------------
def test_loading_data_completes_the_data_items(database_url):
    from sample_data.load import load_sample

    tracker.ensure_tables(database_url)
    before = progress(database_url)["data"]
    assert before["percent"] == 0
    load_sample(database_url, patients=600)
    after = progress(database_url)["data"]
    items = {i["id"]: i for i in after["items"]}
    assert items["data.loaded"] == {"id": "data.loaded", "title": items["data.loaded"]["title"],
                                    "status": "done", "done": True, "auto": True}
    assert items["data.stratified"]["done"] and items["data.stratified"]["auto"]
    assert not items["data.community"]["done"] and not items["data.community"]["auto"]
    assert after["percent"] > before["percent"]


def test_fewer_than_three_measures_do_not_complete_stratification(database_url):
    for measure_id in ("m1", "m2"):
        load_counts(database_url, measure_id, {(REFERENCE, "2025-01"): (40, 20)})
    items = {i["id"]: i for i in progress(database_url)["data"]["items"]}
    assert items["data.loaded"]["done"] and not items["data.stratified"]["done"]
    load_counts(database_url, "m3", {(REFERENCE, "2025-01"): (40, 20)})
    items = {i["id"]: i for i in progress(database_url)["data"]["items"]}
    assert items["data.stratified"]["done"]
    assert "3 measure(s)" in item_of(database_url, "data.stratified")["rule_evidence"]


def test_demographic_completeness_comes_from_the_latest_validation(database_url):
    import data_quality

    # 90 % of patients have a race: below the 95 % target.
    load_counts(database_url, "m1", {(REFERENCE, "2025-01"): (90, 45)}, missing_race=10)
    checks = ["race_complete", "ethnicity_complete", "preferred_language_complete"]
    entry = item_of(database_url, "data.complete")
    assert not entry["done"] and "No validation run stored yet" in entry["rule_evidence"]
    data_quality.run_checks(database_url, engine="sql", checks=checks)
    entry = item_of(database_url, "data.complete")
    assert not entry["done"] and "race" in entry["rule_evidence"]
    assert "Latest validation" in entry["rule_evidence"]
    # A later validation with a lower threshold passes: the latest run decides.
    data_quality.run_checks(database_url, engine="sql", checks=checks,
                            thresholds={"complete.race": 0.85})
    entry = item_of(database_url, "data.complete")
    assert entry["done"] and entry["auto"] and entry["status"] == "done"


def test_a_chartered_goal_completes_the_vision_item(database_url):
    load_counts(database_url, "m1", series((100, 50), (100, 50)))
    base = tracker.baseline("m1", "race", GROUP, database_url=database_url)
    draft = tracker.create_goal(database_url, "Ana", base, "Raise m1 for Black patients",
                                0.6, date.today() + timedelta(days=300))
    assert draft["status"] == "draft"
    assert not item_of(database_url, "vision.charter")["done"]
    chartered = tracker.charter_goal(database_url, draft["goal_id"], draft["version"], "Ana")
    assert chartered["status"] == "chartered" and chartered["chartered_by"] == "Ana"
    entry = item_of(database_url, "vision.charter")
    assert entry["done"] and entry["auto"] and "1 SMART goal" in entry["rule_evidence"]
    vision = progress(database_url)["vision"]
    assert vision["percent"] == 50.0


def test_commit_and_learn_rules_follow_what_the_team_records(database_url):
    tracker.ensure_tables(database_url)
    today = date.today()
    for question in tracker.self_assessment(database_url):
        answer = "Partly" if question["kind"] == "known" else today - timedelta(days=30)
        tracker.answer_question(database_url, question["question_id"], question["version"],
                                "Ana", answer, note="from the 2025 review")
    tracker.add_champion(database_url, "Ana", "Ana Ruiz", "Nurse manager", "Medicine",
                         "ana@example.org")
    statement = tracker.commitment(database_url)
    statement = tracker.save_commitment(database_url, statement["version"], "Ana",
                                        "We commit to equity.")
    assert not item_of(database_url, "commit.statement")["done"]  # written, not signed
    statement = tracker.sign_commitment(database_url, statement["version"], "Ana",
                                        "Dr Chen", "Chief executive")
    done = {i["item_id"] for i in tracker.checklist(database_url)[0]["items"] if i["done"]}
    assert done == {"commit.assess", "commit.asked", "commit.champions", "commit.statement"}
    # New words need a new signature.
    tracker.save_commitment(database_url, statement["version"], "Ben", "We commit to more.")
    after = tracker.commitment(database_url)
    assert after["signed_by"] is None and not item_of(database_url, "commit.statement")["done"]
    # Asked more than a year ago: no longer done.
    question = next(q for q in tracker.self_assessment(database_url)
                    if q["question_id"] == "asked.staff")
    tracker.answer_question(database_url, "asked.staff", question["version"], "Ana",
                            today - timedelta(days=400))
    assert not item_of(database_url, "commit.asked")["done"]
    # Learn: one logged session completes the learning item.
    assert not item_of(database_url, "learn.sessions")["done"]
    tracker.log_learning(database_url, "Ana", today, "Levels of racism", "Workshop", 24,
                         "Intranet: Levels of racism, Jones (slides)")
    assert item_of(database_url, "learn.sessions")["done"]
    with pytest.raises(tracker.Invalid):
        tracker.log_learning(database_url, "Ana", today, "x", "Workshop", -1)


def test_an_item_decided_by_the_data_cannot_be_ticked_by_hand(database_url):
    tracker.ensure_tables(database_url)
    entry = item_of(database_url, "data.loaded")
    with pytest.raises(tracker.Invalid, match="decided by the data"):
        tracker.update_item(database_url, "data.loaded", entry["version"], "Ana",
                            status="done")
    updated = tracker.update_item(database_url, "data.loaded", entry["version"], "Ana",
                                  status="in progress", owner="Data team")
    assert updated["version"] == entry["version"] + 1
    assert not item_of(database_url, "data.loaded")["done"]


def test_the_organisations_own_items_count_in_the_percent(database_url):
    tracker.ensure_tables(database_url)
    learn = progress(database_url)["learn"]
    added = tracker.add_item(database_url, "learn", "Book club on Unequal Treatment", "Ana",
                             owner="Library")
    assert added["item_id"].startswith("learn.own")
    entry = item_of(database_url, added["item_id"])
    tracker.update_item(database_url, added["item_id"], entry["version"], "Ana",
                        status="done")
    now = progress(database_url)["learn"]
    assert len(now["items"]) == len(learn["items"]) + 1
    assert now["percent"] == pytest.approx(100 / len(now["items"]), abs=0.05)
    entry = item_of(database_url, added["item_id"])
    tracker.archive_item(database_url, added["item_id"], entry["version"], "Ana")
    assert progress(database_url)["learn"]["percent"] == 0
    with pytest.raises(tracker.Invalid):
        tracker.archive_item(database_url, "learn.language",
                             item_of(database_url, "learn.language")["version"], "Ana")


def test_the_progress_report_has_the_command_lines_shape(database_url):
    report = tracker.progress_report(database_url)
    assert list(report) == ["phases"]
    assert [p["id"] for p in report["phases"]] == PHASE_IDS
    for phase in report["phases"]:
        assert list(phase) == ["id", "name", "percent", "items"]
        assert isinstance(phase["percent"], float)
        for entry in phase["items"]:
            assert list(entry) == ["id", "title", "status", "done", "auto"]
            assert entry["status"] in tracker.STATUSES
    assert json.loads(json.dumps(report)) == report
    text = tracker.progress_text(report)
    assert text.splitlines()[0].startswith("Commit: 0 %")


# --- SMART --------------------------------------------------------------------------------
BASE = {"measure_id": "cbp", "measure_name": "Controlling high blood pressure", "unit": "%",
        "higher_is_better": True, "stratifier": "race", "group_name": GROUP,
        "reference_group": REFERENCE, "baseline_rate": 0.37, "baseline_n": 635,
        "reference_rate": 0.456, "reference_n": 823, "baseline_from": "2024-11",
        "baseline_to": "2026-10", "flagged": True}
TODAY = date(2026, 11, 24)


def smart(**changes) -> dict:
    goal = {**BASE, "title": "Raise BP control", "target_rate": 0.45,
            "deadline": date(2027, 12, 31), "relevance": "", **changes}
    return {c["letter"]: c for c in tracker.check_smart(goal, TODAY)}


def test_a_good_goal_passes_every_smart_letter():
    checks = smart()
    assert all(c["ok"] for c in checks.values()), checks
    assert list(checks) == ["S", "M", "A", "R", "T"]
    assert "37.0 %" in checks["M"]["reason"] and "635" in checks["M"]["reason"]


@pytest.mark.parametrize("changes, letter, words", [
    ({"group_name": REFERENCE}, "S", "same"),
    ({"title": " "}, "S", "title"),
    ({"baseline_n": 20}, "M", "unstable"),
    ({"target_rate": None}, "M", "target"),
    ({"target_rate": 0.35}, "A", "does not improve"),
    ({"target_rate": 0.70}, "A", "plausible"),
    ({"flagged": False}, "R", "not flagged"),
    ({"deadline": date(2026, 10, 1)}, "T", "not in the future"),
    ({"deadline": date(2030, 1, 31)}, "T", "36 months"),
    ({"deadline": None}, "T", "deadline"),
])
def test_each_smart_letter_fails_for_its_reason(changes, letter, words):
    checks = smart(**changes)
    assert not checks[letter]["ok"] and words in checks[letter]["reason"]
    others = [c for key, c in checks.items() if key != letter and key not in "MA"]
    assert all(c["ok"] for c in others), checks


def test_achievable_is_a_plausible_range_around_the_baseline():
    # Halving the adverse share (63 % not controlled -> 31.5 %) allows up to 68.5 %.
    assert tracker.plausible_limit(BASE) == pytest.approx(0.685)
    assert smart(target_rate=0.685)["A"]["ok"] and not smart(target_rate=0.69)["A"]["ok"]
    # Reaching the reference is plausible even beyond halving: another group achieves it.
    near = {**BASE, "baseline_rate": 0.90, "reference_rate": 0.97}
    assert tracker.plausible_limit(near) == pytest.approx(0.97)
    # Lower is better: the adverse rate is the rate itself.
    lower = {**BASE, "higher_is_better": False, "baseline_rate": 0.248,
             "reference_rate": 0.226}
    assert tracker.plausible_limit(lower) == pytest.approx(0.124)
    checks = {c["letter"]: c for c in tracker.check_smart(
        {**lower, "title": "t", "target_rate": 0.26, "deadline": date(2027, 6, 30)}, TODAY)}
    assert not checks["A"]["ok"]


def test_a_team_chosen_gap_is_relevant_when_the_team_says_why():
    assert smart(flagged=False, relevance="Patients told us at the listening session")["R"][
        "ok"]


def test_a_goal_that_is_not_smart_cannot_be_chartered(database_url):
    load_counts(database_url, "m1", series((100, 50), (100, 50)))
    base = tracker.baseline("m1", "race", GROUP, database_url=database_url)
    assert base["baseline_rate"] == pytest.approx(0.5) and base["baseline_n"] == 1200
    assert base["reference_group"] == REFERENCE and base["reference_rate"] == pytest.approx(0.7)
    assert (base["baseline_from"], base["baseline_to"]) == ("2025-01", "2025-12")
    with pytest.raises(tracker.Invalid, match="Achievable"):
        tracker.create_goal(database_url, "Ana", base, "Too much", 0.99,
                            date.today() + timedelta(days=200), charter=True)
    assert tracker.goals(database_url) == []
    with pytest.raises(tracker.Invalid, match="reference group"):
        tracker.baseline("m1", "race", REFERENCE, database_url=database_url)


def test_a_hidden_small_group_gives_no_baseline(database_url):
    load_counts(database_url, "m1", {(REFERENCE, "2025-01"): (200, 100),
                                     (GROUP, "2025-01"): (8, 4)})
    with pytest.raises(tracker.Invalid, match="too small"):
        tracker.baseline("m1", "race", GROUP, database_url=database_url)


def test_the_charter_states_baseline_target_and_owners(database_url):
    load_counts(database_url, "m1", series((100, 50), (100, 50)))
    base = tracker.baseline("m1", "race", GROUP, database_url=database_url)
    goal = tracker.create_goal(database_url, "Ana", base, "Raise <m1> for Black patients",
                               0.6, date.today() + timedelta(days=300), owner="Dr Ruiz",
                               sponsor="CMO", charter=True)
    text = tracker.charter_markdown(goal)
    assert "50.0 % of 1,200 cases (2025-01 to 2025-12)" in text
    assert "| Target | 60.0 % |" in text and "Dr Ruiz" in text and "✓ **Relevant**" in text
    page = tracker.charter_html(goal)
    assert "&lt;m1&gt;" in page and "<m1>" not in page and "@media print" in page


# --- Launch: status from the data ---------------------------------------------------------
@pytest.mark.parametrize("after, expected", [
    ((100, 80), "met"),  # 80 % against a 65 % target
    ((100, 60), "on track"),  # 60 % where the line says 57.5 %
    ((100, 50), "off track"),  # flat at 50 %: behind the line beyond the interval
])
def test_a_goals_status_is_computed_from_the_data(database_url, after, expected):
    load_counts(database_url, "m1", series((100, 50), after))
    base = tracker.baseline("m1", "race", GROUP, period_from="2025-01", period_to="2025-06",
                            database_url=database_url)
    goal = tracker.create_goal(database_url, "Ana", base, "Raise m1", 0.65, date(2026, 6, 30),
                               charter=True, today=date(2025, 7, 1))
    tracker.add_intervention(database_url, "Ana", goal["goal_id"], "Reminder calls",
                             date(2025, 7, 1), owner="Clinic")
    status = tracker.goal_status(goal, database_url)
    assert status["status"] == expected, status
    assert (status["window_from"], status["window_to"], status["n"]) == ("2025-10", "2025-12",
                                                                          300)
    assert status["start"] == "2025-07"
    assert status["expected"] == pytest.approx(0.5 + 0.15 * 6 / 12)


def test_an_intervention_under_way_completes_the_launch_item(database_url):
    load_counts(database_url, "m1", series((100, 50), (100, 60)))
    base = tracker.baseline("m1", "race", GROUP, period_from="2025-01", period_to="2025-06",
                            database_url=database_url)
    goal = tracker.create_goal(database_url, "Ana", base, "Raise m1", 0.65, date(2026, 6, 30),
                               charter=True, today=date(2025, 7, 1))
    assert not item_of(database_url, "launch.intervention")["done"]
    later = tracker.add_intervention(database_url, "Ana", goal["goal_id"], "Not yet",
                                     date.today() + timedelta(days=30))
    assert not item_of(database_url, "launch.intervention")["done"]  # not under way
    tracker.add_intervention(database_url, "Ana", goal["goal_id"], "Reminder calls",
                             date(2025, 7, 1))
    entry = item_of(database_url, "launch.intervention")
    assert entry["done"] and "Reminder calls" in entry["rule_evidence"]
    cycle = tracker.add_pdsa(database_url, "Ben", later["intervention_id"], date.today(),
                             "Call 20 patients; predict 15 booked")
    second = tracker.add_pdsa(database_url, "Ben", later["intervention_id"], date.today(),
                              "Call 40")
    assert (cycle["number"], second["number"]) == (1, 2)
    tracker.update_pdsa(database_url, cycle["cycle_id"], cycle["version"], "Ben",
                        study="12 booked: fewer than predicted", act="adapt")
    assert [c["study"] for c in tracker.pdsa_cycles(database_url, later["intervention_id"])
            ] == ["12 booked: fewer than predicted", ""]


def test_a_status_waits_for_data_after_the_start(database_url):
    load_counts(database_url, "m1", series((100, 50), (100, 50)))
    base = tracker.baseline("m1", "race", GROUP, database_url=database_url)
    goal = tracker.create_goal(database_url, "Ana", base, "Raise m1", 0.6, date(2026, 12, 31),
                               today=date(2025, 12, 1))
    tracker.add_intervention(database_url, "Ana", goal["goal_id"], "Later", date(2026, 3, 1))
    status = tracker.goal_status(goal, database_url)
    assert status["status"] == "waiting for data" and "2026-03" in status["reason"]


def test_a_missed_deadline_is_off_track():
    goal = {**BASE, "target_rate": 0.45, "deadline": date(2026, 6, 30)}
    status, _, reason = tracker.judge(goal, 0.44, 0.40, 0.48, "2026-01", "2026-09")
    assert status == "off track" and "deadline" in reason
    assert tracker.judge(goal, 0.46, 0.40, 0.50, "2026-01", "2026-09")[0] == "met"
    assert tracker.judge(goal, None, None, None, "2026-01", "2026-09")[0] == "waiting for data"


# --- persistence, concurrency, audit ------------------------------------------------------
def test_two_people_editing_the_same_item_do_not_overwrite_each_other(database_url):
    tracker.ensure_tables(database_url)
    read_by_ana = item_of(database_url, "commit.leader")
    read_by_ben = item_of(database_url, "commit.leader")
    tracker.update_item(database_url, "commit.leader", read_by_ana["version"], "Ana",
                        owner="Dr Ruiz")
    with pytest.raises(tracker.Conflict) as refused:
        tracker.update_item(database_url, "commit.leader", read_by_ben["version"], "Ben",
                            owner="Dr Chen")
    message = str(refused.value)
    assert "changed by Ana at" in message and "reload" in message
    assert refused.value.current["owner"] == "Dr Ruiz"
    assert item_of(database_url, "commit.leader")["owner"] == "Dr Ruiz"
    changes = tracker.history(database_url, "item", "commit.leader")
    assert [(c["changed_by"], c["after"]) for c in changes] == [("Ana", {"owner": "Dr Ruiz"})]
    # After reloading, Ben's change goes through.
    fresh = item_of(database_url, "commit.leader")
    tracker.update_item(database_url, "commit.leader", fresh["version"], "Ben",
                        owner="Dr Chen")
    assert item_of(database_url, "commit.leader")["owner"] == "Dr Chen"


def test_simultaneous_saves_of_one_version_let_exactly_one_through(database_url):
    tracker.ensure_tables(database_url)
    version = item_of(database_url, "commit.plan")["version"]
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def save(name: str) -> None:
        start.wait()
        try:
            tracker.update_item(database_url, "commit.plan", version, name, evidence=name)
            outcomes.append("saved")
        except tracker.Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(f"user {n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["conflict"] * 3 + ["saved"]
    entry = item_of(database_url, "commit.plan")
    assert entry["version"] == version + 1 and entry["evidence"] == entry["changed_by"]
    assert len(tracker.history(database_url, "item", "commit.plan")) == 1


def test_every_change_is_audited_with_before_and_after(database_url):
    added = tracker.add_champion(database_url, "Ana", "Ana Ruiz", "Nurse", "Medicine", "x1")
    updated = tracker.update_champion(database_url, added["champion_id"], added["version"],
                                      "Ben", role="Nurse manager")
    tracker.remove_champion(database_url, added["champion_id"], updated["version"], "Cleo")
    changes = tracker.history(database_url, "champion", added["champion_id"])
    assert [(c["action"], c["changed_by"]) for c in changes] == [
        ("removed", "Cleo"), ("updated", "Ben"), ("created", "Ana")]
    assert changes[1]["before"] == {"role": "Nurse"}
    assert changes[1]["after"] == {"role": "Nurse manager"}
    assert changes[0]["before"]["name"] == "Ana Ruiz" and changes[0]["after"] is None
    assert changes[2]["after"]["department"] == "Medicine"
    assert all(c["changed_at"].tzinfo is not None for c in changes)
    with pytest.raises(tracker.Invalid, match="name"):
        tracker.add_champion(database_url, " ", "Someone")


def test_a_failed_save_changes_nothing_and_records_nothing(database_url):
    tracker.ensure_tables(database_url)
    entry = item_of(database_url, "learn.language")
    with pytest.raises(tracker.Invalid):
        tracker.update_item(database_url, "learn.language", entry["version"], "Ana",
                            status="finished")
    with pytest.raises(tracker.Invalid):
        tracker.update_item(database_url, "learn.language", entry["version"], "Ana",
                            title="My own title")
    assert item_of(database_url, "learn.language")["version"] == entry["version"]
    assert tracker.history(database_url) == []


RESTART = """
import json, sys
import tracker
url = sys.argv[1]
goal = tracker.goals(url)[0]
champions = [c["name"] for c in tracker.champions(url)]
print(json.dumps({"goal": goal["title"], "status": goal["status"], "champions": champions,
                  "leader": tracker.item(url, "commit.leader")["owner"],
                  "vision": tracker.progress_report(url)["phases"][3]["percent"]}))
"""


def test_everything_persists_across_a_restart(database_url):
    load_counts(database_url, "m1", series((100, 50), (100, 50)))
    base = tracker.baseline("m1", "race", GROUP, database_url=database_url)
    tracker.create_goal(database_url, "Ana", base, "Raise m1 for Black patients", 0.6,
                        date.today() + timedelta(days=300), charter=True)
    tracker.add_champion(database_url, "Ana", "Ana Ruiz")
    entry = item_of(database_url, "commit.leader")
    tracker.update_item(database_url, "commit.leader", entry["version"], "Ana",
                        owner="Dr Ruiz")
    dispose_engine(database_url)
    # A new process: nothing held in memory survives, only the database.
    answer = subprocess.run([sys.executable, "-c", RESTART, database_url], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout) == {
        "goal": "Raise m1 for Black patients", "status": "chartered",
        "champions": ["Ana Ruiz"], "leader": "Dr Ruiz", "vision": 50.0}
