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
