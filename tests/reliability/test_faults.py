"""Faults (issue #9, item 4): an import killed at any moment, two imports at once, the
database going away while the app runs, and parallel writers of the tracker.

Imports run as real processes (`python manage.py import`, or the same path through
tests/reliability/import_at_step.py, which stops it at a named step) against a database that
holds an earlier import, and are killed with SIGKILL:

- at each step boundary of the import (exactly, through import_at_step), and
- at moments spread over the import's transaction, measured from the moment the process takes
  the import lock (its file on SQLite, its advisory lock on PostgreSQL) by the duration of the
  same import measured beforehand.

After every kill: on SQLite `PRAGMA integrity_check` is ok and no foreign key is broken; the
database holds exactly the earlier import (every row of every table the import writes, the
count tables and the audit log) — or, for a kill after the commit, exactly the complete new
one; and the next import succeeds (the lock did not outlive the process).

The page side of a conflicting tracker save (the conflict message instead of an overwrite)
is tests/test_tracker_pages.py::test_a_conflicting_save_keeps_the_typed_text_and_says_who_
changed_it; here, parallel writers through the same domain functions.
"""
from __future__ import annotations

import json
import os
import select as io_select
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from store import import_extract
from store.audit import audit_log
from store.counts import result_counts_state
from store.engine import dispose_engine, get_engine
from store.importlock import _TAG, sidecar
from store.schema import import_batches
from tests.conftest import _fresh_postgres_schema, copy_sqlite, require_postgres
from tests.reliability import private_postgres
from tests.reliability.test_hostile_input import TABLES
from tests.test_importer import (
    GOOD_PATIENTS,
    GOOD_RESULTS,
    PATIENT_HEADER,
    RESULT_HEADER,
    write_csv,
)

REPO = Path(__file__).resolve().parents[2]
# The steps of an import, in order (store.importer: the names it times them by).
STEPS = ("previous data cleared", "patients read, checked, written",
         "results read, checked, written", "indexes and statistics", "data-quality gate",
         "files described", "count table", "commit")
NEW_PATIENTS = 2_000


# --- the two extracts -------------------------------------------------------------------

@pytest.fixture(scope="module")
def extracts(tmp_path_factory):
    """`previous`: test_importer's good extract, what the database holds before; `new`: a
    2,000-patient synthetic extract with a value map, the import that gets killed."""
    from sample_data.generator import generate

    folder = tmp_path_factory.mktemp("fault-extracts")
    (folder / "previous").mkdir()
    previous = [write_csv(folder / "previous" / "patients.csv", PATIENT_HEADER, GOOD_PATIENTS),
                write_csv(folder / "previous" / "results.csv", RESULT_HEADER, GOOD_RESULTS)]
    new = generate(folder / "new", patients=NEW_PATIENTS, seed=11)
    return {"previous": [str(path) for path in previous],
            "new": [str(new["patients"]), str(new["results"]),
                    "--value-map", str(new["value_map"])]}


def import_in_process(url: str, arguments: list[str]):
    patients_csv, results_csv, *rest = arguments
    value_map = rest[1] if rest else None
    return import_extract(patients_csv, results_csv, value_map_csv=value_map, database_url=url)


# --- what the database holds ------------------------------------------------------------

# What two imports of the same extract store alike (the batch and the count table's note of
# it differ by their ids and times).
DATA = [table for table in TABLES if table not in (import_batches, result_counts_state)]


def state(url: str) -> dict[str, Counter]:
    """Every row of every table an import writes, and the audit log's rows."""
    with get_engine(url).connect() as conn:
        found = {table.name: Counter(tuple(row) for row in conn.execute(select(table)))
                 for table in [*TABLES, audit_log]}
    return found


def data_of(found: dict[str, Counter]) -> dict[str, Counter]:
    return {table.name: found[table.name] for table in DATA}


def added(after: Counter, before: Counter) -> list[tuple]:
    assert not before - after, "rows disappeared"
    return list((after - before).elements())


def assert_consistent(url: str) -> None:
    if not url.startswith("sqlite"):
        return  # PostgreSQL's own consistency is not in question; its data are checked
    connection = sqlite3.connect(make_url(url).database)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()


# --- processes --------------------------------------------------------------------------

def environment(url: str, actor: str = "fault-test") -> dict[str, str]:
    env = {**os.environ, "EQUITY_DATABASE_URL": url, "EQUITY_ACTOR": actor,
           "PYTHONPATH": str(REPO)}
    env.pop("EQUITY_DEBUG", None)
    return env


