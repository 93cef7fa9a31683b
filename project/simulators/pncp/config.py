"""What a simulator run serves: data (seed, scale), where it listens, how it misbehaves."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from project.simulators.pncp.faults import FaultConfig


class SimulatorConfig(BaseModel):
    """Settings fixed for a run; only `faults` can change while it serves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 42  # same seed, same bytes
    scale: float = Field(1.0, gt=0)  # times each endpoint's measured daily volume
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)  # 0: any free port
    cache_mb: int = Field(256, ge=1)  # rendered pages kept in memory
    faults: FaultConfig = FaultConfig()
