"""The PNCP consultation API client as a Dagster resource."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from project.lib.pncp.client import ClientSettings
from project.settings import Settings


class PncpClientResource(dg.ConfigurableResource):
    """Settings for the `PncpClient` each extraction builds (its pools live in one event loop).

    The token is read from the environment by name, so it never appears in the run's
    configuration shown by the UI.
    """

    base_url: str = Field(description="API base URL, e.g. https://pncp.gov.br/api/consulta")
    timeout_s: float = 30.0
    max_concurrency: int = 4
    rate_limit_per_s: float = 4.0
    max_retries: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    breaker_failure_threshold: int = 5
    breaker_reset_s: float = 300.0
    api_token: str | None = Field(None, description="Bearer token (use an EnvVar).")

    @classmethod
    def from_settings(cls, settings: Settings) -> PncpClientResource:
        return cls(
            base_url=settings.pncp_base_url,
            timeout_s=settings.pncp_timeout_s,
            max_concurrency=settings.pncp_max_concurrency,
            rate_limit_per_s=settings.pncp_rate_limit_per_s,
            max_retries=settings.pncp_max_retries,
            api_token=dg.EnvVar("PNCP_API_TOKEN") if settings.pncp_api_token else None,
        )

    def client_settings(self) -> ClientSettings:
        """The library's settings: the resource's fields carry the same names."""
        return ClientSettings(**self.model_dump())
