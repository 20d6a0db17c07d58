"""The sidebar's phase tracker: the five STEPS Forward phases with their progress."""
from __future__ import annotations

import streamlit as st

PHASE_NAMES = ("Commit", "Learn", "Data", "Vision", "Launch")


def phase_tracker(phases: list[dict], current: str | None) -> None:
    """Each phase's progress bar; the phase of the page in view is highlighted."""
    with st.sidebar:
        st.markdown("**STEPS Forward progress**")
        for phase in phases:
            name = phase["name"]
            done = sum(item["done"] for item in phase["items"])
            label = f"{name}: {phase['percent']:.0f} % ({done} of {len(phase['items'])})"
            if name == current:
                label = f"**▶ {label}**"
            st.progress(min(max(phase["percent"] / 100, 0.0), 1.0), text=label)
