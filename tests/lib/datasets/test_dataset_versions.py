"""Versioned files in Kedro's layout, `<filepath>/<version>/<file name>`: the newest loads,
an older one loads by name, and only `versions_kept` remain."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from project.lib.datasets import Catalog, DatasetError
from project.lib.datasets import base as datasets_base

ENTRY = """
sales:
  type: pandas.CSVDataset
  filepath: data/sales.csv
  versioned: true
  versions_kept: 2
"""


def batch(n: int) -> pa.Table:
    return pa.table({"save": pa.array([n] * n, pa.int64())})


@pytest.fixture
def saved_three_times(catalog_from: Callable[..., Catalog]) -> list[str]:
    """The versions of three saves (1, then 2, then 3 rows), oldest first."""
    dataset = catalog_from({"base/catalog.yml": ENTRY}).get("sales")
    return [dataset.save(batch(n))["version"] for n in (1, 2, 3)]


def test_only_the_kept_number_of_versions_remains(
    saved_three_times: list[str], tmp_path: Path
) -> None:
    folder = tmp_path / "data" / "sales.csv"
    assert sorted(p.name for p in folder.iterdir()) == saved_three_times[1:]
    for version in saved_three_times[1:]:
        assert (folder / version / "sales.csv").is_file()


def test_a_load_gives_the_latest_version(
    saved_three_times: list[str], catalog_from: Callable[..., Catalog]
) -> None:
    loaded = catalog_from({}).get("sales").load()
    assert loaded["save"].tolist() == [3, 3, 3]


def test_load_version_chooses_an_older_version(
    saved_three_times: list[str], catalog_from: Callable[..., Catalog]
) -> None:
    older = saved_three_times[1]
    pinned = f"sales:\n  load_version: '{older}'\n"
    loaded = catalog_from({"pinned/catalog.yml": pinned}, env="pinned").get("sales").load()
    assert loaded["save"].tolist() == [2, 2]


def test_a_missing_version_is_an_error_naming_the_dataset(
    saved_three_times: list[str], catalog_from: Callable[..., Catalog]
) -> None:
    pinned = "sales:\n  load_version: '2000-01-01T00.00.00.000Z'\n"
    dataset = catalog_from({"pinned/catalog.yml": pinned}, env="pinned").get("sales")
    with pytest.raises(DatasetError) as error:
        dataset.load()
    message = str(error.value)
    assert "dataset 'sales'" in message
    assert "no version 2000-01-01T00.00.00.000Z" in message
    assert saved_three_times[2] in message  # the versions there are listed


def test_saves_within_one_millisecond_get_versions_of_their_own(
    catalog_from: Callable[..., Catalog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clock stands still (a fast machine, or a coarse clock): no save overwrites
    another's version, and the newest save still loads."""
    instant = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)

    class StoppedClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return instant

    monkeypatch.setattr(datasets_base, "datetime", StoppedClock)
    entry = ENTRY.replace("versions_kept: 2", "versions_kept: 5")
    dataset = catalog_from({"base/catalog.yml": entry}).get("sales")

    versions = [dataset.save(batch(n))["version"] for n in (1, 2, 3)]

    assert len(set(versions)) == 3
    assert versions == sorted(versions)
    assert dataset.load()["save"].tolist() == [3, 3, 3]


def test_a_versioned_workbook_of_several_sheets_is_a_new_version(
    catalog_from: Callable[..., Catalog],
) -> None:
    import pandas as pd
    import pyarrow as pa

    dataset = catalog_from(
        {
            "base/catalog.yml": """
                book:
                  type: pandas.ExcelDataset
                  filepath: data/book.xlsx
                  versioned: true
                  versions_kept: 1
            """
        }
    ).get("book")
    for n in (1, 2):
        dataset.save({"a": pa.table({"n": [n]}), "b": pa.table({"m": [n, n]})})
    versions = dataset._versions().versions()
    assert len(versions) == 1
    path = dataset.filepath / versions[0] / "book.xlsx"
    assert pd.read_excel(path, sheet_name="b")["m"].tolist() == [2, 2]
