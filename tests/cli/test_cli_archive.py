"""`pncp verify` and `pncp fetch-payload` against the simulator and a real archive."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import duckdb
import zstandard

from project.lib.pncp import payload_store
from project.simulators.pncp import PncpSimulator, SimulatorConfig


def _pages(path: Path, where: str = "true") -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(f"SELECT count(*) FROM raw.api_requests WHERE {where}").fetchone()[0]


def _a_stored_body(path: Path) -> tuple[str, Path]:
    """The sha256 of one archived page's body (of a page no other page shares) and its file."""
    with duckdb.connect(str(path), read_only=True) as conn:
        sha = conn.execute(
            """SELECT payload_sha256 FROM raw.api_requests WHERE payload_sha256 IS NOT NULL
               GROUP BY 1 HAVING count(*) = 1 ORDER BY 1 LIMIT 1"""
        ).fetchone()[0]
    return sha, payload_store.path_for(payload_store.root_beside(path), sha)


def test_verify_finds_an_intact_archive_identical_upstream(pncp, archive: Path) -> None:
    result = pncp("verify", "--range", "2024-07-01:2024-07-02")
    assert result.code == 0, result.output
    pages = _pages(archive)
    assert result.stdout.splitlines()[-1] == (
        f"verified {pages} pages: {pages} ok, 0 changed upstream, 0 corrupted, 0 missing, "
        "0 unreachable"
    )


def test_verify_samples_a_reproducible_fraction(pncp, archive: Path) -> None:
    first = pncp("verify", "--sample", "0.25", "--seed", "7", "-e", "contratacoes_publicacao")
    again = pncp("verify", "--sample", "0.25", "--seed", "7", "-e", "contratacoes_publicacao")
    assert first.code == again.code == 0, first.output
    expected = math.ceil(_pages(archive, "endpoint = 'contratacoes_publicacao'") * 0.25)
    assert first.stdout.splitlines()[-1].startswith(f"verified {expected} pages: {expected} ok")
    assert first.stdout == again.stdout


def test_verify_detects_a_payload_tampered_with_in_the_store(pncp, archive: Path) -> None:
    sha, body_file = _a_stored_body(archive)
    original = payload_store.read(payload_store.root_beside(archive), sha)
    tampered = original.replace(b"}", b" }", 1)  # still valid JSON, other bytes
    body_file.write_bytes(zstandard.ZstdCompressor().compress(tampered))
    result = pncp("verify", "--range", "2024-07")
    assert result.code == 1, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("CORRUPTED")]
    actual = hashlib.sha256(tampered).hexdigest()
    assert f"sha256 {sha}: stored body hashes to {actual}" in line
    assert "PNCP still serves the recorded body" in line
    assert ", 1 corrupted, 0 missing," in result.stdout
    assert result.stderr.strip().splitlines()[-1].startswith("error: 1 stored page(s) damaged")


def test_verify_detects_a_row_whose_body_is_gone(pncp, archive: Path) -> None:
    sha, body_file = _a_stored_body(archive)
    body_file.unlink()
    result = pncp("verify", "--range", "2024-07-01:2024-07-02")
    assert result.code == 1
    assert any(
        line.startswith("MISSING") and f"sha256 {sha}: no stored body" in line
        for line in result.stdout.splitlines()
    )


def test_verify_tells_data_changed_upstream_from_corruption(pncp, archive: Path) -> None:
    with PncpSimulator(SimulatorConfig(scale=0.02, seed=4242)) as other:
        result = pncp(
            "verify",
            "--range",
            "2024-07-01",
            "-e",
            "contratos",
            env={"PNCP_BASE_URL": other.base_url},
        )
    assert result.code == 0, result.output
    pages = _pages(archive, "endpoint = 'contratos' AND ingestion_date = '2024-07-01'")
    changed = [line for line in result.stdout.splitlines() if line.startswith("CHANGED UPSTREAM")]
    assert len(changed) == pages
    assert f"{pages} changed upstream, 0 corrupted" in result.stdout


def test_fetch_payload_prints_the_body_byte_for_byte(pncp, archive: Path) -> None:
    sha, _ = _a_stored_body(archive)
    result = pncp("fetch-payload", sha)
    assert result.code == 0, result.output
    assert hashlib.sha256(result.raw_stdout).hexdigest() == sha
    pretty = pncp("fetch-payload", sha[:12], "--pretty")
    assert pretty.code == 0
    assert json.loads(pretty.stdout) == json.loads(result.raw_stdout)
    assert pretty.stdout.startswith("{\n  ")


def test_fetch_payload_reports_a_corrupted_body(pncp, archive: Path) -> None:
    sha, body_file = _a_stored_body(archive)
    body_file.write_bytes(zstandard.ZstdCompressor().compress(b'{"data": []}'))
    result = pncp("fetch-payload", sha)
    assert result.code == 1
    assert result.raw_stdout == b'{"data": []}'
    assert result.stderr == f"error: stored payload {sha} does not match its sha256 (corrupted)\n"
