"""Readable reports of a dataset: HTML and Markdown, a summary and the first rows.

Write-only dataset types: a report is for people, so its save renders a title, the row
count, one line per column (type, nulls, distinct values, min and max) and at most
`row_limit` rows, and its load refuses (load the dataset the report was made from).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from project.lib.datasets.base import Dataset, DatasetError, register
from project.lib.datasets.files import replacing
from project.lib.datasets.frames import Data, to_frame, to_table


def summary(table: pa.Table) -> pd.DataFrame:
    """One row per column: type, nulls, distinct values, min, max."""
    rows = []
    for name, column in zip(table.column_names, table.columns, strict=True):
        low = high = ""
        try:
            bounds = pc.min_max(column)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, TypeError):
            pass
        rows.append(
            {
                "column": name,
                "type": str(column.type),
                "nulls": column.null_count,
                "distinct": pc.count_distinct(column).as_py(),
                "min": "" if low is None else str(low),
                "max": "" if high is None else str(high),
            }
        )
    return pd.DataFrame(rows)


class ReportDataset(Dataset):
    filepath: Path
    title: str | None = None
    row_limit: int = 50

    def location(self) -> str:
        return str(self.filepath)

    def exists(self, partition: str | None = None) -> bool:
        return self.filepath.exists()

    def load_arrow(self, partitions: Sequence[str] | None = None) -> pa.Table:
        raise DatasetError(
            f"dataset {self.name!r}: a report is written for people and cannot be loaded"
        )

    def save(self, data: Data, partition: str | None = None) -> dict[str, Any]:
        table = to_table(data, dataset=self.name)
        title = self.title or self.name
        shown = to_frame(table.slice(0, self.row_limit))
        try:
            with replacing(self.filepath) as tmp:
                tmp.write_text(self.render(title, table, shown), encoding="utf-8")
        except Exception as exc:
            raise self.fail("write", exc) from exc
        return {"rows": table.num_rows, "rows_shown": len(shown), "path": str(self.filepath)}

    def caption(self, table: pa.Table, shown: pd.DataFrame) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (
            f"{table.num_rows} rows, {table.num_columns} columns; first {len(shown)} shown. "
            f"Written {stamp}."
        )

    def render(self, title: str, table: pa.Table, shown: pd.DataFrame) -> str:
        raise NotImplementedError


@register("report.HTMLDataset")
class HTMLReportDataset(ReportDataset):
    def render(self, title: str, table: pa.Table, shown: pd.DataFrame) -> str:
        style = (
            "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:.25em .5em}th{background:#f4f4f4}"
        )
        return (
            f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>\n<h1>{html.escape(title)}</h1>\n"
            f"<p>{html.escape(self.caption(table, shown))}</p>\n<h2>Columns</h2>\n"
            f"{summary(table).to_html(index=False)}\n<h2>Rows</h2>\n"
            f"{shown.to_html(index=False, na_rep='')}\n</body></html>\n"
        )


@register("report.MarkdownDataset")
class MarkdownReportDataset(ReportDataset):
    def render(self, title: str, table: pa.Table, shown: pd.DataFrame) -> str:
        return (
            f"# {title}\n\n{self.caption(table, shown)}\n\n## Columns\n\n"
            f"{summary(table).to_markdown(index=False)}\n\n## Rows\n\n"
            f"{shown.astype(object).where(shown.notna(), '').to_markdown(index=False)}\n"
        )
