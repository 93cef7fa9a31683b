"""Helpers for the dataset layer's tests: catalogs written into tmp_path, one frame of every
type, and the local PostgreSQL, MariaDB and DuckLake as catalog credentials."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from project.lib.datasets import Catalog

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


@pytest.fixture(scope="module")
def frame() -> pa.Table:
    """Three rows of every type the layer promises to keep."""
    return pa.table(
        {
            "id": pa.array([1, None, 3], pa.int64()),
            "amount": pa.array(
                [Decimal("1234567890.12"), None, Decimal("-0.50")], pa.decimal128(12, 2)
            ),
            "day": pa.array(
                [date(2024, 1, 31), date(1999, 12, 31), date(2024, 2, 29)], pa.date32()
            ),
            "at": pa.array(
                [
                    datetime(2024, 1, 31, 12, 30, 15, 123456, tzinfo=SAO_PAULO),
                    datetime(2023, 6, 1, 0, 0, tzinfo=SAO_PAULO),
                    datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=SAO_PAULO),
                ],
                pa.timestamp("us", tz="America/Sao_Paulo"),
            ),
            "nothing": pa.nulls(3),
            "text": pa.array(["ação", "日本", None], pa.string()),
            "flag": pa.array([True, None, False], pa.bool_()),
        }
    )


@pytest.fixture
def table_name() -> str:
    """A table name no other test (nor an earlier run) uses: the MariaDB database is shared."""
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def write_conf(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """`write_conf({"base/catalog.yml": text, ...})`: the files (YAML, dedented) under
    tmp_path/conf; returns that conf folder."""

    def write(files: dict[str, str]) -> Path:
        conf = tmp_path / "conf"
        (conf / "base").mkdir(parents=True, exist_ok=True)
        for relative, text in files.items():
            path = conf / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return conf

    return write


@pytest.fixture
def catalog_from(write_conf: Callable[[dict[str, str]], Path]) -> Callable[..., Catalog]:
    """`catalog_from({"base/catalog.yml": text, ...}, env="local")`: written, then loaded."""

    def load(files: dict[str, str], env: str = "local") -> Catalog:
        return Catalog.load(write_conf(files), env=env)

    return load


@pytest.fixture
def mysql_url(mysql_database: dict) -> str:
    return (
        f"mysql://{mysql_database['user']}@{mysql_database['host']}:{mysql_database['port']}/"
        f"{mysql_database['database']}"
    )


@pytest.fixture
def lake_credentials(postgres_database: str, tmp_path: Path) -> str:
    """credentials.yml text declaring `lake`: a DuckLake in a fresh PostgreSQL database."""
    return f"lake:\n  catalog: {postgres_database}\n  data_path: {tmp_path / 'lake_files'}\n"
