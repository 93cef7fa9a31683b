"""Settings: defaults resolve under the repository; bad values name the variable and form."""

from __future__ import annotations

import pytest

from project.settings import PROJECT_ROOT, SettingsError, load_settings


def test_defaults_resolve_to_absolute_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATFORM_DATA_DIR")
    settings = load_settings()
    assert settings.warehouse == PROJECT_ROOT / "data" / "warehouse.duckdb"
    assert settings.exports == PROJECT_ROOT / "data" / "exports"
    assert settings.pncp_base_url == "https://pncp.gov.br/api/consulta"
    assert settings.dagster_pg_url is None


def test_relative_paths_are_taken_from_the_repository_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAREHOUSE_PATH", "elsewhere/wh.duckdb")
    assert load_settings().warehouse == PROJECT_ROOT / "elsewhere" / "wh.duckdb"


@pytest.mark.parametrize(
    ("variable", "value", "expected_form"),
    [
        ("WAREHOUSE_PATH", "warehouse.sqlite", "ending in .duckdb"),
        ("PNCP_BASE_URL", "ftp://pncp", "http(s) URL"),
        ("DAGSTER_PG_URL", "mysql://u:p@h/db", "postgresql://"),
        ("LOG_FORMAT", "xml", "one of: text, json"),
        ("PNCP_START_DATE", "01/07/2024", "YYYY-MM-DD"),
        ("PNCP_MAX_CONCURRENCY", "lots", "whole number"),
    ],
)
def test_a_malformed_setting_names_the_variable_and_the_expected_form(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected_form: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert variable in message
    assert expected_form in message


def test_a_bad_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGSTER_PG_URL", "mysql://admin:hunter2-secret@db/x")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "hunter2-secret" not in str(error.value)


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    monkeypatch.setenv("PNCP_TIMEOUT_S", "-1")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "LOG_FORMAT" in str(error.value)
    assert "PNCP_TIMEOUT_S" in str(error.value)
