"""Structured JSON logs that carry the Dagster run, asset and partition of each line.

Dagster attaches its run context to every record it handles (`record.dagster_meta`);
this formatter lifts the fields an operator filters on (run id, job, asset, partition,
and for step events the duration, records and error) to top-level keys, so
`jq 'select(.run_id == ...)'` works on the output of runs, the daemon and the CLI alike.
python-json-logger does the JSON encoding.

Whatever reaches a line is scrubbed of the process's secrets (the values of
`SECRET_ENV_VARS`) and of credentials in URLs: an exception message that quotes a
connection string or a token must not leak through the logs.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

PARTITION_TAG = "dagster/partition"
_RESERVED = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "dagster_meta",
    "dagster_event",
    "dagster_event_batch_metadata",
}
SECRET_ENV_VARS = ("PNCP_API_TOKEN", "DAGSTER_PG_URL", "ALERT_WEBHOOK_URL", "CELERY_BROKER_URL")
# Numeric metadata keys that count records, most specific first.
RECORD_KEYS = ("records_archived", "records", "dagster/row_count", "rows_affected", "row_count")
REDACTED = "***"

# Credentials in URLs (`scheme://user:password@host`) and secret-looking query parameters.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@")
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&](?:token|access_token|api_key|apikey|key|secret|password|sig|signature)=)"
    r"[^&\s]+",
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without the given secret values, URL credentials or secret query parameters."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m['name']}{REDACTED}", text)


def environment_secrets() -> list[str]:
    return [os.environ[name] for name in SECRET_ENV_VARS if os.environ.get(name)]


def _redact_value(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v, secrets) for v in value]
    return value


def _asset_of(meta: dict[str, Any]) -> str | None:
    event = meta.get("dagster_event")
    asset_key = getattr(event, "asset_key", None) if event is not None else None
    if asset_key is not None:
        return asset_key.to_user_string()
    step_key = meta.get("step_key")
    # Asset steps are named after the asset key path joined by "__".
    return step_key.replace("__", "/") if step_key else None


def _event_fields(event: Any) -> dict[str, Any]:
    """Duration of a finished step, records of a materialization, the error of a failure."""
    fields: dict[str, Any] = {}
    data = getattr(event, "event_specific_data", None)
    duration_ms = getattr(data, "duration_ms", None)
    if isinstance(duration_ms, int | float):
        fields["duration_s"] = round(duration_ms / 1000, 3)
    materialization = getattr(data, "materialization", None)
    metadata = getattr(materialization, "metadata", None) or {}
    for key in RECORD_KEYS:
        value = getattr(metadata.get(key), "value", None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            fields["records"] = value
            break
    # A step failure wraps the user's exception: the innermost cause says what went wrong.
    error, messages = getattr(data, "error", None), []
    while error is not None and len(messages) < 5:
        if getattr(error, "message", None):
            messages.append(error.message.strip())
        error = getattr(error, "cause", None)
    if messages:
        fields["error"] = messages[-1]
    return fields


class StructuredJsonFormatter(JsonFormatter):
    """One JSON object per line: timestamp, level, logger, message, Dagster context, extras."""

    def __init__(self) -> None:
        super().__init__(timestamp=True)
        # Read once: the environment of a process does not gain secrets while it logs.
        self.secrets = environment_secrets()

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["timestamp"] = datetime.fromtimestamp(record.created, UTC).isoformat()
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
                log_data.update(_event_fields(event))
            message = meta.get("orig_message") or record.getMessage()
        else:
            message = record.getMessage()
        log_data["message"] = message
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                log_data[key] = value
        if record.exc_info:
            log_data["exc_info"] = self.formatException(record.exc_info)
        for key, value in log_data.items():
            log_data[key] = _redact_value(value, self.secrets)


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
