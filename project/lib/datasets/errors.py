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


def validation_problem(errors: list[dict], owner: str = "") -> tuple[str, str | None]:
    """The first of pydantic's `errors()` as one phrase, and the top-level field it is in
    (whose line the message points at): the whole path (`tables.orders.mode`), pydantic's
    "Value error, " prefix dropped, `owner` (a type name) after an unknown field."""
    first = errors[0]
    top = str(first["loc"][0]) if first["loc"] else None
    path = ".".join(str(part) for part in first["loc"]) or top
    reason = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "missing":
        return f"missing required field {path!r}", top
    if first["type"] == "extra_forbidden":
        return f"unknown field {path!r}{f' for {owner}' if owner else ''}", top
    return (f"field {path!r}: {reason}" if path else reason), top


class DatasetError(RuntimeError):
    """A dataset could not be read or written; the message names it and the cause."""
