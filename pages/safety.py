"""Harm events for leaders: the safety measures (rates per 1,000 patient-days or admissions) by
race and by preferred language, flagged gaps first, in plain words."""
from __future__ import annotations

import streamlit as st

import charts
from charts.safety import harm_chart, harm_sentence, harm_summary
from ui import access, data, state
from ui.charts import show_chart
from ui.frame import EXPLORER, METHODS, require_frame

require_frame()
access.require_page("view")

version = data.data_version()
filters = st.session_state["filters"]
state.show_notes()

st.title("Harm events: who is harmed more often?")
catalog = data.measures(version)
harm = catalog[(catalog["kind"] == "rate") & (catalog["cases"] > 0)]
if harm.empty:
    st.info("No harm events are loaded yet: load results of the rate measures (falls with "
            "injury, pressure injuries, adverse drug events, restraint use, complaints) with "
            "their exposure, see the data contract, or load the sample data.")
    st.stop()

where = data.where_key(filters.where())
BY = ("race", "preferred_language")
gaps = data.largest_gaps(version, where, filters.period_from, filters.period_to, BY,
                         ("rate",))
units = ", ".join(sorted(set(harm["unit"].dropna())))
st.caption(f"{filters.describe()}. Rates are events {units}; each group is compared with the "
           "largest group that has a known value.")

cards = st.columns(3)
cards[0].metric("Harm measures", f"{len(harm)}")
cards[1].metric("Flagged gaps", f"{len(gaps)}",
                help="Groups whose rate is at least 10 % above their reference group's with "
                     "p ≤ 0.05 (exact conditional test): the AHRQ rule. See Methods.")
cards[2].metric("Stratified by", "race, language")

st.subheader("Flagged gaps, largest excess first")
st.write(harm_summary(gaps, len(harm)))
for index, row in gaps.head(8).iterrows():
    st.markdown(f"{index + 1}. {harm_sentence(row)}")
    st.page_link(EXPLORER, label="See the detail",
                 query_params={"measure": row["measure_id"], "by": row["stratifier"],
                               "group": row["group"]})

names = dict(zip(harm["measure_id"], harm["name"]))
for by, heading in zip(BY, ("By race", "By preferred language")):
    st.subheader(heading)
    tables = {measure: data.stratify(version, measure, (by,), where, filters.period_from,
                                     filters.period_to, "largest") for measure in names}
    tables = {measure: table for measure, table in tables.items() if not table.empty}
    if not tables:
        st.info("No counted stays for these filters.")
        continue
    show_chart(harm_chart(tables), key=f"harm_{by}")
    st.write(charts.small_multiples_summary(tables))
st.page_link(METHODS, label="How the rates, intervals and flags are computed")
