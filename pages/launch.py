"""Launch: interventions on the chartered goals, their PDSA cycles, and for each goal a run
chart and p-chart of the group and its reference with the goal line and the start of each
intervention, and the status (on track, off track, met) computed from the data."""
from __future__ import annotations

import streamlit as st

import tracker
from ui import access, data
from ui import tracker_forms as forms

forms.require_frame()
access.require_page("see_tracker")
url = forms.ready()
version = data.data_version()
st.title("Launch: targeted improvement, followed month by month")
forms.current_user()
phase = forms.phase_header("launch", url)

chartered = [goal for goal in tracker.goals(url) if goal["status"] == "chartered"]
tabs = st.tabs(["Goals and interventions", "Checklist"])
with tabs[0]:
    if not chartered:
        st.info("No chartered goal yet: charter one on the Vision page, then add its "
                "interventions here.")
    for goal in chartered:
        with st.container(border=True):
            forms.launch_goal(url, version, goal)
with tabs[1]:
    forms.phase_checklist(phase, url)
