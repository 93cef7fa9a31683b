"""The warehouse's catalog: every schema, table and column with its type and documentation.

Types come from the database itself (so the catalog never disagrees with it); the words
come from dbt's manifest, where models, seeds and sources are documented next to their
SQL. A table dbt does not know keeps its DuckDB comment, if any.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

_SYSTEM_SCHEMAS = ("information_schema", "pg_catalog")


@dataclass
class Column:
    name: str
    type: str
    description: str = ""


@dataclass
class Table:
    schema: str
    name: str
    kind: str  # table | view
    description: str = ""
    columns: list[Column] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def read_catalog(conn: duckdb.DuckDBPyConnection) -> list[Table]:
    """Tables and views of the warehouse's own database, ordered by schema and name."""
    tables: dict[tuple[str, str], Table] = {}
    for schema, name, kind, comment in conn.execute(
        """SELECT t.table_schema, t.table_name,
                  CASE WHEN t.table_type = 'VIEW' THEN 'view' ELSE 'table' END,
                  coalesce(dt.comment, dv.comment, '')
           FROM information_schema.tables t
           LEFT JOIN duckdb_tables() dt ON dt.database_name = t.table_catalog
                AND dt.schema_name = t.table_schema AND dt.table_name = t.table_name
           LEFT JOIN duckdb_views() dv ON dv.database_name = t.table_catalog
                AND dv.schema_name = t.table_schema AND dv.view_name = t.table_name
           WHERE t.table_catalog = current_database() AND NOT list_contains(?, t.table_schema)
           ORDER BY 1, 2""",
        [list(_SYSTEM_SCHEMAS)],
    ).fetchall():
        tables[(schema, name)] = Table(schema, name, kind, comment or "")
    for schema, name, column, data_type, comment in conn.execute(
        """SELECT schema_name, table_name, column_name, data_type, coalesce(comment, '')
           FROM duckdb_columns() WHERE database_name = current_database()
           ORDER BY schema_name, table_name, column_index"""
    ).fetchall():
        if (schema, name) in tables:
            tables[(schema, name)].columns.append(Column(column, data_type, comment or ""))
    return list(tables.values())


Descriptions = dict[tuple[str, str], tuple[str, dict[str, str]]]


def dbt_descriptions(manifest_path: Path) -> Descriptions:
    """(schema, relation) -> (description, {column: description}) from a dbt manifest.

    Several sources may name the same relation (one per PNCP endpoint over
    `raw.api_requests`); the relation then takes the source group's description.
    """
    manifest = json.loads(manifest_path.read_text())
    found: Descriptions = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        relation = node.get("alias") or node["name"]
        found[(node["schema"], relation)] = _described(node, node.get("description", ""))
    by_relation: dict[tuple[str, str], list[dict]] = {}
    for source in manifest.get("sources", {}).values():
        relation = source.get("identifier") or source["name"]
        by_relation.setdefault((source["schema"], relation), []).append(source)
    for key, sources in by_relation.items():
        if key in found:
            continue
        first = sources[0]
        text = first.get("description", "") if len(sources) == 1 else ""
        found[key] = _described(first, text or first.get("source_description", ""))
    return found


def _described(node: dict, description: str) -> tuple[str, dict[str, str]]:
    columns = {
        name: column.get("description", "")
        for name, column in node.get("columns", {}).items()
        if column.get("description")
    }
    return description.strip(), columns


def annotate(tables: list[Table], descriptions: Descriptions) -> list[Table]:
    """Fill in descriptions from dbt where the database has none."""
    for table in tables:
        text, columns = descriptions.get((table.schema, table.name), ("", {}))
        table.description = table.description or text
        for column in table.columns:
            column.description = column.description or columns.get(column.name, "").strip()
    return tables


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def to_markdown(tables: list[Table], title: str) -> str:
    schemas = sorted({t.schema for t in tables})
    lines = [
        f"# {title}",
        "",
        f"{len(tables)} tables and views in {len(schemas)} schemas: {', '.join(schemas)}.",
    ]
    current = None
    for table in tables:
        if table.schema != current:
            current = table.schema
            lines += ["", f"## {current}"]
        lines += ["", f"### {table.qualified} ({table.kind})", ""]
        if table.description:
            lines += [" ".join(table.description.split()), ""]
        lines += ["| column | type | description |", "| --- | --- | --- |"]
        lines += [f"| {c.name} | {_cell(c.type)} | {_cell(c.description)} |" for c in table.columns]
    return "\n".join(lines) + "\n"


def to_json(tables: list[Table]) -> str:
    return json.dumps([asdict(t) for t in tables], indent=2, ensure_ascii=False) + "\n"
