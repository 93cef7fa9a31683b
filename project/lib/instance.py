"""Render the project's Dagster instance (DAGSTER_HOME) from the committed templates.

The instance lives inside the repository (git-ignored) so that the UI, the daemon and
the CLI of one checkout share runs and schedules. SQLite is the default; with
`DAGSTER_PG_URL` set, the PostgreSQL storage block is merged in. The URL itself stays in
the environment (`env: DAGSTER_PG_URL`), never in the rendered file.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import yaml

from project.settings import PROJECT_ROOT, Settings, settings_or_exit

TEMPLATES = PROJECT_ROOT / "conf" / "dagster"


def json_log_handler(path: Path, level: str) -> dict:
    """`python_logs.dagster_handler_config` that appends JSON lines to `path`.

    A file rather than stderr: Dagster's console logger keeps writing text there, and a
    file of pure JSON lines is what a log shipper (or `jq`) reads line by line.
    """
    return {
        "handlers": {
            "json_file": {
                "class": "logging.FileHandler",
                "filename": str(path),
                "level": level,
                "formatter": "structured_json",
            }
        },
        "formatters": {"structured_json": {"()": "project.lib.logs.StructuredJsonFormatter"}},
    }


def render_instance_config(settings: Settings) -> dict:
    config = yaml.safe_load((TEMPLATES / "dagster.yaml").read_text())
    if settings.dagster_pg_url is not None:
        config.update(yaml.safe_load((TEMPLATES / "storage.postgres.yaml").read_text()))
    if settings.log_format == "json":
        settings.json_log_file.parent.mkdir(parents=True, exist_ok=True)
        config["python_logs"]["python_log_level"] = settings.log_level
        config["python_logs"]["dagster_handler_config"] = json_log_handler(
            settings.json_log_file, settings.log_level
        )
    return config


def ensure_dagster_home(settings: Settings, home: Path | None = None) -> Path:
    """Create (or refresh) `home`/dagster.yaml; return the directory. Idempotent."""
    home = home or settings.dagster_home_path
    home.mkdir(parents=True, exist_ok=True)
    config = render_instance_config(settings)
    text = (
        "# Rendered from conf/dagster/ by project.lib.instance; edits here are overwritten.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    target = home / "dagster.yaml"
    if not target.exists() or target.read_text() != text:
        target.write_text(text)
    return home


STORAGE_LOCK = ".storage.lock"  # in DAGSTER_HOME: one process creates the storage


def prepare_storage(settings: Settings, home: Path) -> int:
    """Create the instance's storage now and size the warehouse pool; return its slots.

    Processes started together on a new SQLite instance race to create its tables (the
    loser fails with `table secondary_indexes already exists`). Created here, by `make
    instance`, `pncp init` and every `pncp` command that launches a run, under a file lock
    in DAGSTER_HOME, they exist before any run starts, and two first commands at once
    create them once. The warehouse pool takes one writer on a DuckDB file and
    WAREHOUSE_WRITERS on a DuckLake (the warehouse lease sets the same on first use, for
    instances not prepared here). Idempotent.
    """
    import dagster as dg  # imported only by the commands that need the storage

    slots = settings.warehouse_slots
    with (home / STORAGE_LOCK).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        with dg.DagsterInstance.from_config(str(home)) as instance:
            storage = instance.event_log_storage
            if storage.supports_global_concurrency_limits:
                storage.set_concurrency_slots(settings.warehouse_pool, slots)
            # Reading each storage once creates (or migrates) its tables.
            instance.get_runs(limit=1)
            instance.all_instigator_state()
    return slots


def main() -> int:
    settings = settings_or_exit()
    home = ensure_dagster_home(settings)
    slots = prepare_storage(settings, home)
    storage = "postgres" if settings.dagster_pg_url else "sqlite"
    logs = f", JSON logs: {settings.json_log_file}" if settings.log_format == "json" else ""
    print(f"DAGSTER_HOME={home} (storage: {storage}{logs})")
    print(
        f"warehouse: {settings.warehouse_backend}, pool {settings.warehouse_pool} admits "
        f"{slots} writer{'s' if slots > 1 else ''}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
