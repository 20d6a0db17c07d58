"""The page's side of the database: first-start loading and friendly failures."""
from __future__ import annotations

import contextlib
import os
import threading

import streamlit as st
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

import store
from sample_data.load import DEFAULT_PATIENTS, load_sample
from store.importlock import ImportRunning, running_import

# One first-start load per server process, however many browser sessions open at once.
_first_start = threading.Lock()


def ensure_data() -> None:
    """Create the schema and, on first start with an empty database, load the sample data.

    Stops the page with a message (never a traceback) when the database cannot be reached.
    """
    try:
        if not store.is_empty():
            return
        if os.environ.get("EQUITY_LOAD_SAMPLE", "1") == "0":
            return
        with _first_start:
            if not store.is_empty():
                return
            patients = int(os.environ.get("EQUITY_SAMPLE_PATIENTS", DEFAULT_PATIENTS))
            with st.status("First start: loading a synthetic health system…",
                           expanded=True) as box:
                box.write("Creating the database schema")
                summary = load_sample(patients=patients, progress=box.write)
                box.update(
                    label=f"Sample data loaded: {summary.patients:,} patients, "
                    f"{summary.results:,} results",
                    state="complete", expanded=False,
                )
    except ImportRunning as running:
        # Someone imports into the empty database right now: their data, not the sample,
        # will be there once their import commits.
        st.info(f"Data are being imported into this database ({running.problems.items[0].rule})."
                " The dashboard shows them once that import has finished: reload this page "
                "in a moment.")
        st.stop()
    except SQLAlchemyError as error:
        database_unavailable(error)


@contextlib.contextmanager
def guarded():
    """Turn a database failure anywhere inside into the friendly message."""
    try:
        yield
    except SQLAlchemyError as error:
        database_unavailable(error)


RETRY_SECONDS = 10


def database_unavailable(error: Exception) -> None:
    """The friendly page for a database failure, then a stop (never a traceback).

    A database that does not answer (stopped, restarting, unreachable) is the usual case:
    the page says so and asks the database again every RETRY_SECONDS, rerunning the whole
    page by itself once it answers (the engine's pre-ping replaces the dead connections).
    """
    reason = _reason(error)
    if "database is locked" in reason:  # SQLite: a writer held it past the busy timeout
        running = running_import(store.database_url())
        who = (f"an import ({running.problems.items[0].rule})" if running is not None
               else "another program")
        st.warning(
            f"**The database is busy**: {who} is writing to it, so this change could not be "
            "saved and nothing was changed. The dashboard still shows the data as they were; "
            "do it again once the import has finished.")
        st.stop()
    if isinstance(error, OperationalError | InterfaceError) or getattr(
            error, "connection_invalidated", False):
        st.error(
            "**The database is not answering**, so the dashboard cannot be used right now. "
            f"It will try again every {RETRY_SECONDS} seconds and carry on by "
            "itself when the database is back.\n\n"
            f"If this lasts, check that the database at `{store.describe()}` is running and "
            f"that `EQUITY_DATABASE_URL` points to it. (The database said: {reason})"
        )
        _try_again()
    else:
        st.error(
            f"The database at `{store.describe()}` cannot be used right now: {reason}\n\n"
            "Check that it is running and that `EQUITY_DATABASE_URL` points to it, then "
            "reload this page."
        )
    st.stop()


def _reason(error: Exception) -> str:
    """The driver's first line, without the password should a driver repeat the URL."""
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    password = make_url(store.database_url()).password
    return reason.replace(password, "***") if password else reason


@st.fragment(run_every=RETRY_SECONDS)
def _try_again() -> None:
    # Runs on its own every RETRY_SECONDS while the message is shown (also after the stop
    # that ends the page); the first run is the page's own, which has just failed.
    if st.session_state.pop("_database_retry_armed", False) and _answers():
        st.rerun(scope="app")
    st.session_state["_database_retry_armed"] = True


def _answers() -> bool:
    try:
        with store.get_engine().connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except SQLAlchemyError:
        return False
