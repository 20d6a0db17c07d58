"""The inventory of race-based clinical algorithms (issue #10, item 1), on SQLite and
PostgreSQL: the tools of Vyas 2020 loaded once, the review rules in the domain, permissions
for each role, version-checked edits with their audit, the Launch checklist item it decides,
the page through AppTest (each role), the downloads and `manage.py algorithms`."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import date, timedelta

import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

import snapshots
import tracker
from store import access, audit
from store.access import NotAllowed, User
from store.engine import dispose_engine, get_engine
from tests import test_access
from tests.conftest import REPO
from tests.test_access import AUTH, EMAIL
from tracker import schema

# Written out from ../shared/DOMAIN.md ("Race-based clinical algorithms under review"), not
# read from the seed file under test.
DOMAIN_TOOLS = [
    ("eGFR CKD-EPI 2009", "×1.159 if Black", "CKD-EPI 2021"),
    ("eGFR MDRD", "×1.212 if Black", "CKD-EPI 2021"),
    ("Kidney donor risk index", "Black donor raises risk",
     "refit without race (rollout unverified)"),
    ("VBAC calculator (2007)", "lowers predicted success for Black and Hispanic patients",
     "2021 calculator without race"),
    ("Spirometry reference (GLI-2012, NHANES III)", "race-specific equations",
     "GLI Global 2022"),
    ("GWTG heart failure", "+3 points if not Black", "(none found)"),
    ("FRAX (US)", "separate race calculators", "(race removal recommended)"),
    ("UTICalc", "non-Black treated as higher risk", "UTICalc 3.0, race-neutral"),
]
ITEM = "learn.algorithms"  # its first phase's id, kept so that its owner and notes carry over
YESTERDAY = date.today() - timedelta(days=1)


def by_tool(url: str) -> dict[str, dict]:
    return {row["tool"]: row for row in tracker.algorithms(url)}


def decide(url: str, tool: str, status: str = "replaced", owner: str = "Dr Okafor",
           **more) -> dict:
    row = by_tool(url)[tool]
    return tracker.update_algorithm(url, row["algorithm_id"], row["version"], "Ana",
                                    status=status, owner=owner, decision_date=YESTERDAY,
                                    **more)


def user(role: str) -> User:
    return User(email=EMAIL[role], name=role.title(), role=role)


# --- preloaded once -------------------------------------------------------------------------
def test_the_tools_of_the_domain_list_are_preloaded_as_identified(database_url):
    tracker.ensure_tables(database_url)
    rows = tracker.algorithms(database_url)
    assert [(r["tool"], r["race_term"], r["replacement"]) for r in rows] == DOMAIN_TOOLS
    assert {(r["status"], r["where_used"], r["owner"], r["source"], r["decided"])
            for r in rows} == {("identified", "", "", "seed", False)}
    assert all(r["decision_date"] is None and r["version"] == 1 for r in rows)
    assert "Vyas 2020" in rows[0]["evidence"] and "eGFR impact page" in rows[0]["evidence"]


def test_the_seed_is_loaded_once_and_a_removed_tool_stays_removed(database_url):
    tracker.ensure_tables(database_url)
    decided = decide(database_url, "eGFR CKD-EPI 2009", where_used="Lab reporting")
    frax = by_tool(database_url)["FRAX (US)"]
    tracker.remove_algorithm(database_url, frax["algorithm_id"], frax["version"], "Ana")
    for _restart in range(2):
        dispose_engine(database_url)  # a new engine is seeded again
        tracker.ensure_tables(database_url)
    rows = by_tool(database_url)
    assert len(rows) == 7 and "FRAX (US)" not in rows
    kept = rows["eGFR CKD-EPI 2009"]
    assert (kept["status"], kept["where_used"], kept["version"]) == (
        "replaced", "Lab reporting", decided["version"])
    [removal] = tracker.history(database_url, "algorithm", "frax_us")
    assert removal["action"] == "removed" and removal["before"]["tool"] == "FRAX (US)"


# --- the review rules ------------------------------------------------------------------------
@pytest.mark.parametrize("changes, words", [
    ({"status": "replaced", "decision_date": YESTERDAY},
     "Owner: required when the review status is “replaced”"),
    ({"status": "replaced", "owner": "Dr Okafor"},
     "Decision date: required when the review status is “replaced”"),
    ({"status": "retained with justification", "owner": "Dr Okafor",
      "decision_date": YESTERDAY},
     "Justification: required when the review status is “retained with justification”"),
    ({"status": "retained with justification", "justification": "No alternative yet",
      "decision_date": YESTERDAY},
     "Owner: required when the review status is “retained with justification”"),
    ({"status": "replaced", "owner": "Dr Okafor",
      "decision_date": date.today() + timedelta(days=3)}, "is in the future"),
    ({"status": "done"}, "Review status: 'done' is not a status"),
    ({"tool": "  "}, "Tool: a name is required"),
    ({"decision_date": "next week"}, "Decision date: 'next week' is not a date"),
])
def test_a_review_that_breaks_a_rule_is_refused_naming_the_field(database_url, changes,
                                                                 words):
    tracker.ensure_tables(database_url)
    before = by_tool(database_url)["eGFR MDRD"]
    with pytest.raises(tracker.Invalid) as refused:
        tracker.update_algorithm(database_url, "egfr_mdrd", before["version"], "Ana",
                                 **changes)
    assert words in str(refused.value)
    assert by_tool(database_url)["eGFR MDRD"] == before  # nothing half-changed
    assert tracker.history(database_url, "algorithm") == []


def test_the_rules_hold_for_a_new_pathway_too(database_url):
    with pytest.raises(tracker.Invalid, match="Justification: required"):
        tracker.add_algorithm(database_url, "Ana", "Local sepsis score",
                              status="retained with justification", owner="Dr Lee",
                              decision_date=YESTERDAY)
    assert len(tracker.algorithms(database_url)) == 8


def test_a_decision_is_stored_with_its_owner_date_justification_and_audit(database_url):
    tracker.ensure_tables(database_url)
    row = decide(database_url, "GWTG heart failure", "retained with justification",
                 justification="No race-free score validated here yet; revisit in 2027.",
                 evidence="Cardiology committee minutes, 2026-11")
    assert (row["status"], row["owner"], row["decision_date"], row["version"]) == (
        "retained with justification", "Dr Okafor", YESTERDAY, 2)
    [change] = tracker.history(database_url, "algorithm", "gwtg_hf")
    assert change["changed_by"] == "Ana" and change["action"] == "updated"
    assert change["before"]["status"] == "identified"
    assert change["after"] == {"status": "retained with justification", "owner": "Dr Okafor",
                               "decision_date": YESTERDAY.isoformat(),
                               "justification": row["justification"],
                               "evidence": "Cardiology committee minutes, 2026-11"}
    logged = audit.entries(database_url, action="tracker_edit")
    assert logged[0]["details"] == {"entity": "algorithm", "id": "gwtg_hf",
                                    "action": "updated", "by": "Ana"}


def test_a_stale_version_is_refused_with_who_changed_it(database_url):
    tracker.ensure_tables(database_url)
    read_by_ana = by_tool(database_url)["UTICalc"]
    read_by_ben = by_tool(database_url)["UTICalc"]
    tracker.update_algorithm(database_url, "uticalc", read_by_ana["version"], "Ana",
                             status="under review", owner="Dr Lee")
    with pytest.raises(tracker.Conflict) as refused:
        tracker.update_algorithm(database_url, "uticalc", read_by_ben["version"], "Ben",
                                 where_used="Paediatric ED")
    assert "was changed by Ana at" in str(refused.value) and "reload" in str(refused.value)
    with pytest.raises(tracker.Conflict):
        tracker.remove_algorithm(database_url, "uticalc", read_by_ben["version"], "Ben")
    stored = by_tool(database_url)["UTICalc"]
    assert (stored["where_used"], stored["owner"], stored["version"]) == ("", "Dr Lee", 2)
    tracker.remove_algorithm(database_url, "uticalc", stored["version"], "Ben")
    with pytest.raises(tracker.NotFound):
        tracker.update_algorithm(database_url, "uticalc", stored["version"], "Ana",
                                 owner="x")


def test_the_systems_own_pathways_are_added_after_the_preloaded_tools(database_url):
    first = tracker.add_algorithm(database_url, "Ana", " Pulse oximetry triage ",
                                  where_used="ED triage", race_term="none in the formula; "
                                  "device bias by skin tone", status="under review",
                                  owner="Dr Lee")
    second = tracker.add_algorithm(database_url, "Ana", "Local VTE score")
    assert (first["algorithm_id"], second["algorithm_id"]) == ("own1", "own2")
    assert first["tool"] == "Pulse oximetry triage" and first["source"] == "custom"
    assert [r["tool"] for r in tracker.algorithms(database_url)][-2:] == [
        "Pulse oximetry triage", "Local VTE score"]
    [created] = tracker.history(database_url, "algorithm", "own1")
    assert created["action"] == "created" and created["after"]["where_used"] == "ED triage"
    # A removed pathway's id is not given again: each id's history is one tool's.
    tracker.remove_algorithm(database_url, "own2", second["version"], "Ana")
    third = tracker.add_algorithm(database_url, "Ana", "Local sepsis score")
    assert third["algorithm_id"] == "own3"
    assert [c["action"] for c in tracker.history(database_url, "algorithm", "own2")] == [
        "removed", "created"]


# --- permissions ----------------------------------------------------------------------------
def test_each_role_may_do_exactly_what_it_should(database_url):
    tracker.ensure_tables(database_url)
    with access.acting_as(user("viewer")):
        for read in (tracker.algorithms, tracker.review_summary, tracker.inventory_table):
            with pytest.raises(NotAllowed, match=r"Your role \(viewer\) cannot see the STEPS"):
                read(database_url)
    for role in ("analyst", "champion", "admin"):
        with access.acting_as(user(role)):
            assert len(tracker.algorithms(database_url)) == 8
    with access.acting_as(user("analyst")):
        version = by_tool(database_url)["eGFR MDRD"]["version"]
        refusals = [
            lambda: tracker.add_algorithm(database_url, "Ana", "Local score"),
            lambda: tracker.update_algorithm(database_url, "egfr_mdrd", version, "Ana",
                                             status="under review"),
            lambda: tracker.update_algorithm(database_url, "egfr_mdrd", version, "Ana",
                                             status="replaced"),  # refused before the rules
            lambda: tracker.remove_algorithm(database_url, "egfr_mdrd", version, "Ana"),
        ]
        for refused in refusals:
            with pytest.raises(NotAllowed, match=r"analyst\) cannot edit the tracker"):
                refused()
    for role in ("champion", "admin"):
        with access.acting_as(user(role)):
            row = by_tool(database_url)["eGFR MDRD"]
            changed = tracker.update_algorithm(database_url, "egfr_mdrd", row["version"],
                                               role, owner=f"{role} owner")
            assert changed["owner"] == f"{role} owner"
    assert len(tracker.history(database_url, "algorithm")) == 2


# --- it feeds the tracker: the Launch checklist --------------------------------------------
def launch(url: str) -> dict:
    return next(phase for phase in tracker.checklist(url) if phase["id"] == "launch")


def test_the_launch_item_is_met_when_every_tool_has_a_decision(database_url):
    tracker.ensure_tables(database_url)
    before = launch(database_url)
    entry = next(i for i in before["items"] if i["item_id"] == ITEM)
    assert entry["auto"] and not entry["done"]
    assert entry["rule_evidence"].startswith(
        "0 of 8 race-adjusted tools reviewed; 8 still in use without a decision.")
    assert "Without a decision: eGFR CKD-EPI 2009; eGFR MDRD;" in entry["rule_evidence"]
    assert ITEM not in {i["item_id"] for p in tracker.checklist(database_url)
                        if p["id"] == "learn" for i in p["items"]}

    decide(database_url, "eGFR CKD-EPI 2009")
    decide(database_url, "eGFR MDRD")
    decide(database_url, "GWTG heart failure", "retained with justification",
           justification="No race-free alternative validated yet.")
    row = by_tool(database_url)["UTICalc"]
    tracker.update_algorithm(database_url, "uticalc", row["version"], "Ana",
                             status="under review", owner="Dr Lee")
    summary = tracker.review_summary(database_url)
    assert (summary["total"], summary["decided"], summary["open"], summary["all_decided"]
            ) == (8, 3, 5, False)
    assert tracker.leader_line(summary) == ("3 of 8 race-adjusted tools reviewed; 5 still "
                                            "in use without a decision (1 under review).")
    assert "UTICalc (under review, Dr Lee)" in tracker.item(database_url, ITEM)[
        "rule_evidence"]

    for tool in ("Kidney donor risk index", "VBAC calculator (2007)", "FRAX (US)"):
        row = by_tool(database_url)[tool]  # not used here
        tracker.remove_algorithm(database_url, row["algorithm_id"], row["version"], "Ana")
    decide(database_url, "Spirometry reference (GLI-2012, NHANES III)")
    decide(database_url, "UTICalc", owner="Dr Lee")
    after = launch(database_url)
    entry = next(i for i in after["items"] if i["item_id"] == ITEM)
    assert entry["done"] and entry["status"] == "done"
    assert entry["rule_evidence"] == ("All 5 race-adjusted tools reviewed: 4 replaced, 1 "
                                      "retained with justification.")
    assert after["done"] == before["done"] + 1 and after["total"] == before["total"] == 5
    assert after["percent"] == pytest.approx(before["percent"] + 20.0)

    # A pathway the system adds reopens the review.
    tracker.add_algorithm(database_url, "Ana", "Local sepsis score")
    assert not tracker.item(database_url, ITEM)["done"]


def test_a_database_from_before_follows_the_moved_item(database_url):
    """A database seeded when the item was in Learn, decided by hand: the next start moves
    it to Launch with its rule; the owner and evidence the team recorded stay, and a "done"
    ticked by hand no longer counts while tools are open."""
    tracker.ensure_tables(database_url)
    with get_engine(database_url).begin() as conn:
        conn.execute(update(schema.items).where(schema.items.c.item_id == ITEM).values(
            phase="learn", position=4, rule=None, title="Old title", status="done",
            owner="Quality committee", evidence="Reviewed eGFR in 2025"))
    dispose_engine(database_url)
    tracker.ensure_tables(database_url)
    entry = tracker.item(database_url, ITEM)
    assert (entry["phase"], entry["rule"], entry["auto"]) == ("launch", "algorithms_reviewed",
                                                              True)
    assert entry["title"].startswith("Clinical pathways and algorithms that use race reviewed")
    assert (entry["owner"], entry["evidence"]) == ("Quality committee", "Reviewed eGFR in 2025")
    assert (entry["recorded_status"], entry["status"], entry["done"]) == (
        "done", "in progress", False)


# --- downloads and the command line -------------------------------------------------------
HOSTILE = "=CONCAT(\"x\",A1)"


def test_the_inventory_downloads_as_csv_and_xlsx_with_formulas_neutralised(database_url):
    import openpyxl

    tracker.ensure_tables(database_url)
    decide(database_url, "eGFR MDRD", owner=HOSTILE)
    headers, rows = tracker.inventory_table(database_url)
    assert headers[:5] == ["Tool", "Where it is used", "Race term",
                           "Race-neutral replacement", "Review status"]
    exported = snapshots.export_listing("clinical-algorithms", "Inventory", [("In words", "x")],
                                        headers, rows, "csv", database_url, actor="Ana")
    assert exported.filename.startswith("clinical-algorithms_") and exported.mime == "text/csv"
    lines = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    table = lines[lines.index(headers) + 1:]
    mdrd = next(line for line in table if line[0] == "eGFR MDRD")
    assert mdrd[5] == "'" + HOSTILE and mdrd[4] == "replaced"
    assert mdrd[6] == YESTERDAY.isoformat()
    assert [line[0] for line in table] == [tool for tool, _, _ in DOMAIN_TOOLS]

    workbook = snapshots.export_listing("clinical-algorithms", "Inventory", [], headers, rows,
                                        "xlsx", database_url, actor="Ana")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.data)).active
    cells = {cell.value: cell for row in sheet.iter_rows() for cell in row if cell.value}
    assert "'" + HOSTILE in cells and cells["'" + HOSTILE].data_type == "s"
    assert HOSTILE not in cells and "GWTG heart failure" in cells
    exports = audit.entries(database_url, action="export")
    assert [(e["actor"], e["details"]["listing"], e["details"]["format"]) for e in exports] == [
        ("Ana", "clinical-algorithms", "xlsx"), ("Ana", "clinical-algorithms", "csv")]
    with access.acting_as(user("viewer")), pytest.raises(NotAllowed, match="cannot export"):
        snapshots.export_listing("x", "x", [], headers, rows, "csv", database_url)


def manage(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", "--database-url", url, "algorithms",
                           *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_the_command_line_lists_the_inventory(database_url):
    tracker.ensure_tables(database_url)
    decide(database_url, "eGFR CKD-EPI 2009", owner=HOSTILE)
    text = manage(database_url)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == ("1 of 8 race-adjusted tools reviewed; 7 still in use without a "
                        "decision.")
    assert lines[1] == f"  [x] eGFR CKD-EPI 2009: replaced — {HOSTILE}, {YESTERDAY}"
    assert lines[2] == "  [ ] eGFR MDRD: identified" and len(lines) == 9

    as_csv = manage(database_url, "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [row["Tool"] for row in table] == [tool for tool, _, _ in DOMAIN_TOOLS]
    assert table[0]["Owner"] == "'" + HOSTILE and table[0]["Review status"] == "replaced"

    as_json = manage(database_url, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["summary"]["decided"] == 1 and report["summary"]["total"] == 8
    first = report["algorithms"][0]
    assert (first["algorithm_id"], first["status"], first["decision_date"], first["owner"]) == (
        "egfr_ckd_epi_2009", "replaced", YESTERDAY.isoformat(), HOSTILE)


# --- the page ---------------------------------------------------------------------------------
roles_file = test_access.roles_file  # the roles of tests/test_access.py, as a fixture here


def page_as(role: str, url: str, monkeypatch) -> AppTest:
    monkeypatch.setenv("EQUITY_DATABASE_URL", url)
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")
    app = AppTest.from_file(str(REPO / "pages" / "algorithms.py"), default_timeout=120)
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": True, "email": EMAIL[role], "name": role.title()}
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def texts(app: AppTest, *kinds: str) -> str:
    return " ".join(str(e.value) for kind in kinds for e in app.get(kind))


def test_a_viewer_is_refused_the_page(sqlite_url, roles_file, monkeypatch):
    app = page_as("viewer", sqlite_url, monkeypatch)
    assert [w.value for w in app.warning] == [
        "Your role (viewer) cannot see the STEPS tracker: that needs the analyst role. Ask an "
        "administrator of the dashboard."]
    assert not app.dataframe and not app.expander and not app.title


def test_an_analyst_reads_the_inventory_without_an_edit_form(sqlite_url, roles_file,
                                                             monkeypatch):
    app = page_as("analyst", sqlite_url, monkeypatch)
    assert app.title[0].value == "Clinical algorithms that use race"
    assert app.markdown[0].value == ("**0 of 8 race-adjusted tools reviewed; 8 still in use "
                                     "without a decision.**")
    table = app.dataframe[0].value
    assert list(table["Tool"]) == [tool for tool, _, _ in DOMAIN_TOOLS]
    assert set(table["Review status"]) == {"identified"}
    assert "editing it needs the champion role" in texts(app, "info")
    assert "Launch checklist: not met until every tool has a decision." in texts(app,
                                                                                 "caption")
    assert not app.expander and not app.button and not app.text_input
    labels = [b.proto.label for b in app.get("download_button")]
    assert labels == ["Inventory (CSV)", "Inventory (XLSX)"]


def test_a_champion_records_a_decision_and_sees_the_rules(sqlite_url, roles_file,
                                                          monkeypatch):
    app = page_as("champion", sqlite_url, monkeypatch)
    key = "algorithm:egfr_ckd_epi_2009"
    app.selectbox(key=f"{key}:status").set_value("replaced").run()
    app.button(key=f"{key}:save").click().run()
    assert "Owner: required when the review status is “replaced”" in texts(app, "error")
    assert app.selectbox(key=f"{key}:status").value == "replaced"  # the typing is kept
    assert by_tool(sqlite_url)["eGFR CKD-EPI 2009"]["status"] == "identified"

    app.text_input(key=f"{key}:owner").set_value("Dr Okafor").run()
    app.date_input(key=f"{key}:decision_date").set_value(YESTERDAY).run()
    app.text_input(key=f"{key}:where_used").set_value("Lab results, CKD pathway").run()
    app.button(key=f"{key}:save").click().run()
    assert not app.exception and "Saved." in texts(app, "success")
    stored = by_tool(sqlite_url)["eGFR CKD-EPI 2009"]
    assert (stored["status"], stored["owner"], stored["decision_date"], stored["where_used"],
            stored["changed_by"]) == ("replaced", "Dr Okafor", YESTERDAY,
                                      "Lab results, CKD pathway",
                                      "Champion <chris.champion@example.org>")
    assert app.markdown[0].value.startswith("**1 of 8 race-adjusted tools reviewed; 7 still")
    assert list(app.dataframe[0].value["Review status"])[0] == "replaced"

    app.text_input(key="algorithm:new:tool").set_value("Pulse oximetry triage").run()
    app.button(key="algorithm:new:add").click().run()
    assert "Added Pulse oximetry triage to the inventory." in texts(app, "success")
    assert app.markdown[0].value.startswith("**1 of 9 race-adjusted tools reviewed")


def test_a_champions_stale_save_says_who_changed_it(sqlite_url, roles_file, monkeypatch):
    app = page_as("champion", sqlite_url, monkeypatch)
    key = "algorithm:egfr_mdrd"
    row = by_tool(sqlite_url)["eGFR MDRD"]
    tracker.update_algorithm(sqlite_url, "egfr_mdrd", row["version"], "Ben",
                             owner="Dr Chen")  # from another browser
    app.text_input(key=f"{key}:where_used").set_value("Nephrology clinic").run()
    app.button(key=f"{key}:save").click().run()
    assert "was changed by Ben at" in texts(app, "error")
    assert app.text_input(key=f"{key}:where_used").value == "Nephrology clinic"
    assert by_tool(sqlite_url)["eGFR MDRD"]["where_used"] == ""


def test_the_pages_download_is_made_as_the_signed_in_user(sqlite_url, roles_file,
                                                         monkeypatch, deferred_files):
    app = page_as("analyst", sqlite_url, monkeypatch)
    buttons = {b.proto.label: b.proto.deferred_file_id for b in app.get("download_button")}
    name, make = deferred_files[buttons["Inventory (CSV)"]]
    assert name == "clinical-algorithms.csv"
    # What a click does, outside the page's run: where no user is set, a process acts as
    # the local operator, here made a viewer, who may not export.
    monkeypatch.setenv("EQUITY_LOCAL_ROLE", "viewer")
    text = make().decode("utf-8-sig")
    assert "0 of 8 race-adjusted tools reviewed" in text and "UTICalc" in text
    with access.acting_as(user("admin")):
        [export] = audit.entries(sqlite_url, action="export")
    assert export["actor"] == "Analyst <ana.analyst@example.org>"
    assert export["details"]["listing"] == "clinical-algorithms"


def test_a_save_clicked_by_a_reader_is_refused_by_the_domain(sqlite_url, roles_file,
                                                            monkeypatch):
    """Saves run in button callbacks, before the page sets its user: the callback signs the
    user in again, so an analyst's click on a tracker form is refused, not saved as the
    local operator."""
    monkeypatch.setenv("EQUITY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")
    app = AppTest.from_file(str(REPO / "pages" / "commit.py"), default_timeout=120)
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": True, "email": EMAIL["analyst"], "name": "Analyst"}
    app.run()
    app.text_input(key="item:commit.leader:owner").set_value("Dr X").run()
    app.button(key="item:commit.leader:save").click().run()
    assert not app.exception
    assert "Your role (analyst) cannot edit the tracker" in texts(app, "error")
    assert tracker.item(sqlite_url, "commit.leader")["owner"] == ""
    assert tracker.history(sqlite_url) == []
