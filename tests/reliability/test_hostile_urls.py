"""Hostile URL query parameters on the pages that read them (issue #9, item 5).

Every filter and choice lives in the URL (`ui/state.py`): the frame reads `from`, `to` and
`site` on every page, the explorer its measure, stratifiers, reference, filters and view,
the data-quality page its field, the Vision page its goal's measure and gap. A link can say
anything, so a session is opened (Streamlit's AppTest, the sample database) on a link holding
a hostile value in every one of those keys, or unknown, repeated and very long keys, and goes
to each page. Every page must render without an exception or a traceback, and each value it
cannot use must fall back to the default the page opens with, with a short note on the page
naming what the link asked for, its value shown as code (never as markdown: a link's text
must not become a link, an icon or a formula on the page).

Under AppTest the first run goes through app.py (the frame and the overview, which read the
frame's keys); a page switched to then runs as its own script and reads its own keys.
"""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO

# key: (label in the page's note, multi-valued)
FRAME_KEYS = {"from": ("first month", False), "to": ("last month", False),
              "site": ("site", True)}
PAGE_KEYS = {
    "pages/explorer.py": {
        "measure": ("measure", False), "by": ("stratifier", False),
        "by2": ("second stratifier", False), "reference": ("reference group", False),
        "payer": ("payer", True), "age_group": ("age_group", True), "sex": ("sex", True),
        "preferred_language": ("preferred_language", True), "adjust": ("rates", False),
        "view": ("view", False), "group": ("group", False),
    },
    "pages/quality.py": {"field": ("field", False)},
    "pages/vision.py": {"goal_measure": ("goal measure", False), "goal_gap": ("gap", False)},
}
TITLES = {"pages/explorer.py": "Disparity explorer",
          "pages/quality.py": "Is our demographic data good enough to see disparities?",
          "pages/vision.py": "Vision: equity-focused SMART goals"}

HOSTILE = {
    "SQL-like": "'; DROP TABLE patients;--",
    "SQL-like 2": '" OR 1=1',
    "formula-like": '=CONCAT("x",A1)&SUM(A1:A9)',
    "formula-like 2": "@SUM(1+1)*cmd|' /C calc'!A0",
    # link and image syntax whose targets are fragments of the page itself (no address)
    "markdown link": "[Reset your password](#reset) ![x](#x)",
    "icon shortcode": ":material/home: :red[alarm] $x^2$",
    # markup and event handlers, referring to no file or address at all (nothing to fetch)
    "HTML": "<b onmouseover=alert(1)>bold</b><svg onload=alert(1)></svg>",
    "quotes": '"\'"`',
    "NUL": "cbp\x00",
    "line breaks": "race\r\nSet-Cookie: x=1",
    "RTL and joiners": "\u202erace\u200d\u200f\u0301",
    "emoji": "\U0001f469\U0001f3fd\u200d\u2695\ufe0f",
    "full-width digits": "\uff12\uff10\uff12\uff15-\uff10\uff13",
    "non-breaking spaces": "\u00a0race\u00a0",
    "decoded invalid UTF-8": "\ufffd\ufffd",  # what the server makes of %ED%A0%80
    "BOM": "\ufeffrace",
    "no such measure": "no_such_measure",
    "no such stratifier": "shoe_size",
    "month 13": "2025-13",
    "path traversal": "../../etc/passwd",
    "very long": "x" * 20_000,
    "blank": " ",
}
OVERVIEW = "Where are our largest gaps, and are they real?"


def open_link(url: str, monkeypatch, query: dict) -> AppTest:
    """A new session on a link: app.py's frame and the overview."""
    monkeypatch.setenv("EQUITY_DATABASE_URL", url)
    monkeypatch.setenv("EQUITY_LOAD_SAMPLE", "0")
    app = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    app.query_params.update(query)
    app.run()
    return app


def widget_values(app: AppTest, keys) -> dict:
    values = dict.fromkeys(keys)
    for key in keys:
        if key in app.session_state:  # (AppTest's session state has no .get)
            values[key] = app.session_state[key]
    return values


def assert_rendered(app: AppTest, title: str) -> None:
    assert not app.exception, [element.value for element in app.exception]
    texts = [element.value for kind in ("markdown", "info", "warning", "error", "caption",
                                        "code", "text") for element in app.get(kind)]
    assert not [text for text in texts if "Traceback" in str(text)]
    assert title in [element.value for element in app.title]


