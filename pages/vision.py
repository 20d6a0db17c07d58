"""Vision: equity-focused SMART goals, chartered from the gaps the engine found, each with
a printable project charter."""
from __future__ import annotations

import streamlit as st

import tracker
from ui import access, data, state
from ui import tracker_forms as forms

forms.require_frame()
access.require_page("see_tracker")
url = forms.ready()
version = data.data_version()
st.title("Vision: equity-focused SMART goals")
state.show_notes()
forms.current_user()
phase = forms.phase_header("vision", url)

goals = tracker.goals(url)
tabs = st.tabs(["Goals", "Charter a new goal", "Checklist"])
with tabs[0]:
    if not goals:
        st.info("No goal yet: charter one from a gap in “Charter a new goal”.")
    for goal in goals:
        with st.container(border=True):
            forms.goal_card(url, goal)
with tabs[1]:
    chosen = forms.choose_gap(version)
    if chosen is not None:
        forms.goal_builder(url, *chosen)
with tabs[2]:
    forms.phase_checklist(phase, url)
