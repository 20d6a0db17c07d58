"""Learn: the learning log, curated learning resources and the project's glossary."""
from __future__ import annotations

import streamlit as st

from ui import access
from ui import tracker_forms as forms

forms.require_frame()
access.require_page("see_tracker")
url = forms.ready()
st.title("Learn: a shared understanding of racism and equity")
forms.current_user()
phase = forms.phase_header("learn", url)

tabs = st.tabs(["Learning log", "Resources", "Glossary", "Checklist"])
with tabs[0]:
    forms.learning_log(url)
with tabs[1]:
    forms.learning_resources()
with tabs[2]:
    forms.glossary()
with tabs[3]:
    forms.phase_checklist(phase, url)
