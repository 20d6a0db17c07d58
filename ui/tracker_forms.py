"""Streamlit pieces of the tracker pages (Commit, Learn, Vision, Launch).

Who is editing: until sign-in exists, a name typed once per session (`current_user`,
default "local user"), recorded with every change.

Editing a stored row (`Edit`): each field is a keyed widget seeded from the database once;
what was typed is also copied into session state, so a rerun, a page switch or a refused save
never loses it. The version the edit started from is kept with it and sent with the save;
when someone else saved in between, the save is refused with "changed by X at T — reload"
and the typed text stays on screen until the person chooses to reload. Saves run in button
callbacks (before the page is drawn), so the sidebar's phase progress is current at once.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import plotly.graph_objects as go
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

import charts
import store
import tracker
from store import access
from ui.database import guarded

USER_KEY = "tracker_user"
DEFAULT_USER = "local user"
_USER_WIDGET = "tracker_user_input"
_EDITS = "_tracker_edits"  # {prefix: {"version", "base", "draft"}}
_FLASH = "_tracker_flash"  # {prefix: [(kind, text)]}
# Marks from fonts every system has (DejaVu, Liberation): emoji need an emoji font.
STATUS_MARK = {"done": "✓", "in progress": "◐", "not started": "○"}
PASS, FAIL = "✓", "✗"
GOAL_COLOUR = "#009E73"  # Okabe-Ito bluish green: the goal line
START_COLOUR = "#555555"


# --- the session's person and database ---------------------------------------------------
def database_url() -> str:
    return store.database_url()


def ready() -> str:
    """The database URL, with the tracker's tables and seed rows present (a friendly message
    and a stop when the database cannot be reached)."""
    url = database_url()
    with guarded():
        tracker.ensure_tables(url)
    return url


def user() -> str:
    signed = access.current_user()
    if not signed.local:  # signed in: the identity provider says who, not a typed name
        return signed.label
    return st.session_state.get(USER_KEY) or DEFAULT_USER


def as_this_user(make: Callable[[str], bytes]) -> Callable[[], bytes]:
    """A download's file maker, run as the user of this run when its button is pressed.

    Streamlit calls a deferred download's maker outside the script run that drew the button
    (another thread, no session): left alone, the domain's permission checks would see the
    local operator and the audit would name them. `make` receives the author's name."""
    signed, name = access.current_user(), user()

    def run() -> bytes:
        with access.acting_as(signed):
            return make(name)
    return run


def _keep_user() -> None:
    st.session_state[USER_KEY] = (st.session_state.get(_USER_WIDGET) or "").strip() \
        or DEFAULT_USER


def current_user() -> str:
    """Who is editing: the signed-in user, or in local mode the name typed here once per
    session (default "local user"); every change records it. Says so when the role cannot
    edit."""
    signed = access.current_user()
    if not access.can("edit_tracker", signed):
        st.info(f"You can read the tracker; editing it needs the champion role (yours: "
                f"{signed.role}).")
    if not signed.local:
        return signed.label
    st.session_state.setdefault(USER_KEY, DEFAULT_USER)
    if _USER_WIDGET not in st.session_state:
        st.session_state[_USER_WIDGET] = st.session_state[USER_KEY]
    st.text_input("Your name, recorded with every change you save", key=_USER_WIDGET,
                  value=st.session_state[_USER_WIDGET],
                  on_change=_keep_user, max_chars=80,
                  help="Until sign-in is set up, the tracker records the name typed here.")
    return user()


