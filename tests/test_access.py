"""Sign-in and roles: the roles file, every role on every page through AppTest's signed-in
user, the refusals in the domain functions themselves (not only hidden buttons), and the
audit log of sign-ins, imports, validation runs, tracker edits and exports, which the
database keeps append-only (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from streamlit.testing.v1 import AppTest

import metrics
import snapshots
import tracker
from store import access, audit, import_extract
from store.access import NotAllowed, User
from store.engine import get_engine
from tests.conftest import REPO, copy_sqlite
from tests.test_importer import table_contents

ROLES_TOML = """
default_role = ""
[users]
"vera.viewer@example.org" = "viewer"
"ana.analyst@example.org" = "analyst"
"chris.champion@example.org" = "champion"
"ada.admin@example.org" = "admin"
"both@example.org" = "viewer"
[groups]
"equity-admins" = "admin"
"""
EMAIL = {"viewer": "vera.viewer@example.org", "analyst": "ana.analyst@example.org",
         "champion": "chris.champion@example.org", "admin": "ada.admin@example.org"}
READER = {"overview", "explorer", "methods", "safety"}
ANALYST = READER | {"quality", "loaded", "pack", "commit", "learn", "vision", "launch",
                    "algorithms", "egfr"}
# Written out, not derived from the code under test: which pages each role may open.
MAY_OPEN = {"viewer": READER, "analyst": ANALYST, "champion": ANALYST,
            "admin": ANALYST | {"admin"}}
ALL_PAGES = sorted(MAY_OPEN["admin"])
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "dashboard", "client_secret": "secret",
        "server_metadata_url": "https://login.example.org/.well-known/openid-configuration"}


@pytest.fixture
def sample_copy(sample_sqlite, tmp_path):
    from store.engine import dispose_engine

    url = copy_sqlite(sample_sqlite, tmp_path / "equity.db")
    yield url
    dispose_engine(url)


@pytest.fixture
def roles_file(tmp_path, monkeypatch):
    path = tmp_path / "roles.toml"
    path.write_text(ROLES_TOML)
    monkeypatch.setenv("EQUITY_ROLES_FILE", str(path))
    return path


def user(role: str) -> User:
    return User(email=EMAIL[role], name=role.title(), role=role)


# --- the roles file -----------------------------------------------------------------------

def test_the_roles_file_gives_the_highest_role_of_the_email_and_the_groups(roles_file):
    assert access.role_for("Ana.Analyst@example.org") == "analyst"  # emails ignore case
    assert access.role_for("both@example.org", ["equity-admins"]) == "admin"
    assert access.role_for("nobody@example.org") is None
    assert access.role_for("nobody@example.org", ["equity-admins"]) == "admin"


def test_a_bad_roles_file_is_refused_with_the_entry_and_the_rule(tmp_path):
    bad = tmp_path / "roles.toml"
    bad.write_text('[users]\n"a@example.org" = "superuser"\n')
    with pytest.raises(ValueError, match=r"roles.toml: users.a@example.org = 'superuser'.*"
                                         r"viewer, analyst, champion, admin"):
        access.load_roles(bad)
    bad.write_text("[users\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        access.load_roles(bad)


# --- every role on every page ------------------------------------------------------------

def signed_in_app(url, monkeypatch, who: dict | None) -> AppTest:
    monkeypatch.setenv("EQUITY_DATABASE_URL", url)
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": False} if who is None else {"is_logged_in": True, **who}
    app.run()
    return app


def shown_text(app) -> str:
    return " ".join(str(e.value) for e in [*app.title, *app.markdown, *app.warning,
                                            *app.error, *app.info, *app.caption])


def menu_has(app, page: str) -> bool:
    try:
        app.switch_page(f"pages/{page}.py")
    except ValueError:  # AppTest knows only the pages st.navigation registered
        return False
    return True


def page_alone(page: str, url, monkeypatch, who: dict) -> AppTest:
    """A page opened by its own URL (a deep link), with the same signed-in user."""
    monkeypatch.setenv("EQUITY_DATABASE_URL", url)
    app = AppTest.from_file(str(REPO / "pages" / f"{page}.py"), default_timeout=120)
    app.secrets["auth"] = AUTH
    app.user = {"is_logged_in": True, **who}
    app.run()
    return app


@pytest.mark.parametrize("role", sorted(MAY_OPEN))
def test_each_role_opens_exactly_its_pages(role, sample_copy, roles_file, monkeypatch):
    who = {"email": EMAIL[role], "name": role}
    app = signed_in_app(sample_copy, monkeypatch, who)
    assert not app.exception, [e.value for e in app.exception]
    assert f"Signed in as {role} <{EMAIL[role]}> ({role})" in shown_text(app)
    # The menu as app.py built it (once a page has run alone, AppTest lists the folder).
    assert {page for page in ALL_PAGES if menu_has(app, page)} == MAY_OPEN[role]
    for page in ALL_PAGES:
        if page in MAY_OPEN[role]:
            app.switch_page(f"pages/{page}.py").run()
            assert not app.exception, (page, [e.value for e in app.exception])
            assert not [w for w in app.warning if "Your role" in str(w.value)], (role, page)
            assert app.title or app.markdown, (role, page)
            continue
        alone = page_alone(page, sample_copy, monkeypatch, who)
        assert not alone.exception, (page, [e.value for e in alone.exception])
        refused = [w.value for w in alone.warning]
        assert refused == [f"Your role ({role}) cannot {access.WHAT[PAGE_NEEDS[page]]}: that "
                           f"needs the {access.PERMISSIONS[PAGE_NEEDS[page]]} role. Ask an "
                           "administrator of the dashboard."], (role, page)
        assert not alone.get("plotly_chart") and not alone.dataframe and not alone.title


PAGE_NEEDS = {"quality": "data_quality", "loaded": "data_quality", "egfr": "data_quality",
              "pack": "export",
              "commit": "see_tracker", "learn": "see_tracker", "vision": "see_tracker",
              "launch": "see_tracker", "algorithms": "see_tracker", "admin": "configure"}


def test_without_sign_in_nothing_is_shown_but_the_sign_in_button(sample_copy, roles_file,
                                                                 monkeypatch):
    app = signed_in_app(sample_copy, monkeypatch, None)
    assert not app.exception
    assert [b.label for b in app.button] == ["Sign in"]
    assert not app.get("plotly_chart") and not app.dataframe and not app.metric


def test_a_signed_in_user_without_a_role_is_told_so_and_sees_nothing(sample_copy, roles_file,
                                                                    monkeypatch):
    app = signed_in_app(sample_copy, monkeypatch, {"email": "stranger@example.org"})
    assert not app.exception
    assert "stranger@example.org" in app.error[0].value and "roles.toml" in app.error[0].value
    assert not app.get("plotly_chart") and not app.metric
    assert [b.label for b in app.button] == ["Sign out"]


def test_the_viewer_gets_no_export_panel_and_the_analyst_does(sample_copy, roles_file,
                                                             monkeypatch):
    panels = {}
    for role in ("viewer", "analyst"):
        app = signed_in_app(sample_copy, monkeypatch, {"email": EMAIL[role]})
        app.switch_page("pages/explorer.py").run()
        panels[role] = [e.label for e in app.expander]
    assert not any("meeting" in label for label in panels["viewer"])
    assert any("meeting" in label for label in panels["analyst"])


def test_a_download_is_made_and_audited_as_the_user_who_pressed_it(sample_copy, roles_file,
                                                                  monkeypatch, deferred_files):
    """Streamlit makes a deferred download's file outside the run that drew the button, where
    no user is set: the file must still be made as the signed-in analyst (here the local
    operator is a viewer, who may not export), and the audit must name the analyst."""
    app = signed_in_app(sample_copy, monkeypatch, {"email": EMAIL["analyst"],
                                                   "name": "Ana"})
    app.switch_page("pages/explorer.py").run()
    assert not app.exception
    buttons = {b.proto.label: b.proto.deferred_file_id for b in app.get("download_button")}
    name, make = deferred_files[buttons["Table (CSV)"]]
    monkeypatch.setenv("EQUITY_LOCAL_ROLE", "viewer")
    assert access.current_user().role == "viewer"
    rows = make().decode("utf-8-sig").splitlines()
    assert name.endswith(".csv") and len(rows) > 3
    with access.acting_as(user("admin")):
        [export] = [e for e in audit.entries(sample_copy, action="export")
                    if e["details"].get("format") == "csv"]
    assert export["actor"] == f"Ana <{EMAIL['analyst']}>"


def test_sign_ins_are_recorded_once_per_session(sample_copy, roles_file, monkeypatch):
    app = signed_in_app(sample_copy, monkeypatch, {"email": EMAIL["champion"],
                                                   "name": "Chris"})
    app.switch_page("pages/vision.py").run()
    with access.acting_as(user("admin")):
        rows = audit.entries(sample_copy, action="sign_in")
    mine = [r for r in rows if EMAIL["champion"] in r["actor"]]
    assert len(mine) == 1 and mine[0]["details"]["role"] == "champion"


# --- the domain functions refuse, whatever a page shows -----------------------------------

def test_the_domain_functions_refuse_a_role_that_does_not_allow_them(sample_copy):
    view = snapshots.View("disparity", measure_id="cbp", by=("race",))
    before = table_contents(sample_copy)
    with access.acting_as(user("viewer")):
        assert metrics.stratify("cbp", "race", database_url=sample_copy)["denominator"].sum()
        with pytest.raises(NotAllowed, match=r"Your role \(viewer\) cannot export"):
            snapshots.export_bytes(view, "csv", sample_copy)
        with pytest.raises(NotAllowed, match="cannot see data quality"):
            __import__("data_quality").completeness_by("site", sample_copy)
        with pytest.raises(NotAllowed, match="cannot change the configuration or read"):
            audit.entries(sample_copy)
    with access.acting_as(user("analyst")):
        assert snapshots.export_bytes(view, "csv", sample_copy).data
        with pytest.raises(NotAllowed, match=r"Your role \(analyst\) cannot edit the tracker"):
            tracker.add_item(sample_copy, "commit", "Name a sponsor", by="Ana")
    with access.acting_as(user("champion")):
        added = tracker.add_item(sample_copy, "commit", "Name a sponsor", by="Chris")
        assert added["title"] == "Name a sponsor"
        with pytest.raises(NotAllowed, match=r"champion\) cannot import data"):
            import_extract(REPO / "missing.csv", REPO / "missing.csv",
                           database_url=sample_copy)
    assert table_contents(sample_copy) == before  # no import, no half-written rows


# --- the audit log ------------------------------------------------------------------------

def test_imports_validation_runs_tracker_edits_and_exports_are_audited(database_url,
                                                                       small_extracts):
    import data_quality

    files = small_extracts
    summary = import_extract(files["patients"], files["results"],
                             value_map_csv=files["value_map"], database_url=database_url)
    broken = files["results"].with_name("broken.csv")
    broken.write_text(files["results"].read_text() + "nobody,cbp,2025-01,X,1,1,\n")
    with pytest.raises(Exception, match="refused"):
        import_extract(files["patients"], broken, value_map_csv=files["value_map"],
                       database_url=database_url)
    data_quality.run_checks(database_url, engine="sql")
    with access.acting_as(user("champion")):
        tracker.ensure_tables(database_url)
        tracker.add_item(database_url, "learn", "Hold a grand round", by="ignored")
    with access.acting_as(user("analyst")):
        snapshots.export_bytes(snapshots.View("disparity", measure_id="cbp", by=("sex",)),
                               "csv", database_url)
    rows = audit.entries(database_url, limit=None)
    by_action = {}
    for row in rows:
        by_action.setdefault(row["action"], []).append(row)
    assert by_action["import"][-1]["details"]["batch_id"] == summary.batch_id
    assert by_action["import_refused"][0]["details"]["problems"] == 1
    assert "broken.csv" in by_action["import_refused"][0]["details"]["first"][0]
    assert by_action["validation"][0]["details"]["checks"] > 0
    edit = by_action["tracker_edit"][0]
    assert edit["actor"] == "Champion <chris.champion@example.org>"
    assert edit["details"]["entity"] and edit["details"]["action"] == "created"
    assert by_action["export"][0]["actor"] == "Analyst <ana.analyst@example.org>"
    # Never patient-level data: no patient identifier anywhere in the log.
    patient_ids = files["patients"].read_text().splitlines()[1].split(",")[0]
    assert patient_ids not in str(rows)


@pytest.fixture
def small_extracts(tmp_path):
    from sample_data.generator import generate

    return generate(tmp_path / "extract", patients=300, seed=9)


def test_the_database_refuses_to_change_or_delete_audit_rows(database_url):
    from store.engine import ensure_schema

    ensure_schema(database_url)
    audit.record("export", {"file": "a.csv"}, actor="someone", database_url=database_url)
    engine = get_engine(database_url)
    statements = ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE audit_log")
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(audit.audit_log)).scalar_one() == 1
        assert conn.execute(select(audit.audit_log.c.actor)).scalar_one() == "someone"


def test_an_audit_log_made_before_the_triggers_gets_them(sqlite_url):
    from store.engine import ensure_schema

    ensure_schema(sqlite_url)
    engine = get_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        conn.execute(text("INSERT INTO audit_log (at, actor, action, details) "
                          "VALUES ('2026-01-01', 'a', 'b', '{}')"))
        conn.execute(text("DELETE FROM audit_log"))  # unprotected, as an old database was
    ensure_schema(sqlite_url)
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        audit.record("x", {}, actor="a", conn=conn)
        conn.execute(text("DELETE FROM audit_log"))


def test_the_admin_page_lists_and_exports_the_log(sample_copy, roles_file, monkeypatch):
    audit.record("export", {"file": "=cmd|' /C calc'!A0"}, actor="=HYPERLINK(\"x\")",
                 database_url=sample_copy)
    app = signed_in_app(sample_copy, monkeypatch, {"email": EMAIL["admin"]})
    app.switch_page("pages/admin.py").run()
    assert not app.exception, [e.value for e in app.exception]
    table = app.dataframe[0].value
    assert "=HYPERLINK(\"x\")" in set(table["who"])
    assert {"sign_in", "export"} <= set(table["action"])
    assert app.get("download_button")[0].proto.label == "Download these entries (CSV)"
