"""The run report rendered in a real headless Chromium: no errors, no network, every chart drawn."""
import shutil
from pathlib import Path

import pytest

from pipelines.report import CHARTS, build_report
from test_report import build_report_fixture

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and Path(p).exists()), None)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (install Debian's `chromium`, or run `make browser`)")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _open(browser, path: Path):
    """Load a report, recording console errors, page errors and every request made."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}")
            if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("request", lambda req: requests.append(req.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, problems, requests


def test_report_renders_every_chart_without_errors(browser, tmp_path):
    home = build_report_fixture(tmp_path / "home")
    report = build_report(home).path
    page, problems, requests = _open(browser, report)

    assert problems == []
    assert requests == [report.as_uri()], "the report must not fetch anything"
    assert page.title() == "Customer data platform: run report"
    for chart_id, title, *_ in CHARTS:
        section = page.locator(f'section[data-chart="{chart_id}"]')
        assert section.count() == 1, chart_id
        assert section.locator("h2").inner_text() == title
        if chart_id == "match_weights":  # the fixture's links carry no weights: a "no data" note
            assert section.locator('p.no-data[data-empty="true"]').count() == 1
            continue
        marks = section.locator("svg g.role-mark > path, svg g.role-mark > line").count()
        assert marks > 0, f"chart {chart_id} drew nothing"
        box = section.locator("svg").first.bounding_box()
        assert box and box["width"] > 300 and box["height"] > 60, f"chart {chart_id} is not visible"
    # Marks drawn match the data: 10 size buckets, 2 refusal reasons, 4 source lines.
    count = lambda cid, mark: page.locator(f'section[data-chart="{cid}"] svg g.mark-{mark}.role-mark > path').count()
    assert count("cluster_sizes", "rect") == 10
    assert count("rejected_links", "rect") == 2
    assert count("events_per_day", "line") == 4
    # Bars have real height: the 3-5 records bucket holds 99 of 100 customers.
    heights = [b["height"] for b in page.locator('section[data-chart="cluster_sizes"] svg g.mark-rect.role-mark > path')
               .evaluate_all("els => els.map(e => ({height: e.getBBox().height}))")]
    assert max(heights) > 150 and sum(1 for h in heights if h < 1) == 8
    # The segment legend wraps: all 8 names are drawn inside the chart, none cut off.
    legend = page.locator('section[data-chart="segment_sizes"] svg g.role-legend-label text')
    names = legend.evaluate_all("els => els.map(e => e.textContent)")
    assert len(names) == 8 and "engaged_on_social_no_email" in names and not any(n.endswith("…") for n in names)
    svg_box = page.locator('section[data-chart="segment_sizes"] svg').bounding_box()
    for label_box in legend.evaluate_all("els => els.map(e => e.getBoundingClientRect().toJSON())"):
        assert svg_box["x"] <= label_box["x"] and label_box["x"] + label_box["width"] <= svg_box["x"] + svg_box["width"] + 1
    # Runs in the same minute get distinct labels on the axis.
    run_labels = page.locator('section[data-chart="segment_sizes"] svg g.role-axis-label text').evaluate_all(
        "els => els.map(e => e.textContent)")
    assert "2: 03-02 02:00:05" in run_labels and "3: 03-02 02:00:40" in run_labels
    assert page.locator('[data-figure="customers"] .value').inner_text() == "100"
    assert page.locator('#loads tbody tr').count() == 4

    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    page.close()


def test_empty_warehouse_renders_no_data_notes_without_errors(browser, tmp_path):
    from warehouse.connection import connect_home

    connect_home(tmp_path / "empty").close()
    report = build_report(tmp_path / "empty").path
    page, problems, _ = _open(browser, report)
    assert problems == []
    assert page.locator('p.no-data[data-empty="true"]').count() == len(CHARTS)
    assert page.locator("svg g.role-mark").count() == 0
    page.close()
