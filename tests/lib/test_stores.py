"""The side-store registry: what capabilities register is what backup and query see."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from project.lib import stores


def _beside(*parts: str):
    return lambda warehouse: warehouse.resolve().parent.joinpath(*parts)


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names registered by the test, forgotten afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        stores.unregister_store(name)


def _register(registered: list[str], name: str, path_for) -> stores.SideStore:
    registered.append(name)
    return stores.register_store(stores.SideStore(name, path_for))


def test_a_registered_store_is_found_beside_the_warehouse(
    registered: list[str], tmp_path: Path
) -> None:
    _register(registered, "demo_landing", _beside("landing", "demo"))
    paths = stores.store_paths(tmp_path / "warehouse.duckdb")
    assert paths["demo_landing"] == tmp_path.resolve() / "landing" / "demo"
    assert "demo_landing" in {s.name for s in stores.registered_stores()}


def test_pncp_registers_its_payload_store_when_imported(tmp_path: Path) -> None:
    from project.lib.pncp import payload_store

    paths = stores.store_paths(tmp_path / "warehouse.duckdb")
    assert paths[payload_store.STORE.name] == payload_store.root_beside(
        tmp_path / "warehouse.duckdb"
    )


def test_registering_a_name_again_replaces_it(registered: list[str], tmp_path: Path) -> None:
    _register(registered, "demo_landing", _beside("old"))
    _register(registered, "demo_landing", _beside("new"))
    assert stores.store_paths(tmp_path / "w.duckdb")["demo_landing"].name == "new"


def test_unregistering_forgets_the_store(registered: list[str], tmp_path: Path) -> None:
    _register(registered, "demo_landing", _beside("landing"))
    stores.unregister_store("demo_landing")
    assert "demo_landing" not in stores.store_paths(tmp_path / "w.duckdb")


@pytest.mark.parametrize("name", ["Demo", "demo/landing", "../up", "", "1st"])
def test_a_name_that_is_not_a_plain_directory_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="side store name"):
        stores.SideStore(name, _beside("x"))


def test_a_store_inside_another_is_refused(registered: list[str], tmp_path: Path) -> None:
    _register(registered, "demo_outer", _beside("landing"))
    _register(registered, "demo_inner", _beside("landing", "inner"))
    with pytest.raises(ValueError, match=r"demo_outer .* contains store demo_inner"):
        stores.store_paths(tmp_path / "w.duckdb")


def test_a_store_holding_the_warehouse_itself_is_refused(
    registered: list[str], tmp_path: Path
) -> None:
    _register(registered, "demo_everything", lambda warehouse: warehouse.resolve().parent)
    with pytest.raises(ValueError, match="contains the warehouse"):
        stores.store_paths(tmp_path / "w.duckdb")