def manage_import(url: str, arguments: list[str], actor: str = "fault-test",
                  **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", "import", *arguments], cwd=REPO,
                            env=environment(url, actor), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def import_at_step(url: str, mode: str, step: str, arguments: list[str], *extra: str,
                   actor: str = "fault-test") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.import_at_step", mode, step, *extra, "--",
         *arguments], cwd=REPO, env=environment(url, actor), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def read_line(process: subprocess.Popen, timeout: float = 60) -> str:
    ready, _, _ = io_select.select([process.stdout], [], [], timeout)
    assert ready, "the import did not reach its step in time"
    return process.stdout.readline()


def committed(process: subprocess.Popen) -> None:
    """Wait for a released import to say it is done, then stop it: what follows the commit
    (manage.py's data-quality report, ~5 s) is not what these tests are about."""
    while not (line := read_line(process)).startswith("Imported "):
        assert line, process.communicate()
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)


class Lock:
    """Watches the import lock of a database without taking it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.file = sidecar(url) if url.startswith("sqlite") else None
        if self.file is None:
            with get_engine(url).connect() as conn:
                self.table = conn.execute(text(
                    "SELECT to_regclass('import_batches')::oid::bigint")).scalar_one()

    def held_by(self, pid: int) -> bool:
        if self.file is not None:
            try:
                return json.loads(self.file.read_text() or "{}").get("pid") == pid
            except (OSError, ValueError):
                return False
        return self.holders() > 0  # the test itself never imports while watching

    def holders(self) -> int:
        with get_engine(self.url).connect() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = :tag AND objid = :table AND objsubid = 1"),
                {"tag": _TAG, "table": self.table}).scalar_one()

    def wait_taken(self, process: subprocess.Popen, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.held_by(process.pid):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the import never took its lock"
            time.sleep(0.002)

    def wait_free(self, timeout: float = 10) -> float:
        """Seconds until no one holds it (PostgreSQL: until the server has seen a killed
        client's connection close; SQLite's file lock goes with the process)."""
        started = time.monotonic()
        if self.file is None:
            while self.holders():
                assert time.monotonic() - started < timeout, "the lock outlived its process"
                time.sleep(0.01)
        return time.monotonic() - started


# --- an import killed at any moment ---------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def kill_target(request, tmp_path, extracts):
    """(url, the database's state after the complete new import, its transaction's seconds);
    the database holds the previous extract."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'equity.db'}"
        drop = None
    else:
        require_postgres()
        url, drop = _fresh_postgres_schema()
    try:
        import_in_process(url, extracts["new"])
        summary = import_in_process(url, extracts["new"])  # warm: as long as a cold one's
        expected = data_of(state(url))
        import_in_process(url, extracts["previous"])
        yield request.param, url, expected, sum(summary.steps.values())
    finally:
        dispose_engine(url)
        if drop is not None:
            drop()


# Fewer on PostgreSQL: each kill point costs a process start (~2 s).
KILLS = {"sqlite": {"steps": STEPS, "moments": 4},
         "postgresql": {"steps": ("results read, checked, written", "count table"),
                        "moments": 2}}


def test_an_import_killed_at_any_moment_leaves_the_previous_data_intact(kill_target,
                                                                           extracts, figures):
    kind, url, complete_new, seconds = kill_target
    lock = Lock(url)
    plan = [("after", step) for step in KILLS[kind]["steps"]]
    moments = KILLS[kind]["moments"]
    # Spread over the transaction, measured from the lock; the last lands near its end.
    plan += [("at", seconds * (i + 0.5) / moments) for i in range(moments)]
    outcomes = []
    for how, when in plan:
        before = state(url)
        if how == "after":
            process = import_at_step(url, "kill", when, extracts["new"])
        else:
            process = manage_import(url, extracts["new"])
            lock.wait_taken(process)
            time.sleep(when)
            process.send_signal(signal.SIGKILL)
        process.communicate(timeout=120)
        if how == "after":
            assert process.returncode == -signal.SIGKILL, f"not killed after {when}"
        lock.wait_free()

        assert_consistent(url)
        after = state(url)
        if after == before:
            outcomes.append("previous intact")
        else:
            # Only a kill after the commit may show the new import — and all of it.
            assert data_of(after) == complete_new, f"{kind}, killed {how} {when}: a mixture"
            (batch,) = added(after[import_batches.name], before[import_batches.name])
            assert "succeeded" in batch
            (built,) = after[result_counts_state.name]
            assert built[1] == batch[0], "the count table is not the new import's"
            outcomes.append("new complete")
        if how == "after":
            assert outcomes[-1] == ("new complete" if when == "commit" else "previous intact")
        figures.add("kill points tried with the database intact")

        # The next import goes through: no stale lock, nothing half-done in the way.
        import_in_process(url, extracts["new"])
        assert data_of(state(url)) == complete_new
        import_in_process(url, extracts["previous"])
    timed = outcomes[len(KILLS[kind]["steps"]):]
    # The moments probe the open transaction, not the time after it.
    assert timed.count("previous intact") >= moments // 2, timed


