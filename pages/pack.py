"""Meeting pack: the views a champion collected (overview, explorer, goals), put in order and
built into one dated deck or PDF on the current data; saved packs rebuild on new data."""
from __future__ import annotations

import streamlit as st

import snapshots
from snapshots.views import stamp
from ui import access, data, exports, state
from ui import tracker_forms as forms
from ui.frame import EXPLORER, OVERVIEW, require_frame

require_frame()
access.require_page("export")

version = data.data_version()
url = version[0]
filters = st.session_state["filters"]
state.show_notes()
st.title("Meeting pack")
st.caption("One deck or PDF of several views, with a title slide and a methods slide. Each "
           "view is computed again on the data loaded when you press a button, with "
           "small-cell suppression applied.")
if not data.loaded(version)["patients"]:
    st.info("No data is loaded yet: load data first (see What is loaded).")
    st.stop()
forms.current_user()

views = exports.pack_views()
catalog = data.measures(version)
measure_names = dict(zip(catalog["measure_id"], catalog["name"]))
if not views:
    st.info("The pack is empty. Add views with “Add to the meeting pack” under "
            "“Take this view to a meeting” on the overview, the disparity explorer or a "
            "goal on the Launch page — or start from the standard leaders' pack.")
    counted = catalog[catalog["cases"] > 0]["measure_id"].tolist()
    if counted and st.button("Start from the standard pack", type="primary"):
        exports.set_pack(snapshots.leaders_pack(
            "cbp" if "cbp" in counted else counted[0],
            where=dict(filters.where()), period_from=filters.period_from,
            period_to=filters.period_to).views)
        st.rerun()
    links = st.columns(2)
    links[0].page_link(OVERVIEW, label="Overview")
    links[1].page_link(EXPLORER, label="Disparity explorer")
else:
    st.subheader("Views, in the order of the deck")
    for index, view in enumerate(views):
        row = st.columns([8, 1, 1, 1], vertical_alignment="center")
        row[0].markdown(f"{index + 1}. {view.label(measure_names)}"
                        + (" — with what changed since last time" if view.since_last_time
                           else ""))
        row[1].button("Up", key=f"pack_up_{index}", disabled=index == 0,
                      on_click=exports.move_in_pack, args=(index, -1))
        row[2].button("Down", key=f"pack_down_{index}", disabled=index == len(views) - 1,
                      on_click=exports.move_in_pack, args=(index, 1))
        row[3].button("Remove", key=f"pack_remove_{index}",
                      on_click=exports.move_in_pack, args=(index, 0))
    st.session_state.setdefault(exports.PACK_TITLE_KEY, exports.DEFAULT_PACK_TITLE)
    title = st.text_input("Title of the deck", key=exports.PACK_TITLE_KEY, max_chars=120)
    pack = snapshots.Pack(title.strip() or exports.DEFAULT_PACK_TITLE, tuple(views))
    exports.pack_buttons(pack, name=None)

    with st.form("save_pack", clear_on_submit=False, border=False):
        name = st.text_input("Save the pack as", max_chars=80, key="pack_save_name",
                             help="A saved pack is stored as its views, not its numbers: "
                                  "`python manage.py pack NAME` rebuilds it on new data, "
                                  "e.g. before each quality committee.")
        if st.form_submit_button("Save the pack"):
            if not name.strip():
                st.error("Give the pack a name to save it.")
            else:
                snapshots.save_pack(name.strip(), pack, url, actor=forms.user())
                st.success(f"Saved as “{name.strip()}”. Rebuild it with "
                           f"`python manage.py pack \"{name.strip()}\" --out meetings/`.")
    st.button("Empty the pack", on_click=exports.set_pack, args=([],))

saved = snapshots.list_packs(url)
if saved:
    st.subheader("Saved packs")
    for entry in saved:
        row = st.columns([6, 2, 1], vertical_alignment="center")
        row[0].markdown(f"**{entry['name']}** — {entry['title']} ({entry['views']} views)")
        row[1].caption(f"saved {stamp(entry['updated_at'])} by "
                       f"{entry['actor']}")
        row[2].button("Open", key=f"pack_open_{entry['pack_id']}",
                      on_click=exports.open_saved_pack, args=(entry["pack_id"], url))
