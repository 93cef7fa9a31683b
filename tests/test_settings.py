"""Settings: defaults resolve under the repository; bad values name the variable and form;
`.env` files take Dagster's precedence (the working directory's wins over the environment)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from project import settings as settings_module
from project.settings import PROJECT_ROOT, SettingsError, load_env_files, load_settings


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


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in repository root, so a developer's own `.env` plays no part."""
    root = tmp_path / "repository"
    root.mkdir()
    monkeypatch.setattr(settings_module, "PROJECT_ROOT", root)
    return root


def _directory_with_env_file(path: Path, text: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / ".env").write_text(text)
    return path


@pytest.mark.usefixtures("repository")
def test_the_working_directory_env_file_wins_over_the_environment(tmp_path: Path) -> None:
    work = _directory_with_env_file(tmp_path / "work", "PLATFORM_DATA_DIR=/a\n# LOG_LEVEL=DEBUG\n")
    environ = {"PLATFORM_DATA_DIR": "/b", "LOG_LEVEL": "ERROR"}
    load_env_files(work, environ)
    assert environ == {"PLATFORM_DATA_DIR": "/a", "LOG_LEVEL": "ERROR"}


def test_the_repository_env_file_fills_in_only_what_the_environment_lacks(
    tmp_path: Path, repository: Path
) -> None:
    _directory_with_env_file(repository, "PLATFORM_DATA_DIR=/root\nLOG_LEVEL=DEBUG\n")
    environ = {"PLATFORM_DATA_DIR": "/b"}
    assert load_env_files(tmp_path / "elsewhere", environ) == []
    assert environ == {"PLATFORM_DATA_DIR": "/b", "LOG_LEVEL": "DEBUG"}


@pytest.mark.usefixtures("repository")
def test_an_override_names_the_variable_and_both_sources_with_their_values(
    tmp_path: Path,
) -> None:
    work = _directory_with_env_file(tmp_path / "work", "PLATFORM_DATA_DIR=/a\nLOG_LEVEL=INFO\n")
    (override,) = load_env_files(work, {"PLATFORM_DATA_DIR": "/b", "LOG_LEVEL": "INFO"})
    assert override.message() == (
        f"PLATFORM_DATA_DIR is set in the environment ('/b') and in {work / '.env'} ('/a'): "
        "the .env value is used, as by every Dagster command; remove one of the two to "
        "silence this warning"
    )


@pytest.mark.usefixtures("repository")
@pytest.mark.parametrize("name", ["PNCP_API_TOKEN", "DAGSTER_PG_URL", "SOME_VENDOR_KEY"])
def test_an_override_of_a_secret_or_unknown_variable_never_shows_a_value(
    tmp_path: Path, name: str
) -> None:
    work = _directory_with_env_file(tmp_path / "work", f"{name}=postgresql://hunter2@h/new\n")
    (override,) = load_env_files(work, {name: "postgresql://hunter2@h/old"})
    message = override.message()
    assert name in message
    assert str(work / ".env") in message
    assert "hunter2" not in message
    assert "hunter2" not in repr(override)


@pytest.mark.usefixtures("repository")
def test_settings_load_the_env_file_once_so_a_later_environment_change_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    work = _directory_with_env_file(tmp_path / "work", f"PLATFORM_DATA_DIR={tmp_path / 'a'}\n")
    monkeypatch.chdir(work)
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path / "b"))
    with caplog.at_level(logging.WARNING, logger="project.settings"):
        assert load_settings().data_path == tmp_path / "a"
    assert "PLATFORM_DATA_DIR is set in the environment" in caplog.text
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path / "c"))  # e.g. a command's option
    assert load_settings().data_path == tmp_path / "c"


def test_a_lake_without_a_catalog_url_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WAREHOUSE_BACKEND", "DuckLake")
    monkeypatch.delenv("WAREHOUSE_CATALOG_URL", raising=False)
    with pytest.raises(SettingsError, match="WAREHOUSE_CATALOG_URL: WAREHOUSE_BACKEND=ducklake"):
        load_settings()
    monkeypatch.setenv("WAREHOUSE_CATALOG_URL", "postgresql://u:pw@h:5432/lake")
    settings = load_settings()
    assert (settings.warehouse_slots, settings.dbt_target) == (4, "lake")
