"""Reports for people: a summary of every column and at most `row_limit` rows; never loaded."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from project.lib.datasets import Catalog, DatasetError

REPORTS = {"html": "report.HTMLDataset", "md": "report.MarkdownDataset"}


@pytest.fixture
def orders() -> pa.Table:
    """120 orders; the amount is null on every tenth."""
    return pa.table(
        {
            "order_id": pa.array(range(1, 121), pa.int64()),
            "customer": pa.array([f"cliente-{i % 7}" for i in range(120)]),
            "amount": pa.array([None if i % 10 == 0 else i * 1.5 for i in range(120)]),
        }
    )


def report_of(catalog_from: Callable[..., Catalog], suffix: str, extra: str = ""):
    catalog = catalog_from(
        {
            "base/catalog.yml": f"orders_report:\n  type: {REPORTS[suffix]}\n"
            f"  filepath: reports/orders.{suffix}\n  title: Pedidos de ação\n{extra}"
        }
    )
    return catalog.get("orders_report")


def rows_section(text: str, suffix: str) -> str:
    return text.split("<h2>Rows</h2>" if suffix == "html" else "## Rows")[1]


@pytest.mark.parametrize("suffix", list(REPORTS))
def test_a_report_shows_at_most_row_limit_rows(
    suffix: str, orders: pa.Table, catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    report = report_of(catalog_from, suffix, "  row_limit: 5\n")
    saved = report.save(orders)

    text = (tmp_path / "reports" / f"orders.{suffix}").read_text(encoding="utf-8")
    shown = rows_section(text, suffix)
    assert saved == {"rows": 120, "rows_shown": 5, "path": str(report.filepath)}
    assert "120 rows, 3 columns; first 5 shown." in text
    assert [f"cliente-{i}" in shown for i in range(7)] == [True] * 5 + [False] * 2
    if suffix == "html":
        assert shown.count("<tr") == 1 + 5  # the header and five rows
    else:
        assert len([line for line in shown.splitlines() if line.startswith("|")]) == 2 + 5


@pytest.mark.parametrize("suffix", list(REPORTS))
def test_a_report_summarises_every_column(
    suffix: str, orders: pa.Table, catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    report_of(catalog_from, suffix).save(orders)

    text = (tmp_path / "reports" / f"orders.{suffix}").read_text(encoding="utf-8")
    columns = text.split("Columns")[1].split("Rows")[0]
    cells = [c.strip() for c in re.split(r"<t[dh]>|</t[dh]>|\|", columns) if c.strip()]
    assert "Pedidos de ação" in text
    # column, type, nulls, distinct, min, max
    assert cells[cells.index("order_id") : cells.index("order_id") + 6] == [
        "order_id",
        "int64",
        "0",
        "120",
        "1",
        "120",
    ]
    assert cells[cells.index("amount") : cells.index("amount") + 4] == [
        "amount",
        "double",
        "12",
        "108",
    ]
    assert cells[cells.index("customer") : cells.index("customer") + 6] == [
        "customer",
        "string",
        "0",
        "7",
        "cliente-0",
        "cliente-6",
    ]


@pytest.mark.parametrize("suffix", list(REPORTS))
def test_a_report_refuses_to_load(
    suffix: str, orders: pa.Table, catalog_from: Callable[..., Catalog]
) -> None:
    report = report_of(catalog_from, suffix)
    report.save(orders)

    with pytest.raises(DatasetError) as error:
        report.load()
    assert str(error.value) == (
        "dataset 'orders_report': a report is written for people and cannot be loaded"
    )
