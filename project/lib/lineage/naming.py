"""OpenLineage dataset names for where this platform keeps data, never with a credential.

Following the naming spec (https://openlineage.io/docs/spec/naming) and the client's own
`openlineage.client.naming.dataset` classes where they exist:

| storage | namespace | name |
| --- | --- | --- |
| local file or folder | `file` | absolute path |
| PostgreSQL table | `postgres://host:port` | `database.schema.table` |
| MySQL/MariaDB table | `mysql://host:port` | `database.table` |
| DuckDB file (no spec entry) | `duckdb://<absolute path of the file>` | `database.schema.table` |
| DuckLake (no spec entry) | `ducklake://<catalog host:port/db>/<schema>` | `db.schema.table` |
| an asset with no known place | `dagster://<code location>` | the asset key |

Host, port and database come from a connection URL with its user and password dropped;
a URL that cannot be resolved (its variable unset) gives `<scheme>://unresolved`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from openlineage.client.naming.dataset import LocalFileSystem, MySQL, Postgres

from project.lib.lineage.model import DatasetName

_DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}


def file_dataset(path: str | Path) -> DatasetName:
    naming = LocalFileSystem(path=str(Path(path).resolve()))
    return DatasetName(naming.get_namespace(), naming.get_name())


def asset_dataset(code_location: str, key: str) -> DatasetName:
    return DatasetName(f"dagster://{code_location}", key)


def _server(url: str, kind: str) -> tuple[str, int, str]:
    """(host, port, database) of a connection URL: what identifies it, not who connects."""
    parts = urlsplit(url)
    return (
        parts.hostname or "localhost",
        parts.port or _DEFAULT_PORTS[kind],
        parts.path.lstrip("/") or "",
    )


def table_dataset(kind: str, url: str | None, schema: str | None, table: str) -> DatasetName:
    """A PostgreSQL or MySQL table; `url` None when its credentials cannot be resolved."""
    if url is None:
        name = ".".join(p for p in (schema, table) if p)
        return DatasetName(f"{kind}://unresolved", name)
    host, port, database = _server(url, kind)
    if kind == "mysql":
        mysql = MySQL(host=host, port=str(port), database=schema or database, table=table)
        return DatasetName(mysql.get_namespace(), mysql.get_name())
    postgres = Postgres(
        host=host,
        port=str(port),
        database=database or "postgres",
        schema=schema or "public",
        table=table,
    )
    return DatasetName(postgres.get_namespace(), postgres.get_name())


def warehouse_namespace(
    backend: str, path: Path, catalog_label: str | None = None, catalog_schema: str | None = None
) -> str:
    """The warehouse's namespace: its DuckDB file, or its DuckLake catalog (host:port/db,
    from `project.lib.warehouse.catalog_label`, which never holds a password)."""
    if backend == "ducklake":
        return f"ducklake://{catalog_label or 'unresolved'}/{catalog_schema or 'ducklake'}"
    return f"duckdb://{Path(path).resolve()}"


def catalog_dataset(dataset: Any) -> DatasetName:
    """A catalog entry's place (`project.lib.datasets`), read from its fields by duck
    typing so that any dataset type with a `filepath`, `path` or table fields is named."""
    for field in ("filepath", "path"):
        value = getattr(dataset, field, None)
        if value is not None:
            return file_dataset(value)
    concrete = getattr(dataset, "concrete", None)
    if callable(concrete):  # pandas.SQLTableDataset: PostgreSQL or MySQL by its URL
        try:
            dataset = concrete()
        except Exception:
            return table_dataset("sql", None, None, getattr(dataset, "table_name", dataset.name))
    table = getattr(dataset, "table_name", None)
    if table is None:
        return DatasetName("catalog://unknown", dataset.name)
    engine = getattr(dataset, "engine", "duckdb")
    schema = getattr(dataset, "db_schema", None) or getattr(dataset, "default_schema", None)
    if engine == "duckdb":
        database = getattr(dataset, "database", None)
        if getattr(dataset, "credentials", None):  # a DuckLake table
            url = _resolved(dataset, "catalog")
            label = None
            if url:
                host, port, db = _server(url, "postgres")
                label = f"{host}:{port}/{db}"
            return DatasetName(f"ducklake://{label or 'unresolved'}", f"{schema or 'main'}.{table}")
        stem = Path(database).stem if database else "memory"
        return DatasetName(
            f"duckdb://{Path(database).resolve() if database else ':memory:'}",
            f"{stem}.{schema or 'main'}.{table}",
        )
    url = _resolved(dataset, "con") or _resolved(dataset, "url")
    if engine == "mysql":
        return table_dataset("mysql", url, getattr(dataset, "db_schema", None), table)
    return table_dataset("postgres", url, schema, table)


def _resolved(dataset: Any, key: str) -> str | None:
    """One credential value of a dataset, or None: it is read only to take host and port."""
    try:
        value = dataset.credential_values().get(key)
    except Exception:
        return None
    return str(value) if value and "://" in str(value) else None
