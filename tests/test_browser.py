"""The dashboard in a real browser: Debian's chromium driven by playwright against
`streamlit run app.py` on 127.0.0.1 with the sample data. Screenshots go to
tests/screenshots/ (git-ignored) so that a person can look at what was tested."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import REPO

CHROMIUM = os.environ.get("EQUITY_CHROMIUM", "/usr/bin/chromium")
SHOTS = REPO / "tests" / "screenshots"
CHART = '[data-testid="stPlotlyChart"] .main-svg'
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def require_browser() -> None:
    """Skip (or, in CI, fail) when there is no chromium or playwright to test with."""
    problem = _missing()
    if problem:
        if os.environ.get("EQUITY_REQUIRE_BROWSER") == "1":
            pytest.fail(problem + " (EQUITY_REQUIRE_BROWSER=1)")
        pytest.skip(problem)


def _missing() -> str | None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return f"no chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    return None


@contextlib.contextmanager
def streamlit_server(database_url: str, log: Path):
    """`streamlit run app.py` on a free port of 127.0.0.1; yields its address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "EQUITY_DATABASE_URL": database_url,
                   "EQUITY_LOAD_SAMPLE": "0"}
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=environment, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail(f"streamlit did not start: {log.read_text()[-2000:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(sample_sqlite, tmp_path_factory):
    require_browser()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with streamlit_server(sample_sqlite, log) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    yield opened
    context.close()


def wait_for_app(page) -> None:
    page.wait_for_selector('[data-testid="stSidebar"]')
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def assert_no_exception(page) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.content()[-3000:]
    assert "Page not found" not in page.inner_text("body")


def figure_labels(page) -> list[str]:
    """The category labels of the first plotly chart, read from the live figure."""
    return page.evaluate("""() => {
        const plot = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
        const ticks = (plot.layout.yaxis && plot.layout.yaxis.ticktext) || [];
        return plot.data.flatMap(t => (t.y || []).map(String)).concat(ticks.map(String));
    }""")


def test_overview_draws_a_chart_and_the_phase_sidebar(server, page):
    page.goto(server)
    page.wait_for_selector(CHART)
    wait_for_app(page)
    assert_no_exception(page)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    for phase in ("Commit", "Learn", "Data", "Vision", "Launch"):
        assert phase in sidebar
    assert "Flagged gaps" in page.inner_text("body")
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)


# What shows that each page has finished drawing.
DRAWN = {"explorer": CHART, "quality": CHART, "loaded": '[data-testid="stDataFrame"]',
         "methods": '[data-testid="stMain"] h2'}


def test_a_tables_toolbar_offers_no_download_of_its_own(server, page):
    """Files leave only through the audited, neutralised export buttons: the grid's
    "Download as CSV" is switched off (client.disableDataExport)."""
    page.goto(f"{server}/loaded")
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    wait_for_app(page)
    grid.hover()
    toolbar = page.locator('[data-testid="stElementToolbar"]').first
    toolbar.wait_for()
    buttons = [b.get_attribute("aria-label") or b.inner_text()
               for b in toolbar.locator("button").all()]
    assert buttons, "the table's toolbar did not appear"
    assert not [b for b in buttons if "download" in b.lower()], buttons


@pytest.mark.parametrize("path", list(DRAWN))
def test_every_page_opens_without_an_exception(server, page, path):
    page.goto(f"{server}/{path}")
    page.wait_for_selector(DRAWN[path])
    wait_for_app(page)
    assert_no_exception(page)
    page.screenshot(path=str(SHOTS / f"{path}.png"), full_page=True)


def test_changing_the_stratifier_changes_the_chart_and_the_url(server, page):
    page.goto(f"{server}/explorer")
    page.wait_for_selector(CHART)
    wait_for_app(page)
    before = figure_labels(page)
    assert any("White" in label for label in before)
    page.get_by_label("Stratify by").click()
    page.get_by_role("option", name="Payer", exact=True).click()
    page.wait_for_function(
        "() => { const p = document.querySelector('[data-testid=\"stPlotlyChart\"] "
        ".js-plotly-plot'); return p && ((p.layout.yaxis || {}).ticktext || [])"
        ".some(y => String(y).includes('Medicaid')); }")
    after = figure_labels(page)
    assert after != before and any("Medicaid" in label for label in after)
    assert "by=payer" in page.url
    assert_no_exception(page)
    page.screenshot(path=str(SHOTS / "explorer-payer.png"), full_page=True)


def test_a_shared_url_reopens_the_same_view(server, page):
    page.goto(f"{server}/explorer?measure=col_e&by=ethnicity&reference=best")
    page.wait_for_selector(CHART)
    wait_for_app(page)
    labels = figure_labels(page)
    assert any("Hispanic or Latino" in label for label in labels)
    assert "Colorectal" in page.inner_text('[data-testid="stMain"]')
    assert_no_exception(page)


def test_from_the_first_gap_to_one_sites_p_chart_in_three_interactions(server, page):
    """The issue's promise: from the overview to one site's monthly p-chart for one group."""
    page.goto(server)
    page.wait_for_selector(CHART)
    wait_for_app(page)
    first_sentence = page.locator('[data-testid="stMarkdownContainer"] ol li').first.inner_text()
    # 1: the first gap's "See the detail" link.
    page.get_by_text("See the detail").first.click()
    page.wait_for_url("**/explorer**")
    page.wait_for_selector(CHART)
    wait_for_app(page)
    assert "/explorer" in page.url and "group=" in page.url
    # 2: the control-chart tab.
    page.get_by_role("tab", name="Control chart").click()
    page.wait_for_selector('[data-testid="stPlotlyChart"] .js-plotly-plot')
    wait_for_app(page)
    rates = """() => JSON.stringify(document.querySelector(
        '[data-testid="stPlotlyChart"] .js-plotly-plot').data.map(t => t.y))"""
    page.wait_for_function(
        "() => /control chart/i.test(JSON.stringify(document.querySelector("
        "'[data-testid=\"stPlotlyChart\"] .js-plotly-plot').layout.title || ''))")
    all_sites = page.evaluate(rates)
    # 3: one site in the sidebar.
    page.get_by_label("Sites").click()
    page.get_by_role("option", name="Harbor Health Center", exact=True).click()
    page.keyboard.press("Escape")
    wait_for_app(page)
    page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]')"
                           ".innerText.includes('Harbor Health Center')")
    page.wait_for_function(f"() => ({rates})() !== {json.dumps(all_sites)}")
    assert parse_qs(urlparse(page.url).query)["site"] == ["Harbor Health Center"]
    title = page.evaluate("""() => JSON.stringify(document.querySelector(
        '[data-testid="stPlotlyChart"] .js-plotly-plot').layout.title)""")
    group = parse_qs(urlparse(page.url).query)["group"][0]
    assert group in title and group.split(" ")[0] in first_sentence
    assert_no_exception(page)
    page.screenshot(path=str(SHOTS / "control-chart.png"), full_page=True)


def test_a_deep_link_to_a_fresh_server_opens_inside_the_frame(server, sample_sqlite, page,
                                                            tmp_path):
    """The first request a new server gets may be a shared link to any page."""
    with streamlit_server(sample_sqlite, tmp_path / "fresh.log") as fresh:
        page.goto(f"{fresh}/explorer?by=payer")
        page.wait_for_selector(CHART)
        wait_for_app(page)
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert "STEPS Forward progress" in sidebar and "Disparity explorer" in sidebar
        assert any("Medicaid" in label for label in figure_labels(page))
        assert_no_exception(page)
