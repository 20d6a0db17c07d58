"""The app itself, through Streamlit's AppTest, on fresh databases."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO


@pytest.fixture
def fresh_database(sqlite_url, monkeypatch):
    monkeypatch.setenv("EQUITY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("EQUITY_SAMPLE_PATIENTS", "3000")
    return sqlite_url


def run_app(page: str | None = None) -> AppTest:
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.run()
    if page:
        app.switch_page(page).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_first_start_creates_the_schema_and_loads_sample_data(fresh_database):
    import store

    assert store.is_empty(fresh_database)  # also creates the schema
    app = run_app("pages/loaded.py")
    loaded = store.status(fresh_database)
    assert loaded["patients"] == 3000 and loaded["results"] > 10_000
    assert loaded["last_import"]["source"] == "sample"
    shown = {metric.label: metric.value for metric in app.metric}
    assert shown["Patients"] == "3,000"
    assert shown["Measured cases"] == f"{loaded['results']:,}"
    first, last = loaded["periods"]["first"], loaded["periods"]["last"]
    months = (int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7]) + 1
    assert shown["Months"] == str(months)
    assert f"months {first} to {last}." in app.caption[0].value
    # The measures table lists every catalog measure with its counted cases (as text:
    # "<11" where the small-cell rule hides them).
    table = app.dataframe[0].value
    exact = {m["measure_id"]: m["cases"] for m in store.measures_loaded(fresh_database)}
    assert len(table) == loaded["measures"]
    for measure, cases in zip(table["measure_id"], table["cases"]):
        assert cases == "<11" or int(cases.replace(",", "")) == exact[measure] > 0, measure

    # A second start finds the data and does not load it again.
    run_app()
    assert store.status(fresh_database)["last_import"]["batch_id"] == 1


def test_empty_database_stays_empty_when_asked_and_says_what_to_do(fresh_database,
                                                                    monkeypatch):
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")
    app = run_app()
    assert "python manage.py import" in app.info[0].value
    app = run_app("pages/loaded.py")
    assert "python manage.py import" in app.info[0].value


def test_unreachable_database_gives_a_message_not_a_traceback(monkeypatch):
    monkeypatch.setenv("EQUITY_DATABASE_URL",
                       "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    app = run_app()
    assert "cannot be used right now" in app.error[0].value
    assert "EQUITY_DATABASE_URL" in app.error[0].value