def require_frame() -> None:
    """`ui.frame.require_frame`: run inside app.py's frame even as a fresh server's first
    request (a deep link such as /vision). ui.frame is imported only then, so that a page
    script run on its own (AppTest) does not build the frame's pages from the wrong folder."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        from ui.frame import require_frame as frame_requires

        frame_requires()


def global_filters():
    """The sidebar's filters when the frame set them (None outside the app's frame)."""
    return st.session_state.get("filters")


def refresh_progress() -> None:
    """Forget the sidebar's cached phase progress (the frame's cache), so it shows a change
    at once."""
    frame = sys.modules.get("ui.frame")
    if frame is not None and hasattr(frame, "phases"):
        frame.phases.clear()


# --- messages -----------------------------------------------------------------------------
def flash(prefix: str, kind: str, text: str) -> None:
    st.session_state.setdefault(_FLASH, {}).setdefault(prefix, []).append((kind, text))


def show_messages(prefix: str) -> None:
    for kind, text in st.session_state.get(_FLASH, {}).pop(prefix, []):
        {"success": st.success, "error": st.error, "warning": st.warning}.get(
            kind, st.info)(text)


# --- editing a stored row -----------------------------------------------------------------
class Edit:
    """Keyed widgets for the fields of one row, the version the edit started from, and a
    copy of what was typed. `stored` maps each field to its value as the widget shows it."""

    def __init__(self, prefix: str, stored: Mapping[str, Any], version: int | None = None,
                 changed_by: str | None = None, changed_at=None):
        self.prefix = prefix
        self.fields = list(stored)
        self.version = version
        self.changed_by, self.changed_at = changed_by, changed_at
        edits = st.session_state.setdefault(_EDITS, {})
        state = edits.get(prefix)
        if state is not None:
            # What the widgets hold now is the latest typing.
            for field in self.fields:
                if self.key(field) in st.session_state:
                    state["draft"][field] = st.session_state[self.key(field)]
        untouched = state is not None and state["draft"] == state["base"]
        if state is None or (untouched and state["version"] != version):
            # New, or untouched while someone else saved: follow the stored row.
            state = edits[prefix] = {"version": version, "base": dict(stored),
                                     "draft": dict(stored)}
            for field in self.fields:
                st.session_state[self.key(field)] = stored[field]
        else:
            for field in self.fields:
                if self.key(field) not in st.session_state:
                    st.session_state[self.key(field)] = state["draft"].get(field,
                                                                           stored[field])
        self.state = state

    def key(self, field: str) -> str:
        return f"{self.prefix}:{field}"

    def bind(self, field: str) -> dict:
        """The widget's key and, as its default, the value it holds now: a widget drawn in a
        tab or an expander appears only when opened, and then starts from its default."""
        return {"key": self.key(field), "value": self.value(field)}

    def pick(self, field: str, options: Sequence) -> dict:
        """`bind` for a selectbox or radio: the key and the index of the value it holds."""
        value = self.value(field)
        return {"key": self.key(field),
                "index": list(options).index(value) if value in options else None}

    def value(self, field: str):
        return st.session_state.get(self.key(field))

    def values(self) -> dict:
        return {field: self.value(field) for field in self.fields}

    @property
    def changed_elsewhere(self) -> bool:
        """Someone saved this row since this edit started (and this edit has typing)."""
        return self.version is not None and self.state["version"] != self.version

    def conflict_notice(self) -> None:
        """Say that the row changed under this edit, and offer to reload it."""
        if not self.changed_elsewhere:
            return
        st.warning(f"Changed by {self.changed_by} at "
                   f"{tracker.records.format_moment(self.changed_at)} while you were editing "
                   "— reload to see their version (your unsaved text here will be replaced).")
        st.button("Reload", key=f"{self.prefix}:reload", on_click=forget,
                  args=(self.prefix, self.fields))

    def save_button(self, label: str, action: Callable[[dict, int | None], Any],
                    done: str | Callable[[Any], str], name: str = "save",
                    disabled: bool = False, kind: str = "secondary") -> None:
        """A button that runs `action(values, version)` in a callback; on success the edit
        starts afresh from the stored row (or from empty for a new row)."""
        st.button(label, key=f"{self.prefix}:{name}", on_click=_save, type=kind,
                  args=(self.prefix, self.fields, action, done), disabled=disabled)


def forget(prefix: str, fields: Sequence[str]) -> None:
    """Drop an edit: its widgets are seeded again from the database on the next run."""
    st.session_state.get(_EDITS, {}).pop(prefix, None)
    for field in fields:
        st.session_state.pop(f"{prefix}:{field}", None)


def _save(prefix: str, fields: Sequence[str], action, done) -> None:
    from ui.access import signed_in

    # A callback runs before the page has set its user for this run: without this, the
    # domain's permission checks and the recorded author would be the local operator's.
    signed_in()
    state = st.session_state.get(_EDITS, {}).get(prefix, {})
    values = {field: st.session_state.get(f"{prefix}:{field}") for field in fields}
    try:
        result = action(values, state.get("version"))
    except tracker.Conflict as conflict:
        flash(prefix, "error", str(conflict))
        return
    except (tracker.Invalid, tracker.NotFound, access.NotAllowed) as problem:
        flash(prefix, "error", str(problem))
        return
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        flash(prefix, "error", f"Not saved: the database refused the change ({reason}). "
                               "Your text is still here.")
        return
    forget(prefix, fields)
    flash(prefix, "success", done(result) if callable(done) else done)
    refresh_progress()


def changed_line(row: Mapping) -> str:
    if row.get("changed_by") in (None, "seed"):
        return ""
    return (f"Last changed by {row['changed_by']} at "
            f"{tracker.records.format_moment(row.get('changed_at'))}.")


def _element_names() -> dict[str, str]:
    return {element["id"]: f"{framework['short']} {element['title']}"
            for framework in tracker.frameworks()["frameworks"]
            for element in framework["elements"]}


# --- the checklist of a phase -------------------------------------------------------------
def phase_header(phase_id: str, url: str) -> dict:
    """The phase's progress bar; returns the phase (from `tracker.checklist`)."""
    phase = next(p for p in tracker.checklist(url) if p["id"] == phase_id)
    st.progress(min(phase["percent"] / 100, 1.0),
                text=f"{phase['name']}: {phase['percent']:.0f} % done "
                     f"({phase['done']} of {phase['total']} items)")
    return phase


def phase_checklist(phase: Mapping, url: str) -> None:
    """Every item of a phase, editable; then a form to add the organisation's own item."""
    st.caption("Items marked “decided by the data” are completed automatically when their "
               "rule is met; record owners, dates and evidence on any item.")
    for entry in phase["items"]:
        _item_editor(entry, url)
    _new_item(phase["id"], url)


def _item_editor(entry: Mapping, url: str) -> None:
    mark = STATUS_MARK.get(entry["status"], "○")
    auto = " · decided by the data" if entry["auto"] else ""
    with st.expander(f"{mark} {entry['title']} — {entry['status']}{auto}"):
        if entry["why"]:
            st.markdown(f"*Why:* {entry['why']}")
        if entry["auto"]:
            verdict = "Met" if entry["rule_met"] else "Not met yet"
            st.info(f"Decided by the data — {verdict}: {entry['rule_evidence']}")
        if entry["crosswalk"]:
            st.caption("Cross-walk: " + "; ".join(_element_names().get(element, element)
                                                  for element in entry["crosswalk"]))
        edit = Edit(f"item:{entry['item_id']}", {
            "owner": entry["owner"] or "", "due_date": entry["due_date"],
            "status": entry["recorded_status"], "evidence": entry["evidence"] or "",
        }, entry["version"], entry["changed_by"], entry["changed_at"])
        statuses = [s for s in tracker.STATUSES if not entry["auto"] or s != "done"]
        if edit.value("status") not in statuses:
            st.session_state[edit.key("status")] = statuses[-1]
        left, middle, right = st.columns(3)
        left.text_input("Owner", **edit.bind("owner"))
        middle.date_input("Due date", **edit.bind("due_date"), format="YYYY-MM-DD")
        right.selectbox("Status", statuses, **edit.pick("status", statuses),
                        help="Done is decided by the data for this item." if entry["auto"]
                        else None)
        st.text_area("Evidence (a note or a link)", **edit.bind("evidence"), height=80)
        edit.conflict_notice()
        item_id = entry["item_id"]

        def save(values, version):
            return tracker.update_item(url, item_id, version, user(), **values)

        buttons = st.columns([1, 1, 4])
        with buttons[0]:
            edit.save_button("Save", save, "Saved.", kind="primary")
        if entry["source"] == "custom":
            with buttons[1]:
                edit.save_button(
                    "Remove", lambda _values, version: tracker.archive_item(
                        url, item_id, version, user()),
                    "Removed from the checklist (kept in the history).", name="remove")
        show_messages(edit.prefix)
        line = changed_line(entry)
        if line:
            st.caption(line)


