"""The query sandbox reads the warehouse and the registered side stores, nothing else."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from project.lib import query, stores


@pytest.fixture(autouse=True)
def landing_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry holding one store, `landing/` beside the warehouse."""
    monkeypatch.setattr(stores, "_registry", {})
    stores.register_store(
        stores.SideStore("demo_landing", lambda warehouse: warehouse.resolve().parent / "landing")
    )


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "warehouse.duckdb"
    path.parent.mkdir()
    duckdb.connect(str(path)).close()
    for directory in (path.parent / "landing", tmp_path / "elsewhere"):
        directory.mkdir()
        (directory / "orders.csv").write_text("id,amount\n1,10\n")
    return path


def _read_csv(warehouse: Path, csv: Path) -> list[tuple]:
    with query.sandboxed_reader(warehouse, wait_s=5) as conn:
        return conn.execute(f"SELECT * FROM read_csv('{csv}')").fetchall()


def test_a_registered_store_is_readable(warehouse: Path) -> None:
    assert _read_csv(warehouse, warehouse.parent / "landing" / "orders.csv") == [(1, 10)]


def test_a_directory_no_capability_registered_is_not(warehouse: Path, tmp_path: Path) -> None:
    with pytest.raises(duckdb.PermissionException):
        _read_csv(warehouse, tmp_path / "elsewhere" / "orders.csv")
