"""What is loaded: patients, results, measures and the last import."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import store
from charts.palette import format_total
from metrics.privacy import SHOWN_AS
from tracker.goals import month_index
from ui import access, data
from ui.frame import require_frame

require_frame()
access.require_page("data_quality")

st.title("What is loaded")
loaded = store.status()

if not loaded["patients"]:
    st.info(
        "No data is loaded yet. Load your extract with "
        "`python manage.py import PATIENTS.csv RESULTS.csv`, or sample data with "
        "`python manage.py sample`."
    )
    st.stop()

first, last = loaded["periods"]["first"], loaded["periods"]["last"]
batch = loaded["last_import"]
# Every import replaces the lab results with its own labs file's rows (or none).
labs = next((f["rows"] for f in (batch or {}).get("files", []) if f["role"] == "labs"), 0)
columns = st.columns(5)
columns[0].metric("Patients", format_total(loaded["patients"]))
columns[1].metric("Measured cases", format_total(loaded["results"]))
columns[2].metric("Lab results", format_total(labs),
                  help="Creatinine results of the last import's labs file, for the eGFR "
                       "page; none when the import had no labs file.")
columns[3].metric("Measures in the catalog", f"{loaded['measures']:,}")
# The range is too wide for a fifth of the page: the count goes in the card, the range
# under it, in the caption.
span = month_index(last) - month_index(first) + 1 if first else 0
columns[4].metric("Months", f"{span:,}" if first else "none",
                  help=f"From {first} to {last}." if first else None)

if batch:
    origin = "synthetic sample data" if batch["source"] == "sample" else "an extract"
    st.caption(
        f"Data as of {batch['finished_at'][:16].replace('T', ' ')} UTC: batch "
        f"{batch['batch_id']}, {origin} ({', '.join(f['name'] for f in batch['files'])})"
        + (f"; months {first} to {last}." if first else ".")
    )

st.subheader("Measures")
table = data.measures_shown(data.data_version())
table["cases"] = table["cases"].map(lambda n: SHOWN_AS if pd.isna(n) else f"{n:,}")
table["direction"] = table["higher_is_better"].map({True: "higher is better",
                                                    False: "lower is better"})
st.dataframe(
    table[["name", "measure_id", "kind", "direction", "cases", "first_period", "last_period"]],
    hide_index=True,
    column_config={
        "name": "Measure",
        "measure_id": "ID",
        "kind": "Kind",
        "direction": "Direction",
        "cases": st.column_config.TextColumn(
            "Cases counted", help=f"{SHOWN_AS}: 1 to 10 cases, or a measure hidden with "
                                  "them so that no small count can be worked out (small-cell "
                                  "rule)."),
        "first_period": "First month",
        "last_period": "Last month",
    },
)
