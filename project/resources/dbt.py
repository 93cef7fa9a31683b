"""The dbt project and CLI resource, with the manifest prepared automatically.

`DbtProject.prepare_if_dev` only acts under `dagster dev`; a newcomer's first
`dagster asset materialize` or test run must work too, so the manifest is (re)parsed
whenever it is missing or older than any file of the dbt project. A file lock keeps
parallel processes (run workers, the webserver) from parsing at the same time.
"""

from __future__ import annotations

import fcntl
import os
from functools import cached_property, lru_cache
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

from project.lib import extensions
from project.settings import PROJECT_ROOT, Settings, get_settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
_SOURCE_DIRS = ("models", "macros", "seeds", "tests", "snapshots")


def _newest_source_mtime(project_dir: Path) -> float:
    paths = [project_dir / "dbt_project.yml", project_dir / "profiles.yml"]
    for name in _SOURCE_DIRS:
        folder = project_dir / name
        if folder.exists():
            paths.extend(p for p in folder.rglob("*") if p.is_file())
    return max(p.stat().st_mtime for p in paths if p.exists())


def manifest_is_stale(project: DbtProject) -> bool:
    manifest = project.manifest_path
    return not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime(
        project.project_dir
    )


def build_dbt_project(settings: Settings) -> DbtProject:
    """The project object with a fresh manifest (parsed only when the sources changed)."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, target=settings.dbt_target)
    if manifest_is_stale(project):
        lock_path = project.project_dir / project.target_path / ".prepare.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if manifest_is_stale(project):
                project.preparer.prepare(project)
    return project


@lru_cache(maxsize=1)
def get_dbt_project() -> DbtProject:
    """The process-wide dbt project, prepared once."""
    return build_dbt_project(get_settings())


class WarehouseDbtResource(DbtCliResource):
    """dagster-dbt's CLI resource without two probes it makes before every invocation.

    It runs `dbt --version` (a second dbt process, ~3 s) and opens an in-process dbt
    adapter (~5 s), which serves only `fetch_column_metadata`/`fetch_row_counts`; these
    assets use neither (columns come from the manifest). Both are private hooks of
    dagster-dbt, pinned by uv.lock; tests/defs/test_dbt_resource.py fails if an upgrade
    renames them.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: object) -> None:  # type: ignore[override]
        return None


def build_dbt_resource(project: DbtProject, target: str | None = None) -> DbtCliResource:
    """The CLI resource on the profile's `target` (`dev`: the file, `lake`: the DuckLake);
    dbt finds DuckDB's extensions where the Python assets do."""
    extensions.install()
    os.environ[extensions.ENV_VAR] = str(extensions.EXTENSION_DIR)
    return WarehouseDbtResource(
        project_dir=project, profiles_dir=str(project.profiles_dir), target=target
    )


# Materializations whose relation is a stored table: counting one is a scan of stored rows,
# whereas counting a view runs its query again (a staging view over a month of JSON).
_COUNTED = ("table", "incremental", "seed", "snapshot")


def _relation(props: dict) -> tuple[str, str]:
    return (props.get("schema") or "", props.get("alias") or props.get("name") or "")


def warehouse_columns(conn: Any) -> dict[tuple[str, str], dict[str, str]]:
    """Every column of the current warehouse database by (schema, relation): one query."""
    rows = conn.execute(
        "SELECT table_schema, table_name, column_name, data_type "
        "FROM information_schema.columns WHERE table_catalog = current_database() "
        "ORDER BY table_schema, table_name, ordinal_position"
    ).fetchall()
    found: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, kind in rows:
        found.setdefault((schema, table), {})[column] = kind
    return found


def row_counts(conn: Any, relations: dict[str, tuple[str, str]]) -> dict[str, int]:
    """`count(*)` of each (schema, table), keyed like `relations`: one UNION ALL query."""
    if not relations:
        return {}
    parts = [
        f'SELECT {i} AS i, count(*) AS n FROM "{schema}"."{table}"'
        for i, (schema, table) in enumerate(relations.values())
    ]
    keys = list(relations)
    return {keys[i]: int(n) for i, n in conn.execute(" UNION ALL ".join(parts)).fetchall()}


def warehouse_metadata(
    invocation: Any, events: list[Any], conn: Any, log: Any = None
) -> dict[str, dict[str, Any]]:
    """`dagster/column_schema`, `dagster/row_count` and `dagster/column_lineage` of the models
    a finished dbt invocation built, by dbt unique id, read from the warehouse itself.

    dagster-dbt's `fetch_column_metadata()`/`fetch_row_counts()` would give the same keys
    through an in-process dbt adapter (the ~5-8 s probe `WarehouseDbtResource` skips) and
    one connection per model; here the types are one `information_schema` query, the counts
    one `UNION ALL` of the built tables, and the column lineage is dagster-dbt's own
    sqlglot builder (`_build_column_lineage_metadata`, private, pinned by uv.lock and
    checked by tests/defs/test_dbt_resource.py) fed with those types. A model whose lineage
    sqlglot cannot build keeps its types and count.
    """
    from dagster import TableColumn, TableSchema
    from dagster_dbt.core.dbt_cli_event import EventHistoryMetadata, _build_column_lineage_metadata

    manifest = invocation.manifest
    built: dict[str, dict] = {}
    for event in events:
        unique_id = getattr(event, "metadata", {}).get("unique_id")
        text = getattr(unique_id, "text", unique_id)
        props = manifest["nodes"].get(text) if isinstance(text, str) else None
        if props and props["resource_type"] in ("model", "seed", "snapshot"):
            built[text] = props
    if not built:
        return {}
    columns = warehouse_columns(conn)
    counted = {
        uid: _relation(props)
        for uid, props in built.items()
        if props["config"].get("materialized", props["resource_type"]) in _COUNTED
        and _relation(props) in columns
    }
    counts = row_counts(conn, counted)
    found: dict[str, dict[str, Any]] = {}
    for uid, props in built.items():
        mine = columns.get(_relation(props))
        if not mine:
            continue
        described = props.get("columns", {})
        metadata: dict[str, Any] = {
            "dagster/column_schema": TableSchema(
                columns=[
                    TableColumn(
                        name, kind, description=described.get(name, {}).get("description") or None
                    )
                    for name, kind in mine.items()
                ]
            )
        }
        if uid in counts:
            metadata["dagster/row_count"] = counts[uid]
        if props["resource_type"] == "model":
            parents = {}
            for parent_id in manifest["parent_map"].get(uid, []):
                parent = manifest["nodes"].get(parent_id) or manifest["sources"].get(parent_id)
                if parent and parent.get("relation_name"):
                    parent_columns = columns.get(_relation(parent), {})
                    parents[parent["relation_name"]] = {
                        c: {"data_type": t} for c, t in parent_columns.items()
                    }
            try:
                metadata |= _build_column_lineage_metadata(
                    event_history_metadata=EventHistoryMetadata(
                        columns={c: {"data_type": t} for c, t in mine.items()}, parents=parents
                    ),
                    dbt_resource_props=props,
                    manifest=manifest,
                    dagster_dbt_translator=invocation.dagster_dbt_translator,
                    target_path=invocation.target_path,
                    project=invocation.project,
                )
            except Exception as exc:  # sqlglot cannot read every dialect feature
                if log is not None:
                    log(f"no column lineage for {props['name']}: {type(exc).__name__}: {exc}")
        found[uid] = metadata
    return found
