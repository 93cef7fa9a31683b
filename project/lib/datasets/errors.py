"""The dataset layer's two errors, in a module of their own so the CLI can catch them
without importing pandas, pyarrow and DuckDB at start-up."""

from __future__ import annotations

from pathlib import Path


class CatalogError(ValueError):
    """The catalog is wrong; the message names the file, the line and the entry."""

    def __init__(
        self, message: str, *, file: Path | None = None, line: int | None = None, entry: str = ""
    ) -> None:
        self.file, self.line, self.entry, self.reason = file, line, entry, message
        where = f"{file}:{line}" if file and line else str(file or "catalog")
        super().__init__(f"{where}: {f'dataset {entry!r}: ' if entry else ''}{message}")


class PipelineError(CatalogError):
    """A pipeline file is wrong; the message names the file, the line, the pipeline and the
    node. A `CatalogError`, so whatever reports catalog errors reports these too."""

    def __init__(
        self,
        message: str,
        *,
        file: Path | None = None,
        line: int | None = None,
        pipeline: str = "",
        node: str = "",
    ) -> None:
        self.pipeline, self.node = pipeline, node
        super().__init__(message, file=file, line=line)
        where = f"{file}:{line}" if file and line else str(file or "pipelines")
        subject = ", ".join(
            part
            for part in (
                f"pipeline {pipeline!r}" if pipeline else "",
                f"node {node!r}" if node else "",
            )
            if part
        )
        self.args = (f"{where}: {subject + ': ' if subject else ''}{message}",)

    def __str__(self) -> str:
        return str(self.args[0])


class DatasetError(RuntimeError):
    """A dataset could not be read or written; the message names it and the cause."""
