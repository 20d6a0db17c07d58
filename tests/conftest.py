"""Fixtures shared by the whole suite."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _reference_dir() -> Path:
    # The published reference values live beside the repository (../shared/reference) and are
    # not copied into it (their licences are GPL-3 and AGPL-3); EQUITY_REFERENCE_DIR overrides.
    return Path(os.environ.get("EQUITY_REFERENCE_DIR", REPO.parent / "shared" / "reference"))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    path = _reference_dir()
    if not path.is_dir():
        pytest.skip(f"published reference values not found at {path} (set EQUITY_REFERENCE_DIR)")
    return path


# --- databases ----------------------------------------------------------------------------
# Every test that takes `database_url` runs twice: on a fresh SQLite file and on a fresh
# schema of the machine's PostgreSQL (skipped, with the reason, when the server is not there).

POSTGRES_URL = os.environ.get(
    "EQUITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_problem() -> str | None:
    try:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(POSTGRES_URL)
        with psycopg.connect(
            host=url.host, port=url.port or 5432, user=url.username, password=url.password,
            dbname=url.database, connect_timeout=3,
        ):
            return None
    except Exception as error:  # any failure means: no server to test against
        return f"PostgreSQL at {POSTGRES_URL} does not answer: {error}"


_POSTGRES_PROBLEM: list[str | None] = []


def postgres_problem() -> str | None:
    if not _POSTGRES_PROBLEM:
        _POSTGRES_PROBLEM.append(_postgres_problem())
    return _POSTGRES_PROBLEM[0]


def require_postgres() -> None:
    """Skip (or, in CI, fail) when the PostgreSQL server does not answer."""
    problem = postgres_problem()
    if problem:
        if os.environ.get("EQUITY_REQUIRE_POSTGRES") == "1":
            pytest.fail(problem + " (EQUITY_REQUIRE_POSTGRES=1)")
        pytest.skip(problem)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A URL to an empty database of each kind; the engine is disposed afterwards."""
    from store.engine import dispose_engine

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'equity.db'}"
        yield url
        dispose_engine(url)
        return
    require_postgres()
    url, drop = _fresh_postgres_schema()
    try:
        yield url
    finally:
        dispose_engine(url)
        drop()


@pytest.fixture
def sqlite_url(tmp_path):
    from store.engine import dispose_engine

    url = f"sqlite:///{tmp_path / 'equity.db'}"
    yield url
    dispose_engine(url)


def _fresh_postgres_schema():
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"equity_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"

    def drop():
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, drop


# --- the synthetic health system, generated once per test session -------------------------

SAMPLE_PATIENTS = 20_000


@pytest.fixture(scope="session")
def sample_extract(tmp_path_factory):
    """The sample extract's CSV files (patients, results, labs, value_map), written once."""
    from sample_data.generator import generate

    folder = tmp_path_factory.mktemp("sample-extract")
    return generate(folder, patients=SAMPLE_PATIENTS)


@pytest.fixture(scope="session")
def sample_sqlite(sample_extract, tmp_path_factory):
    """A SQLite database holding the sample extract, loaded once; tests must not change it."""
    from store import import_extract
    from store.engine import dispose_engine

    url = f"sqlite:///{tmp_path_factory.mktemp('sample-db') / 'equity.db'}"
    import_extract(sample_extract["patients"], sample_extract["results"],
                   value_map_csv=sample_extract["value_map"], database_url=url,
                   labs_csv=sample_extract["labs"])
    yield url
    dispose_engine(url)


@pytest.fixture(scope="session")
def sample_postgres(sample_extract):
    """The same extract in a fresh PostgreSQL schema, loaded once."""
    from store import import_extract
    from store.engine import dispose_engine

    require_postgres()
    url, drop = _fresh_postgres_schema()
    import_extract(sample_extract["patients"], sample_extract["results"],
                   value_map_csv=sample_extract["value_map"], database_url=url,
                   labs_csv=sample_extract["labs"])
    yield url
    dispose_engine(url)
    drop()


# --- hypothesis -----------------------------------------------------------------------------
# CI runs the property tests with a fixed seed so that a submission's result is reproducible;
# locally they explore new examples on every run.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")


def copy_sqlite(url: str, target) -> str:
    """A private copy of a SQLite database (SQLite's online backup), for tests that write;
    returns its URL."""
    import sqlite3

    from sqlalchemy.engine import make_url

    source = sqlite3.connect(make_url(url).database)
    copy = sqlite3.connect(target)
    with copy:
        source.backup(copy)
    source.close()
    copy.close()
    return f"sqlite:///{target}"


@pytest.fixture
def deferred_files(monkeypatch):
    """The makers of deferred download buttons, by file id, captured as Streamlit registers
    them: calling one is what a click does. {file_id: (file_name, maker)}."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    makers = {}
    register = MediaFileManager.add_deferred

    def capture(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        file_id = register(self, data_callable, mimetype, coordinates, file_name, **kwargs)
        makers[file_id] = (file_name, data_callable)
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", capture)
    return makers
