"""A database source's catalog entry is checked when the catalog loads, naming the file,
the line and the field, before any connection is tried."""

from __future__ import annotations

from pathlib import Path

import pytest

from project.lib.datasets import Catalog, CatalogError
from project.lib.datasets.sources import DatabaseSource


def _catalog(tmp_path: Path, entry: str) -> Catalog:
    base = tmp_path / "conf" / "base"
    base.mkdir(parents=True)
    (base / "catalog.yml").write_text("crm.source:\n" + entry)
    (base / "credentials.yml").write_text("crm_db:\n  con: ${oc.env:CRM_URL}\n")
    return Catalog.load(tmp_path / "conf", "base", root=tmp_path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "  type: sql.DatabaseSource\n  credentials: crm_db\n  tables:\n"
            "    countries: {mode: snapshot, primary_key: code, cursor: updated_at}\n",
            "field 'tables.countries': a snapshot table has no cursor",
        ),
        (
            "  type: sql.DatabaseSource\n  credentials: crm_db\n  tables:\n"
            "    orders: {mode: merge, primary_key: order_id}\n",
            "field 'tables.orders': mode merge needs a `cursor` column",
        ),
        (
            "  type: sql.DatabaseSource\n  credentials: crm_db\n  tables:\n"
            "    orders: {mode: upsert, primary_key: order_id, cursor: updated_at}\n",
            "field 'tables.orders.mode': Input should be 'append', 'merge', 'scd2' or 'snapshot'",
        ),
        (
            "  type: sql.DatabaseSource\n  tables:\n"
            "    orders: {mode: merge, primary_key: order_id, cursor: updated_at}\n",
            "give `credentials` (PostgreSQL, MySQL) or `database` (SQLite)",
        ),
        (
            "  type: sql.DatabaseSource\n  credentials: crm_db\n  tables: {}\n",
            "declare at least one table under `tables`",
        ),
    ],
)
def test_a_bad_source_entry_fails_at_load(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(CatalogError) as raised:
        _catalog(tmp_path, entry)
    text = str(raised.value)
    catalog = tmp_path / "conf" / "base" / "catalog.yml"
    # The line of the field at fault (`tables:`), else the entry's.
    line = 1 if "field" not in message else 4
    assert text.startswith(f"{catalog}:{line}: dataset 'crm.source': ")
    assert message in text


def test_a_source_is_not_loaded_whole_and_is_described_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_URL", "postgresql://app:Sekr3t@db.internal:5433/crm")
    catalog = _catalog(
        tmp_path,
        "  type: sql.DatabaseSource\n  credentials: crm_db\n  tables:\n"
        "    orders: {mode: merge, primary_key: order_id, cursor: updated_at}\n",
    )
    source = catalog.get("crm.source")
    assert isinstance(source, DatabaseSource)
    assert source.location() == "postgres://db.internal:5433/crm"
    assert (source.warehouse_schema, source.schema_name) == ("crm", "public")
    assert "Sekr3t" not in str(catalog.describe("crm.source"))
    with pytest.raises(Exception, match="is a database source: its tables are copied"):
        source.load()
