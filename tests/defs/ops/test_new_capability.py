"""A new capability gets the platform's operations without an edit to defs/ops or lib/backup.

The fixture writes a throwaway capability, `acme`, the way a real one is written: a
folder of assets in groups `acme_<layer>`, whose package registers a side store (its
landing files) as PNCP's does. It is loaded beside the real `defs/ops` folder (linked,
not copied) by Dagster's own defs loader, and built by `project.definitions`'
`with_platform`, as the code location is. Nothing in `project` names `acme`.
"""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from project.definitions import with_platform
from project.defs import ops
from project.defs.ops.policy import DAILY_WINDOWS
from project.lib import backup, stores
from project.settings import get_settings

STORE = "acme_landing"

INIT = f'''
"""Acme: a throwaway capability; importing it registers its landing store."""
from project.lib import stores

STORE = stores.register_store(
    stores.SideStore("{STORE}", lambda warehouse: warehouse.resolve().parent / "landing" / "acme")
)
'''

ASSETS = '''
"""Acme's assets: landing files (raw), a staging view, two marts, one of which fails."""
import dagster as dg

from project.lib import warehouse
from project.settings import get_settings

from . import STORE


@dg.asset(key_prefix=["acme", "raw"], group_name="acme_raw")
def orders() -> dg.MaterializeResult:
    path = get_settings().warehouse
    landing = STORE.path_for(path)
    landing.mkdir(parents=True, exist_ok=True)
    # The side-store rule: the file first, then the row naming it.
    (landing / "orders-1.csv").write_text("id,amount\\n1,10\\n2,32\\n")
    with warehouse.connection(path, wait_s=5) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS acme_files (name VARCHAR)")
        conn.execute("INSERT INTO acme_files VALUES ('orders-1.csv')")
    return dg.MaterializeResult(metadata={"records": 2})


@dg.asset(key_prefix=["acme", "staging"], group_name="acme_staging", deps=[orders])
def orders_clean() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 2})


@dg.asset(key_prefix=["acme", "marts"], group_name="acme_marts", deps=[orders_clean])
def revenue() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 1})


@dg.asset(key_prefix=["acme", "marts"], group_name="acme_marts", deps=[orders_clean])
def refunds() -> None:
    raise dg.Failure(description="refunds: the landing file has no refund column")
'''

ORDERS = dg.AssetKey(["acme", "raw", "orders"])
CLEAN = dg.AssetKey(["acme", "staging", "orders_clean"])
REVENUE = dg.AssetKey(["acme", "marts", "revenue"])
REFUNDS = dg.AssetKey(["acme", "marts", "refunds"])


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.Definitions]:
    """A project whose defs folder holds the real `ops` (a link) and the `acme` capability,
    loaded by Dagster's defs loader as `project.definitions` loads the real one."""
    root = tmp_path_factory.mktemp("location")
    name = f"location_{uuid.uuid4().hex[:8]}"
    defs = root / name / "defs"
    (defs / "acme").mkdir(parents=True)
    (root / "dg.toml").write_text(
        f'directory_type = "project"\n[project]\nroot_module = "{name}"\n'
    )
    (root / name / "__init__.py").write_text('"""A code location with one more capability."""\n')
    (defs / "__init__.py").write_text("")
    (defs / "ops").symlink_to(Path(ops.__file__).parent)
    (defs / "acme" / "__init__.py").write_text(textwrap.dedent(INIT))
    (defs / "acme" / "assets.py").write_text(textwrap.dedent(ASSETS))
    sys.path.insert(0, str(root))
    try:
        yield dg.load_from_defs_folder(path_within_project=root)
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]
        stores.unregister_store(STORE)


@pytest.fixture
def location(loaded: dg.Definitions) -> dg.Definitions:
    return with_platform(loaded, get_settings())


def _materialize(location: dg.Definitions, instance: dg.DagsterInstance, *keys: dg.AssetKey):
    return dg.materialize(
        list(location.assets or []), instance=instance, selection=list(keys), raise_on_error=False
    )


def test_its_layers_get_the_layer_policy(location: dg.Definitions) -> None:
    graph = location.resolve_asset_graph()
    labels = {
        key: graph.get(key).automation_condition.get_label()
        if graph.get(key).automation_condition
        else None
        for key in (ORDERS, CLEAN, REVENUE)
    }
    assert labels == {ORDERS: None, CLEAN: "eager", REVENUE: "eager_or_stale"}
    warn, fail = DAILY_WINDOWS
    assert graph.get(REVENUE).freshness_policy == dg.FreshnessPolicy.time_window(
        fail_window=fail, warn_window=warn
    )
    assert graph.get(CLEAN).freshness_policy is None


def test_the_platform_keeps_the_loaded_component_tree(
    loaded: dg.Definitions, location: dg.Definitions
) -> None:
    assert loaded.component_tree is not None
    assert location.component_tree is loaded.component_tree


def test_its_runs_get_metrics_that_reach_the_warehouse(
    location: dg.Definitions, instance: dg.DagsterInstance, warehouse_path: Path
) -> None:
    result = _materialize(location, instance, ORDERS, CLEAN, REVENUE)
    assert result.success
    observations = instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION
    ).records
    measured = {
        r.asset_observation.asset_key
        for r in observations
        if "run_duration_s" in r.asset_observation.metadata
    }
    assert measured == {ORDERS, CLEAN, REVENUE}

    sensor = location.resolve_sensor_def("pipeline_metrics")
    sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    with duckdb.connect(str(warehouse_path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT asset FROM meta.pipeline_metrics "
            "WHERE run_id = ? AND metric = 'run_duration_s' ORDER BY 1",
            [result.run_id],
        ).fetchall()
    assert rows == [("acme/marts/revenue",), ("acme/raw/orders",), ("acme/staging/orders_clean",)]


def test_a_failed_run_of_it_is_alerted_naming_its_asset(
    location: dg.Definitions,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    webhook,
) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook.url)
    get_settings.cache_clear()
    webhook.clear()
    result = _materialize(location, instance, ORDERS, CLEAN, REFUNDS)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)

    sensor = location.resolve_sensor_def("run_failure_alerts")
    sensor(
        dg.build_run_status_sensor_context(
            sensor_name=sensor.name,
            dagster_event=failure.dagster_event,
            dagster_instance=instance,
            dagster_run=run,
        ).for_run_failure()
    )
    (alert,) = webhook.received()
    assert "acme/marts/refunds" in str(alert)
    assert "the landing file has no refund column" in str(alert)


def test_backup_includes_its_store_and_rollback_restores_it(
    location: dg.Definitions, instance: dg.DagsterInstance, warehouse_path: Path, tmp_path: Path
) -> None:
    assert _materialize(location, instance, ORDERS).success
    landing = warehouse_path.parent / "landing" / "acme"
    original = (landing / "orders-1.csv").read_bytes()

    taken = backup.create_backup(warehouse_path, tmp_path / "backups", wait_s=5)
    assert STORE in taken.stores
    assert (taken.path / "stores" / STORE / "orders-1.csv").read_bytes() == original

    (landing / "orders-1.csv").unlink()
    (landing / "orders-2.csv").write_text("written after the backup\n")
    with backup.exclusive(warehouse_path, wait_s=5) as conn:
        backup.restore_locked(conn, taken, warehouse_path)
    assert sorted(p.name for p in landing.iterdir()) == ["orders-1.csv"]
    assert (landing / "orders-1.csv").read_bytes() == original
