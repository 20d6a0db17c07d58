"""Administration: the audit log — who signed in, imported, validated, edited the tracker and
exported, and when — to read and export. Administrators only (the log refuses others)."""
from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from snapshots.tables import neutralise
from store import access as roles
from store import audit
from ui import access
from ui.frame import require_frame

require_frame()
user = access.require_page("configure")

st.title("Audit log")
st.caption("Every sign-in, import, validation run, tracker edit and export, newest first. "
           "The database refuses to change or delete these rows.")
rows = audit.entries(limit=None)
actions = sorted({row["action"] for row in rows})
left, right = st.columns([2, 1])
chosen = left.multiselect("Actions", actions, default=[], placeholder="All actions",
                          key="audit_actions")
who = right.text_input("Who (contains)", key="audit_who", max_chars=200).strip().lower()
shown = [row for row in rows if (not chosen or row["action"] in chosen)
         and (not who or who in row["actor"].lower())]
table = pd.DataFrame({
    "when (UTC)": [row["at"].strftime("%Y-%m-%d %H:%M:%S") for row in shown],
    "who": [row["actor"] for row in shown],
    "action": [row["action"] for row in shown],
    "details": [json.dumps(row["details"], sort_keys=True) for row in shown],
})
st.dataframe(table, hide_index=True, width="stretch")
st.caption(f"{len(shown):,} of {len(rows):,} entries.")
export = table.map(neutralise)  # a spreadsheet must not run an actor's text as a formula
st.download_button("Download these entries (CSV)", export.to_csv(index=False).encode("utf-8-sig"),
                   file_name="audit-log.csv", mime="text/csv", key="audit_csv")

st.subheader("Roles")
file = roles.load_roles()
if not access.sign_in_configured():
    st.info("Sign-in is not configured: the dashboard runs in local mode, one analyst on "
            f"their own machine with the {user.role} role. docs/deploy.md explains how to "
            "connect the health system's identity provider.")
st.write(f"Roles file: `{file.path}`" + ("" if file.path and file.path.exists()
                                          else " (not present: nobody signed in has a role)"))
assigned = [{"who": email, "kind": "user", "role": role} for email, role in file.users.items()]
assigned += [{"who": group, "kind": "group", "role": role} for group, role in file.groups.items()]
if assigned:
    st.dataframe(pd.DataFrame(assigned), hide_index=True, width="stretch")
st.caption(f"Anyone else signed in: {file.default_role or 'no access'}.")
