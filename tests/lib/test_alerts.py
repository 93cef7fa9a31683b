"""Alerts: Slack/Discord payloads, redaction, dedup, rate limit, and delivery to a real server."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from project.lib.alerts import (
    Alert,
    AlertDeliveryError,
    AlertGate,
    build_payload,
    dispatch,
    redact,
    resolve_format,
)

SECRET_PATH = "/services/T0/B0/hook-secret-4f9a"


def _alert(**changes: object) -> Alert:
    fields = {
        "kind": "run_failure",
        "title": "Run failed: pncp_daily_extraction",
        "run_id": "3f2c9a1e-0000-4000-8000-000000000001",
        "job": "pncp_daily_extraction",
        "assets": ("pncp/raw/contratos",),
        "partition": "2024-07-01",
        "error": "Failure: contratos: 1 day(s) incomplete (2024-07-01)",
        "run_url": "http://ui.example/runs/3f2c9a1e-0000-4000-8000-000000000001",
    }
    return Alert(**{**fields, **changes})  # type: ignore[arg-type]


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict] = []
    statuses: list[int] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append({"path": self.path, "json": json.loads(body)})
        status = type(self).statuses.pop(0) if type(self).statuses else 204
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"bodies": [], "statuses": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}{SECRET_PATH}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_slack_payload_carries_run_job_asset_partition_error_and_link() -> None:
    payload = build_payload(_alert(), "slack")
    text = json.dumps(payload)
    assert payload["text"].startswith("Run failed: pncp_daily_extraction")
    for expected in ("3f2c9a1e", "pncp/raw/contratos", "2024-07-01", "1 day(s) incomplete"):
        assert expected in text
    assert "<http://ui.example/runs/3f2c9a1e-0000-4000-8000-000000000001|" in text
    assert {b["type"] for b in payload["blocks"]} >= {"header", "section"}


def test_discord_payload_uses_content_and_an_embed_linking_the_run() -> None:
    payload = build_payload(_alert(), "discord")
    embed = payload["embeds"][0]
    assert payload["content"].startswith("Run failed")
    assert embed["url"].endswith("/runs/3f2c9a1e-0000-4000-8000-000000000001")
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Asset"] == "pncp/raw/contratos"
    assert fields["Partition"] == "2024-07-01"
    assert "incomplete" in embed["description"]


def test_long_errors_are_truncated_to_fit_both_services() -> None:
    payload = build_payload(_alert(error="x" * 10_000), "discord")
    assert len(payload["embeds"][0]["description"]) < 4096
    slack = build_payload(_alert(error="x" * 10_000), "slack")
    assert all(len(json.dumps(b)) < 3100 for b in slack["blocks"])


def test_format_is_discord_only_for_discord_urls() -> None:
    assert resolve_format("https://discord.com/api/webhooks/1/abc") == "discord"
    assert resolve_format("https://hooks.slack.com/services/T/B/x") == "slack"
    assert resolve_format("https://discord.com/api/webhooks/1/abc", "slack") == "slack"


def test_redaction_removes_secret_values_url_credentials_and_secret_parameters() -> None:
    text = (
        "connect postgresql://admin:hunter2@db:5432/x failed; token tok-123 "
        "GET https://api/x?page=1&token=abc&key=zzz"
    )
    clean = redact(text, ["tok-123"])
    for secret in ("hunter2", "tok-123", "abc", "zzz"):
        assert secret not in clean
    assert "postgresql://***@db:5432/x" in clean
    assert "page=1" in clean


def test_the_same_failure_in_another_run_is_a_duplicate_within_the_window() -> None:
    gate = AlertGate(dedup_window_s=600, max_per_hour=10)
    first = _alert(error="Failure at 2024-07-01T06:00:01: 3 pages failed")
    again = _alert(
        run_id="99999999-0000-4000-8000-000000000002",
        error="Failure at 2024-07-02T06:00:07: 5 pages failed",
    )
    assert first.dedup_key == again.dedup_key
    assert gate.admit(first.dedup_key, now=1000) == "send"
    assert gate.admit(again.dedup_key, now=1300) == "duplicate"
    assert gate.admit(again.dedup_key, now=1601) == "send"  # window over


def test_a_different_asset_or_partition_is_not_a_duplicate() -> None:
    base = _alert()
    assert base.dedup_key != _alert(partition="2024-07-02").dedup_key
    assert base.dedup_key != _alert(assets=("pncp/raw/atas",)).dedup_key
    assert base.dedup_key != _alert(error="another error").dedup_key


def test_rate_limit_holds_back_alerts_and_the_next_one_counts_them() -> None:
    gate = AlertGate(dedup_window_s=0, max_per_hour=2)
    decisions = [gate.admit(f"k{i}", now=100 + i) for i in range(5)]
    assert decisions == ["send", "send", "rate_limited", "rate_limited", "rate_limited"]
    assert gate.admit("k9", now=100 + 3600) == "send"  # the hour has passed
    assert gate.take_suppressed() == 3
    assert gate.take_suppressed() == 0


def test_gate_state_round_trips_through_json() -> None:
    gate = AlertGate(dedup_window_s=600, max_per_hour=1)
    gate.admit("a", now=10)
    gate.admit("b", now=11)
    restored = AlertGate.from_json(gate.to_json(), dedup_window_s=600, max_per_hour=1)
    assert restored.admit("a", now=12) == "duplicate"
    assert restored.take_suppressed() == 1
    assert AlertGate.from_json("not json", 600, 1).admit("a", now=1) == "send"


def test_dispatch_posts_json_to_a_real_server_without_logging_the_url(
    receiver: tuple[str, type[_Receiver]], caplog: pytest.LogCaptureFixture
) -> None:
    url, handler = receiver
    gate = AlertGate(dedup_window_s=3600, max_per_hour=10)
    caplog.set_level(logging.DEBUG)
    alert = _alert(error="dsn postgresql://u:pg-secret@db/x refused; token tok-77")
    assert dispatch(alert, url=url, gate=gate, secrets=["tok-77"]) == "send"
    assert dispatch(alert, url=url, gate=gate, secrets=["tok-77"]) == "duplicate"
    assert len(handler.bodies) == 1
    body = json.dumps(handler.bodies[0]["json"])
    assert handler.bodies[0]["path"] == SECRET_PATH
    assert "pg-secret" not in body
    assert "tok-77" not in body
    assert "hook-secret" not in caplog.text


def test_server_errors_are_retried_then_delivered(
    receiver: tuple[str, type[_Receiver]],
) -> None:
    url, handler = receiver
    handler.statuses.extend([503, 500])
    assert dispatch(_alert(), url=url, gate=AlertGate()) == "send"
    assert len(handler.bodies) == 3


def test_a_failed_delivery_is_forgotten_so_the_retry_is_not_a_duplicate(
    receiver: tuple[str, type[_Receiver]],
) -> None:
    url, handler = receiver
    handler.statuses.append(400)
    gate = AlertGate()
    with pytest.raises(AlertDeliveryError) as error:
        dispatch(_alert(), url=url, gate=gate)
    assert "hook-secret" not in str(error.value)
    assert "HTTP 400" in str(error.value)
    assert dispatch(_alert(), url=url, gate=gate) == "send"


def test_an_unreachable_webhook_fails_without_the_url_in_the_error() -> None:
    url = "http://127.0.0.1:9/services/T0/B0/unreachable-secret"
    with pytest.raises(AlertDeliveryError) as error:
        dispatch(_alert(), url=url, gate=AlertGate())
    assert "unreachable-secret" not in str(error.value)
    assert error.value.__cause__ is None
