"""The page's side of the database: first-start loading and friendly failures."""
from __future__ import annotations

import contextlib
import os
import threading

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

import store
from sample_data.load import DEFAULT_PATIENTS, load_sample

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
    except SQLAlchemyError as error:
        database_unavailable(error)


@contextlib.contextmanager
def guarded():
    """Turn a database failure anywhere inside into the friendly message."""
    try:
        yield
    except SQLAlchemyError as error:
        database_unavailable(error)


def database_unavailable(error: Exception) -> None:
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    st.error(
        f"The database at `{store.describe()}` cannot be used right now: {reason}\n\n"
        "Check that it is running and that `EQUITY_DATABASE_URL` points to it, then reload "
        "this page."
    )
    st.stop()
