"""Structured JSON logs that carry the Dagster run, asset and partition of each line.

Dagster attaches its run context to every record it handles (`record.dagster_meta`);
this formatter lifts the fields an operator filters on (run id, job, asset, partition)
to top-level keys, so `jq 'select(.run_id == ...)'` works on the output of runs, the
daemon and the CLI alike. python-json-logger does the JSON encoding.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

PARTITION_TAG = "dagster/partition"
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "dagster_meta"}


def _asset_of(meta: dict[str, Any]) -> str | None:
    event = meta.get("dagster_event")
    asset_key = getattr(event, "asset_key", None) if event is not None else None
    if asset_key is not None:
        return asset_key.to_user_string()
    step_key = meta.get("step_key")
    # Asset steps are named after the asset key path joined by "__".
    return step_key.replace("__", "/") if step_key else None


class StructuredJsonFormatter(JsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, Dagster context, extras."""

    def __init__(self) -> None:
        super().__init__(timestamp=True)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        meta = getattr(record, "dagster_meta", None)
        if meta:
            tags = meta.get("job_tags") or {}
            log_data["run_id"] = meta.get("run_id")
            log_data["job"] = meta.get("job_name")
            log_data["asset"] = _asset_of(meta)
            log_data["partition"] = tags.get(PARTITION_TAG)
            event = meta.get("dagster_event")
            if event is not None:
                log_data["event"] = event.event_type_value
            message = meta.get("orig_message") or record.getMessage()
        else:
            message = record.getMessage()
        log_data["message"] = message
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                log_data[key] = value
        if record.exc_info:
            log_data["exc_info"] = self.formatException(record.exc_info)


def json_handler(stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(StructuredJsonFormatter())
    return handler


def configure_process_logging(log_format: str, level: str = "INFO") -> None:
    """Set up the root logger of a non-Dagster process (CLI, simulator) once."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    if log_format == "json":
        root.addHandler(json_handler())
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
