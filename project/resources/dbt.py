"""The dbt project and CLI resource, with the manifest prepared automatically, and the
warehouse metadata (column types, row counts, column lineage) every dbt asset adds to what
it built.

`DbtProject.prepare_if_dev` only acts under `dagster dev`; a newcomer's first
`dagster asset materialize` or test run must work too, so the manifest is (re)parsed
whenever it is missing or older than any file of the dbt project. A file lock keeps
parallel processes (run workers, the webserver) from parsing at the same time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property, lru_cache
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

from project.lib import extensions
from project.settings import PROJECT_ROOT, Settings, get_settings

if TYPE_CHECKING:
    from project.resources.warehouse import WarehouseResource

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


def _dbt_on_path() -> None:
    """dagster-dbt's preparer runs `dbt` from PATH: make it the project's own, beside this
    interpreter, when the environment is not activated (`.venv/bin/dagster`, `make test`)."""
    here = Path(sys.executable).parent
    if shutil.which("dbt") is None and (here / "dbt").exists():
        os.environ["PATH"] = os.pathsep.join([str(here), os.environ.get("PATH", "")])


def build_dbt_project(settings: Settings) -> DbtProject:
    """The project object with a fresh manifest (parsed only when the sources changed)."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, target=settings.dbt_target)
    _dbt_on_path()
    # The check takes the lock too: dbt writes manifest.json in place, so a process that
    # looked while another was still writing it would find it fresh (its time is new) and
    # read half a file.
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


