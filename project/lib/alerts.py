"""Webhook alerts for failed runs and failing checks: payloads, redaction, dedup, rate limit.

Plain Python (no Dagster), so each rule is tested on its own; the sensors in
`project.defs.ops.alerts` only gather the facts of a failure into an `Alert`.

- One incoming-webhook POST per alert, shaped for Slack (`text` + `blocks`) or Discord
  (`content` + `embeds`); `auto` picks Discord for discord.com URLs and Slack's shape,
  which most chat tools accept, otherwise.
- Secrets never leave: every text is scrubbed of the process's secret values and of URL
  credentials, and delivery errors never carry the webhook URL (the URL is the secret).
- The same failure (kind, job, assets, partition, normalised error) is sent once per
  dedup window, and at most `max_per_hour` alerts go out per hour; what the limit holds
  back is counted and announced in the next alert. The gate's state is a small JSON
  document, so it can live wherever the caller keeps state (the Dagster instance).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from tenacity import (
    RetryError,
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from project.lib.logs import redact

logger = logging.getLogger("project.alerts")
# httpx logs every request URL at INFO; the webhook URL is a secret.
logging.getLogger("httpx").setLevel(logging.WARNING)

AlertKind = Literal["run_failure", "check_failure"]
WebhookFormat = Literal["auto", "slack", "discord"]

MAX_ERROR_CHARS = 1500  # fits Slack's 3000-char section and Discord's 4096-char embed
# Run ids, timestamps, counts: parts of an error that change between two runs of one failure.
_VOLATILE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f-]{27}|0x[0-9a-f]+|\d+", re.IGNORECASE)


@dataclass(frozen=True)
class Alert:
    """What an operator needs to act on a failure, and a link to see it in the UI."""

    kind: AlertKind
    title: str
    run_id: str
    job: str | None
    assets: tuple[str, ...]
    partition: str | None
    error: str
    run_url: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)

    def redacted(self, secrets: Iterable[str]) -> Alert:
        secrets = list(secrets)
        return Alert(
            kind=self.kind,
            title=redact(self.title, secrets),
            run_id=self.run_id,
            job=self.job,
            assets=self.assets,
            partition=self.partition,
            error=redact(self.error, secrets),
            run_url=self.run_url,
            details={k: redact(v, secrets) for k, v in self.details.items()},
        )

    @property
    def dedup_key(self) -> str:
        """Equal for two runs failing the same way on the same asset and partition."""
        first_line = next((line for line in self.error.splitlines() if line.strip()), "")
        signature = [
            self.kind,
            self.job or "",
            ",".join(sorted(self.assets)),
            self.partition or "",
            _VOLATILE.sub("#", first_line.strip())[:300],
        ]
        return hashlib.sha256("\x1f".join(signature).encode()).hexdigest()[:20]


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fields(alert: Alert) -> list[tuple[str, str]]:
    fields = [
        ("Run", alert.run_id),
        ("Job", alert.job or "-"),
        ("Asset", ", ".join(alert.assets) or "-"),
        ("Partition", alert.partition or "-"),
    ]
    return fields + [(name, value) for name, value in alert.details.items()]


def resolve_format(url: str, webhook_format: WebhookFormat = "auto") -> Literal["slack", "discord"]:
    if webhook_format != "auto":
        return webhook_format
    host = urlsplit(url).hostname or ""
    is_discord = host == "discord.com" or host.endswith((".discord.com", "discordapp.com"))
    return "discord" if is_discord else "slack"


def build_payload(
    alert: Alert, webhook_format: Literal["slack", "discord"], suppressed: int = 0
) -> dict[str, Any]:
    """The JSON body of the webhook POST, in Slack's or Discord's incoming-webhook shape."""
    error = _truncate(alert.error.strip() or "(no error message)", MAX_ERROR_CHARS)
    note = f"{suppressed} more alert(s) were held back by the rate limit." if suppressed else ""
    summary = f"{alert.title} (run {alert.run_id[:8]})"
    if webhook_format == "discord":
        embed: dict[str, Any] = {
            "title": _truncate(alert.title, 256),
            "description": f"```\n{error}\n```",
            "color": 0xE01E5A,
            "fields": [
                {"name": name, "value": _truncate(value, 1024), "inline": True}
                for name, value in _fields(alert)
            ],
        }
        if alert.run_url:
            embed["url"] = alert.run_url
        if note:
            embed["footer"] = {"text": note}
        return {"content": _truncate(summary, 2000), "embeds": [embed]}
    field_blocks = [
        {"type": "mrkdwn", "text": _truncate(f"*{name}*\n{value}", 2000)}
        for name, value in _fields(alert)
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _truncate(alert.title, 150)}},
        {"type": "section", "fields": field_blocks[:10]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{error}```"}},
    ]
    if alert.run_url:
        link = f"<{alert.run_url}|Open the run in Dagster>"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": link}})
    if note:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
    return {"text": summary, "blocks": blocks}


# --- dedup and rate limit ---------------------------------------------------------------


Decision = Literal["send", "duplicate", "rate_limited"]


@dataclass
class AlertGate:
    """Decides which alerts go out; its state round-trips through JSON between sensor ticks."""

    dedup_window_s: float = 3600.0
    max_per_hour: int = 20
    last_sent: dict[str, float] = field(default_factory=dict)  # dedup key -> last send
    sent_at: list[float] = field(default_factory=list)  # sends in the last hour
    suppressed: int = 0  # held back by the rate limit since the last send

    def admit(self, key: str, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        self.sent_at = [t for t in self.sent_at if now - t < 3600]
        self.last_sent = {
            k: t for k, t in self.last_sent.items() if now - t < max(self.dedup_window_s, 1)
        }
        if self.dedup_window_s and key in self.last_sent:
            return "duplicate"
        if len(self.sent_at) >= self.max_per_hour:
            self.suppressed += 1
            return "rate_limited"
        self.last_sent[key] = now
        self.sent_at.append(now)
        return "send"

    def forget(self, key: str) -> None:
        """Undo the admission of `key` (its delivery failed, so a retry must not be a duplicate)."""
        sent = self.last_sent.pop(key, None)
        if sent is not None and sent in self.sent_at:
            self.sent_at.remove(sent)

    def take_suppressed(self) -> int:
        """How many alerts were held back since the last send (reset: the next alert says so)."""
        count, self.suppressed = self.suppressed, 0
        return count

    def to_json(self) -> str:
        return json.dumps(
            {"last_sent": self.last_sent, "sent_at": self.sent_at, "suppressed": self.suppressed}
        )

    @classmethod
    def from_json(cls, text: str | None, dedup_window_s: float, max_per_hour: int) -> AlertGate:
        gate = cls(dedup_window_s=dedup_window_s, max_per_hour=max_per_hour)
        if text:
            try:
                state = json.loads(text)
                gate.last_sent = {str(k): float(v) for k, v in state["last_sent"].items()}
                gate.sent_at = [float(t) for t in state["sent_at"]]
                gate.suppressed = int(state["suppressed"])
            except (ValueError, KeyError, TypeError, AttributeError):
                logger.warning("alert gate state unreadable; starting afresh")
        return gate


# --- delivery ---------------------------------------------------------------------------


class AlertDeliveryError(RuntimeError):
    """The webhook could not be reached or refused the alert (message never has the URL)."""


class _Retryable(Exception):
    pass


def post_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout_s: float = 10.0,
    attempts: int = 3,
    transport: httpx.BaseTransport | None = None,
) -> None:
    """POST `payload` as JSON; retry timeouts, 429 and 5xx with jittered backoff."""

    @retry(
        retry=retry_if_exception_type(_Retryable),
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=0.5, max=5),
        reraise=False,
    )
    def _post(client: httpx.Client) -> None:
        try:
            response = client.post(url, json=payload)
        except httpx.TransportError as exc:
            # The exception text can include the URL: keep only the error class.
            raise _Retryable(type(exc).__name__) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise AlertDeliveryError(f"webhook refused the alert: HTTP {response.status_code}")

    try:
        with httpx.Client(timeout=timeout_s, transport=transport) as client:
            _post(client)
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        raise AlertDeliveryError(
            f"webhook unreachable after {attempts} attempts: {cause}"
        ) from None


def dispatch(
    alert: Alert,
    *,
    url: str,
    gate: AlertGate,
    webhook_format: WebhookFormat = "auto",
    secrets: Iterable[str] = (),
    now: float | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Decision:
    """Send `alert` if the gate admits it; on a delivery error the gate forgets it and raises."""
    decision = gate.admit(alert.dedup_key, now=now)
    if decision != "send":
        logger.info("alert %s not sent: %s", alert.dedup_key, decision)
        return decision
    suppressed = gate.take_suppressed()
    payload = build_payload(
        alert.redacted(secrets), resolve_format(url, webhook_format), suppressed=suppressed
    )
    try:
        post_webhook(url, payload, transport=transport)
    except AlertDeliveryError:
        gate.forget(alert.dedup_key)
        gate.suppressed += suppressed
        raise
    logger.info(
        "alert sent",
        extra={"alert_kind": alert.kind, "run_id": alert.run_id, "dedup_key": alert.dedup_key},
    )
    return decision
