"""OpenLineage run events of real runs, and the lineage export: events validate against the
vendored spec and parse back into openlineage-python's classes; an OpenLineage HTTP
endpoint receives them when configured; no credential reaches events or export."""

from __future__ import annotations

import http.server
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import pytest

from project.defs import sales
from project.settings import get_settings
from tests.conftest import with_password

sys.path.insert(0, str(Path(__file__).parents[1] / "lineage"))
import openlineage_spec

SECRET = "Sekr3t-lineage-pw"
API_KEY = "ol-api-key-0123456789"


@pytest.fixture(autouse=True)
def _no_openlineage_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The client writes its aliases of OPENLINEAGE_URL into os.environ: drop them after."""
    import os

    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    yield
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
        del os.environ[name]


@pytest.fixture
def conf_copy(catalog_conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SALES_DATA_DIR", str(tmp_path / "sales"))
    return catalog_conf


def run_sales(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from project.definitions import defs

    definitions = defs()
    keys = dg.AssetSelection.from_string(sales.SELECTION).resolve(definitions.resolve_asset_graph())
    return definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=list(keys), raise_on_error=False
    )


def events_of(run_id: str) -> list[dict]:
    return openlineage_spec.read_events(get_settings().data_path / "lineage" / "events" / run_id)


def test_a_run_writes_start_and_complete_per_asset_that_validate_against_the_spec(
    conf_copy: Path, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    result = run_sales(instance)
    assert result.success
    events = events_of(result.run_id)
    for event in events:
        openlineage_spec.validate(event)
        openlineage_spec.parse(event)
    by_job: dict[str, list[dict]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)
    assert set(by_job) == {
        "sales/orders_clean",
        "sales/orders_rejected",
        "sales/customers_clean",
        "sales/customer_summary",
        "sales/customer_report",
        # the catalog's quality rules of two datasets, each a check step of its own
        "sales__orders_clean__quality",
        "sales__customer_summary__quality",
    }
    for job_events in by_job.values():
        assert [e["eventType"] for e in job_events] == ["START", "COMPLETE"]
        assert len({e["run"]["runId"] for e in job_events}) == 1
        assert job_events[0]["eventTime"] <= job_events[1]["eventTime"]
        assert job_events[1]["run"]["facets"]["parent"]["run"]["runId"] == result.run_id

    complete = by_job["sales/orders_clean"][1]
    inputs = {(i["namespace"], i["name"]) for i in complete["inputs"]}
    samples = Path(__file__).parents[2] / "data" / "samples" / "sales"
    assert inputs == {
        ("file", str((samples / "orders.csv").resolve())),
        ("file", str((samples / "customers.jsonl").resolve())),
    }
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == (
        "file",
        str((tmp_path / "sales" / "clean" / "orders.parquet").resolve()),
    )
    assert output["facets"]["dataQualityMetrics"]["rowCount"] == 296
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 296
    # a catalog node: its lineage is at dataset level, over the inputs' columns when known
    summary = by_job["sales/customer_summary"][1]["outputs"][0]
    assert summary["facets"]["symlinks"]["identifiers"][0]["name"] == "sales/customer_summary"


def test_inventory_events_carry_schemas_and_its_quality_rules_as_assertions(
    conf_copy: Path, tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The YAML-declared inventory pipeline: its catalog outputs' events have a schema facet
    (saved Arrow types), and each catalog dataset's quality rules, evaluated in a check step
    of their own, reach OpenLineage as a run of that step whose input carries
    dataQualityAssertions: the shipped sample fails the `warn` rule on_hand_not_negative."""
    from project.definitions import defs

    monkeypatch.setenv("INVENTORY_DATA_DIR", str(tmp_path / "inventory"))
    definitions = defs()
    keys = dg.AssetSelection.from_string("group:inventory").resolve(
        definitions.resolve_asset_graph()
    )
    result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=list(keys), raise_on_error=False
    )
    assert result.success
    events = events_of(result.run_id)
    for event in events:
        openlineage_spec.validate(event)
        openlineage_spec.parse(event)
    by_job: dict[str, list[dict]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)

    levels = by_job["inventory/stock_levels"][1]["outputs"][0]
    fields = {f["name"]: f.get("type") for f in levels["facets"]["schema"]["fields"]}
    assert fields["on_hand"] == "int64"
    assert fields["sku"] == "large_string"
    assert (levels["namespace"], levels["name"]) == (
        "file",
        str((tmp_path / "inventory" / "marts" / "stock_levels.parquet").resolve()),
    )

    start, complete = by_job["inventory__stock_levels__quality"]
    assert [start["eventType"], complete["eventType"]] == ["START", "COMPLETE"]
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert complete["job"]["facets"]["jobType"]["jobType"] == "ASSET_CHECK"
    assert complete["run"]["facets"]["parent"]["run"]["runId"] == result.run_id
    assert complete["outputs"] == []
    [read] = complete["inputs"]
    assert (read["namespace"], read["name"]) == (levels["namespace"], levels["name"])
    assert read["facets"]["symlinks"]["identifiers"][0]["name"] == "inventory/stock_levels"
    assert read["facets"]["schema"]["fields"] == levels["facets"]["schema"]["fields"]
    assertions = {
        a["assertion"]: a for a in read["inputFacets"]["dataQualityAssertions"]["assertions"]
    }
    assert assertions["on_hand_not_negative"] | {"params": {}} == {
        "params": {},
        "assertion": "on_hand_not_negative",
        "name": "on_hand_not_negative",
        "success": False,
        "column": "on_hand",
        "severity": "warn",
        "description": "range rule",
    }
    assert assertions["completeness_name"]["success"] is True
    assert "dataQualityAssertions" not in start["inputs"][0].get("inputFacets", {})
    # every catalog dataset with rules has its check run: what Dagster evaluated, no more
    evaluated = {
        (e.asset_key.to_user_string(), e.check_name, e.passed)
        for e in result.get_asset_check_evaluations()
    }
    sent = {
        (
            e["inputs"][0]["facets"]["symlinks"]["identifiers"][0]["name"],
            a["assertion"],
            a["success"],
        )
        for e in events
        if e["eventType"] == "COMPLETE"
        and "dataQualityAssertions" in e["inputs"][0].get("inputFacets", {})
        for a in e["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    }
    assert sent == evaluated


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict, dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list]]:
    _Receiver.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Receiver.received
    finally:
        server.shutdown()
        server.server_close()