def link_notes(app: AppTest) -> list[str]:
    return [element.value for kind in ("info", "warning", "error") for element in app.get(kind)
            if "The link asked for" in element.value]


def assert_noted(app: AppTest, keys: dict) -> None:
    said = link_notes(app)
    for key, (label, _) in keys.items():
        assert any(note.startswith(f"The link asked for {label} `") for note in said), \
            (key, said)
    assert all(len(note) < 600 for note in said), max(said, key=len)


def visit_every_page(app: AppTest):
    """Switch to each page that reads its own keys, in one session; yields the page."""
    for page in PAGE_KEYS:
        app.switch_page(page).run()
        yield page


@pytest.fixture(scope="module")
def defaults(sample_sqlite):
    """The widget values of the frame and of each page when opened without a query string."""
    monkeypatch = pytest.MonkeyPatch()
    try:
        app = open_link(sample_sqlite, monkeypatch, {})
        found = {"frame": widget_values(app, FRAME_KEYS)}
        for page in visit_every_page(app):
            found[page] = widget_values(app, PAGE_KEYS[page])
        return found
    finally:
        monkeypatch.undo()


EVERY_KEY = {**FRAME_KEYS, **{key: spec for keys in PAGE_KEYS.values()
                              for key, spec in keys.items()}}


@pytest.mark.parametrize("family", list(HOSTILE))
def test_a_hostile_value_in_every_key_falls_back_to_the_default_with_a_note(
        sample_sqlite, monkeypatch, defaults, family):
    app = open_link(sample_sqlite, monkeypatch, dict.fromkeys(EVERY_KEY, HOSTILE[family]))
    assert_rendered(app, OVERVIEW)
    assert widget_values(app, FRAME_KEYS) == defaults["frame"]
    assert_noted(app, FRAME_KEYS)
    for page in visit_every_page(app):
        assert_rendered(app, TITLES[page])
        assert widget_values(app, PAGE_KEYS[page]) == defaults[page]
        assert_noted(app, PAGE_KEYS[page])


def test_unknown_and_very_long_keys_are_ignored(sample_sqlite, monkeypatch, defaults):
    query = {"utm_source": "x", "__proto__": "{}", "<b>": "1", "k" * 5_000: "v" * 5_000,
             "embed_options": "../../etc/passwd", "Measure": "col_e", "by ": "payer",
             "\u202eby": "payer", "by\x00": "payer"}
    app = open_link(sample_sqlite, monkeypatch, query)
    assert_rendered(app, OVERVIEW)
    assert widget_values(app, FRAME_KEYS) == defaults["frame"] and not link_notes(app)
    for page in visit_every_page(app):
        assert_rendered(app, TITLES[page])
        assert widget_values(app, PAGE_KEYS[page]) == defaults[page]
        assert not link_notes(app)


def test_repeated_keys_are_read_once(sample_sqlite, monkeypatch, defaults):
    from sample_data.ground_truth import FLAGSHIP as site
    first, last = "2025-01", "2025-06"
    query = {"site": [site, site, site, "no such site"], "from": [first, first],
             "to": ["2025-13", last], "payer": ["Medicaid", "Medicaid", "Medicare"],
             "measure": ["cbp", "col_e"], "by": ["race", "race"]}
    app = open_link(sample_sqlite, monkeypatch, query)
    assert_rendered(app, OVERVIEW)
    assert app.session_state["site"] == [site]
    assert (app.session_state["from"], app.session_state["to"]) == (first, last)
    app.switch_page("pages/explorer.py").run()
    assert_rendered(app, TITLES["pages/explorer.py"])
    assert app.session_state["payer"] == ["Medicaid", "Medicare"]
    assert app.session_state["measure"] == "col_e"  # the last of a repeated single key
    assert app.session_state["by"] == "race"


def test_a_links_text_is_shown_as_code_never_as_markdown(sample_sqlite, monkeypatch):
    """The notes quoted the value with repr inside markdown: a link's text such as
    `[Reset your password](#reset)` rendered as a working link on the page."""
    app = open_link(sample_sqlite, monkeypatch, {"from": "[Reset](#reset)",
                                                 "to": "a`b``c", "site": ["x"] * 40})
    said = link_notes(app)
    assert "The link asked for first month ` '[Reset](#reset)' `," in said[0]
    assert "The link asked for last month ``` 'a`b``c' ```," in said[1]
    assert said[2].startswith("The link asked for site ` 'x' `, ` 'x' `, ")
    assert "and 35 more, which this data does not have" in said[2]