# --- two imports at once --------------------------------------------------------------------

@pytest.fixture
def holding_previous(database_url, extracts):
    import_in_process(database_url, extracts["previous"])
    return database_url


def test_a_second_import_is_refused_while_one_runs_and_changes_nothing(holding_previous,
                                                                        extracts, tmp_path):
    url = holding_previous
    release = tmp_path / "release"
    started = datetime.now(UTC)
    holder = import_at_step(url, "pause", "results read, checked, written", extracts["new"],
                            str(release), actor="ana.importer")
    try:
        assert read_line(holder).startswith("paused after results"), holder.stderr.read()
        before = state(url)
        second = subprocess.run(
            [sys.executable, "manage.py", "import", *extracts["previous"]], cwd=REPO,
            env=environment(url, "ben.analyst"), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stdout + second.stderr
        message = second.stderr.strip()
        assert message.startswith("Import refused: another import is running since "), message
        assert "started by ana.importer; the database was not changed" in message, message
        assert "Traceback" not in message
        since = datetime.strptime(message.split(" since ")[1][:20], "%Y-%m-%d %H:%M UTC")
        assert abs(since.replace(tzinfo=UTC) - started) < timedelta(minutes=2)
        # Nothing changed (but the audit log: on PostgreSQL the refusal's row is there now).
        after = state(url)
        assert {name: rows for name, rows in after.items() if name != "audit_log"} == {
            name: rows for name, rows in before.items() if name != "audit_log"}
    finally:
        release.touch()
        committed(holder)
    # The first import went on, alone: its data and nothing of the refused one.
    # The refusal is in the audit log (SQLite: written by the running import as it ended,
    # since no one else may write while an import's transaction is open).
    refusals = [row for row in added(state(url)["audit_log"], before["audit_log"])
                if row[3] == "import_refused"]
    assert [(row[2], row[3]) for row in refusals] == [("ben.analyst", "import_refused")]
    details = json.loads(refusals[0][4])
    assert details["first"][0].startswith("database: another import is running since ")
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    import_in_process(reference, extracts["new"])
    try:
        assert data_of(state(url)) == data_of(state(reference))
    finally:
        dispose_engine(reference)


def test_the_lock_of_a_killed_import_does_not_outlive_it(holding_previous, extracts,
                                                          tmp_path):
    url = holding_previous
    holder = import_at_step(url, "pause", "patients read, checked, written", extracts["new"],
                            str(tmp_path / "never"))
    assert read_line(holder).startswith("paused after patients"), holder.stderr.read()
    before = state(url)
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=60)
    # PostgreSQL ends the transaction when it sees the connection close: at once for a
    # connection idle in its transaction.
    assert Lock(url).wait_free(timeout=5) < 5
    assert state(url) == before
    summary = import_in_process(url, extracts["new"])
    assert summary.patients == NEW_PATIENTS


def test_the_app_starting_while_an_import_fills_its_database_says_so(extracts, tmp_path,
                                                                     monkeypatch):
    """A first start finds the database empty and would load the sample data; with an import
    of someone's extract under way it says that instead of a traceback, and shows their data
    once it is in."""
    from streamlit.testing.v1 import AppTest

    import charts
    import manage

    url = f"sqlite:///{tmp_path / 'equity.db'}"
    # `manage.py init` first, as docs/deploy.md says: on SQLite the app could not create a
    # missing table while the import's transaction is open (it would wait, then say the
    # database is not answering).
    assert manage.main(["--database-url", url, "init"]) == 0
    monkeypatch.setenv("EQUITY_DATABASE_URL", url)
    monkeypatch.setenv("EQUITY_SAMPLE_PATIENTS", "300")
    release = tmp_path / "release"
    holder = import_at_step(url, "pause", "count table", extracts["new"], str(release))
    try:
        assert read_line(holder).startswith("paused after count table")
        app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        app.run()
        assert not app.exception, [e.stack_trace for e in app.exception]
        notes = [info.value for info in app.info]
        assert notes, everything_shown(app)
        (note,) = notes
        assert note.startswith("Data are being imported into this database (another import "
                               "is running since ")
    finally:
        release.touch()
        committed(holder)
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.run()
    assert not app.exception and not app.info
    assert {m.label: m.value for m in app.metric}["Patients"] == charts.format_count(
        NEW_PATIENTS)
    dispose_engine(url)