def _new_item(phase_id: str, url: str) -> None:
    with st.expander("+ Add your own item to this phase"):
        edit = Edit(f"item:new:{phase_id}", {"title": "", "why": "", "owner": "",
                                             "due_date": None})
        st.text_input("Title", **edit.bind("title"))
        st.text_input("Why it matters", **edit.bind("why"))
        left, right = st.columns(2)
        left.text_input("Owner", **edit.bind("owner"))
        right.date_input("Due date", **edit.bind("due_date"), format="YYYY-MM-DD")
        edit.save_button(
            "Add item", lambda values, _version: tracker.add_item(url, phase_id, by=user(),
                                                                  **values),
            lambda row: f"Added: {row['title']}", name="add", kind="primary")
        show_messages(edit.prefix)


# --- Commit -------------------------------------------------------------------------------
def self_assessment(url: str) -> None:
    st.caption("The toolkit's first step: establish where the system stands. Answer honestly "
               "— “No” and “Not sure” are answers too — and date each answer.")
    for question in tracker.self_assessment(url):
        prefix = f"question:{question['question_id']}"
        answer = question["answer"]
        if question["kind"] == "date" and answer:
            answer = date.fromisoformat(answer)
        edit = Edit(prefix, {"answer": answer, "note": question["note"] or "",
                             "answered_on": question["answered_on"] or date.today()},
                    question["version"], question["changed_by"], question["changed_at"])
        with st.container(border=True):
            st.markdown(f"**{question['question']}**")
            left, middle, right = st.columns([2, 3, 1])
            if question["kind"] == "known":
                left.radio("Answer", tracker.KNOWN_ANSWERS,
                           **edit.pick("answer", tracker.KNOWN_ANSWERS), horizontal=True)
            else:
                left.date_input("Last asked on", **edit.bind("answer"), format="YYYY-MM-DD",
                                max_value=date.today(), min_value=date(1990, 1, 1))
            middle.text_input("Note (how we know, or what is missing)", **edit.bind("note"))
            right.date_input("Answered on", **edit.bind("answered_on"), format="YYYY-MM-DD")
            edit.conflict_notice()
            question_id = question["question_id"]
            edit.save_button("Save answer", lambda values, version, qid=question_id:
                             tracker.answer_question(url, qid, version, user(), **values),
                             "Answer saved.")
            show_messages(prefix)
            if question["answer"]:
                st.caption(f"Answered on {question['answered_on']}. {changed_line(question)}")


def champions_roster(url: str) -> None:
    roster = tracker.champions(url)
    if roster:
        st.dataframe([{"Name": c["name"], "Role": c["role"], "Department": c["department"],
                       "Contact": c["contact"]} for c in roster], hide_index=True)
    else:
        st.info("No champion named yet: add the people who will carry the work.")
    for champion in roster:
        with st.expander(f"Edit {champion['name']}"):
            _champion_fields(url, champion)
    with st.expander("+ Add a champion", expanded=not roster):
        _champion_fields(url, None)


def _champion_fields(url: str, champion: Mapping | None) -> None:
    stored = {name: (champion or {}).get(name) or "" for name in
              ("name", "role", "department", "contact")}
    prefix = f"champion:{champion['champion_id']}" if champion else "champion:new"
    edit = Edit(prefix, stored, champion and champion["version"],
                champion and champion["changed_by"], champion and champion["changed_at"])
    columns = st.columns(4)
    for column, (name, label) in zip(columns, (("name", "Name"), ("role", "Role"),
                                               ("department", "Department"),
                                               ("contact", "Contact (email or phone)"))):
        column.text_input(label, **edit.bind(name))
    edit.conflict_notice()
    if champion is None:
        edit.save_button("Add champion", lambda values, _v: tracker.add_champion(
            url, user(), **values), lambda row: f"Added {row['name']} to the roster.",
            name="add", kind="primary")
    else:
        champion_id = champion["champion_id"]
        buttons = st.columns([1, 1, 4])
        with buttons[0]:
            edit.save_button("Save", lambda values, version: tracker.update_champion(
                url, champion_id, version, user(), **values), "Saved.")
        with buttons[1]:
            edit.save_button("Remove", lambda _values, version: tracker.remove_champion(
                url, champion_id, version, user()), "Removed from the roster.",
                name="remove")
    show_messages(prefix)


STATEMENT_EXAMPLE = (
    "We commit to making health equity a strategic priority: to find where access, "
    "screening, treatment, quality and outcomes differ by race, ethnicity and language; to "
    "name racism where it shapes care; and to set, fund and report goals that close the gaps.")


def commitment_statement(url: str) -> None:
    statement = tracker.commitment(url)
    edit = Edit("commitment", {"text": statement["text"] or ""}, statement["version"],
                statement["changed_by"], statement["changed_at"])
    st.text_area("Commitment statement", **edit.bind("text"), height=160,
                 placeholder=STATEMENT_EXAMPLE)
    if statement["signed_by"] and edit.value("text") != (statement["text"] or ""):
        st.warning("Saving new words removes the signature: the statement must be signed "
                   "again.")
    edit.conflict_notice()
    edit.save_button("Save statement", lambda values, version: tracker.save_commitment(
        url, version, user(), values["text"]), "Statement saved.", kind="primary")
    show_messages("commitment")
    st.markdown("**Sign-off**")
    if statement["signed_by"]:
        role = f", {statement['signer_role']}" if statement["signer_role"] else ""
        st.success(f"Signed by {statement['signed_by']}{role} on {statement['signed_on']}.")
    else:
        st.info("Not signed yet.")
    sign = Edit("commitment:sign", {"signer": "", "role": "", "signed_on": date.today()},
                statement["version"], statement["changed_by"], statement["changed_at"])
    columns = st.columns(3)
    columns[0].text_input("Signed by (leader's name)", **sign.bind("signer"))
    columns[1].text_input("Role", **sign.bind("role"))
    columns[2].date_input("Date", **sign.bind("signed_on"), format="YYYY-MM-DD")
    sign.save_button("Sign the statement", lambda values, version: tracker.sign_commitment(
        url, version, user(), values["signer"], values["role"], values["signed_on"]),
        "Signed.", name="sign", disabled=not (statement["text"] or "").strip())
    show_messages("commitment:sign")


