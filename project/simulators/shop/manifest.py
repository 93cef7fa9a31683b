"""The generator's own records, in `<root>/_manifest/` (outside every source folder).

`batch-<B:05d>.json` says what batch B wrote (files, rows, injected faults) and where the
next batch continues (next order/payment/session numbers, the window's end); the
customers and products casts after B sit beside it as Parquet. A new batch reads the
latest earlier manifest, so ids and per-key seqs continue instead of restarting.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from project.simulators.shop.entities import Cast, Model
from project.simulators.shop.landing import MANIFEST_DIR

_NAME = re.compile(r"batch-(\d+)\.json")


@dataclass
class Prior:
    """Where an earlier batch left the shop."""

    batch: int
    next: dict[str, int]  # order, payment, session numbers
    end: int  # the window's end, epoch seconds
    casts: dict[str, Cast]


def manifest_path(root: Path, batch: int) -> Path:
    return root / MANIFEST_DIR / f"batch-{batch:05d}.json"


def _cast_path(root: Path, batch: int, name: str) -> Path:
    return root / MANIFEST_DIR / f"batch-{batch:05d}-{name}.parquet"


def recorded_batches(root: Path) -> list[int]:
    folder = root / MANIFEST_DIR
    found = (
        (_NAME.fullmatch(p.name) for p in folder.glob("batch-*.json")) if folder.exists() else ()
    )
    return sorted(int(m.group(1)) for m in found if m)


def next_batch(root: Path) -> int:
    """The batch number after every one recorded under `root` (1 on an empty landing)."""
    return max(recorded_batches(root), default=0) + 1


def load_prior(root: Path, batch: int, models: dict[str, Model]) -> Prior | None:
    """The latest batch before `batch`, or None for a fresh root.

    Raises if a batch >= `batch` is recorded: its ids would collide with this one's.
    """
    batches = recorded_batches(root)
    if batches and batches[-1] >= batch:
        raise ValueError(
            f"{root} already holds batch {batches[-1]}; a new batch must be above it "
            f"(got --batch {batch})"
        )
    if not batches:
        return None
    last = batches[-1]
    state = json.loads(manifest_path(root, last).read_text())["state"]
    return Prior(
        batch=last,
        next=state["next"],
        end=state["end"],
        casts={
            name: Cast.read(_cast_path(root, last, name), model) for name, model in models.items()
        },
    )


def write(root: Path, batch: int, record: dict[str, Any], casts: dict[str, Cast]) -> Path:
    path = manifest_path(root, batch)
    path.parent.mkdir(parents=True, exist_ok=True)
    for name, cast in casts.items():
        cast.write(_cast_path(root, batch, name))
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n")
    return path
