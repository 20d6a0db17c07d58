"""Methods: how every number is computed, with references (docs/methods.md)."""
from pathlib import Path

import streamlit as st

from ui import access
from ui.frame import require_frame

require_frame()
access.require_page("view")

METHODS = Path(__file__).resolve().parents[1] / "docs" / "methods.md"

st.markdown(METHODS.read_text(encoding="utf-8"))
