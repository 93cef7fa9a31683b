"""The PNCP consultation API client as a Dagster resource: the settings, shown and overridable.

The client's configuration has one source, `ClientSettings.from_settings`, which the `pncp`
commands use as well; this resource only shows the values a deployment tunes through
`PNCP_*` variables and lets a run override them from the launchpad.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from project.lib.pncp.client import ClientSettings
from project.settings import Settings, get_settings


class PncpClientResource(dg.ConfigurableResource):
    """Settings for the `PncpClient` each extraction builds (its pools live in one event loop).

    A field left unset takes its value from the settings of the process that runs the step.
    The API token is no field at all: the settings read it from `PNCP_API_TOKEN` when the
    client is built, so it never appears in the resource configuration the UI, the run's
    config or its errors show.
    """

    base_url: str | None = Field(None, description="API base URL (PNCP_BASE_URL).")
    timeout_s: float | None = Field(None, description="Seconds per request (PNCP_TIMEOUT_S).")
    max_concurrency: int | None = Field(
        None, description="Requests in flight (PNCP_MAX_CONCURRENCY)."
    )
    rate_limit_per_s: float | None = Field(
        None, description="Request starts per second, 0 = no limit (PNCP_RATE_LIMIT_PER_S)."
    )
    max_retries: int | None = Field(None, description="Retries per page (PNCP_MAX_RETRIES).")
    cpu_niceness: int | None = Field(
        None,
        ge=0,
        le=19,
        description="CPU niceness of an extraction step, 0 = unchanged (PNCP_EXTRACTION_NICE).",
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> PncpClientResource:
        """The resource showing `settings`' values (everything but the token)."""
        client = ClientSettings.from_settings(settings)
        return cls(
            **client.model_dump(include=set(cls.model_fields)),
            cpu_niceness=_settings_niceness(settings),
        )

    def client_settings(self) -> ClientSettings:
        """The library's settings: the platform settings, with this resource's values."""
        overrides = {
            name: getattr(self, name) for name in type(self).model_fields if name != "cpu_niceness"
        }
        return ClientSettings.from_settings(
            get_settings(), **{k: v for k, v in overrides.items() if v is not None}
        )

    def step_niceness(self) -> int:
        """The CPU niceness an extraction step runs at: this resource's, or the settings'."""
        if self.cpu_niceness is not None:
            return self.cpu_niceness
        return _settings_niceness(get_settings())


def _settings_niceness(settings: Settings) -> int:
    """PNCP_EXTRACTION_NICE, but 0 on Celery: a worker's process runs other steps after an
    extraction's, and would keep the lower priority (project/lib/priority.py)."""
    return 0 if settings.dagster_executor == "celery" else settings.pncp_extraction_nice
