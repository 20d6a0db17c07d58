"""The goal charter in a real browser: Debian's chromium driven by playwright against
`streamlit run app.py`. A champion fills in a SMART goal on /vision and charters it; the
server is stopped and started again, and the charter is still there on /vision and on
/launch. Needs the tracker pages in the app's navigation (url paths commit, learn, vision,
launch)."""
from __future__ import annotations

import uuid

import pytest

from tests.conftest import copy_sqlite
from tests.test_browser import (
    CHART,
    CHROMIUM,
    FLAGS,
    SHOTS,
    assert_no_exception,
    require_browser,
    streamlit_server,
    wait_for_app,
)


@pytest.fixture
def database(sample_sqlite, tmp_path):
    """A private copy of the sample database: this test writes to it."""
    require_browser()
    return copy_sqlite(sample_sqlite, tmp_path / "equity.db")


@pytest.fixture
def chromium(database):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


def open_page(browser, url: str, heading: str):
    """Open a page and wait until it has been drawn inside the frame (a fresh server's first
    request runs the page once on its own, then again through app.py)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.get_by_role("heading", name=heading).wait_for()
    page.locator('[data-testid="stSidebar"]').get_by_text("STEPS Forward progress").wait_for()
    wait_for_app(page)
    assert_no_exception(page)
    return context, page


def settle(page) -> None:
    """Wait until the rerun that the last interaction started has finished."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def test_a_chartered_goal_is_still_there_after_a_restart(database, chromium, tmp_path):
    title = f"Close the blood-pressure gap {uuid.uuid4().hex[:6]}"
    with streamlit_server(database, tmp_path / "first.log") as server:
        context, page = open_page(chromium, f"{server}/vision",
                                  "Vision: equity-focused SMART goals")
        assert "Vision" in page.locator('[data-testid="stSidebar"]').inner_text()
        page.get_by_role("tab", name="Charter a new goal").click()
        page.get_by_text("Baseline, from the data").wait_for()
        page.get_by_text("SMART check").wait_for()
        title_box = page.get_by_role("textbox", name="Goal title")
        title_box.fill(title)
        title_box.press("Enter")
        settle(page)
        lead = page.get_by_role("textbox", name="Lead")
        lead.fill("Dr Ruiz")
        lead.press("Enter")
        settle(page)
        charter = page.get_by_role("button", name="Charter this goal")
        assert charter.is_enabled(), page.inner_text("body")[-3000:]
        charter.click()
        page.get_by_text(f"Chartered: {title}").wait_for()
        assert_no_exception(page)
        page.screenshot(path=str(SHOTS / "vision-chartered.png"), full_page=True)
        # The sidebar's progress follows at once: the goal completes one of two items.
        page.locator('[data-testid="stSidebar"]').get_by_text("Vision: 50 %").wait_for()
        context.close()

    # A new server process: only the database remembers the goal.
    with streamlit_server(database, tmp_path / "second.log") as server:
        context, page = open_page(chromium, f"{server}/vision",
                                  "Vision: equity-focused SMART goals")
        page.get_by_text(f"Project charter: {title}").wait_for()
        page.locator('[data-testid="stSidebar"]').get_by_text("Vision: 50 %").wait_for()
        wait_for_app(page)
        body = page.inner_text("body")
        assert "Dr Ruiz" in body and "chartered by local user" in body
        context.close()

        context, page = open_page(chromium, f"{server}/launch",
                                  "Launch: targeted improvement, followed month by month")
        page.get_by_text(title).first.wait_for()
        page.wait_for_selector(CHART)
        notes = page.evaluate("""() => {
            const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
            return (plot.layout.annotations || []).map(a => a.text || '');
        }""")
        assert any(note.startswith("Goal ") for note in notes), notes
        assert_no_exception(page)
        page.screenshot(path=str(SHOTS / "launch-goal.png"), full_page=True)
        context.close()
