"""The health-equity dashboard: the frame around the pages (navigation, phase tracker,
global filters). Pages are short scripts under pages/; numbers come from the domain."""
from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Health equity dashboard", layout="wide",
                   initial_sidebar_state="expanded")

from ui.database import ensure_data, guarded  # noqa: E402  (set_page_config must come first)
from ui.frame import pages_for, phase_of  # noqa: E402

ensure_data()
with guarded():
    from ui.access import sign_out_control, signed_in

    user = signed_in()
navigation = st.navigation(pages_for(user))
with guarded():
    from ui import data, filters, sidebar
    from ui.frame import phases

    version = data.data_version()
    # The filters above the progress: a menu at the very bottom of a full sidebar would
    # open off screen.
    st.session_state["filters"] = filters.global_filters(version)
    sidebar.phase_tracker(phases(version), phase_of(navigation))
    sign_out_control(user)
with guarded():  # the database may also go away while the page itself runs
    navigation.run()
