"""Overview for leaders: the largest meaningful gaps, their trend, data completeness and
progress through the five phases, on one screen."""
from __future__ import annotations

import streamlit as st

import charts
import snapshots
from ui import access, data, state, tables
from ui.charts import show_chart
from ui.exports import meeting_panel
from ui.frame import EXPLORER, LOADED, PACK, QUALITY, phases, require_frame

require_frame()
access.require_page("view")

version = data.data_version()
filters = st.session_state["filters"]
state.show_notes()

st.title("Where are our largest gaps, and are they real?")
loaded = data.loaded(version)
if not loaded["patients"]:
    st.info("No data is loaded yet. Load your extract with "
            "`python manage.py import PATIENTS.csv RESULTS.csv`, or sample data with "
            "`python manage.py sample`.")
    st.stop()

where = data.where_key(filters.where())
gaps = data.largest_gaps(version, where, filters.period_from, filters.period_to)
catalog = data.measures(version)
completeness = data.completeness(version)
progress = phases(version)

cards = st.columns(4)
cards[0].metric("Measures tracked", f"{int((catalog['cases'] > 0).sum())}",
                help="Measures of the catalog with counted cases in the data.")
cards[1].metric("Patients", charts.format_total(loaded["patients"]))
cards[2].metric("Flagged gaps", f"{len(gaps)}",
                help="Groups worse than their reference by at least 10 % (relative, adverse "
                     "direction) with p ≤ 0.05: the AHRQ rule. See Methods.")
cards[3].metric("Race and ethnicity recorded", charts.format_share(*completeness),
                help="Share of patients whose race and ethnicity are both recorded (not "
                     "missing, unknown or asked-but-no-answer). Target 95 %."
                     + (" A bound: 1 to 10 patients lack them (or have them), and the exact "
                        "share would give that count back (small-cell rule)."
                        if completeness[1] else ""))
links = st.columns(4)
links[0].page_link(LOADED, label="Which measures")
links[1].page_link(LOADED, label="What is loaded")
links[2].page_link(EXPLORER, label="Explore the gaps")
links[3].page_link(QUALITY, label="Where data capture fails")
st.caption(f"{filters.describe()}. Each group is compared with the largest group that has a "
           "known value.")

st.subheader("The largest gaps, by patients affected")
if gaps.empty:
    st.success("No gap meets the flag rule for these filters.")
else:
    show_chart(charts.largest_gaps_chart(gaps, top=10), key="largest_gaps")
    with st.expander("What the chart shows, in words, and its data"):
        st.write(charts.largest_gaps_summary(gaps, top=10))
        # (on request: a table drawn with the page cost a first visit 0.4-0.7 s)
        if st.toggle("Show the table", key="largest_gaps_table"):
            tables.show_largest_gaps(gaps, top=10)
    meeting_panel(snapshots.View("largest_gaps", where=where, period_from=filters.period_from,
                                 period_to=filters.period_to, top=10),
                  key="export_gaps", version=version)
    st.subheader("In plain words")
    halves = st.columns(2)
    for index, row in gaps.head(6).iterrows():
        with halves[index % 2]:
            st.markdown(f"{index + 1}. {charts.gap_sentence(row)}")
            st.page_link(EXPLORER, label="See the detail",
                         query_params={"measure": row["measure_id"], "by": row["stratifier"],
                                       "group": row["group"]})

if not gaps.empty:
    st.subheader("Are the largest gaps closing?")
    columns = st.columns(min(3, len(gaps)))
    for column, (_, row) in zip(columns, gaps.head(len(columns)).iterrows()):
        monthly = data.over_time(version, row["measure_id"], row["stratifier"], where,
                                 filters.period_from, filters.period_to, "largest")
        with column:
            show_chart(charts.trend_chart(monthly, groups=[row["group"],
                                                           row["reference_group"]],
                                          compact=True),
                            key=f"trend_{row['measure_id']}_{row['stratifier']}_{row['group']}")
            st.caption(f"Trend of the last 6 months against the 6 before: {row['trend']}.")

st.subheader("Progress through the five phases")
show_chart(charts.phase_progress_chart(progress), key="phases")
st.caption("Items the data can decide (data loaded and stratified, completeness, a chartered "
           "goal, an intervention under way) are marked automatically; the others are "
           "recorded by the team's champions on each phase's page.")
meeting_panel(snapshots.View("phases"), key="export_phases", version=version,
              heading="Take the progress to a meeting")
st.page_link(PACK, label="Build a meeting pack of several views")
