"""pandas.ExcelDataset writes and reads with DuckDB's `excel` extension when pandas'
arguments are not needed, and with openpyxl otherwise: both round-trip every type and
write workbooks that the other engine (and Excel) opens."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pyarrow as pa
import pytest

from project.lib.datasets import Catalog


@pytest.mark.parametrize("engine", ["auto", "openpyxl"])
def test_both_engines_round_trip_every_type_on_a_named_sheet(
    catalog_from: Callable[..., Catalog], frame: pa.Table, engine: str
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": f"""
                sheet:
                  type: pandas.ExcelDataset
                  filepath: data/sheet.xlsx
                  engine: {engine}
                  save_args: {{sheet_name: Pedidos}}
                  load_args: {{sheet_name: Pedidos}}
            """
        }
    )
    dataset = catalog.get("sheet")
    dataset.save(frame)
    loaded = dataset.load_arrow()
    assert loaded.equals(frame.cast(loaded.schema)) or loaded.to_pylist() == frame.to_pylist()
    # The other engine reads it too: a real workbook with the sheet named.
    opened = pd.read_excel(dataset.filepath, sheet_name="Pedidos", engine="openpyxl")
    assert len(opened) == frame.num_rows
    assert list(opened.columns) == frame.column_names


def test_pandas_only_arguments_fall_back_to_openpyxl(
    catalog_from: Callable[..., Catalog],
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": """
                sheet:
                  type: pandas.ExcelDataset
                  filepath: data/sheet.xlsx
                  save_args: {sheet_name: s, startrow: 2}
                  load_args: {sheet_name: s, skiprows: 2}
            """
        }
    )
    dataset = catalog.get("sheet")
    dataset.save(pa.table({"id": [1, 2, 3]}))
    assert pd.read_excel(dataset.filepath, sheet_name="s", header=None).iloc[2, 0] == "id"
    assert dataset.load()["id"].tolist() == [1, 2, 3]
