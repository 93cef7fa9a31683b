"""dbt on the DuckLake target: a model built empty still gets DuckLake's table statistics."""

import os
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from project.lib import warehouse
from project.lib.pncp.archive import ensure_archive
from project.resources.dbt import build_dbt_resource, get_dbt_project
from project.settings import apply_to_environment, get_settings
from tests.conftest import pg_admin

EMPTY_MODEL = "stg_pncp__atas_versions"  # nothing archived: built with no rows


@pytest.fixture
def empty_archive_lake(lakes: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A lake holding the archive's tables with no rows; the dbt environment points at it
    for the test only."""
    saved = dict(os.environ)
    with lakes.catalog() as schema:
        lakes.use(monkeypatch, schema)
        settings = get_settings()
        with warehouse.connection(warehouse.target_from(settings)) as conn:
            ensure_archive(conn)
        apply_to_environment(settings)  # as loading the code location does
        try:
            yield schema
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _statistics(schema: str, table: str) -> list[tuple]:
    """DuckLake's statistics rows (record count) of the live table `table`."""
    admin = pg_admin("PostgreSQL (the DuckLake catalog)")
    try:
        with admin.cursor() as cur:
            cur.execute(
                f"""SELECT s.record_count FROM "{schema}".ducklake_table t
                    JOIN "{schema}".ducklake_table_stats s USING (table_id)
                    WHERE t.table_name = %s AND t.end_snapshot IS NULL""",
                [table],
            )
            return cur.fetchall()
    finally:
        admin.close()


def test_a_model_built_empty_on_a_lake_gets_statistics_and_stays_empty(
    empty_archive_lake: str,
) -> None:
    """DuckLake 1.5.5 has no statistics for a table never written a row, and reads them
    from the catalog for every column of every query (macros/lake_stats_seeded.sql)."""
    settings = get_settings()
    assert settings.dbt_target == "lake"
    dbt = build_dbt_resource(get_dbt_project(), target=settings.dbt_target)
    for _ in range(2):  # built, then built again incrementally: still empty
        invocation = dbt.cli(["run", "--select", EMPTY_MODEL], raise_on_error=True).wait()
        assert invocation.is_successful()
    assert _statistics(empty_archive_lake, EMPTY_MODEL) == [(0,)]
    with warehouse.connection(warehouse.target_from(settings), read_only=True) as conn:
        assert conn.execute(f"SELECT count(*) FROM staging.{EMPTY_MODEL}").fetchone() == (0,)
