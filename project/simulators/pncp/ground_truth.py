"""What the simulator serves, without HTTP: for tests and benchmarks to compare against."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from project.simulators.pncp.config import SimulatorConfig
from project.simulators.pncp.drift import drifted
from project.simulators.pncp.feeds import portal_for


def expected_total(
    config: SimulatorConfig, endpoint_name: str, day: date, modalidade: int | None = None
) -> int:
    """`totalRegistros` for a one-day window (all modalidades summed when None)."""
    return portal_for(config.seed, config.scale).count(endpoint_name, day, modalidade)


def records_for(
    config: SimulatorConfig, endpoint_name: str, day: date, modalidade: int | None = None
) -> list[dict[str, Any]]:
    """The records a one-day window serves, in page order, with the config's drift applied.

    For a per-modalidade endpoint without a modalidade: every modalidade, in code order.
    """
    rendered = portal_for(config.seed, config.scale).records(endpoint_name, day, modalidade)
    drifts = config.faults.drifts_for(endpoint_name, day)
    return [json.loads(drifted(r, drifts) if drifts else r) for r in rendered]