def framework_self_assessment(url: str) -> None:
    """Each framework element, whether it is met (self-assessed), and the checklist items
    mapped to it: the mapping stays visible so that a reader can check it."""
    notes = tracker.frameworks()
    rows = tracker.crosswalk(url)
    scores = tracker.framework_scores(rows)
    st.caption(notes["note"])
    columns = st.columns(len(scores))
    for column, (name, (met, total)) in zip(columns, scores.items()):
        column.metric(f"{name}: elements met", f"{met} of {total}")
    for framework in notes["frameworks"]:
        st.markdown(f"#### {framework['name']}")
        st.caption(f"{framework['scoring']} Source: {framework['source']}")
        for row in rows:
            if row["framework"] != framework["short"]:
                continue
            with st.container(border=True):
                verdict = "met" if row["met"] else "not met yet"
                st.markdown(f"**{PASS if row['met'] else '○'} {row['element']}** — {verdict} "
                            f"(self-assessed: {row['done']} of {row['total']} items done)  \n"
                            f"{row['text']}")
                st.markdown("\n".join(
                    f"- {PASS if i['done'] else '○'} {i['phase']}: {i['title']}"
                    + (" *(decided by the data)*" if i["auto"] else "") for i in row["items"])
                    or "No checklist item is mapped here.")


# --- Learn --------------------------------------------------------------------------------
def learning_log(url: str) -> None:
    entries = tracker.learning_log(url)
    if entries:
        st.dataframe([{"Date": e["held_on"], "Topic": e["topic"], "Format": e["format"],
                       "Participants": e["participants"], "Materials": e["materials"]}
                      for e in entries], hide_index=True,
                     column_config={"Materials": st.column_config.LinkColumn("Materials")})
        total = sum(e["participants"] for e in entries)
        st.caption(f"{len(entries)} session(s), {total:,} participations in all.")
    else:
        st.info("No session logged yet.")
    with st.expander("+ Log a session", expanded=not entries):
        _learning_fields(url, None)
    for entry in entries:
        with st.expander(f"Edit {entry['held_on']}: {entry['topic']}"):
            _learning_fields(url, entry)


def _learning_fields(url: str, entry: Mapping | None) -> None:
    stored = {"held_on": entry["held_on"] if entry else date.today(),
              "topic": entry["topic"] if entry else "",
              "format": entry["format"] if entry else tracker.FORMATS[0],
              "participants": entry["participants"] if entry else 0,
              "materials": entry["materials"] if entry else ""}
    prefix = f"learning:{entry['entry_id']}" if entry else "learning:new"
    edit = Edit(prefix, stored, entry and entry["version"], entry and entry["changed_by"],
                entry and entry["changed_at"])
    top = st.columns([1, 3])
    top[0].date_input("Date", **edit.bind("held_on"), format="YYYY-MM-DD")
    top[1].text_input("Topic", **edit.bind("topic"))
    bottom = st.columns([2, 1, 3])
    bottom[0].selectbox("Format", tracker.FORMATS, **edit.pick("format", tracker.FORMATS))
    bottom[1].number_input("Participants", min_value=0, step=1, **edit.bind("participants"))
    bottom[2].text_input("Materials (link)", **edit.bind("materials"))
    edit.conflict_notice()
    if entry is None:
        edit.save_button("Log session", lambda values, _v: tracker.log_learning(
            url, user(), **values), lambda row: f"Logged: {row['topic']}.", name="add",
            kind="primary")
    else:
        entry_id = entry["entry_id"]
        buttons = st.columns([1, 1, 4])
        with buttons[0]:
            edit.save_button("Save", lambda values, version: tracker.update_learning(
                url, entry_id, version, user(), **values), "Saved.")
        with buttons[1]:
            edit.save_button("Remove", lambda _values, version: tracker.remove_learning(
                url, entry_id, version, user()), "Removed.", name="remove")
    show_messages(prefix)


def learning_resources() -> None:
    st.caption("Curated for this project; each entry is cited so it can be found in a "
               "library or a search engine.")
    for resource in tracker.resources():
        st.markdown(f"- **{resource['why']}** {resource['citation']} "
                    f"*({resource['kind']}; step: {resource['step']})*")


def glossary() -> None:
    st.caption("Written for this project: what each word means here, and where the idea "
               "comes from.")
    for term in tracker.glossary():
        st.markdown(f"**{term['term']}** — {term['definition']}")
        st.caption("Sources: " + " · ".join(term["cited"]))


# --- Vision -------------------------------------------------------------------------------
OTHER_GAP = "another"


def smart_check(checks: Sequence[Mapping]) -> None:
    for check in checks:
        mark = PASS if check["ok"] else FAIL
        st.markdown(f"{mark} **{check['criterion']}** — {check['reason']}")


