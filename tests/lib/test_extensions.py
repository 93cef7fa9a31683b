"""DuckDB's extensions load by name, offline, in every kind of connection the project opens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from project.lib import extensions, warehouse
from project.resources.dbt import DBT_PROJECT_DIR

NAMES = sorted(extensions.EXTENSIONS)


def test_install_puts_every_packaged_extension_in_the_directory_once(tmp_path: Path) -> None:
    directory = tmp_path / "extensions"

    assert sorted(extensions.install(directory)) == NAMES
    assert extensions.install(directory) == []  # already there: nothing to do
    installed = {p.name for p in directory.glob(f"v{duckdb.__version__}/*/*.duckdb_extension")}
    assert installed == {f"{name}.duckdb_extension" for name in NAMES}


def test_a_warehouse_connection_loads_them_by_name_and_never_downloads(
    warehouse_path: Path,
) -> None:
    with warehouse.connection(warehouse_path) as conn:
        for name in NAMES:
            conn.execute(f"LOAD {name}")
        loaded = conn.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded ORDER BY 1"
        ).fetchall()
        autoinstall = conn.execute(
            "SELECT current_setting('autoinstall_known_extensions')"
        ).fetchone()[0]
    assert set(NAMES) <= {name for (name,) in loaded}
    assert autoinstall is False


def test_postgresql_attaches_through_the_offline_scanner(
    warehouse_path: Path, postgres_database: str
) -> None:
    import psycopg2

    with psycopg2.connect(postgres_database) as pg, pg.cursor() as cur:
        cur.execute("CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 1000) g")
    dsn = "host=127.0.0.1 user=postgres dbname=" + postgres_database.rsplit("/", 1)[1]
    with warehouse.connection(warehouse_path) as conn:
        conn.execute(f"ATTACH '{dsn}' AS source (TYPE postgres, READ_ONLY)")
        assert conn.execute("SELECT count(*), sum(id) FROM source.orders").fetchone() == (
            1000,
            500500,
        )


def test_mariadb_attaches_through_the_offline_scanner(
    warehouse_path: Path, mysql_database: dict
) -> None:
    import pymysql

    with pymysql.connect(**mysql_database, autocommit=True) as my, my.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS customers (id INT PRIMARY KEY)")
        cur.execute("DELETE FROM customers")
        cur.executemany("INSERT INTO customers VALUES (%s)", [(i,) for i in range(1, 11)])
    dsn = (
        f"host={mysql_database['host']} port={mysql_database['port']} user=root "
        f"database={mysql_database['database']}"
    )
    with warehouse.connection(warehouse_path) as conn:
        conn.execute(f"ATTACH '{dsn}' AS source (TYPE mysql, READ_ONLY)")
        assert conn.execute("SELECT count(*) FROM source.customers").fetchone() == (10,)


@pytest.mark.slow
def test_dbt_loads_them_from_the_same_directory(warehouse_path: Path) -> None:
    with warehouse.connection(warehouse_path):
        pass  # the file dbt opens
    env = {
        **os.environ,
        "DBT_WAREHOUSE_PATH": str(warehouse_path),
        extensions.ENV_VAR: str(extensions.EXTENSION_DIR),
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "run-operation", "load_project_extensions",
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"loaded: {', '.join(NAMES)}" in done.stdout


def test_a_missing_package_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(extensions.EXTENSIONS, "nosuch", "duckdb_extension_nosuch")
    with pytest.raises(extensions.ExtensionMissingError, match="duckdb-extension-nosuch"):
        extensions.packaged_file("nosuch")
