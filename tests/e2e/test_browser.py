"""A real browser drives the Dagster UI: asset graph, Materialize, partition dialog, run page.

Chromium is Debian's (`/usr/bin/chromium`, installed by `make test` when it can), driven
through Playwright's sync API; Playwright's own browser download is never used. The test
saves screenshots under its pytest output directory; with `UPDATE_SCREENSHOTS=1` the asset
graph also goes to `docs/images/asset-graph.png` and the mart's columns, with their types,
to `docs/images/mart-columns.png`, the images the README shows.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from project.lib import warehouse
from project.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu"]
README_IMAGE = PROJECT_ROOT / "docs" / "images" / "asset-graph.png"
COLUMNS_IMAGE = PROJECT_ROOT / "docs" / "images" / "mart-columns.png"
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


@contextmanager
def _page(browser, tmp_path: Path) -> Iterator:
    """A page of the UI; a screenshot of it is kept when the test fails."""
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(60_000)
    # First visit of a fresh instance: Dagster asks to join its community; say "Skip".
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda _: page.get_by_role("button", name="Skip").click(),
    )
    try:
        yield page
    except Exception:
        page.screenshot(path=tmp_path / "failure.png")
        print(f"screenshot of the failure: {tmp_path / 'failure.png'}")
        raise
    finally:
        page.close()


def _save(shot: Path, readme_image: Path) -> None:
    """With UPDATE_SCREENSHOTS=1, the screenshot becomes the README's image."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        readme_image.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, readme_image)


def test_materializing_a_partition_from_the_asset_graph_runs_to_success(
    browser, dagster_dev, tmp_path: Path
) -> None:
    with _page(browser, tmp_path) as page:
        _materialize_from_the_graph(page, dagster_dev, tmp_path)


def _materialize_from_the_graph(page, dagster_dev, tmp_path: Path) -> None:
    from playwright.sync_api import expect

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
    _save(shot, README_IMAGE)
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


MART = "pncp/marts/contratos_mes"
MONTH = "2024-07-01"  # the monthly partition of July 2024
TRANSFORMATION_GROUPS = ("pncp_staging", "pncp_intermediate", "pncp_marts")


def test_the_mart_page_shows_its_columns_with_their_types(
    browser, dagster_dev, tmp_path: Path
) -> None:
    # The month's contracts and transformation, launched as the UI's buttons launch them
    # (the clicks themselves are the test above's).
    extraction = dagster_dev.launch(["pncp", "raw", "contratos"], DAY)
    assert dagster_dev.wait_for_run(extraction) == "SUCCESS", dagster_dev.tail()
    transformation = dagster_dev.launch_assets(
        dagster_dev.group_assets(*TRANSFORMATION_GROUPS), MONTH
    )
    assert dagster_dev.wait_for_run(transformation, timeout_s=420) == "SUCCESS", dagster_dev.tail()
    with warehouse.connection(dagster_dev.warehouse, read_only=True) as conn:
        types = dict(
            conn.execute(
                """SELECT column_name, data_type FROM information_schema.columns
                   WHERE table_catalog = current_database()
                     AND table_schema = 'marts' AND table_name = 'contratos_mes'"""
            ).fetchall()
        )
    assert types

    with _page(browser, tmp_path) as page:
        _columns_of_the_mart(page, dagster_dev, tmp_path, types)


def _columns_of_the_mart(page, dagster_dev, tmp_path: Path, types: dict[str, str]) -> None:
    from playwright.sync_api import expect

    # The asset's Overview: its "Columns" section lists the latest materialization's schema.
    page.goto(f"{dagster_dev.url}/assets/{MART}?view=overview")
    header = page.locator("thead").filter(has=page.get_by_text("Column name", exact=True))
    table = header.locator("xpath=..")
    rows = table.locator(":scope > tbody > tr")
    expect(rows).to_have_count(len(types))
    shown = {}
    for i in range(rows.count()):
        cells = rows.nth(i).locator(":scope > td")
        name, kind = cells.nth(0), cells.nth(1)
        shown[name.inner_text().strip()] = kind.inner_text().strip()
    assert shown == types  # every column, each with the warehouse's type

    # The screenshot: the asset's header and tabs above its Columns section.
    heading = page.get_by_text("Columns", exact=True).first
    heading.evaluate("element => element.scrollIntoView({block: 'start'})")
    expect(table.get_by_text("numero_controle_pncp", exact=True)).to_be_in_viewport()
    shot = tmp_path / "mart-columns.png"
    page.screenshot(path=shot)
    _save(shot, COLUMNS_IMAGE)
    print(f"screenshot: {shot}")
