"""A local PNCP consultation API: PNCP's paths, parameters and envelope over real HTTP,
deterministic synthetic data and fault injection, for tests, demos and benchmarks.

    from project.simulators.pncp import PncpSimulator, SimulatorConfig, FaultConfig

    with PncpSimulator(SimulatorConfig(scale=0.01)) as sim:
        httpx.get(f"{sim.base_url}/v1/contratos", params={...})
        sim.configure(fault_rate=0.1, kinds=["rate_limited", "drop"])

Or as a process: `python -m project.simulators.pncp --port 8765 --scale 1.0`.
"""

from project.simulators.pncp.config import SimulatorConfig
from project.simulators.pncp.drift import DriftChange, SchemaDrift
from project.simulators.pncp.faults import FaultConfig, FaultKind, PageRef
from project.simulators.pncp.ground_truth import expected_total, records_for
from project.simulators.pncp.params import BASE_PATH
from project.simulators.pncp.server import ADMIN_PATH, PncpSimulator

__all__ = [
    "ADMIN_PATH",
    "BASE_PATH",
    "DriftChange",
    "FaultConfig",
    "FaultKind",
    "PageRef",
    "PncpSimulator",
    "SchemaDrift",
    "SimulatorConfig",
    "expected_total",
    "records_for",
]
