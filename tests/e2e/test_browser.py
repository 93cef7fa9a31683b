"""A real browser drives the Dagster UI: asset graph, Materialize, partition dialog, run page.

Chromium is Debian's (`/usr/bin/chromium`, installed by `make test` when it can), driven
through Playwright's sync API; Playwright's own browser download is never used. The test
saves screenshots under its pytest output directory; with `UPDATE_SCREENSHOTS=1` the asset
graph also goes to `docs/images/asset-graph.png`, the image the README shows.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from project.lib import warehouse
from project.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu"]
README_IMAGE = PROJECT_ROOT / "docs" / "images" / "asset-graph.png"
DAY = "2024-07-02"
RUN_FINISHED = re.compile(r"^(Success|Failure|Canceled)$")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Debian's Chromium under Playwright; skips on a laptop without it, fails under CI=true."""
    if not CHROMIUM.is_file():
        reason = (
            f"the browser test needs Debian's Chromium at {CHROMIUM} "
            "(`make test` installs it when run as root; else `sudo apt-get install chromium`)"
        )
        if IN_CI:
            pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_materializing_a_partition_from_the_asset_graph_runs_to_success(
    browser, dagster_dev, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(60_000)
    try:
        _materialize_from_the_graph(page, dagster_dev, tmp_path)
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
        raise
    finally:
        page.close()


def _materialize_from_the_graph(page, dagster_dev, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    # First visit of a fresh instance: Dagster asks to join its community; say "Skip".
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda _: page.get_by_role("button", name="Skip").click(),
    )

    # The asset graph of the raw extraction group; pick `atas` from the graph's asset list.
    graph_url = f"{dagster_dev.url}/locations/procurement_platform/asset-groups/pncp_raw"
    page.goto(graph_url)
    page.get_by_role("button", name="Materialize all…").wait_for()
    page.get_by_role("button").filter(has=page.get_by_role("img", name="panel_show_left")).click()
    page.locator('[title="atas"]').click()
    expect(page).to_have_url(re.compile(r"/lineage/pncp%2Fraw%2Fatas"))

    # Materialize → the partition dialog → exactly one day → one run.
    page.get_by_role("button", name="Materialize selected…").click()
    dialog = page.get_by_role("dialog")
    show_all = dialog.get_by_role("button", name="Show all partitions")
    partitions = dialog.get_by_placeholder(re.compile(r"^ex: "))
    expect(show_all.or_(partitions).first).to_be_visible()
    if show_all.is_visible():  # it opens on the last 90 days, which exclude 2024
        show_all.click()
    partitions.fill(DAY)
    partitions.press("Enter")
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    dialog.get_by_role("button", name="Launch 1 run").click()

    # The toast links to the run; its page shows the run's status once it finishes.
    page.get_by_role("link", name="View", exact=True).click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    run_id = page.url.rsplit("/", 1)[-1].split("?")[0]
    status = page.get_by_text(RUN_FINISHED).first
    status.wait_for(timeout=300_000)
    page.screenshot(path=tmp_path / "run.png")
    assert status.inner_text() == "Success", dagster_dev.tail()
    expect(page.get_by_text(f"partition: {DAY}")).to_be_visible()

    # Back on the graph, the asset shows its materialization and passing checks.
    page.go_back()
    expect(page.get_by_text("2 / 2 Passed").first).to_be_visible()
    page.get_by_role("button", name="Hide navigation").click()  # more room for the graph
    page.wait_for_timeout(500)  # the graph re-centres on the selected asset
    shot = tmp_path / "asset-graph.png"
    page.screenshot(path=shot)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, README_IMAGE)
    print(f"screenshots: {shot} and {tmp_path / 'run.png'}")

    expected = dagster_dev.expected_records("atas", DAY)
    with warehouse.connection(dagster_dev.warehouse, read_only=True) as conn:
        records, runs = conn.execute(
            """SELECT sum(record_count), list(DISTINCT run_id) FROM raw.api_requests
               WHERE endpoint = 'atas' AND ingestion_date = ?""",
            [DAY],
        ).fetchone()
    assert records == expected > 0
    assert runs == [run_id]
