"""Operational databases as sources: `sql.DatabaseSource`, declared in the catalog.

```yaml
crm.source:
  type: sql.DatabaseSource
  credentials: crm_db            # credentials.yml: crm_db: {con: postgresql://...}
  schema: public                 # the source's schema (MySQL: its database)
  target_schema: crm             # the warehouse schema the tables land in (default: crm)
  detect_deletes_every_hours: 0  # 0: compare key sets on every run
  refresh_cron: "*/30 * * * *"   # the automation sensor copies changes on this cron
  tables:
    customers: {mode: scd2, primary_key: customer_id, cursor: updated_at, lag: 600}
    orders: {mode: merge, primary_key: order_id, cursor: updated_at, lag: 300}
    order_events: {mode: append, primary_key: event_id, cursor: event_id}
    countries: {mode: snapshot, primary_key: code}
```

A source is not a dataset to load whole: each table becomes an asset that copies what
changed since the last run into the warehouse (`project.lib.cdc`). PostgreSQL and
MySQL/MariaDB are read with DuckDB's scanners, credentials passed as a DuckDB secret as for
the table datasets; a SQLite file (`database: path`, no credentials) needs neither.

Modes: `append` (new rows by cursor, never updated), `merge` (upsert by key, deletes
applied), `scd2` (a version per change: `_valid_from`, `_valid_to`, `_is_current`),
`snapshot` (no usable cursor: the whole table compared by key and row with the last load).
A cursor is a timestamp or an increasing number; `lag` (seconds, or cursor units for a
number) re-reads that far behind the last position, so rows committed late with an older
cursor value are still caught. Keys are one column: a compound key under SCD2 is the
known way to retire unrelated rows (dlt#4244); use a surrogate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import duckdb
import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from project.lib.datasets.base import Dataset, DatasetError, register
from project.lib.datasets.databases import (
    attach_url,
    connection_url,
    kind_of,
    scrub,
    url_secrets,
)
from project.lib.extensions import connection_config
from project.lib.warehouse import quote_literal

SOURCE_ALIAS = "src"
Mode = Literal["append", "merge", "scd2", "snapshot"]


class SourceTable(BaseModel):
    """How one table is copied."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode
    primary_key: str
    cursor: str | None = None
    lag: float = Field(0, ge=0)

    @model_validator(mode="after")
    def _cursor_fits_mode(self) -> SourceTable:
        if self.mode == "snapshot" and self.cursor:
            raise ValueError("a snapshot table has no cursor (it is compared whole)")
        if self.mode != "snapshot" and not self.cursor:
            raise ValueError(f"mode {self.mode} needs a `cursor` column")
        return self


@register("sql.DatabaseSource")
class DatabaseSource(Dataset):
    """A PostgreSQL, MySQL/MariaDB or SQLite database whose tables are copied incrementally."""

    credentials: str | None = None
    # A SQLite file instead of credentials (relative to the project root).
    database: str | None = None
    db_schema: str | None = Field(default=None, alias="schema")
    target_schema: str | None = None
    detect_deletes_every_hours: float = Field(0, ge=0)
    # Ours: when the automation sensor copies the changes (a cron in the platform's zone).
    refresh_cron: str | None = None
    tables: dict[str, SourceTable]

    @model_validator(mode="after")
    def _one_connection(self) -> DatabaseSource:
        if (self.credentials is None) == (self.database is None):
            raise ValueError("give `credentials` (PostgreSQL, MySQL) or `database` (SQLite)")
        if not self.tables:
            raise ValueError("declare at least one table under `tables`")
        return self

    @property
    def kind(self) -> str:
        return "sqlite" if self.database else kind_of(self.url())

    def url(self) -> str:
        return connection_url(self, "source")

    def secrets(self) -> list[str]:
        if self.database:
            return []
        try:
            return url_secrets(self.url())
        except DatasetError:
            return []

    @property
    def warehouse_schema(self) -> str:
        """Where its tables land: `target_schema`, else the entry's namespace (`crm`)."""
        return self.target_schema or self.name.split(".", 1)[0].replace("-", "_")

    @property
    def schema_name(self) -> str:
        if self.db_schema:
            return self.db_schema
        if self.database:
            return "main"
        if self.kind == "mysql":
            return urlsplit(self.url()).path.lstrip("/")
        return "public"

    def location(self) -> str:
        if self.database:
            return f"sqlite:{self.database}"
        try:
            parts = urlsplit(self.url())
        except DatasetError:
            return f"{self.name} (credentials {self.credentials!r})"
        return f"{self.kind}://{parts.hostname}:{parts.port or ''}{parts.path}"

    def attach(self, conn: duckdb.DuckDBPyConnection, alias: str = SOURCE_ALIAS) -> None:
        """Attach the source READ_ONLY as `alias`: a copy can never write to it."""
        try:
            if self.database:
                if not Path(self.database).exists():
                    raise DatasetError(f"source {self.name!r}: no SQLite file {self.database}")
                conn.execute(
                    f"ATTACH '{quote_literal(self.database)}' AS {alias} (TYPE sqlite, READ_ONLY)"
                )
                return
            attach_url(conn, self.url(), alias, read_only=True)
            if self.kind == "mysql":  # WHERE cursor >= x is sent to MySQL, not filtered here
                conn.execute("SET mysql_experimental_filter_pushdown = true")
        except duckdb.Error as exc:
            raise DatasetError(
                f"source {self.name!r}: cannot connect to {self.location()}: "
                f"{scrub(str(exc), self.secrets())}"
            ) from None

    @contextmanager
    def attached(self) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = duckdb.connect(config=connection_config())
        try:
            conn.execute("SET TimeZone = 'UTC'")
            self.attach(conn)
            yield conn
        finally:
            conn.close()

    def exists(self, partition: str | None = None) -> bool:
        try:
            with self.attached():
                return True
        except DatasetError:
            return False

    def load(self, partitions=None) -> pd.DataFrame:
        raise self._not_a_dataset()

    def load_arrow(self, partitions=None) -> pa.Table:
        raise self._not_a_dataset()

    def save(self, data, partition=None):
        raise self._not_a_dataset()

    def _not_a_dataset(self) -> DatasetError:
        return DatasetError(
            f"source {self.name!r} is a database source: its tables are copied by their "
            f"assets into warehouse schema {self.warehouse_schema!r}, not loaded whole"
        )
