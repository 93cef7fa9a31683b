"""`pncp query`, `dump-catalog` and `recovery-status` on real archives."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from project.lib.query import UnsafeQueryError, read_only_statement
from project.resources.dbt import get_dbt_project

PAGES_BY_ENDPOINT = (
    "SELECT endpoint, count(*) AS pages, sum(record_count) AS records "
    "FROM raw.api_requests GROUP BY endpoint ORDER BY endpoint"
)


def _expected(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(PAGES_BY_ENDPOINT).fetchall()


def test_query_prints_a_table(pncp, archive: Path) -> None:
    result = pncp("query", PAGES_BY_ENDPOINT)
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == ["endpoint", "pages", "records"]
    rows = [tuple(c.strip() for c in line.split("|")) for line in lines[2:-1]]
    assert rows == [(e, str(p), str(r)) for e, p, r in _expected(archive)]
    assert lines[-1] == "(6 rows)"


def test_query_writes_csv_json_and_parquet(pncp, archive: Path, tmp_path: Path) -> None:
    expected = _expected(archive)
    as_csv = pncp("query", PAGES_BY_ENDPOINT, "--format", "csv")
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["endpoint", "pages", "records"]
    assert rows[1:] == [[e, str(p), str(r)] for e, p, r in expected]
    as_json = pncp("query", PAGES_BY_ENDPOINT, "-f", "json")
    assert json.loads(as_json.stdout) == [
        {"endpoint": e, "pages": p, "records": r} for e, p, r in expected
    ]
    target = tmp_path / "pages.parquet"
    as_parquet = pncp("query", PAGES_BY_ENDPOINT, "-f", "parquet", "-o", str(target))
    assert as_parquet.code == 0, as_parquet.output
    table = pq.read_table(target)
    assert list(zip(*table.to_pydict().values(), strict=True)) == expected


def test_query_reads_stored_bodies_through_payload_json(pncp, archive: Path) -> None:
    result = pncp(
        "query",
        "SELECT count(*) AS bodies, sum((payload->>'totalRegistros')::INT) > 0 AS totals "
        "FROM raw.payload_json",
        "-f",
        "json",
    )
    assert result.code == 0, result.output
    with duckdb.connect(str(archive), read_only=True) as conn:
        bodies = conn.execute("SELECT count(*) FROM raw.payloads").fetchone()[0]
    assert json.loads(result.stdout) == [{"bodies": bodies, "totals": True}]


WRITES = {
    "drop": "DROP TABLE raw.payloads",
    "insert": "INSERT INTO meta.pipeline_metrics VALUES (NULL, 'x', NULL, 'm', 1, now())",
    "delete": "DELETE FROM raw.api_requests",
    "attach": "ATTACH '{tmp}/other.duckdb' AS other",
    "copy to": "COPY raw.api_requests TO '{tmp}/leak.csv'",
    "copy query to": "COPY (SELECT * FROM raw.payloads) TO '{tmp}/leak.parquet'",
    "export": "EXPORT DATABASE '{tmp}/export'",
    "create": "CREATE TABLE main.t AS SELECT 1",
    "set": "SET enable_external_access = true",
    "install": "INSTALL httpfs",
    "checkpoint": "CHECKPOINT",
    "explain analyze insert": "EXPLAIN ANALYZE INSERT INTO main.t VALUES (1)",
    "select then drop": "SELECT 1; DROP TABLE raw.payloads",
    "write through query()": "SELECT * FROM query('DROP TABLE raw.payloads')",
    "read a file outside": "SELECT * FROM read_text('/etc/hostname')",
    "read a file in another directory": "SELECT * FROM read_csv('{tmp}/leak.csv')",
}


@pytest.mark.parametrize("case", WRITES, ids=list(WRITES))
def test_query_cannot_modify_data_or_touch_files(
    pncp, archive: Path, tmp_path: Path, case: str
) -> None:
    before = _expected(archive)
    tables_before = _tables(archive)
    result = pncp("query", WRITES[case].replace("{tmp}", str(tmp_path)))
    assert result.code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    assert _expected(archive) == before
    assert _tables(archive) == tables_before
    assert list(tmp_path.iterdir()) == []


def _tables(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(
            "SELECT schema_name, table_name, estimated_size FROM duckdb_tables() ORDER BY ALL"
        ).fetchall()


@pytest.mark.parametrize(
    ("sql", "allowed"),
    [
        ("SELECT 1", True),
        ("FROM raw.api_requests", True),
        ("WITH t AS (SELECT 1) SELECT * FROM t", True),
        ("DESCRIBE raw.api_requests", True),
        ("SHOW TABLES", True),
        ("EXPLAIN SELECT 1", True),
        ("EXPLAIN ANALYZE DELETE FROM t", False),
        ("PRAGMA table_info('t')", False),
        ("CALL pragma_version()", False),
        ("LOAD httpfs", False),
        ("USE memory", False),
        ("BEGIN", False),
        ("VACUUM", False),
        ("UPDATE t SET a = 1", False),
    ],
)
def test_only_single_reads_pass_the_statement_check(sql: str, allowed: bool) -> None:
    if allowed:
        assert read_only_statement(sql)
    else:
        with pytest.raises(UnsafeQueryError):
            read_only_statement(sql)


def test_dump_catalog_lists_every_table_with_types_and_source_descriptions(
    pncp, archive: Path
) -> None:
    result = pncp("dump-catalog")
    assert result.code == 0, result.output
    text = result.stdout
    for table in ("raw.api_requests", "raw.payloads", "meta.failed_requests"):
        assert f"### {table} (table)" in text
    assert "### raw.payload_json (view)" in text
    assert "| request_id | UUID |" in text
    assert "| payload_sha256 | VARCHAR |" in text
    manifest = json.loads(Path(get_dbt_project().manifest_path).read_text())
    described = next(
        s
        for s in manifest["sources"].values()
        if s["schema"] == "raw" and s["identifier"] == "api_requests"
    )
    assert " ".join(described["source_description"].split()) in text


@pytest.mark.slow
def test_dump_catalog_carries_dbt_model_and_column_descriptions(
    pncp, transformed: dict, tmp_path: Path
) -> None:
    assert transformed["result"].code == 0, transformed["result"].output
    target = tmp_path / "catalog.json"
    result = pncp("dump-catalog", "--format", "json", "-o", str(target), env=transformed["env"])
    assert result.code == 0, result.output
    tables = {(t["schema"], t["name"]): t for t in json.loads(target.read_text())}
    manifest = json.loads(Path(get_dbt_project().manifest_path).read_text())
    models = [  # PNCP's: the run built them (the shop's models are another capability's)
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model"
        and "pncp" in n["fqn"]
        and n.get("description")
        and n["columns"]
    ]
    assert models
    for model in models:
        table = tables[(model["schema"], model.get("alias") or model["name"])]
        assert table["description"] == model["description"].strip()
        columns = {c["name"]: c for c in table["columns"]}
        for name, column in model["columns"].items():
            if column.get("description") and name in columns:
                assert columns[name]["description"] == column["description"].strip()
                assert columns[name]["type"]


def test_recovery_status_reports_complete_failed_and_not_extracted(
    pncp, failed_archive: Path
) -> None:
    result = pncp("recovery-status", "2024-07", "-e", "contratos", "--format", "json")
    assert result.code == 0, result.output
    status = json.loads(result.stdout)
    days = {d["day"]: d for d in status["endpoint_days"]}
    assert len(days) == 31
    assert days["2024-07-01"]["status"] == "complete"
    assert days["2024-07-01"]["missing_pages"] == 0
    failed = days["2024-07-02"]
    assert (failed["status"], failed["failed"], failed["archived_pages"]) == ("failed", 1, 0)
    assert failed["missing_pages"] == 1
    assert days["2024-07-03"]["status"] == "not extracted"
    assert status["summary"] == {
        "complete": 1, "incomplete": 0, "failed": 1, "not extracted": 29,
    }  # fmt: skip

    table = pncp("recovery-status", "2024-07", "-e", "contratos", "--problems")
    assert "2024-07-02 | contratos | failed" in table.stdout
    assert "2024-07-01 |" not in table.stdout
    assert table.stdout.splitlines()[-1] == "fix: pncp retry-failed --month 2024-07"
