"""Disparity explorer for quality teams: choose a measure, a stratifier (or two crossed), a
reference group and filters; read the chart, the trend, the control chart and the table."""
from __future__ import annotations

import streamlit as st

import charts
import snapshots
from metrics.disparity import REFERENCE_CHOICES
from metrics.strata import STRATIFIERS
from ui import access, data, state, tables
from ui.charts import show_chart
from ui.exports import meeting_panel
from ui.frame import require_frame

require_frame()
access.require_page("view")

version = data.data_version()
filters = st.session_state["filters"]

catalog = data.measures(version)
catalog = catalog[catalog["cases"] > 0]
if catalog.empty:
    st.info("No measure has counted cases yet: load data first (see What is loaded).")
    st.stop()
names = dict(zip(catalog["measure_id"], catalog["name"]))
kinds = dict(zip(catalog["measure_id"], catalog["kind"]))
stratifiers = [name for name in STRATIFIERS if name != "period"]
label = {name: STRATIFIERS[name].label for name in stratifiers}
FILTERS = {"payer": "Payer", "age_group": "Age group", "sex": "Sex",
           "preferred_language": "Preferred language"}
VIEWS = ["Groups", "Over time", "Control chart", "Share of outcomes", "Table", "All measures"]

state.seed("measure", list(names), "cbp" if "cbp" in names else next(iter(names)),
           label="measure")
state.seed("by", stratifiers, "race", label="stratifier")
state.seed("by2", ["none", *stratifiers], "none", label="second stratifier")
for key in FILTERS:
    state.seed(key, data.group_values(version, key), [], multi=True, label=key)
state.seed("adjust", ["crude", "age-adjusted"], "crude", label="rates")
state.seed("view", VIEWS, "Groups", label="view")
by = [st.session_state["by"]] + (
    [st.session_state["by2"]] if st.session_state["by2"] not in ("none",
                                                                  st.session_state["by"])
    else [])
groups = data.group_values(version, by[0]) if len(by) == 1 else []
state.seed("reference", [*REFERENCE_CHOICES, *groups], "largest", label="reference group")
state.seed("group", groups or ["none"], groups[0] if groups else "none", label="group")

st.title("Disparity explorer")
state.show_notes()
controls = st.columns([3, 2, 2, 2])
measure_id = controls[0].selectbox("Measure", list(names), format_func=names.get,
                                   key="measure")
controls[1].selectbox("Stratify by", stratifiers, format_func=label.get, key="by")
controls[2].selectbox("Crossed with", ["none", *stratifiers],
                      format_func=lambda n: "nothing" if n == "none" else label[n], key="by2")
reference = controls[3].selectbox(
    "Reference group", [*REFERENCE_CHOICES, *groups], key="reference",
    format_func=lambda r: {"largest": "Largest group", "best": "Best-performing group",
                           "overall": "All patients"}.get(r, r),
    help="What each group is compared with. Automatic choices never pick Missing, Unknown or "
         "Asked but no answer.")
with st.expander("Filters: payer, age group, sex, language", expanded=False):
    chosen = {}
    columns = st.columns(len(FILTERS))
    for column, (key, title) in zip(columns, FILTERS.items()):
        chosen[key] = column.multiselect(title, data.group_values(version, key), key=key,
                                         placeholder="All")
    st.radio("Rates", ["crude", "age-adjusted"], key="adjust", horizontal=True,
             help="Age-adjusted: directly standardised to the age mix of all patients shown.")
state.publish("measure", "by", "by2", "reference", *FILTERS, "adjust", "view", "group")

where = data.where_key(filters.where(**chosen))
table = data.stratify(version, measure_id, tuple(by), where, filters.period_from,
                      filters.period_to, reference)
if table.empty:
    st.warning("No counted cases for this measure with these filters. Widen the months, the "
               "sites or the filters.")
    st.stop()
st.caption(tables.context_line(table, filters))

tabs = st.tabs(VIEWS, key="view", on_change="rerun")
with tabs[0]:
    if tabs[0].open is not False:
        show_chart(charts.disparity_dot_chart(table), key="dot_chart")
        st.write(charts.disparity_summary(table))
        if st.session_state["adjust"] == "age-adjusted" and kinds[measure_id] != "proportion":
            st.info("Age adjustment is computed for proportion measures only.")
        elif st.session_state["adjust"] == "age-adjusted" and len(by) == 1:
            adjusted = data.age_adjusted(version, measure_id, by[0], where,
                                         filters.period_from, filters.period_to)
            st.markdown("**Crude and age-adjusted rates**")
            tables.show_adjusted(adjusted, by[0])
        elif st.session_state["adjust"] == "age-adjusted":
            st.info("Age adjustment is shown for one stratifier at a time.")
with tabs[1]:
    if tabs[1].open is not False:
        if len(by) == 1:
            monthly = data.over_time(version, measure_id, by[0], where, filters.period_from,
                                     filters.period_to, reference)
            show_chart(charts.trend_chart(monthly, show_gap=True), key="trend_chart")
            st.write(charts.trend_summary(monthly))
        else:
            st.info("The trend is drawn for one stratifier at a time: clear 'Crossed with'.")
with tabs[2]:
    if tabs[2].open is not False:
        if len(by) == 1:
            group = st.selectbox("Group", groups, key="group")
            monthly = data.over_time(version, measure_id, by[0], where, filters.period_from,
                                     filters.period_to, reference)
            show_chart(charts.control_chart(monthly, group), key="control_chart")
            st.write(charts.control_summary(monthly, group))
        else:
            st.info("Control charts are drawn for one stratifier at a time.")
with tabs[3]:
    if tabs[3].open is not False and kinds[measure_id] != "proportion":
        st.info("Shares of patients and of outcomes are drawn for proportion measures only.")
    elif tabs[3].open is not False:
        show_chart(charts.share_chart(table), key="share_chart")
        st.write(charts.share_summary(table))
with tabs[4]:
    if tabs[4].open is not False:
        tables.show_disparity(table)
with tabs[5]:
    if tabs[5].open is not False:
        every = {measure: data.stratify(version, measure, (by[0],), where, filters.period_from,
                                        filters.period_to, "largest") for measure in names}
        every = {measure: t for measure, t in every.items() if not t.empty}
        show_chart(charts.small_multiples(every), key="small_multiples")
        st.write(charts.small_multiples_summary(every))

view_kind = {"Groups": "disparity", "Share of outcomes": "share", "Over time": "trend",
             "Control chart": "control"}.get(st.session_state.get("view", "Groups"))
if view_kind and (len(by) == 1 or view_kind in ("disparity", "share")):
    meeting_panel(snapshots.View(
        view_kind, measure_id, tuple(by), where=data.where_key(filters.where(**chosen)),
        period_from=filters.period_from, period_to=filters.period_to, reference=reference,
        group=st.session_state.get("group") if view_kind == "control" else None),
        key="export", version=version)
