"""Data quality: is our demographic data good enough to see disparities, and where and since
when does capture fail? Checks run with Great Expectations inside the database."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import charts
import snapshots
from charts import palette
from ui import access, data, state
from ui import tracker_forms as forms
from ui.charts import show_chart
from ui.exports import meeting_panel
from ui.frame import require_frame

require_frame()
access.require_page("data_quality")

version = data.data_version()
state.show_notes()
st.title("Is our demographic data good enough to see disparities?")
with st.expander("Data phase checklist (STEPS Forward)"):
    tracker_url = forms.ready()
    forms.current_user()
    forms.phase_checklist(forms.phase_header("data", tracker_url), tracker_url)

card = data.quality_scorecard(version)
if card.empty:
    st.info("No patients are loaded yet: load data first (see What is loaded).")
    st.stop()

st.subheader("Scorecard")
columns = st.columns(len(card))
for column, (_, row) in zip(columns, card.iterrows()):
    label = palette.stratifier_label(row["field"]) if row["field"] != "birth_year" \
        else "Birth year"
    # (No percent at all when the patients number 1 to 12: a bound would stand for a count.)
    recorded = palette.format_share(pd.to_numeric(row["recorded_percent"]) / 100,
                                    row["recorded_bound"])
    known = palette.format_share(pd.to_numeric(row["known_percent"]) / 100, row["known_bound"])
    below = pd.to_numeric(row["recorded_percent"]) - row["target_percent"]
    column.metric(
        label, recorded,
        delta=None if pd.isna(below) else f"{below:+.1f} vs target "
                                            f"{row['target_percent']:.0f} %",
        delta_color="normal", delta_arrow="off" if row["meets_target"] else "auto",
        help=f"Recorded (not empty) for {recorded} of {row['patients']:,} patients; with a "
             f"known value (not Unknown or Asked but no answer) {known}."
             + (" 1 to 10 patients lack it or have it: the exact share is not shown "
                "(small-cell rule)." if row["recorded_bound"] else ""),
    )

steps = data.quality_next_steps(version)
st.subheader("What to do next")
if not steps:
    st.success("Every demographic field meets its target.")
for step in steps:
    field = palette.stratifier_label(step["field"]).lower()
    since = ""
    if step["below_target_since"]:
        since = ("; below target there every month since "
                 f"{palette.format_period(step['below_target_since'])}")
    months = step["months_below_target"]
    everywhere = (f" Across all sites it fell below target in {len(months)} month"
                  f"{'s' if len(months) != 1 else ''} ({palette.format_period(months[0])} to "
                  f"{palette.format_period(months[-1])})." if months else "")
    if step["missing_patients"] is None:  # a small cell: the counts are not shown
        how_many = "some of its patients (the count is suppressed: small numbers) "
    else:
        how_many = (f"{step['missing_patients']:,} of {step['site_patients']:,} patients seen "
                    f"({step['site_recorded_percent']:.1f} % recorded, ")
    st.markdown(
        f"- **{field.capitalize()}**: {step['site']} left it empty for {how_many}"
        f"{'(' if step['missing_patients'] is None else ''}target "
        f"{step['target_percent']:.0f} %){since}.{everywhere}")

st.subheader("Where and since when")
fields = card["field"].tolist()
state.seed("field", fields, "race", label="field")
state.show_notes()  # here, not on the next run: the note above is about this widget
field = st.selectbox("Field", fields, key="field",
                     format_func=lambda f: "Birth year" if f == "birth_year"
                     else palette.stratifier_label(f))
state.publish("field")
target = float(card.set_index("field").loc[field, "target_percent"])
show_chart(charts.completeness_heatmap(data.completeness_cells(version, field), field, target),
           key="completeness_heatmap")
meeting_panel(snapshots.View("completeness", by="site", field=field), key="export_quality",
              version=version, heading="Take this field's completeness by site to a meeting")

st.subheader("Checks")
latest, comparison, history = data.validation_runs(version)
if st.button("Run the checks now", help="Runs every check with Great Expectations inside "
                                        "the database (a few seconds) and stores the result."):
    import data_quality

    with st.spinner("Running the checks in the database…"):
        data_quality.run_checks(version[0])
    latest, comparison, history = data.validation_runs(version)
if latest is None:
    st.info("No validation has been run on this data yet: press the button above, or run "
            "`python manage.py validate`.")
    st.stop()
failed = latest.failed
st.caption(f"Last run {latest.finished_at:%Y-%m-%d %H:%M} UTC on import batch "
           f"{latest.batch_id}: {len(latest.results) - len(failed)} of {len(latest.results)} "
           "checks met.")
if failed:
    status = comparison.set_index("check")["status"] if not comparison.empty else {}
    for result in failed:
        change = status.get(result.check, "") if len(status) else ""
        st.markdown(f"- {'**critical** ' if result.critical else ''}{result.message()}"
                    + (f" — *{change}*" if change else ""))
else:
    st.success("Every check is met.")
with st.expander("Every check, compared with the previous run"):
    st.dataframe(comparison, hide_index=True)
if history["run_id"].nunique() > 1:
    watched = [r.check for r in failed] or ["race_complete", "ethnicity_complete"]
    show_chart(charts.check_history_chart(history, watched), key="check_history")