def default_deadline(today: date | None = None) -> date:
    """The last day of the month a year from now."""
    today = today or date.today()
    first = date(today.year + 1 + (today.month // 12), today.month % 12 + 1, 1)
    return first - timedelta(days=1)


def suggested_target(base: Mapping) -> float | None:
    """The reference group's rate, or the plausible limit if that is nearer."""
    limit = tracker.plausible_limit(base)
    reference = base.get("reference_rate")
    if limit is None:
        return None
    if reference is None:
        return limit
    higher = base.get("higher_is_better", True)
    return min(reference, limit) if higher else max(reference, limit)


def goal_builder(url: str, base: Mapping, gap_key: str) -> None:
    """Target, deadline, owners and the SMART check for a chosen baseline; save or charter."""
    multiplier, suffix = tracker.display_scale(base.get("unit"))
    suggested = suggested_target(base)
    digits = 1 if multiplier == 100 else 0
    prefix = f"goal:new:{gap_key}"
    edit = Edit(prefix, {
        "title": "",
        "target": None if suggested is None else round(suggested * multiplier, digits),
        "deadline": default_deadline(), "relevance": "", "owner": "", "sponsor": "",
        "team": "",
    })
    left, right = st.columns(2)
    left.number_input(f"Target rate ({suffix.strip()})", min_value=0.0,
                      max_value=float(multiplier), step=0.1 if digits else 1.0,
                      format=f"%.{digits}f", **edit.bind("target"),
                      help="Suggested: the reference group's rate, or the furthest target "
                           "that is still plausible if that is nearer.")
    right.date_input("Deadline", **edit.bind("deadline"), format="YYYY-MM-DD")
    target = edit.value("target")
    target_rate = None if target is None else target / multiplier
    title = tracker.suggested_title(base, target_rate, edit.value("deadline"))
    st.text_input("Goal title", **edit.bind("title"), placeholder=title,
                  help="Leave empty to use the suggestion shown.")
    st.text_area("Why this gap matters" + ("" if base.get("flagged") else
                                           " (needed: the engine did not flag it)"),
                 **edit.bind("relevance"), height=80)
    columns = st.columns(3)
    columns[0].text_input("Lead", **edit.bind("owner"))
    columns[1].text_input("Executive sponsor", **edit.bind("sponsor"))
    columns[2].text_input("Team", **edit.bind("team"))

    goal = {**base, "title": edit.value("title") or title, "target_rate": target_rate,
            "deadline": edit.value("deadline"), "relevance": edit.value("relevance")}
    checks = tracker.check_smart(goal)
    st.markdown("**SMART check**")
    smart_check(checks)

    def store_goal(values, _version, charter: bool):
        rate = None if values["target"] is None else values["target"] / multiplier
        return tracker.create_goal(
            url, user(), base, values["title"] or tracker.suggested_title(
                base, rate, values["deadline"]), rate, values["deadline"],
            relevance=values["relevance"], owner=values["owner"], sponsor=values["sponsor"],
            team=values["team"], charter=charter)

    buttons = st.columns([1, 1, 3])
    with buttons[0]:
        edit.save_button("Charter this goal", lambda v, ver: store_goal(v, ver, True),
                         lambda row: f"Chartered: {row['title']}", name="charter",
                         disabled=not tracker.is_smart(checks), kind="primary")
    with buttons[1]:
        edit.save_button("Save as draft", lambda v, ver: store_goal(v, ver, False),
                         lambda row: f"Saved as a draft: {row['title']}", name="draft")
    show_messages(prefix)


def goal_card(url: str, goal: Mapping) -> None:
    """A goal's charter (printable), its SMART check, and its fields to edit."""
    checks = tracker.check_smart(goal)
    st.markdown(tracker.charter_markdown(goal, checks))
    st.download_button("Download the printable charter (HTML)",
                       tracker.charter_html(goal, checks),
                       file_name=f"charter-goal-{goal['goal_id']}.html", mime="text/html",
                       key=f"goal:{goal['goal_id']}:download")
    multiplier, suffix = tracker.display_scale(goal.get("unit"))
    digits = 1 if multiplier == 100 else 0
    target = goal["target_rate"]
    edit = Edit(f"goal:{goal['goal_id']}", {
        "title": goal["title"],
        "target": None if target is None else round(target * multiplier, 6),
        "deadline": goal["deadline"], "relevance": goal["relevance"] or "",
        "owner": goal["owner"] or "", "sponsor": goal["sponsor"] or "",
        "team": goal["team"] or "",
    }, goal["version"], goal["changed_by"], goal["changed_at"])
    with st.expander("Edit this goal"):
        st.text_input("Title", **edit.bind("title"))
        left, right = st.columns(2)
        left.number_input(f"Target rate ({suffix.strip()})", min_value=0.0,
                          max_value=float(multiplier), step=0.1 if digits else 1.0,
                          format=f"%.{digits}f", **edit.bind("target"))
        right.date_input("Deadline", **edit.bind("deadline"), format="YYYY-MM-DD")
        st.text_area("Why this gap matters", **edit.bind("relevance"), height=80)
        columns = st.columns(3)
        columns[0].text_input("Lead", **edit.bind("owner"))
        columns[1].text_input("Executive sponsor", **edit.bind("sponsor"))
        columns[2].text_input("Team", **edit.bind("team"))
        edit.conflict_notice()
        goal_id = goal["goal_id"]

        def save(values, version):
            changes = dict(values)
            target = changes.pop("target")
            changes["target_rate"] = None if target is None else target / multiplier
            return tracker.update_goal(url, goal_id, version, user(), **changes)

        buttons = st.columns([1, 1, 1, 3])
        with buttons[0]:
            edit.save_button("Save changes", save, "Saved.", kind="primary")
        if goal["status"] == "draft":
            with buttons[1]:
                edit.save_button("Charter", lambda _v, version: tracker.charter_goal(
                    url, goal_id, version, user()), "Chartered.", name="charter",
                    disabled=not tracker.is_smart(checks))
        with buttons[2]:
            edit.save_button("Retire", lambda _v, version: tracker.update_goal(
                url, goal_id, version, user(), status="retired"),
                "Retired (kept in the history).", name="retire")
    show_messages(edit.prefix)
    line = changed_line(goal)
    if line:
        st.caption(line)


# --- Launch -------------------------------------------------------------------------------
def _month_start(value) -> str:
    text = value.isoformat() if isinstance(value, date) else str(value)
    return f"{text[:7]}-01"


def _decorate(fig: go.Figure, goal: Mapping, starts: Sequence[Mapping],
              multiplier: float) -> go.Figure:
    target = goal.get("target_rate")
    if target is not None:
        y = target * multiplier
        fig.add_shape(type="line", xref="paper", x0=0, x1=1, yref="y", y0=y, y1=y,
                      line=dict(color=GOAL_COLOUR, width=2, dash="dash"), name="goal")
        deadline = f" by {goal['deadline']:%b %Y}" if goal.get("deadline") else ""
        fig.add_annotation(xref="paper", x=1, xanchor="right", yref="y", y=y,
                           yanchor="bottom", showarrow=False, name="goal",
                           text=f"Goal {tracker.show_rate(target, goal.get('unit'))}{deadline}",
                           font=dict(size=11, color=GOAL_COLOUR))
    for intervention in starts:
        x = _month_start(intervention["start_date"])
        fig.add_shape(type="line", xref="x", x0=x, x1=x, yref="paper", y0=0, y1=1,
                      line=dict(color=START_COLOUR, width=1.5, dash="dot"), name="start")
        fig.add_annotation(xref="x", x=x, yref="paper", y=1, yanchor="bottom",
                           xanchor="left", showarrow=False, name="start",
                           text=f"Start: {intervention['name']}",
                           font=dict(size=11, color=START_COLOUR))
    return fig


def goal_run_chart(monthly, goal: Mapping, starts: Sequence[Mapping]) -> go.Figure:
    """The group and its reference group month by month (`charts.trend_chart`), with the
    goal line and each intervention's start."""
    fig = charts.trend_chart(monthly, groups=[goal["group_name"]])
    scale = charts.rate_scale("proportion", goal.get("unit"))
    return _decorate(fig, goal, starts, scale.multiplier)


def goal_control_chart(monthly, goal: Mapping, starts: Sequence[Mapping]) -> go.Figure:
    """The group's p-chart with the interventions' starts annotated and the goal line."""
    fig = charts.control_chart(monthly, goal["group_name"], annotations=[
        (str(i["start_date"])[:7], f"Start: {i['name']}") for i in starts])
    scale = charts.rate_scale("proportion", goal.get("unit"))
    return _decorate(fig, goal, [], scale.multiplier)


def status_line(status: Mapping, goal: Mapping) -> None:
    unit = goal.get("unit")
    columns = st.columns([3, 2, 2, 2])
    columns[0].metric("Status", status["status"])
    columns[1].metric("Recent rate", tracker.show_rate(status["rate"], unit)
                      if status["rate"] is not None else "—",
                      help=f"Pooled over {status['window_from']} to {status['window_to']}."
                      if status["window_from"] else None)
    columns[2].metric("Where it should be now", tracker.show_rate(status["expected"], unit)
                      if status["expected"] is not None else "—")
    columns[3].metric("Target", tracker.show_rate(goal.get("target_rate"), unit))
    st.caption(status["reason"])


def interventions_of(url: str, goal: Mapping, listed: Sequence[Mapping]) -> None:
    """The goal's interventions with their PDSA cycles; forms to add and edit them."""
    cycles = tracker.pdsa_cycles(url)
    for intervention in listed:
        ended = f", ended {intervention['end_date']}" if intervention["end_date"] else ""
        with st.expander(f"{intervention['name']} — from {intervention['start_date']}"
                         f"{ended}"):
            if intervention["description"]:
                st.write(intervention["description"])
            if intervention["owner"]:
                st.caption(f"Owner: {intervention['owner']}")
            own = [c for c in cycles if c["intervention_id"] == intervention["intervention_id"]]
            for cycle in own:
                st.markdown(f"**PDSA cycle {cycle['number']}** (from {cycle['started_on']})")
                _pdsa_fields(url, intervention["intervention_id"], cycle)
            st.markdown("**Add a PDSA cycle**")
            _pdsa_fields(url, intervention["intervention_id"], None)
            st.markdown("**Edit the intervention**")
            _intervention_fields(url, goal, intervention)
    with st.expander("+ Add an intervention for this goal", expanded=not listed):
        _intervention_fields(url, goal, None)


def _intervention_fields(url: str, goal: Mapping, intervention: Mapping | None) -> None:
    stored = {"name": (intervention or {}).get("name") or "",
              "start_date": (intervention or {}).get("start_date") or date.today(),
              "end_date": (intervention or {}).get("end_date"),
              "owner": (intervention or {}).get("owner") or "",
              "description": (intervention or {}).get("description") or ""}
    prefix = (f"intervention:{intervention['intervention_id']}" if intervention
              else f"intervention:new:{goal['goal_id']}")
    edit = Edit(prefix, stored, intervention and intervention["version"],
                intervention and intervention["changed_by"],
                intervention and intervention["changed_at"])
    columns = st.columns([3, 1, 1, 2])
    columns[0].text_input("Intervention", **edit.bind("name"))
    columns[1].date_input("Start", **edit.bind("start_date"), format="YYYY-MM-DD")
    columns[2].date_input("End (if stopped)", **edit.bind("end_date"), format="YYYY-MM-DD")
    columns[3].text_input("Owner", **edit.bind("owner"))
    st.text_area("What changes, for whom", **edit.bind("description"), height=70)
    edit.conflict_notice()
    if intervention is None:
        goal_id = goal["goal_id"]
        edit.save_button("Add intervention", lambda values, _v: tracker.add_intervention(
            url, user(), goal_id, **values), lambda row: f"Added: {row['name']}",
            name="add", kind="primary")
    else:
        intervention_id = intervention["intervention_id"]
        edit.save_button("Save", lambda values, version: tracker.update_intervention(
            url, intervention_id, version, user(), **values), "Saved.")
    show_messages(prefix)


def _pdsa_fields(url: str, intervention_id: int, cycle: Mapping | None) -> None:
    stored = {"started_on": (cycle or {}).get("started_on") or date.today(),
              **{name: (cycle or {}).get(name) or "" for name in ("plan", "do", "study",
                                                                   "act")}}
    prefix = (f"pdsa:{cycle['cycle_id']}" if cycle else f"pdsa:new:{intervention_id}")
    edit = Edit(prefix, stored, cycle and cycle["version"], cycle and cycle["changed_by"],
                cycle and cycle["changed_at"])
    st.date_input("Started on", **edit.bind("started_on"), format="YYYY-MM-DD")
    columns = st.columns(4)
    labels = (("plan", "Plan (what we test, and our prediction)"), ("do", "Do (what happened)"),
              ("study", "Study (compared with the prediction)"),
              ("act", "Act (adopt, adapt or abandon)"))
    for column, (name, label) in zip(columns, labels):
        column.text_area(label, **edit.bind(name), height=90)
    edit.conflict_notice()
    if cycle is None:
        edit.save_button("Add cycle", lambda values, _v: tracker.add_pdsa(
            url, user(), intervention_id, **values),
            lambda row: f"PDSA cycle {row['number']} added.", name="add")
    else:
        cycle_id = cycle["cycle_id"]
        edit.save_button("Save cycle", lambda values, version: tracker.update_pdsa(
            url, cycle_id, version, user(), **values), "Saved.")
    show_messages(prefix)


# --- Vision: choosing the gap ---------------------------------------------------------------
def choose_gap(version) -> tuple[dict, str] | None:
    """Pick a measure and a flagged gap from the engine (or another group, with a reason);
    shows the baseline filled from the data. Returns (baseline, a key of the gap) or None."""
    from metrics.strata import STRATIFIERS
    from ui import data, state

    catalog = data.measures(version)
    catalog = catalog[(catalog["cases"] > 0) & (catalog["kind"] == "proportion")]
    if catalog.empty:
        st.info("No measure has counted cases yet: load data first (see What is loaded).")
        return None
    names = dict(zip(catalog["measure_id"], catalog["name"]))
    filters = global_filters()
    where = data.where_key(filters.where()) if filters else ()
    gaps = data.largest_gaps(version, where, filters.period_from if filters else None,
                             filters.period_to if filters else None)
    gaps = gaps[gaps["measure_id"].isin(list(names))]
    default = gaps["measure_id"].iloc[0] if not gaps.empty else next(iter(names))
    state.seed("goal_measure", list(names), default, label="goal measure")
    measure_id = st.selectbox("Measure", list(names), format_func=names.get,
                              key="goal_measure",
                              index=list(names).index(st.session_state["goal_measure"]))
    measure = catalog[catalog["measure_id"] == measure_id].iloc[0]
    period_from = (filters.period_from if filters else None) or measure["first_period"]
    period_to = (filters.period_to if filters else None) or measure["last_period"]

    label = {name: definition.label for name, definition in STRATIFIERS.items()}
    options: dict[str, str] = {}
    for row in gaps[gaps["measure_id"] == measure_id].itertuples():
        options[f"{row.stratifier}|{row.group}"] = (
            f"{row.group} vs {row.reference_group} ({label.get(row.stratifier, row.stratifier)})"
            f" — {tracker.show_rate(row.rate, row.unit)} vs "
            f"{tracker.show_rate(row.reference_rate, row.unit)}, flagged")
    options[OTHER_GAP] = "Another group, chosen by the team (say why it matters)"
    state.seed("goal_gap", list(options), next(iter(options)), label="gap")
    state.show_notes()  # the link's notes about these two widgets, on this run
    gap = st.selectbox("Gap", list(options), format_func=options.get, key="goal_gap",
                       index=list(options).index(st.session_state["goal_gap"]),
                       help="Flagged gaps of this measure for the months and sites in the "
                            "sidebar, largest first (patients affected).")
    state.publish("goal_measure", "goal_gap")
    if gap == OTHER_GAP:
        stratifiers = [name for name in STRATIFIERS if name != "period"]
        columns = st.columns(2)
        by = columns[0].selectbox("Stratify by", stratifiers, format_func=label.get,
                                  key="goal_by")
        groups = data.group_values(version, by)
        group = columns[1].selectbox("Group", groups, key="goal_group")
    else:
        by, group = gap.split("|", 1)
    table = data.stratify(version, measure_id, (by,), where, period_from, period_to,
                          "largest")
    try:
        base = tracker.baseline_from_table(table, group)
    except tracker.Invalid as problem:
        st.warning(str(problem))
        return None
    unit = base["unit"]
    st.markdown("**Baseline, from the data**")
    cards = st.columns(4)
    cards[0].metric(f"{base['group_name']}", tracker.show_rate(base["baseline_rate"], unit),
                    help="The group's rate over the baseline months.")
    cards[1].metric(f"Reference: {base['reference_group']}",
                    tracker.show_rate(base["reference_rate"], unit))
    cards[2].metric("Difference", charts.format_difference(
        base["baseline_rate"] - base["reference_rate"], "proportion", unit))
    cards[3].metric("Cases in the group", f"{base['baseline_n']:,}")
    sites = ", ".join(filters.sites) if filters and filters.sites else "all sites"
    st.caption(f"Baseline months {base['baseline_from']} to {base['baseline_to']}; {sites} "
               "(the sidebar's filters). " + ("Flagged by the engine (AHRQ rule)."
                                              if base["flagged"] else
                                              "Not flagged by the engine."))
    return base, f"{measure_id}|{by}|{group}"


# --- Launch: one goal -----------------------------------------------------------------------
@st.cache_data(max_entries=64, show_spinner=False)
def _goal_status(version, goal: dict, listed: tuple) -> dict:
    return tracker.goal_status(goal, version[0], [dict(i) for i in listed])


def launch_goal(url: str, version, goal: Mapping) -> None:
    """A chartered goal: its status from the data, its run chart and p-chart with the goal
    line and the interventions' starts, and its interventions with their PDSA cycles."""
    from ui import data
    from ui.charts import show_chart

    listed = tracker.interventions(url, goal["goal_id"])
    starts = tuple(tuple(sorted(i.items())) for i in listed)
    status = _goal_status(version, dict(goal), starts)
    st.subheader(goal["title"])
    status_line(status, goal)
    where = data.where_key(goal.get("filters") or {})
    try:
        monthly = data.over_time(version, goal["measure_id"], goal["stratifier"], where, None,
                                 None, goal["reference_group"])
    except ValueError:  # the reference group is no longer in the data
        monthly = data.over_time(version, goal["measure_id"], goal["stratifier"], where, None,
                                 None, "largest")
    try:
        run = goal_run_chart(monthly, goal, listed)
    except ValueError:
        st.info(f"No monthly data for {goal['group_name']} on this measure any more.")
    else:
        show_chart(run, key=f"goal_run_{goal['goal_id']}")
        st.caption(charts.describe(run))
        with st.expander("The group's p-chart (control limits)"):
            show_chart(goal_control_chart(monthly, goal, listed),
                       key=f"goal_control_{goal['goal_id']}")
        from snapshots import View
        from ui.exports import meeting_panel

        meeting_panel(View.for_goal(goal, listed), key=f"export_goal_{goal['goal_id']}",
                      version=version, heading="Take this goal's run chart to a meeting")
    interventions_of(url, goal, listed)


# --- Clinical algorithms (Launch) ----------------------------------------------------------
REVIEW_MARK = {"identified": "○", "under review": "◐", "replaced": "✓",
               "retained with justification": "✓"}


def algorithm_inventory(rows: Sequence[Mapping]) -> None:
    """The inventory as a table, one row per tool, in the words of `tracker.algorithms`."""
    from tracker.algorithms import COLUMNS, SOURCES

    st.dataframe([{label: (SOURCES.get(row[name], row[name]) if name == "source"
                           else row[name]) for name, label in COLUMNS} for row in rows],
                 hide_index=True, width="stretch", column_config={
                     "Decision date": st.column_config.DateColumn(format="YYYY-MM-DD"),
                     "Review status": st.column_config.TextColumn(
                         help="Reviewed means decided: replaced, or retained with "
                              "justification.")})


def algorithm_downloads(url: str, summary_line: str) -> None:
    """The inventory as CSV and XLSX, made when a button is pressed (`export_listing`:
    text cells neutralised, audited). Not shown to a role that cannot export."""
    import snapshots

    if not access.can("export"):
        return

    def maker(fmt: str):
        def make(actor: str) -> bytes:
            headers, rows = tracker.inventory_table(url)
            return snapshots.export_listing(
                "clinical-algorithms", "Clinical algorithms that use race: review inventory",
                [("In words", summary_line),
                 ("Source", "Vyas, Eisenstein, Jones. N Engl J Med 2020;383:874-882, "
                            "and this system's own pathways")],
                headers, rows, fmt, url, actor=actor).data
        return as_this_user(make)

    columns = st.columns([1, 1, 4])
    for column, fmt in zip(columns, ("csv", "xlsx")):
        column.download_button(f"Inventory ({fmt.upper()})", data=maker(fmt),
                               file_name=f"clinical-algorithms.{fmt}",
                               mime=snapshots.MIME_TYPES[fmt], key=f"algorithms_{fmt}",
                               on_click="ignore")


def algorithm_editors(url: str, rows: Sequence[Mapping]) -> None:
    """One editor per tool, then a form for one of the system's own pathways."""
    for row in rows:
        mark = REVIEW_MARK.get(row["status"], "○")
        with st.expander(f"{mark} {row['tool']} — {row['status']}"):
            _algorithm_fields(url, row)
    with st.expander("+ Add one of this system's pathways or tools"):
        _algorithm_fields(url, None)


def _algorithm_fields(url: str, row: Mapping | None) -> None:
    stored = {name: (row or {}).get(name) or "" for name in
              ("tool", "where_used", "race_term", "replacement", "owner", "justification",
               "evidence")}
    stored["status"] = (row or {}).get("status") or tracker.REVIEW_STATUSES[0]
    stored["decision_date"] = (row or {}).get("decision_date")
    prefix = f"algorithm:{row['algorithm_id']}" if row else "algorithm:new"
    edit = Edit(prefix, stored, row and row["version"], row and row["changed_by"],
                row and row["changed_at"])
    top = st.columns([2, 3])
    top[0].text_input("Tool", **edit.bind("tool"))
    top[1].text_input("Where it is used (pathways, order sets, services)",
                      **edit.bind("where_used"))
    middle = st.columns(2)
    middle[0].text_input("Race term", **edit.bind("race_term"))
    middle[1].text_input("Race-neutral replacement", **edit.bind("replacement"))
    bottom = st.columns([2, 2, 1])
    bottom[0].selectbox("Review status", tracker.REVIEW_STATUSES,
                        **edit.pick("status", tracker.REVIEW_STATUSES),
                        help="Replaced and retained with justification are decisions: they "
                             "need an owner and a decision date.")
    bottom[1].text_input("Owner", **edit.bind("owner"))
    bottom[2].date_input("Decision date", **edit.bind("decision_date"), format="YYYY-MM-DD",
                         max_value=date.today(), min_value=date(1990, 1, 1))
    st.text_area("Justification (needed to retain the race term)",
                 **edit.bind("justification"), height=70)
    st.text_area("Evidence (references, links, committee minutes)", **edit.bind("evidence"),
                 height=70)
    edit.conflict_notice()
    if row is None:
        edit.save_button("Add to the inventory", lambda values, _v: tracker.add_algorithm(
            url, user(), **values), lambda added: f"Added {added['tool']} to the inventory.",
            name="add", kind="primary")
    else:
        algorithm_id = row["algorithm_id"]
        buttons = st.columns([1, 2, 3])
        with buttons[0]:
            edit.save_button("Save", lambda values, version: tracker.update_algorithm(
                url, algorithm_id, version, user(), **values), "Saved.", kind="primary")
        with buttons[1]:
            edit.save_button("Remove (not used here)",
                             lambda _values, version: tracker.remove_algorithm(
                                 url, algorithm_id, version, user()),
                             "Removed from the inventory (kept in the history).",
                             name="remove")
    show_messages(prefix)
    line = changed_line(row or {})
    if line:
        st.caption(line)
