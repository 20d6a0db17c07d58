"""Clinical algorithms that use race: the inventory of race-adjusted tools (preloaded from
Vyas 2020) and the system's own pathways, each with where it is used, its race term, the
race-neutral replacement and the review's status, owner, decision date and evidence. The
Launch checklist's item on race-based algorithms is met when every tool has a decision."""
from __future__ import annotations

import streamlit as st

import tracker
from store import access as roles
from ui import access
from ui import tracker_forms as forms

forms.require_frame()
access.require_page("see_tracker")
url = forms.ready()
st.title("Clinical algorithms that use race")
summary = tracker.review_summary(url)
leader = tracker.leader_line(summary)
st.markdown(f"**{leader}**")
forms.current_user()

rows = tracker.algorithms(url)
st.caption("Reviewed means a decision: replaced by the race-neutral tool, or retained with a "
           "written justification. Launch checklist: "
           + ("met." if summary["all_decided"] else "not met until every tool has a decision.")
           + " Remove a tool this system does not use; add the pathways it does.")
forms.algorithm_inventory(rows)
forms.algorithm_downloads(url, leader)
if roles.can("edit_tracker"):
    st.subheader("Record a review")
    forms.algorithm_editors(url, rows)
