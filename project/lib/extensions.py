"""DuckDB's extensions, offline: installed from Python packages into a project directory.

DuckDB downloads extensions from its own site, which this project must not depend on
(CI and many company networks reach only the package registry). The registry carries
them as packages (`duckdb-extension-<name>`, one per DuckDB release, pinned in
pyproject.toml with DuckDB itself); each ships `extensions/v<version>/<name>.duckdb_extension`.
`install()` copies them with `INSTALL '<file>'` into `EXTENSION_DIR` (`make setup` runs
it; a connection that finds them missing runs it too), and every connection the project
opens is configured with that directory and with auto-install off, so `LOAD <name>`,
or an `ATTACH ... (TYPE postgres)` that auto-loads, works by name and never reaches
the network. dbt gets the same directory through `config_options` in its profile.
"""

from __future__ import annotations

import fcntl
import importlib.util
from pathlib import Path

import duckdb

from project.settings import PROJECT_ROOT

# The extensions the project uses, by DuckDB name -> the package that ships them.
EXTENSIONS = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "mysql_scanner": "duckdb_extension_mysql_scanner",
    "excel": "duckdb_extension_excel",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
}
EXTENSION_DIR = PROJECT_ROOT / ".duckdb_extensions"
ENV_VAR = "DUCKDB_EXTENSION_DIRECTORY"  # exported for dbt's profile


class ExtensionMissingError(RuntimeError):
    """An extension package is not installed in this environment (run `make setup`)."""


def version() -> str:
    return duckdb.__version__


def packaged_file(name: str) -> Path:
    """The `.duckdb_extension` file of `name` shipped by its package for this DuckDB."""
    package = EXTENSIONS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionMissingError(
            f"DuckDB extension {name}: package {package.replace('_', '-')} is not installed "
            "(make setup)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "extensions" / f"v{version()}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise ExtensionMissingError(
            f"DuckDB extension {name}: {package.replace('_', '-')} has no build for DuckDB "
            f"{version()} ({path} missing): pin both to the same release"
        )
    return path


def _installed(directory: Path, name: str) -> bool:
    return any(directory.glob(f"v{version()}/*/{name}.duckdb_extension"))


def install(directory: Path = EXTENSION_DIR) -> list[str]:
    """Install every extension missing from `directory`; returns the ones installed now.

    Idempotent, and safe when several processes start at once (a file lock).
    """
    if all(_installed(directory, name) for name in EXTENSIONS):
        return []
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    with (directory / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        conn = duckdb.connect(config={"extension_directory": str(directory)})
        try:
            for name in EXTENSIONS:
                if not _installed(directory, name):
                    conn.execute(f"INSTALL '{packaged_file(name)}'")
                    done.append(name)
        finally:
            conn.close()
    return done


# Directories this process has found complete: every warehouse connection asks, and a
# long extraction opens hundreds, so the files are looked for once per process.
_READY: set[Path] = set()


def connection_config(directory: Path = EXTENSION_DIR) -> dict[str, str]:
    """DuckDB settings every project connection carries: the local directory, no downloads."""
    if directory not in _READY:
        install(directory)
        _READY.add(directory)
    return {
        "extension_directory": str(directory),
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "true",
    }


def main() -> int:
    """`python -m project.lib.extensions`: install them (what `make setup` runs)."""
    installed = install()
    where = EXTENSION_DIR.relative_to(PROJECT_ROOT)
    print(
        f"DuckDB {version()} extensions in {where}/: "
        + (f"installed {', '.join(installed)}" if installed else "all present")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
