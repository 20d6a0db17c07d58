"""The global filters in the sidebar (months, sites), shared by every page through the URL."""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from ui import data, state


@dataclass
class GlobalFilters:
    period_from: str | None
    period_to: str | None
    sites: list[str] = field(default_factory=list)

    def where(self, **more: list[str] | str) -> dict[str, list[str]]:
        """The filter mapping for the domain functions, sites included."""
        where = {"site": self.sites} if self.sites else {}
        where.update({k: v for k, v in more.items() if v})
        return where

    def describe(self) -> str:
        months = f"{self.period_from} to {self.period_to}" if self.period_from else "all months"
        sites = ", ".join(self.sites) if self.sites else "all sites"
        return f"{months}; {sites}"


def global_filters(version) -> GlobalFilters:
    months = data.group_values(version, "period")
    sites = data.group_values(version, "site")
    if not months:
        return GlobalFilters(None, None, [])
    state.seed("from", months, months[0], label="first month")
    state.seed("to", months, months[-1], label="last month")
    state.seed("site", sites, [], multi=True, label="site")
    with st.sidebar:
        st.markdown("**Filters for every page**")
        start = st.selectbox("From", months, key="from")
        end = st.selectbox("To", months, key="to")
        chosen = st.multiselect("Sites", sites, key="site", placeholder="All sites")
    state.publish("from", "to", "site")
    if start > end:
        st.sidebar.warning("The first month is after the last one: they were swapped.")
        start, end = end, start
    return GlobalFilters(start, end, list(chosen))
