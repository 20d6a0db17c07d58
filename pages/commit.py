"""Commit: where the system stands — the self-assessment questions, the champions roster, the
signed commitment statement, the phase's checklist and the frameworks' self-assessment."""
from __future__ import annotations

import streamlit as st

from ui import access
from ui import tracker_forms as forms

forms.require_frame()
access.require_page("see_tracker")
url = forms.ready()
st.title("Commit: where do we stand?")
forms.current_user()
phase = forms.phase_header("commit", url)

tabs = st.tabs(["Self-assessment", "Champions", "Commitment statement", "Checklist",
                "CMS and Joint Commission cross-walk"])
with tabs[0]:
    forms.self_assessment(url)
with tabs[1]:
    forms.champions_roster(url)
with tabs[2]:
    forms.commitment_statement(url)
with tabs[3]:
    forms.phase_checklist(phase, url)
with tabs[4]:
    forms.framework_self_assessment(url)