def test_events_go_to_the_openlineage_endpoint_when_its_url_is_set(
    conf_copy: Path,
    instance: dg.DagsterInstance,
    receiver: tuple[str, list],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, received = receiver
    monkeypatch.setenv("OPENLINEAGE_URL", url)
    monkeypatch.setenv("OPENLINEAGE_API_KEY", API_KEY)
    result = run_sales(instance)
    assert result.success
    assert len(received) == 14  # five assets and two check steps, START and COMPLETE each
    for path, headers, event in received:
        assert path == "/api/v1/lineage"
        assert headers["Authorization"] == f"Bearer {API_KEY}"
        openlineage_spec.validate(event)
    assert not events_of(result.run_id), "no file when an endpoint is configured"
    logs = [json.dumps(str(e)) for e in instance.all_logs(result.run_id)]
    assert not [line for line in logs if API_KEY in line]


def test_an_unreachable_endpoint_is_a_warning_not_a_failed_run(
    conf_copy: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Configured through the client's nested variables, which (unlike OPENLINEAGE_URL, with
    which the client ignores them) set its timeout and retries: without retries a down
    endpoint costs each step milliseconds, not the default ~9 s of backoff."""
    for name, value in {
        "TYPE": "http",
        "URL": "http://127.0.0.1:9",
        "TIMEOUT": "1",
        "RETRY__TOTAL": "0",
        "AUTH__TYPE": "api_key",
        "AUTH__APIKEY": API_KEY,
    }.items():
        monkeypatch.setenv(f"OPENLINEAGE__TRANSPORT__{name}", value)
    result = run_sales(instance)
    assert result.success
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if "OpenLineage" in (e.user_message or "")
    ]
    assert warnings
    assert all("event not sent (ConnectionError" in w for w in warnings), warnings
    assert not [w for w in warnings if API_KEY in w]


@pytest.mark.postgres
@pytest.mark.mysql
def test_no_credential_in_events_or_export(
    conf_copy: Path,
    tmp_path: Path,
    instance: dg.DagsterInstance,
    postgres_database: str,
    mysql_database: dict,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """CATALOG_ENV=services with a password in the PostgreSQL URL: the tables are named by
    host, port, database, schema and table, and the password is nowhere."""
    monkeypatch.setenv("CATALOG_ENV", "services")
    monkeypatch.setenv("SALES_PG_URL", with_password(postgres_database, SECRET))
    mysql = f"mysql://root@{mysql_database['host']}:3306/{mysql_database['database']}"
    monkeypatch.setenv("SALES_MYSQL_URL", mysql)
    result = run_sales(instance)
    assert result.success
    events = events_of(result.run_id)
    outputs = {
        e["job"]["name"]: (e["outputs"][0]["namespace"], e["outputs"][0]["name"])
        for e in events
        if e["outputs"]
    }
    checked = {
        e["job"]["name"]: (e["inputs"][0]["namespace"], e["inputs"][0]["name"])
        for e in events
        if not e["outputs"]
    }
    # a check step reads the table its asset wrote, named the same way
    assert checked["sales__orders_clean__quality"] == outputs["sales/orders_clean"]
    database = urlsplit(postgres_database).path.lstrip("/")
    assert outputs["sales/orders_clean"] == (
        "postgres://127.0.0.1:5432",
        f"{database}.public.sales_orders_clean",
    )
    assert outputs["sales/customers_clean"] == (
        "mysql://127.0.0.1:3306",
        f"{mysql_database['database']}.sales_customers_clean",
    )
    for event in events:
        openlineage_spec.validate(event)

    from project.definitions import defs
    from project.defs.ops.lineage import CODE_LOCATION, describe_assets
    from project.lib.lineage import export

    path = export.write(
        export.document(CODE_LOCATION, describe_assets(defs(), instance)), tmp_path / "l.json"
    )
    texts = [path.read_text()] + [
        p.read_text() for p in (get_settings().data_path / "lineage").rglob("*.jsonl")
    ]
    assert texts
    assert all(SECRET not in t for t in texts)
    assert "sales_orders_clean" in texts[0]


def with_what_their_tests_read(graph: Any, keys: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """`keys` (dbt models) plus every model or seed their dbt tests read, with its dbt
    ancestors, until none is missing: `dbt build` runs a selected model's tests, and a
    `relationships` test reading an unbuilt table (a dimension, a seed) is an error."""
    from project.resources.dbt import get_dbt_project

    nodes = json.loads(get_dbt_project().manifest_path.read_text())["nodes"]
    dbt = dg.AssetSelection.from_string('kind:"dbt"')
    by_name = {k.path[-1]: k for k in dbt.resolve(graph)}
    tests = [
        {nodes[p]["name"] for p in n["depends_on"]["nodes"] if p in nodes}
        for n in nodes.values()
        if n["resource_type"] == "test"
    ]
    while True:
        names = {k.path[-1] for k in keys}
        missing = {by_name[n] for read in tests if read & names for n in read - names}
        if not missing:
            return keys
        keys = keys | (dg.AssetSelection.assets(*missing).upstream() & dbt).resolve(graph)


@pytest.mark.slow
def test_a_dbt_mart_has_column_types_row_counts_and_column_lineage(
    simulator_env: dict, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    """Two archived days of contracts, then the contracts chain up to `contratos_mes` (with
    the dimensions and seeds its tests read): the build succeeds, the mart's materialization
    carries warehouse types, a row count and column lineage, the events carry them as
    facets, and the export has the mart's column lineage. The lineage cached for the next
    build is the lineage sqlglot builds."""
    from datetime import date

    from project.definitions import defs
    from project.defs.ops.lineage import CODE_LOCATION, describe_assets
    from project.lib import warehouse
    from project.lib.lineage import export
    from project.lib.pncp.client import ClientSettings
    from project.lib.pncp.endpoints import ENDPOINTS
    from project.lib.pncp.runner import run_endpoint_days

    settings = get_settings()
    client = ClientSettings(base_url=simulator_env["env"]["PNCP_BASE_URL"], rate_limit_per_s=0)
    with warehouse.connection(warehouse.target_from(settings)) as conn:
        work = [(ENDPOINTS[e], date(2024, 7, d)) for e in ("contratos",) for d in (1, 2)]
        run_endpoint_days(conn, client, work)
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    mart = dg.AssetKey.from_user_string("pncp/marts/contratos_mes")
    chain = dg.AssetSelection.from_string(
        'key:"pncp/marts/contratos_mes" or (+key:"pncp/marts/contratos_mes" and kind:"dbt")'
    ).resolve(graph)
    keys = with_what_their_tests_read(graph, chain)
    assert {"pncp/intermediate/dim_pncp__orgaos", "pncp/reference/pncp_modalidades"} <= {
        k.to_user_string() for k in keys
    }
    result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        partition_key="2024-07-01",
        asset_selection=list(keys),
        raise_on_error=False,
    )
    assert result.success, [
        e.step_failure_data.error.message for e in result.get_step_failure_events()
    ]
    checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert checks
    assert [c.check_name for c in checks if not c.passed] == []
    materialized = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }
    assert set(materialized) == {k.to_user_string() for k in keys}
    mart_metadata = materialized["pncp/marts/contratos_mes"]
    types = {c.name: c.type for c in mart_metadata["dagster/column_schema"].value.columns}
    assert types["numero_controle_pncp"] == "VARCHAR"
    assert mart_metadata["dagster/row_count"].value > 0
    lineage = mart_metadata["dagster/column_lineage"].value.deps_by_column
    upstream = {d.asset_key.to_user_string() for deps in lineage.values() for d in deps}
    assert "pncp/intermediate/int_pncp__contratos_current" in upstream
    # models reading the archive's files get types and counts, no column lineage
    versions = materialized["pncp/staging/stg_pncp__contratos_versions"]
    assert versions["dagster/row_count"].value > 0
    assert "dagster/column_lineage" not in versions

    events = [e for e in events_of(result.run_id) if e["job"]["name"] == mart.to_user_string()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        openlineage_spec.validate(event)
        openlineage_spec.parse(event)
    facets = events[1]["outputs"][0]["facets"]
    assert facets["columnLineage"]["fields"]["numero_controle_pncp"]["inputFields"]
    assert facets["schema"]["fields"]

    doc = export.document(CODE_LOCATION, describe_assets(definitions, instance))
    by_asset = {t["asset"]: t for t in doc["transformations"]}
    assert by_asset["pncp/marts/contratos_mes"]["column_lineage"]["level"] == "column"
    assert {d["asset"] for d in doc["datasets"]} == {
        k.to_user_string() for k in graph.get_all_asset_keys()
    }

    # The same invocation's metadata again, once with an empty cache (sqlglot builds every
    # model's lineage) and once from that cache: both equal what the run materialized.
    from project.defs.pncp.transformation import translator
    from project.resources.dbt import get_dbt_project, warehouse_metadata

    [target] = Path(get_dbt_project().project_dir, "target").glob(
        f"pncp_dbt_models-{result.run_id[:7]}-*"
    )
    invocation = SimpleNamespace(
        manifest=json.loads((target / "manifest.json").read_text()),
        dagster_dbt_translator=translator,
        target_path=target,
        project=get_dbt_project(),
    )
    nodes = invocation.manifest["nodes"]
    asset_of = {
        uid: translator.get_asset_key(props).to_user_string()
        for uid, props in nodes.items()
        if props["resource_type"] in ("model", "seed")
    }
    built = [
        SimpleNamespace(metadata={"unique_id": u}) for u, a in asset_of.items() if a in materialized
    ]
    runs = []
    with warehouse.connection(warehouse.target_from(settings), read_only=True) as conn:
        for _ in range(2):
            stats: dict = {}
            found = warehouse_metadata(
                invocation, built, conn, stats=stats, cache_path=tmp_path / "cache.json"
            )
            runs.append((stats, found))
    (first, built_now), (second, cached) = runs
    assert "cached" not in first
    assert set(second["cached"]) == set(first["built"])
    assert set(first["skipped"]) == {
        "stg_pncp__atas_versions",
        "stg_pncp__contratacoes_versions",
        "stg_pncp__contratos_versions",
    }
    assert len(built_now) == len(keys)
    for uid, metadata in built_now.items():
        expected = materialized[asset_of[uid]].get("dagster/column_lineage")
        assert cached[uid].get("dagster/column_lineage") == metadata.get("dagster/column_lineage")
        assert metadata.get("dagster/column_lineage") == (expected.value if expected else None)