def _save_a_champion():
    """A tracker write as a page makes it: inside `guarded`, which turns a database failure
    into the page's message."""
    import tracker
    from ui.database import guarded

    with guarded():
        tracker.add_champion(None, "fault-test", "A champion saved during an import")


def test_a_write_while_an_import_holds_sqlite_says_busy_and_who(tmp_path, extracts,
                                                                monkeypatch):
    """On SQLite an import holds the write lock for its whole transaction: a tracker save
    meanwhile waits EQUITY_SQLITE_BUSY_SECONDS, then the page says the database is busy and
    which import (not that it is not answering); nothing was saved. After the import the
    same save goes through."""
    from streamlit.testing.v1 import AppTest

    import tracker

    url = f"sqlite:///{tmp_path / 'equity.db'}"
    import_in_process(url, extracts["previous"])
    tracker.ensure_tables(url)
    dispose_engine(url)
    monkeypatch.setenv("EQUITY_DATABASE_URL", url)
    monkeypatch.setenv("EQUITY_SQLITE_BUSY_SECONDS", "1")
    monkeypatch.setenv("EQUITY_LOCAL_ROLE", "admin")
    release = tmp_path / "release"
    holder = import_at_step(url, "pause", "count table", extracts["new"], str(release),
                            actor="night-import")
    try:
        assert read_line(holder).startswith("paused after count table")
        app = AppTest.from_function(_save_a_champion, default_timeout=60)
        app.run()
        assert not app.exception, [e.stack_trace for e in app.exception]
        (warning,) = [w.value for w in app.warning]
        assert warning.startswith("**The database is busy**: an import (another import is "
                                  "running since "), warning
        assert "started by night-import" in warning and not app.error
    finally:
        release.touch()
        committed(holder)
        dispose_engine(url)
    assert tracker.champions(url) == []
    app = AppTest.from_function(_save_a_champion, default_timeout=60)
    app.run()
    assert not app.exception and not app.warning
    assert [c["name"] for c in tracker.champions(url)] == ["A champion saved during an import"]
    dispose_engine(url)


def test_a_copy_of_a_database_is_not_locked_by_its_original(tmp_path, extracts):
    """The lock belongs to the database file (the lock file beside it): a copy of the
    database imports freely while an import holds the original."""
    url = f"sqlite:///{tmp_path / 'original.db'}"
    import_in_process(url, extracts["previous"])
    release = tmp_path / "release"
    holder = import_at_step(url, "pause", "previous data cleared", extracts["previous"],
                            str(release))
    try:
        assert read_line(holder).startswith("paused after previous")
        copy = copy_sqlite(url, tmp_path / "copy.db")
        assert import_in_process(copy, extracts["previous"]).patients == len(GOOD_PATIENTS)
        dispose_engine(copy)
    finally:
        release.touch()
        committed(holder)
        dispose_engine(url)


# --- parallel writers of the tracker ------------------------------------------------------

WRITERS = 8
SAVES_EACH = 4


