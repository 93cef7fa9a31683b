"""The command line as a whole: help with examples, and one convention for bad input.

Bad input is one line `error: ...` on stderr, exit code 2, no traceback, nothing written.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from project.settings import load_settings

COMMANDS = [
    "init", "doctor", "ui",
    "run", "extract", "transform", "dry-run", "retry-failed",
    "query", "dump-catalog", "recovery-status",
    "verify", "fetch-payload",
    "backup", "rollback", "reset",
]  # fmt: skip


def test_help_lists_every_command(pncp) -> None:
    result = pncp("--help")
    assert result.code == 0
    for command in COMMANDS:
        assert f" {command} " in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(pncp, command: str) -> None:
    result = pncp(command, "--help")
    assert result.code == 0, result.output
    assert f"Example: pncp {command}" in result.stdout or (
        f"Example: pncp --lock-wait 600 {command}" in result.stdout
    )


BAD_INPUT = {
    "malformed month": (["run", "--month", "2024-7"], "month '2024-7'"),
    "month 13": (["transform", "--month", "2024-13"], "month '2024-13'"),
    "malformed month argument": (["recovery-status", "July"], "month 'July'"),
    "retry malformed month": (["retry-failed", "2024/07"], "month '2024/07'"),
    "dry-run malformed month": (["dry-run", "--month", "24-07"], "month '24-07'"),
    "malformed day": (["extract", "--day", "2024-07-1"], "day '2024-07-1'"),
    "unknown endpoint": (["extract", "--day", "2024-07-01", "-e", "licitacoes"], "licitacoes"),
    "unknown endpoint in a plan": (["dry-run", "--month", "2024-07", "-e", "x"], "endpoint 'x'"),
    "unknown endpoint in status": (["recovery-status", "2024-07", "-e", "x"], "endpoint 'x'"),
    "month and latest": (["run", "--month", "2024-07", "--latest"], "exactly one"),
    "SQL that writes": (["query", "DROP TABLE raw.payloads"], "DROP statements"),
    "SQL that does not parse": (["query", "SELEC 1"], "does not parse"),
    "not a sha256": (["fetch-payload", "not-a-hash"], "not a sha256"),
    "unknown sha256": (["fetch-payload", "ab" * 32], "no stored payload"),
    "unknown backup": (["rollback", "--to", "20240101T000000Z"], "no backup named"),
    "reset without force": (["reset"], "--force"),
    "verify without scope": (["verify"], "--range"),
    "verify bad range": (["verify", "--range", "2024-07-09:2024-07-01"], "ends before"),
    "sample above 1": (["verify", "--sample", "1.5"], "--sample"),
    "retries out of range": (["retry-failed", "2024-07", "--max-retries", "99"], "retries"),
    "missing argument": (["query"], "Missing argument"),
    "unknown option": (["backup", "--everything"], "No such option"),
    "unknown command": (["deploy"], "No such command"),
    "bad format": (["query", "SELECT 1", "--format", "xml"], "'xml'"),
    "no warehouse yet": (["query", "SELECT 1"], "does not exist yet"),
    "two months": (["recovery-status", "2024-07", "--month", "2024-08"], "two months"),
    "no month": (["retry-failed"], "--month YYYY-MM"),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(pncp, case: str) -> None:
    args, fragment = BAD_INPUT[case]
    settings = load_settings()
    result = pncp(*args)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert fragment in lines[0]
    written = [p for p in (settings.data_path, settings.dagster_home_path) if _has_files(p)]
    assert not written, f"{case} wrote into {written}"


def _has_files(path: Path) -> bool:
    return path.exists() and any(p.is_file() for p in path.rglob("*"))


def test_a_bad_setting_is_one_line_naming_the_variable(pncp) -> None:
    result = pncp("recovery-status", "2024-07", env={"PNCP_BASE_URL": "ftp://example.org"})
    assert result.code == 2
    assert "Traceback" not in result.output
    assert result.stderr.count("\n") == 1
    assert "PNCP_BASE_URL" in result.stderr
    assert "http(s) URL" in result.stderr


LOCK_CASES = {
    "query": ["query", "SELECT count(*) FROM raw.api_requests"],
    "recovery-status": ["recovery-status", "2024-07"],
    "dump-catalog": ["dump-catalog"],
    "verify": ["verify", "--range", "2024-07-01"],
    "dry-run": ["dry-run", "--month", "2024-07", "-e", "contratos"],
    "backup": ["backup"],
    "rollback": ["rollback", "--to", "latest"],
    "reset": ["reset", "--force"],
    "init": ["init", "--env-file", "{tmp}/.env"],
}


@pytest.mark.parametrize("case", LOCK_CASES, ids=list(LOCK_CASES))
def test_a_locked_warehouse_is_one_line_exit_2(
    pncp, archive: Path, lock, tmp_path: Path, case: str
) -> None:
    if case == "rollback":  # a backup to roll back to, taken before the lock
        assert pncp("backup").code == 0
    before = sorted(p.name for p in archive.parent.iterdir())
    args = [a.replace("{tmp}", str(tmp_path)) for a in LOCK_CASES[case]]
    with lock(archive) as pid:
        result = pncp("--lock-wait", "0.5", *args)
    assert result.code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ")
    assert f"locked by PID {pid}" in lines[-1]
    assert sorted(p.name for p in archive.parent.iterdir()) == before
    backups = archive.parent / "backups"
    if backups.exists():
        assert not [p for p in backups.iterdir() if p.name.startswith(".")], "partial backup"


MONTH_COMMANDS = ["run", "transform", "dry-run", "retry-failed", "recovery-status"]


@pytest.mark.parametrize("command", MONTH_COMMANDS)
def test_every_month_taking_command_takes_month_as_an_option(pncp, command: str) -> None:
    result = pncp(command, "--help")
    assert "--month" in result.stdout
    example = next(line for line in result.stdout.splitlines() if "Example: pncp" in line)
    assert "--month 2024-07" in example


def _example(pncp, command: str) -> list[str]:
    line = next(x for x in pncp(command, "--help").stdout.splitlines() if "Example: pncp" in x)
    return line.split("Example: pncp", 1)[1].split()


@pytest.mark.parametrize("command", ["dry-run", "retry-failed", "recovery-status"])
def test_the_help_example_of_a_month_command_works_as_printed(
    pncp, archive: Path, command: str
) -> None:
    result = pncp(*_example(pncp, command))
    assert result.code == 0, result.output
    assert "2024-07" in result.stdout


def test_a_positional_month_is_still_accepted_as_an_alias(pncp, archive: Path) -> None:
    positional = pncp("recovery-status", "2024-07", "-f", "json")
    option = pncp("recovery-status", "--month", "2024-07", "-f", "json")
    assert positional.code == option.code == 0, positional.output + option.output
    assert positional.stdout == option.stdout


def test_verify_and_backup_show_progress_lines_without_a_terminal(pncp, archive: Path) -> None:
    verify = pncp("--progress-every", "0.5", "verify", "--range", "2024-07-01:2024-07-02")
    assert verify.code == 0, verify.output
    lines = [x for x in verify.stderr.splitlines() if x.startswith("progress: verify ")]
    total = int(lines[0].split("/")[1].split()[0])
    assert total > 0
    assert lines[0].startswith("progress: verify 2024-07-01..2024-07-02: 0/")
    assert f"{total}/{total} pages checked" in lines[-1]
    assert "0 errors, done in" in lines[-1]
    backup = pncp("--progress-every", "0.5", "backup")
    assert backup.code == 0, backup.output
    lines = [x for x in backup.stderr.splitlines() if x.startswith("progress: backup: ")]
    assert len(lines) >= 2
    assert lines[0].startswith("progress: backup: 0/")
    assert "MB copied, done in" in lines[-1]
    assert "progress:" not in verify.stdout + backup.stdout
