"""The PNCP client settings have one derivation, shared by the resource and the CLI."""

from __future__ import annotations

import json

import pytest

from project.cli.common import client_settings
from project.lib.pncp.client import ClientSettings
from project.resources.pncp import PncpClientResource
from project.settings import get_settings, load_settings

TOKEN = "tok-3f9a-very-secret"
TUNED = {
    "PNCP_BASE_URL": "http://127.0.0.1:9/api/consulta",
    "PNCP_TIMEOUT_S": "7.5",
    "PNCP_MAX_CONCURRENCY": "12",
    "PNCP_RATE_LIMIT_PER_S": "0",
    "PNCP_MAX_RETRIES": "2",
    "PNCP_API_TOKEN": TOKEN,
}


@pytest.fixture
def tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TUNED.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_unset_variables_give_the_client_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TUNED:
        monkeypatch.delenv(name, raising=False)
    assert ClientSettings.from_settings(load_settings()) == ClientSettings()


@pytest.mark.usefixtures("tuned")
def test_the_resource_and_the_cli_build_the_same_client_settings() -> None:
    settings = load_settings()
    from_resource = PncpClientResource.from_settings(settings).client_settings()
    assert from_resource == client_settings(settings)
    assert from_resource.base_url == TUNED["PNCP_BASE_URL"]
    assert from_resource.timeout_s == 7.5
    assert from_resource.max_concurrency == 12
    assert from_resource.rate_limit_per_s == 0
    assert from_resource.max_retries == 2
    assert from_resource.api_token is not None
    assert from_resource.api_token.get_secret_value() == TOKEN


@pytest.mark.usefixtures("tuned")
def test_the_token_is_read_from_the_environment_and_never_in_the_resource_config() -> None:
    resource = PncpClientResource.from_settings(load_settings())
    shown = json.dumps(resource.model_dump()) + repr(resource) + str(resource)
    assert TOKEN not in shown
    assert "api_token" not in resource.model_dump()
    assert resource.client_settings().api_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(resource.client_settings())


@pytest.mark.usefixtures("tuned")
def test_a_value_set_on_the_resource_overrides_its_setting() -> None:
    client = PncpClientResource(max_retries=9).client_settings()
    assert client.max_retries == 9
    assert client.max_concurrency == 12  # the rest from the settings


def test_an_extraction_steps_niceness_comes_from_the_settings_or_the_runs_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PNCP_EXTRACTION_NICE", "12")
    get_settings.cache_clear()
    resource = PncpClientResource.from_settings(load_settings())
    assert resource.cpu_niceness == 12  # shown in the UI as the settings give it
    assert PncpClientResource().step_niceness() == 12
    overridden = PncpClientResource(cpu_niceness=0)  # a run's config: unchanged priority
    assert overridden.step_niceness() == 0
    assert overridden.client_settings() == resource.client_settings()
    # A Celery worker's process runs other steps next: only an explicit value applies there.
    monkeypatch.setenv("DAGSTER_EXECUTOR", "celery")
    get_settings.cache_clear()
    assert PncpClientResource().step_niceness() == 0
    assert PncpClientResource.from_settings(load_settings()).step_niceness() == 0
    assert PncpClientResource(cpu_niceness=5).step_niceness() == 5
    monkeypatch.setenv("PNCP_EXTRACTION_NICE", "20")
    with pytest.raises(ValueError, match="PNCP_EXTRACTION_NICE"):
        load_settings()