def test_parallel_writers_of_the_tracker_never_lose_an_update(database_url, figures):
    """Eight writers, each saving its own tokens into one item's evidence the way the page
    does: read the item (its text and version), add to the text, save with that version,
    and on a conflict read again and redo the change. Every token must be there."""
    import tracker

    tracker.ensure_tables(database_url)
    item_id = "commit.plan"
    start = threading.Barrier(WRITERS)
    conflicts = Counter()
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for save in range(SAVES_EACH):
                token = f"[w{writer}s{save}]"
                while True:
                    current = tracker.item(database_url, item_id)
                    try:
                        tracker.update_item(database_url, item_id, current["version"],
                                            f"writer {writer}",
                                            evidence=f"{current['evidence'] or ''} {token}")
                        break
                    except tracker.Conflict:
                        conflicts[writer] += 1
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    version = tracker.item(database_url, item_id)["version"]
    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    final = tracker.item(database_url, item_id)
    tokens = final["evidence"].split()
    expected = [f"[w{w}s{s}]" for w in range(WRITERS) for s in range(SAVES_EACH)]
    lost = len(set(expected) - set(tokens))
    figures.add("parallel writers", WRITERS)
    figures.add("lost updates", lost)
    assert lost == 0 and sorted(tokens) == sorted(expected)  # none lost, none doubled
    assert final["version"] == version + len(expected)
    # Each writer's own saves in its order; the history has one change per save.
    for writer in range(WRITERS):
        mine = [token for token in tokens if token.startswith(f"[w{writer}s")]
        assert mine == [f"[w{writer}s{s}]" for s in range(SAVES_EACH)]
    assert len(tracker.history(database_url, "item", item_id, limit=1000)) == len(expected)
    assert sum(conflicts.values()) > 0, "the writers never met: the test proved nothing"


# --- the database goes away while the app runs ----------------------------------------------

SECRET = "s3cret-Passw0rd"
SHOWN = ("error", "warning", "info", "success", "markdown", "caption", "code", "text",
         "title", "header", "subheader", "exception", "json")


@pytest.fixture
def private_cluster():
    """A PostgreSQL cluster of this test's own, started (never the shared server)."""
    private_postgres.require()
    cluster = private_postgres.Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        dispose_engine(cluster.url(SECRET))
        cluster.remove()


def everything_shown(app) -> str:
    return "\n".join(str(getattr(element, "value", "")) + str(getattr(element, "body", ""))
                     for kind in SHOWN for element in app.get(kind))


def test_a_database_that_goes_away_gives_a_friendly_page_and_the_app_recovers(
        private_cluster, extracts, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import charts

    patients_shown = charts.format_count(NEW_PATIENTS)
    url = private_cluster.url(SECRET)
    import_in_process(url, extracts["new"])
    monkeypatch.setenv("EQUITY_DATABASE_URL", url)
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")

    def open_app() -> AppTest:
        # A new session each time: under AppTest a rerun runs the current page's script
        # alone, without app.py around it (ui/frame.py, require_frame). The engine and its
        # pool are the process's, as in the server: they must survive the outage.
        app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        app.run()
        return app

    app = open_app()
    assert not app.exception and not app.error
    assert {m.label: m.value for m in app.metric}["Patients"] == patients_shown

    private_cluster.stop()
    app = open_app()
    assert not app.exception, [e.stack_trace for e in app.exception]
    (message,) = [error.value for error in app.error]
    assert message.startswith("**The database is not answering**")
    assert "will try again every 10 seconds" in message
    shown = everything_shown(app)
    assert "Traceback" not in shown and SECRET not in shown
    assert not app.metric  # the page stopped at the message, showing nothing stale

    private_cluster.start()
    app = open_app()
    assert not app.exception and not app.error
    assert {m.label: m.value for m in app.metric}["Patients"] == patients_shown


def test_in_a_browser_the_outage_page_comes_back_by_itself(private_cluster, extracts,
                                                            tmp_path):
    """The same outage as a person sees it: the page opened while the database is down
    says so; when the database is back, the page returns without anyone reloading it."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, FLAGS, SHOTS, require_browser, streamlit_server

    require_browser()
    url = private_cluster.url(SECRET)
    import_in_process(url, extracts["new"])
    with (streamlit_server(url, tmp_path / "server.log") as address, sync_playwright() as
          driver):
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(60_000)
        page.goto(address)
        page.get_by_text("Flagged gaps", exact=True).wait_for()

        private_cluster.stop()
        page.reload()
        page.get_by_text("The database is not answering").first.wait_for()
        body = page.inner_text("body")
        assert "will try again every 10 seconds" in body
        assert SECRET not in page.content() and "Traceback" not in body
        assert page.locator('[data-testid="stException"]').count() == 0
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "database-not-answering.png"))

        private_cluster.start()
        started = time.monotonic()
        page.get_by_text("Flagged gaps", exact=True).wait_for(timeout=45_000)  # no reload
        assert time.monotonic() - started < 45
        assert page.get_by_text("The database is not answering").count() == 0
        assert page.locator('[data-testid="stException"]').count() == 0
        chromium.close()
