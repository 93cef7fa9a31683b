"""Run the simulator until killed: `python -m project.simulators.pncp --port 8765`.

Prints the base URL on stdout once listening, so scripts can wait for that line. Faults
can be changed later through `PUT /__sim/config`.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading

from project.simulators.pncp.config import SimulatorConfig
from project.simulators.pncp.faults import FaultConfig, FaultKind
from project.simulators.pncp.server import PncpSimulator


def parse_args(argv: list[str] | None = None) -> SimulatorConfig:
    parser = argparse.ArgumentParser(prog="python -m project.simulators.pncp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=1.0, help="times the measured volume")
    parser.add_argument("--cache-mb", type=int, default=256)
    parser.add_argument("--render-workers", type=int, default=0, help="processes rendering records")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument(
        "--fault-kinds",
        default=",".join(FaultKind),
        help=f"comma-separated, equally likely: {','.join(FaultKind)}",
    )
    parser.add_argument("--retry-after-s", type=int, default=1)
    parser.add_argument("--slow-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    faults = FaultConfig(
        fault_rate=args.fault_rate,
        kinds=[k.strip() for k in args.fault_kinds.split(",") if k.strip()],
        retry_after_s=args.retry_after_s,
        slow_s=args.slow_s,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
    )
    return SimulatorConfig(
        seed=args.seed,
        scale=args.scale,
        host=args.host,
        port=args.port,
        cache_mb=args.cache_mb,
        faults=faults,
    )


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with PncpSimulator(config) as sim:
        print(sim.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stopped.wait()


if __name__ == "__main__":
    main()
