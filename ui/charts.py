"""Drawing a figure on a page the same way everywhere."""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

# Offline by design: no link to the plotly cloud, no logo; the export's own look is kept
# (Streamlit's theme would restyle fonts and colours away from the exported figure).
_CONFIG = {"displaylogo": False, "showLink": False, "showSendToCloud": False,
           "modeBarButtonsToRemove": ["sendDataToCloud"]}


def show_chart(figure: go.Figure, key: str) -> None:
    st.plotly_chart(figure, theme=None, key=key, config=_CONFIG)
