"""The test harness itself: real, isolated PostgreSQL and MariaDB databases per session."""

from __future__ import annotations

import pymysql
import pytest


@pytest.mark.postgres
def test_postgres_database_is_real_isolated_and_writable(postgres_database: str) -> None:
    import psycopg2

    with psycopg2.connect(postgres_database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE harness_probe (id int PRIMARY KEY, name text)")
        cur.execute("INSERT INTO harness_probe VALUES (1, 'contrato')")
        cur.execute("SELECT current_database(), name FROM harness_probe")
        database, name = cur.fetchone()
    assert database.startswith("test_")
    assert name == "contrato"


@pytest.mark.mysql
def test_mariadb_database_is_real_isolated_and_writable(mysql_database: dict) -> None:
    conn = pymysql.connect(**mysql_database, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE harness_probe (id int PRIMARY KEY, name varchar(20))")
            cur.execute("INSERT INTO harness_probe VALUES (1, 'pedido')")
            cur.execute("SELECT DATABASE(), name FROM harness_probe")
            database, name = cur.fetchone()
    finally:
        conn.close()
    assert database == mysql_database["database"]
    assert database.startswith("test_")
    assert name == "pedido"