@contextmanager
def dbt_environment(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in the environment of the dbt invocations started inside (dagster-dbt
    copies this process's environment into dbt's).

    This is how a run hands dbt what changes every run (a partition window, a run id):
    models read them with `env_var()`, and dbt re-parses only the files that use them,
    where a new `--vars` value makes it re-parse the whole project (11 s against 5 s).
    """
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# dbt's partial parsing, kept per profile. dbt re-parses the whole project (~11 s, against
# ~5 s for a partial parse) when the saved parse was made with another profile: another
# warehouse path, the lake target. The one dagster-dbt copies into every invocation is the
# code location's `dbt parse`, made once when the sources change, so a deployment whose
# warehouse is not the default file would re-parse fully on every run. So each
# invocation's own saved parse is kept under a key of its target and the environment
# variables that target's output reads, and the next invocation with those starts from it.
# dbt checks the saved parse itself (profile, target, vars, file hashes): a wrong one costs
# a full parse, never a wrong manifest.
PARSE_CACHE_DIR = "partial_parse"
# Newest saved parses kept (1.3 MB each), older ones removed: a deployment has one or two
# profiles, the test suite one per warehouse it builds (31 dbt invocations in all).
PARSE_CACHE_KEEP = 64
_PARSE_FILE = "partial_parse.msgpack"
# `env_var('NAME')` or `env_var('NAME', 'default')` in profiles.yml.
_ENV_VAR = re.compile(r"""env_var\(\s*['"](\w+)['"](?:\s*,\s*['"]([^'"]*)['"])?""")


@lru_cache(maxsize=8)
def _profile(profiles_yml: Path, mtime: float) -> dict[str, Any]:
    """The first (only) profile of profiles.yml, as written (`mtime`: re-read on change)."""
    import yaml

    return next(iter(yaml.safe_load(profiles_yml.read_text()).values()))


def profile_environment(profiles_yml: Path, target: str | None) -> list[tuple[str, str | None]]:
    """The target the invocation uses and each environment variable its output reads, with
    its value here: what makes dbt's profile hash differ, and nothing else (a lake's
    variables left in the environment must not make a file target's key differ)."""
    profile = _profile(profiles_yml, profiles_yml.stat().st_mtime)
    if target is None:
        named = _ENV_VAR.search(str(profile.get("target", "")))
        target = os.environ.get(named[1], named[2]) if named else str(profile.get("target"))
    output = json.dumps(profile.get("outputs", {}).get(target), sort_keys=True)
    names = sorted({found[1] for found in _ENV_VAR.finditer(output)})
    return [("target", target), *((name, os.environ.get(name)) for name in names)]


def saved_parse_path(project_dir: Path, profiles_dir: Path, target: str | None) -> Path:
    """Where the partial parse for `target` and the environment its profile reads is kept."""
    described = json.dumps(profile_environment(profiles_dir / "profiles.yml", target))
    key = hashlib.sha256(described.encode()).hexdigest()[:16]
    return project_dir / "target" / PARSE_CACHE_DIR / f"{key}.msgpack"


def keep_parse(invocation: Any, saved: Path) -> None:
    """Keep the parse `invocation` wrote as the one for its profile (atomically: a
    concurrent invocation reads a whole file or none), and prune the oldest."""
    folder = Path(invocation.target_path)
    if not folder.is_absolute():
        folder = Path(invocation.project_dir) / folder
    written = folder / _PARSE_FILE
    if not written.exists():
        return
    tmp = None
    try:
        saved.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=saved.parent, suffix=".tmp", delete=False) as out:
            tmp = Path(out.name)
            with written.open("rb") as source:
                shutil.copyfileobj(source, out)
        os.replace(tmp, saved)
        kept = sorted(saved.parent.glob("*.msgpack"), key=_mtime, reverse=True)
        for old in kept[PARSE_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:  # a parse not kept costs the next invocation a full parse, no more
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # pruned by a concurrent invocation
        return 0.0


class WarehouseDbtResource(DbtCliResource):
    """dagster-dbt's CLI resource without two probes it makes before every invocation, and
    with the partial parse kept per profile (`saved_parse_path`).

    It runs `dbt --version` (a second dbt process, ~3 s) and opens an in-process dbt
    adapter (~5 s), which serves only `fetch_column_metadata`/`fetch_row_counts`; these
    assets use neither (columns come from the manifest). Both are private hooks of
    dagster-dbt, pinned by uv.lock; tests/defs/test_dbt_resource.py fails if an upgrade
    renames them.
    """

    def cli(self, args: Sequence[str], **kwargs: Any) -> Any:  # type: ignore[override]
        """dagster-dbt's invocation, started from the parse kept for this profile: placed in
        the invocation's target folder, where dbt reads it and dagster-dbt then copies
        nothing over it. A run whose parse is unchanged leaves that file as it was, so
        keeping it again afterwards is harmless."""
        project_dir = Path(self.project_dir)
        target_path = kwargs.pop("target_path", None) or self._get_unique_target_path(
            context=kwargs.get("context")
        )
        profiles_dir = Path(self.profiles_dir) if self.profiles_dir else project_dir
        try:
            saved = saved_parse_path(project_dir, profiles_dir, self.target)
        except Exception:  # an unreadable profiles.yml: dbt reports it, the run is not ours
            saved = None
        folder = target_path if target_path.is_absolute() else project_dir / target_path
        if saved is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(saved, folder / _PARSE_FILE)
            except FileNotFoundError:  # none kept yet (or pruned just now): dagster-dbt's copy
                pass
        invocation = super().cli(args, target_path=target_path, **kwargs)
        invocation.saved_parse = saved  # collect_events keeps the new parse there
        return invocation

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
    """(schema, name) of a node's relation; a source's table is its `identifier` (the seven
    PNCP sources are all `raw.api_requests`), a model's its alias."""
    name = props.get("identifier") if props.get("resource_type") == "source" else None
    return (props.get("schema") or "", name or props.get("alias") or props.get("name") or "")


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


# Column lineage: what it costs and when it is skipped.
#
# dagster-dbt's builder runs sqlglot's `lineage()` once per column, each time copying the
# whole optimized query: ~1-2 s for a 50-column view, ~5 s for a staging `*_versions` model.
# So:
# - a model whose compiled SQL reads files (`read_json_objects(...)`, any DuckDB `read_*`
#   table function) gets none: sqlglot cannot see the files' columns, so most of its
#   columns would have no upstream anyway, and its SQL lists the archive's payload files,
#   different on every build, so no cache could spare the ~5 s;
# - every other model's lineage is cached across builds in `column_lineage_cache.json`
#   under the dbt target folder, keyed by its compiled SQL with every literal masked (a
#   partition's window, an incremental model's watermark `_batch > 1234`, a run id: a value
#   changes no column's upstream, the query's shape does), its own and its parents' column
#   types,
#   and the dagster-dbt and sqlglot versions; a model sqlglot cannot read is cached as such.
LINEAGE_CACHE = "column_lineage_cache.json"
_CACHE_ENTRIES = 512
_READS_FILES = re.compile(r"\bread_[a-z_]+\s*\(", re.IGNORECASE)
# A quoted string ('' escapes a quote) or a number standing alone (not the 1 of `col1`).
_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def compiled_sql_path(target_path: Path, props: dict) -> Path:
    """Where dbt wrote a model's compiled SQL (where dagster-dbt's builder reads it)."""
    relative = Path(props["original_file_path"].replace("\\", "/"))
    return Path(target_path) / "compiled" / props["package_name"] / relative


def _lineage_key(sql: str, columns: dict, parents: dict, dialect: str) -> str:
    payload = {
        "sql": _LITERAL.sub("?", sql),
        "columns": columns,
        "parents": parents,
        "dialect": dialect,
        "versions": [installed_version("dagster-dbt"), installed_version("sqlglot")],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class LineageCache:
    """Column lineage by key, as JSON: `{key: {"model", "deps": {column: [[parent unique id,
    column]]}}` or `{key: {"model", "error"}}`. Unreadable is empty; a write is atomic (a
    concurrent build's entries may be lost, which costs one rebuild, never a wrong answer)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.changed = False
        try:
            loaded = json.loads(path.read_text())
            self.entries: dict[str, dict] = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            self.entries = {}

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, entry: dict) -> None:
        self.entries.pop(key, None)
        self.entries[key] = entry
        self.changed = True

    def save(self) -> None:
        if not self.changed:
            return
        kept = dict(list(self.entries.items())[-_CACHE_ENTRIES:])
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(kept, indent=0, sort_keys=False))
            tmp.replace(self.path)
        except OSError:
            tmp.unlink(missing_ok=True)


def _model_lineage(
    invocation: Any,
    props: dict,
    mine: dict[str, str],
    parents: dict[str, dict[str, dict[str, str]]],
    cache: LineageCache,
) -> tuple[str, dict[str, Any], str | None]:
    """(outcome, metadata, error) of one model's column lineage: outcome is `cached`,
    `built`, `skipped` (reads files) or `failed` (sqlglot cannot read it)."""
    from dagster import TableColumnDep, TableColumnLineage
    from dagster_dbt.core.dbt_cli_event import EventHistoryMetadata, _build_column_lineage_metadata

    manifest = invocation.manifest
    try:
        sql = compiled_sql_path(invocation.target_path, props).read_text()
    except OSError:
        return "failed", {}, "no compiled SQL"
    if _READS_FILES.search(sql):
        return "skipped", {}, None
    columns = {c: {"data_type": t} for c, t in mine.items()}
    key = _lineage_key(sql, columns, parents, manifest["metadata"]["adapter_type"])
    parent_ids = props["depends_on"]["nodes"]

    def asset_key(unique_id: str) -> Any:
        return invocation.dagster_dbt_translator.get_asset_spec(
            manifest, unique_id, invocation.project
        ).key

    cached = cache.get(key)
    if cached is not None:
        if "error" in cached:
            return "cached", {}, cached["error"]
        keys = {uid: asset_key(uid) for uid in parent_ids}
        lineage = TableColumnLineage(
            deps_by_column={
                column: [TableColumnDep(asset_key=keys[uid], column_name=c) for uid, c in deps]
                for column, deps in cached["deps"].items()
            }
        )
        return "cached", {"dagster/column_lineage": lineage}, None
    try:
        found = _build_column_lineage_metadata(
            event_history_metadata=EventHistoryMetadata(columns=columns, parents=parents),
            dbt_resource_props=props,
            manifest=manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            target_path=invocation.target_path,
            project=invocation.project,
        )
    except Exception as exc:  # sqlglot cannot read every dialect feature
        error = f"{type(exc).__name__}: {exc}"
        cache.put(key, {"model": props["name"], "error": error})
        return "failed", {}, error
    lineage = found.get("dagster/column_lineage")
    if lineage is not None:
        by_key = {asset_key(uid): uid for uid in parent_ids}
        cache.put(
            key,
            {
                "model": props["name"],
                "deps": {
                    column: sorted([by_key[d.asset_key], d.column_name] for d in deps)
                    for column, deps in sorted(lineage.deps_by_column.items())
                },
            },
        )
    return "built", found, None


def warehouse_metadata(
    invocation: Any,
    events: list[Any],
    conn: Any,
    log: Any = None,
    stats: dict[str, Any] | None = None,
    cache_path: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """`dagster/column_schema`, `dagster/row_count` and `dagster/column_lineage` of the models
    a finished dbt invocation built, by dbt unique id, read from the warehouse itself.

    dagster-dbt's `fetch_column_metadata()`/`fetch_row_counts()` would give the same keys
    through an in-process dbt adapter (the ~5-8 s probe `WarehouseDbtResource` skips) and
    one connection per model; here the types are one `information_schema` query, the counts
    one `UNION ALL` of the built tables, and the column lineage is dagster-dbt's own
    sqlglot builder (`_build_column_lineage_metadata`, private, pinned by uv.lock and
    checked by tests/defs/test_dbt_resource.py) fed with those types, cached across builds
    and skipped for models that read files (see `LineageCache` above). A model whose lineage
    sqlglot cannot build keeps its types and count. `stats`, when given, receives how each
    model's lineage was found (`cached`, `built`, `skipped`, `failed`) and its seconds;
    `cache_path` replaces the cache's place (default: beside the invocation's target).
    """
    from dagster import TableColumn, TableSchema

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
    cache = LineageCache(cache_path or Path(invocation.target_path).parent / LINEAGE_CACHE)
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
            started = time.perf_counter()
            outcome, lineage, error = _model_lineage(invocation, props, mine, parents, cache)
            metadata |= lineage
            if error and log is not None:
                log(f"no column lineage for {props['name']}: {error}")
            if stats is not None:
                stats.setdefault(outcome, []).append(props["name"])
                stats.setdefault("seconds", {})[props["name"]] = time.perf_counter() - started
        found[uid] = metadata
    cache.save()
    return found


def collect_events(invocation: Any) -> tuple[list[Any], Exception | None]:
    """Every event of a dbt invocation, and the error that ended it (a failed model or
    ERROR test, raised once dbt exits), so the caller yields what was built before failing."""
    events: list[Any] = []
    try:
        for event in invocation.stream():
            events.append(event)
    except Exception as exc:
        return events, exc
    finally:
        saved = getattr(invocation, "saved_parse", None)
        if saved is not None:
            keep_parse(invocation, saved)
    return events, None


def with_warehouse_metadata(
    context: dg.AssetExecutionContext,
    invocation: Any,
    events: list[Any],
    warehouse: WarehouseResource,
) -> list[Any]:
    """The build's events, each model's output with its column types, row count and column
    lineage (`warehouse_metadata` above), read once dbt has let go of the
    warehouse (a DuckDB file admits one process): the step still holds the lease. Metadata
    that cannot be read is logged and left out; the materializations stand.

    A list, read whole here, so the step yields it after giving the lease back: Dagster's
    writes of ~100 events (4-6 s on a SQLite instance) keep no other writer waiting."""
    started = time.perf_counter()
    found: dict[str, dict[str, Any]] = {}
    stats: dict[str, Any] = {}
    try:
        with warehouse.get_reader() as conn:
            found = warehouse_metadata(
                invocation, events, conn, log=context.log.warning, stats=stats
            )
    except Exception as exc:
        context.log.warning(f"dbt column metadata not read: {type(exc).__name__}: {exc}")
    lineage = ", ".join(
        f"{len(stats[k])} {k}" for k in ("cached", "built", "skipped", "failed") if stats.get(k)
    )
    slowest = sorted(stats.get("seconds", {}).items(), key=lambda item: -item[1])[:3]
    context.log.info(
        f"column metadata of {len(found)} dbt node(s) in {time.perf_counter() - started:.2f} s"
        + (f"; column lineage: {lineage}" if lineage else "")
        + (f" (slowest: {', '.join(f'{n} {s:.2f} s' for n, s in slowest)})" if slowest else "")
    )
    outputs = []
    for event in events:
        unique_id = getattr(event, "metadata", {}).get("unique_id")
        extra = found.get(getattr(unique_id, "text", unique_id))
        if extra and isinstance(event, dg.Output):
            event = event.with_metadata({**event.metadata, **extra})
        outputs.append(event)
    return outputs
