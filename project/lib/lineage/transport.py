"""Sending run events through openlineage-python's own transports, without ever failing a run.

Where events go is the client's standard configuration when there is one: `OPENLINEAGE_URL`
(+ `OPENLINEAGE_API_KEY`, `OPENLINEAGE_ENDPOINT`), `OPENLINEAGE__TRANSPORT__...` variables,
an `openlineage.yml` (`OPENLINEAGE_CONFIG`, the working directory, `~/.openlineage`), or
`OPENLINEAGE_DISABLED=true`. Without any, the client would print events to the console;
this platform writes them to files instead, with the client's `FileTransport` in append
mode: one JSON-lines file per step (`<events dir>/<run id>/<step>.jsonl`), so the steps of
a run, each in its own process, never write the same file.

A transport error (an unreachable endpoint, a full disk) is a warning naming the error with
every secret replaced by `***`, never an exception: lineage must not fail a run.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from openlineage.client import OpenLineageClient
from openlineage.client.transport.file import FileConfig, FileTransport

log = logging.getLogger(__name__)

CONFIG_ENV = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED")
CONFIG_PREFIX = "OPENLINEAGE__"


def configured_by_environment() -> bool:
    """Whether the client's own configuration (variables or an openlineage.yml) applies."""
    if any(os.environ.get(name, "").strip() for name in CONFIG_ENV):
        return True
    if any(name.startswith(CONFIG_PREFIX) for name in os.environ):
        return True
    return any(
        p.is_file()
        for p in (Path.cwd() / "openlineage.yml", Path.home() / ".openlineage" / "openlineage.yml")
    )


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:200] or "events"


def client_for(events_file: Path) -> OpenLineageClient:
    """The client: its standard configuration if any, else JSON lines appended to a file."""
    if configured_by_environment():
        return OpenLineageClient()
    events_file.parent.mkdir(parents=True, exist_ok=True)
    transport = FileTransport(FileConfig(log_file_path=str(events_file), append=True))
    return OpenLineageClient(transport=transport)


def scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def transport_secrets() -> list[str]:
    """The OpenLineage settings that may hold a key or a password."""
    values = [os.environ.get("OPENLINEAGE_API_KEY", "")]
    values += [v for k, v in os.environ.items() if k.startswith(CONFIG_PREFIX) and "AUTH" in k]
    return values


def emit(
    events: Sequence[object],
    events_file: Path,
    warn: Callable[[str], None],
    secrets: Iterable[str] = (),
) -> int:
    """Send `events` in order; returns how many went. Never raises."""
    hidden = [*secrets, *transport_secrets()]
    sent = 0
    try:
        client = client_for(events_file)
    except Exception as exc:
        warn(scrub(f"OpenLineage: no transport ({type(exc).__name__}: {exc})", hidden))
        return 0
    try:
        for event in events:
            try:
                client.emit(event)  # type: ignore[arg-type]
                sent += 1
            except Exception as exc:
                warn(scrub(f"OpenLineage: event not sent ({type(exc).__name__}: {exc})", hidden))
                break  # the transport is down: do not wait on it once per event
    finally:
        try:
            client.close(timeout=5)
        except Exception as exc:
            log.debug("OpenLineage client close failed: %s", type(exc).__name__)
    return sent
