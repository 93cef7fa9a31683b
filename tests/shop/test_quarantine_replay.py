"""Replaying the quarantine after a fix: `pncp quarantine replay --rule R` records a request,
the next silver run evaluates the rows of R again with the rules of the day; those that
pass appear in silver exactly once and become `replayed`, the others stay; replaying
again changes nothing. Also `pncp quarantine list`.

On a copy of the dbt project, whose YAML the test changes between runs: a status value
added to the allowed set, and a renamed column mapped (`landed_as: [price]`). Three dbt
builds: before the fix, after it with the replays, after replaying again.
"""

import shutil
from pathlib import Path

import duckdb
import pytest

import project.cli.quarantine_cmds  # noqa: F401  (registers `pncp quarantine` on the app)
from project.cli import app
from project.settings import get_settings
from tests.shop.conftest import Dbt, copy_project, item, land, order

pytestmark = pytest.mark.xdist_group("shop_dbt")

ALLOWED = "values: [placed, paid, shipped, delivered, cancelled]"
UNMAPPED = "unit_price: {type: 'decimal(12,2)', landed_as: []}"


def pncp(*args: str) -> int:
    return app.main(list(args))


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("replay")
    project = copy_project(base / "dbt_project")
    dbt = Dbt(base / "warehouse.duckdb", base / "target", project)
    with duckdb.connect(str(dbt.warehouse)) as conn:
        land(
            conn,
            "orders",
            1,
            [order(1), order(2, status="returned"), order(3, status="bogus")],
        )
        land(conn, "order_items", 2, [item(1), item(2, unit_price=None, price="7.25")])
    dbt.build()
    snapshots = {"before": _snapshot(dbt, base / "before.duckdb")}
    schema = project / "models" / "silver" / "shop" / "_shop__silver.yml"
    text = schema.read_text()
    assert ALLOWED in text
    assert UNMAPPED in text
    schema.write_text(
        text.replace(ALLOWED, ALLOWED.replace("]", ", returned]")).replace(
            UNMAPPED, UNMAPPED.replace("[]", "[price]")
        )
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_PATH", str(dbt.warehouse))
        get_settings.cache_clear()
        codes = [
            pncp("quarantine", "replay", "--rule", "status_allowed", "--source", "orders"),
            pncp("quarantine", "replay", "--rule", "unit_price_not_null"),
        ]
        dbt.build()
        snapshots["replayed"] = _snapshot(dbt, base / "replayed.duckdb")
        codes += [
            pncp("quarantine", "replay", "--rule", "status_allowed", "--source", "orders"),
            pncp("quarantine", "replay", "--rule", "unit_price_not_null"),
        ]
        dbt.build()
        snapshots["again"] = _snapshot(dbt, base / "again.duckdb")
    get_settings.cache_clear()
    return {"codes": codes, "warehouse": dbt.warehouse, **snapshots}


def _snapshot(dbt: Dbt, to: Path) -> Path:
    shutil.copy(dbt.warehouse, to)
    return to


def _query(path: Path, sql: str, *params: object) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql, list(params)).fetchall()


def test_before_the_fix_the_rows_are_quarantined(replays: dict) -> None:
    rows = _query(
        replays["before"],
        "SELECT quarantine_id, rule, status FROM shop_silver.quarantine ORDER BY 1",
    )
    assert rows == [
        ("order_items:2:3", "unit_price_not_null", "quarantined"),
        ("orders:1:2", "status_allowed", "quarantined"),
        ("orders:1:3", "status_allowed", "quarantined"),
    ]


def test_replayed_rows_that_pass_now_appear_in_silver_exactly_once(replays: dict) -> None:
    assert replays["codes"] == [0, 0, 0, 0]
    orders = _query(
        replays["replayed"], "SELECT event_id, status FROM shop_silver.orders ORDER BY 1"
    )
    assert orders == [("oe-1-1", "placed"), ("oe-1-2", "returned")]
    items = _query(
        replays["replayed"], "SELECT event_id, unit_price FROM shop_silver.order_items ORDER BY 1"
    )
    assert [(e, str(p)) for e, p in items] == [("ie-1-1-1", "10.50"), ("ie-1-2-1", "7.25")]


def test_replayed_rows_become_replayed_and_those_still_failing_stay(replays: dict) -> None:
    rows = _query(
        replays["replayed"],
        "SELECT quarantine_id, status, replayed_at IS NOT NULL, reason "
        "FROM shop_silver.quarantine ORDER BY 1",
    )
    assert rows == [
        ("order_items:2:3", "replayed", True, "unit_price is null"),
        ("orders:1:2", "replayed", True,
         "status 'returned' not in allowed values (placed, paid, shipped, delivered, cancelled)"),
        ("orders:1:3", "quarantined", False,
         "status 'bogus' not in allowed values (placed, paid, shipped, delivered, cancelled, "
         "returned)"),
    ]  # fmt: skip
    requests = _query(replays["replayed"], "SELECT status, run_id FROM shop_ops.replay_requests")
    assert [status for status, _ in requests] == ["done", "done"]
    assert all(run_id for _, run_id in requests)


def test_replaying_again_changes_nothing(replays: dict) -> None:
    for table in ("shop_silver.orders", "shop_silver.order_items", "shop_silver.quarantine"):
        sql = f"SELECT * FROM {table} ORDER BY ALL"
        assert _query(replays["again"], sql) == _query(replays["replayed"], sql), table
    statuses = _query(replays["again"], "SELECT status FROM shop_ops.replay_requests")
    assert statuses == [("done",)] * 4


def test_quarantine_list_counts_by_rule_with_samples(
    replays: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("WAREHOUSE_PATH", str(replays["warehouse"]))
    get_settings.cache_clear()
    assert pncp("quarantine", "list") == 0
    listed = capsys.readouterr().out
    assert "order_items | unit_price_not_null |           0 |        1" in listed
    assert "orders      | status_allowed      |           1 |        1" in listed
    assert "orders:1:3  orders/part-00001-000.jsonl:3  status 'bogus' not in" in listed
    assert '"status":"bogus"' in listed
    assert pncp("quarantine", "list", "--source", "payments") == 0
    assert capsys.readouterr().out.strip() == "nothing quarantined for that selection"


def test_replaying_an_unknown_rule_or_source_is_refused(
    replays: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("WAREHOUSE_PATH", str(replays["warehouse"]))
    get_settings.cache_clear()
    assert pncp("quarantine", "replay", "--rule", "no_such_rule") == 2
    assert "no drop rule 'no_such_rule'" in capsys.readouterr().err
    assert pncp("quarantine", "replay", "--rule", "status_allowed", "--source", "nope") == 2
    assert "unknown source 'nope'" in capsys.readouterr().err
    requests = _query(replays["warehouse"], "SELECT count(*) FROM shop_ops.replay_requests")
    assert requests == [(4,)], "nothing recorded"
