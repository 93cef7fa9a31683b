"""A local PNCP consultation API: PNCP's paths, parameters and envelope over real HTTP,
deterministic synthetic data and fault injection, for tests, demos and benchmarks.

    from project.lib.pncp.simulator import PncpSimulator, SimulatorConfig, FaultConfig

    with PncpSimulator(SimulatorConfig(scale=0.01)) as sim:
        httpx.get(f"{sim.base_url}/v1/contratos", params={...})
        sim.configure(fault_rate=0.1, kinds=["rate_limited", "drop"])

Or as a process: `python -m project.lib.pncp.simulator --port 8765 --scale 1.0`.
"""

from project.lib.pncp.simulator.config import SimulatorConfig
from project.lib.pncp.simulator.drift import DriftChange, SchemaDrift
from project.lib.pncp.simulator.faults import FaultConfig, FaultKind, PageRef
from project.lib.pncp.simulator.ground_truth import expected_total, records_for
from project.lib.pncp.simulator.params import BASE_PATH
from project.lib.pncp.simulator.server import ADMIN_PATH, PncpSimulator

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
