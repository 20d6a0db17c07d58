"""eGFR impact: how many of our own patients, by race, change chronic kidney disease category
when the race-free CKD-EPI 2021 equation replaces CKD-EPI 2009 with its race coefficient."""
from __future__ import annotations

import streamlit as st

import snapshots
import store
from charts import egfr as charts_egfr
from charts.palette import format_count, format_period_range, stratifier_label
from store import access as store_access
from ui import access, data
from ui.charts import show_chart
from ui.frame import require_frame
from ui.tables import SUPPRESSED_NOTE
from ui.tracker_forms import as_this_user

require_frame()
access.require_page("data_quality")

version = data.data_version()
filters = st.session_state["filters"]
st.title("eGFR impact: what the race-free equation changes for our patients")

if data.egfr_reclassification(version, "race", None, None).empty:
    st.info(
        "No creatinine results are loaded. Add them to an import as a third file, "
        "`labs.csv` with the columns `patient_id, date, test, value, unit` (one serum "
        "creatinine per row, in mg/dL or µmol/L):\n\n"
        "`python manage.py import patients.csv results.csv --labs labs.csv`\n\n"
        "The file, its units and its rules are described in docs/data-contract.md, section "
        "\"labs.csv\". The sample data (`python manage.py sample`) includes one.")
    st.stop()

GROUPINGS = {"race": "Race", "ethnicity": "Ethnicity", "sex": "Sex"}
controls = st.columns([2, 3])
by = controls[0].selectbox("Group patients by", list(GROUPINGS), format_func=GROUPINGS.get,
                           key="egfr_by")
moves = controls[1].radio("Chart", list(charts_egfr.MOVES), horizontal=True, key="egfr_moves",
                          format_func=lambda m: charts_egfr.MOVES[m][0])
shown = data.egfr_reclassification(version, by, filters.period_from, filters.period_to)
if shown.empty:
    st.warning("No creatinine result falls in the months chosen in the sidebar: widen them.")
    st.stop()

sentence = charts_egfr.reclassification_sentence(shown)
st.markdown(f"**{sentence}**")
period = format_period_range(filters.period_from, filters.period_to)
st.caption(f"{period[:1].upper() + period[1:]}; all "
           "sites (creatinine results carry no site). One result per patient: their most "
           "recent creatinine in these months. CKD-EPI 2009 (×1.159 if recorded as Black) "
           "against CKD-EPI 2021 (no race term); methods in docs/methods.md.")

show_chart(charts_egfr.reclassification_chart(shown, moves), key="egfr_chart")

HEADERS = {
    by: stratifier_label(by),
    "results": "Patients",
    "not_estimable": "Not estimable",
    "higher_stage_2021": "Stage more advanced",
    "lower_stage_2021": "Stage less advanced",
    "below_60_2021": "Newly < 60",
    "above_60_2021": "No longer < 60",
    "below_30_2021": "Newly < 30",
    "above_30_2021": "No longer < 30",
    "reached_20": "Newly ≤ 20",
}
table = shown[list(HEADERS)].rename(columns=HEADERS)
on_screen = table.copy()
for column in list(HEADERS.values())[1:]:
    on_screen[column] = table[column].map(lambda v: format_count(v, missing="suppressed"))
st.subheader(f"Reclassification by {stratifier_label(by).lower()}")
st.dataframe(on_screen, hide_index=True, height=35 * (len(on_screen) + 1) + 3, column_config={
    "Patients": st.column_config.TextColumn(
        help="Patients with a creatinine result in these months (their most recent counts)."),
    "Not estimable": st.column_config.TextColumn(
        help="Sex recorded as neither female nor male, or under 18 at the test: both "
             "equations need a sex and apply to adults only."),
    "Newly < 60": st.column_config.TextColumn(
        help="eGFR at or above 60 with the 2009 equation, below 60 (chronic kidney disease) "
             "with 2021. 'No longer' is the reverse; the same for 30 (nephrology referral)."),
    "Newly ≤ 20": st.column_config.TextColumn(
        help="2021 eGFR at or below 20 while 2009 was above it: kidney transplant waiting "
             "time would start (OPTN)."),
})
if shown["suppressed"].any():
    st.caption(SUPPRESSED_NOTE)
st.caption("Stages are KDIGO GFR categories (G1 ≥ 90, G2 60–89, G3a 45–59, G3b 30–44, "
           "G4 15–29, G5 < 15). Missing, Unknown and Asked but no answer are groups of their "
           "own; patients not recorded as Black get the 2009 equation's non-Black value, as "
           "laboratories reported it.")
if store_access.can("export"):
    # Through the one listing exporter: text neutralised, the export audited, made when the
    # button is pressed as the user who pressed it.
    rows = table.astype(object).where(table.notna(), "suppressed").values.tolist()
    url = store.database_url()
    make = as_this_user(lambda actor: snapshots.export_listing(
        f"egfr-reclassification-by-{by}", f"eGFR reclassification by {HEADERS[by].lower()}",
        [("In words", sentence), ("Months", period)], list(table.columns), rows, "csv", url,
        actor=actor).data)
    st.download_button(
        "Download this table (CSV)", make, file_name=f"egfr-reclassification-by-{by}.csv",
        mime="text/csv", key="egfr_csv", on_click="ignore")
