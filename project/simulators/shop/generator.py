"""`generate(root, spec)`: one batch of shop landing files, and what it wrote.

The batch's window is cut into `files_per_source` time slices, one file per source each;
orders are drawn a chunk at a time (`spec.chunk_orders`) and every chunk's four fact
sources are appended to their slice's files at once, so memory holds one chunk whatever
the volume. The change feeds (thousands of rows) are drawn whole first: orders need to
know which customers and products exist at each moment.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from project.simulators.shop import manifest, text
from project.simulators.shop.customers import Customers
from project.simulators.shop.draws import DAY, Profile, stream
from project.simulators.shop.entities import Cast, Feed, Model, evolve
from project.simulators.shop.facts import Counters, chunk
from project.simulators.shop.faults import NONE, FaultLog, SourceWriter
from project.simulators.shop.landing import Landing, batch_files
from project.simulators.shop.pools import pools
from project.simulators.shop.products import Products
from project.simulators.shop.sources import FACTS, FEEDS, SOURCES, Fault
from project.simulators.shop.spec import DEFAULT_START, ShopSpec

MODELS: dict[str, Model] = {"customers": Customers(), "products": Products()}


@dataclass(frozen=True)
class GeneratedBatch:
    """What one `generate` call landed (paths absolute; the manifest's are relative)."""

    root: Path
    batch: int
    seed: int
    start: datetime
    end: datetime
    files: dict[str, list[Path]]
    rows: dict[str, int]  # data lines per source, duplicates and malformed lines included
    faults: dict[str, dict[str, dict[str, Any]]]  # fault -> source -> {count, rows|files}
    volumes: dict[str, int]
    manifest: Path | None
    seconds: float
    record: dict[str, Any] = field(repr=False)  # the manifest's content

    @property
    def events(self) -> int:
        """Rows of the four fact sources (orders, items, payments, web events)."""
        return sum(self.rows[s] for s in FACTS)


def _split(total: int, weights: np.ndarray) -> list[int]:
    """`total` in integer parts proportional to `weights` (largest remainder)."""
    raw = total * weights / weights.sum()
    parts = np.floor(raw).astype(np.int64)
    short = total - int(parts.sum())
    parts[np.argsort(-(raw - parts), kind="stable")[:short]] += 1
    return parts.tolist()


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _land_feed(writer: SourceWriter, feed: Feed, model: Model, bounds: np.ndarray) -> None:
    """Writes a change feed by time slice; `out_of_order` changes move to the end of the
    last file, behind a later seq of their key (only changes that have one qualify)."""
    source = writer.source
    frame = {
        source.key: text.ids(model.prefix, feed.numbers, model.width),
        "op": pa.array(feed.op, pa.string()),
        "seq": text.integers(feed.seq),
        "changed_at": text.iso(feed.changed_at),
        **model.render(feed.attrs),
    }
    rng = stream(writer.spec.seed, writer.spec.batch, "feed-faults", source.name)
    codes = writer.assign(rng, len(feed))
    late = codes == writer.code(Fault.OUT_OF_ORDER)
    if late.any():
        # The next change of the same key, in delivery order.
        by_key = np.lexsort((np.arange(len(feed)), feed.entity))
        following = np.full(len(feed), -1)
        same = feed.entity[by_key[1:]] == feed.entity[by_key[:-1]]
        following[by_key[:-1][same]] = by_key[1:][same]
        for row in np.flatnonzero(late)[::-1]:
            if following[row] < 0 or late[following[row]]:
                late[row] = False
                codes[row] = NONE
    slot = np.searchsorted(bounds[1:-1], feed.changed_at, side="right")
    slot[late] = len(bounds) - 2
    for k in range(len(bounds) - 1):
        rows = np.flatnonzero((slot == k) & ~late)
        if k == len(bounds) - 2:
            rows = np.concatenate([rows, np.flatnonzero(late)])
        index = pa.array(rows, pa.int64())
        writer.write(k, {c: v.take(index) for c, v in frame.items()}, codes[rows])
        writer.close(k)


def generate(root: Path | str, spec: ShopSpec) -> GeneratedBatch:
    """Lands batch `spec.batch` under `root`; never touches files already there."""
    began = time.perf_counter()
    root = Path(root)
    prior = manifest.load_prior(root, spec.batch, MODELS)
    existing = [p for s in SOURCES for p in batch_files(root, s, spec.batch)]
    if existing:
        raise FileExistsError(f"batch {spec.batch} already landed: {existing[0]}")
    if spec.start_date is not None:
        start = _epoch(spec.start_date)
    else:
        start = prior.end if prior else _epoch(DEFAULT_START)
    end = start + spec.days * DAY
    volumes = spec.volumes(first=prior is None)
    cast_pools = pools(spec.seed)
    feeds: dict[str, Feed] = {}
    casts: dict[str, Cast] = {}
    timelines = {}
    for name, model in MODELS.items():
        before = prior.casts[name] if prior else Cast.empty(model)
        changes = volumes[f"{name.removesuffix('s')}_changes"]
        rng = stream(spec.seed, spec.batch, name)
        feeds[name], casts[name], timelines[name] = evolve(
            model, before, volumes[name], changes, (start, end), rng, cast_pools
        )

    files = spec.files_per_source
    bounds = start + (end - start) * np.arange(files + 1) // files
    windows = [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    log = FaultLog()
    landing = Landing(root, spec.gzip)
    writers = {name: SourceWriter(SOURCES[name], spec, landing, log, windows) for name in SOURCES}
    counters = Counters(**prior.next) if prior else Counters()
    profile = Profile(start, end)
    mass = profile.mass(bounds.astype(np.float64))
    chunks = 0
    try:
        for k, orders in enumerate(_split(spec.orders, np.diff(mass))):
            parts = max(1, math.ceil(orders / spec.chunk_orders))
            edges = np.linspace(mass[k], mass[k + 1], parts + 1)
            for j, n in enumerate(_split(orders, np.ones(parts))):
                if not n:
                    continue
                rng = stream(spec.seed, spec.batch, "chunk", chunks)
                chunks += 1
                frames = chunk(
                    rng,
                    n,
                    (edges[j], edges[j + 1]),
                    profile,
                    timelines["customers"],
                    timelines["products"],
                    counters,
                    spec.batch,
                    (windows[k][0], end),
                )
                for source, frame in frames.items():
                    writers[source].write(k, frame)
            for source in FACTS:
                writers[source].close(k)
        for name in FEEDS:
            _land_feed(writers[name], feeds[name], MODELS[name], bounds)
    except BaseException:
        # A half-landed batch would be read as complete: take back what this call wrote.
        for writer in writers.values():
            for sink in writer.sinks:
                sink.close()
        with contextlib.suppress(Exception):
            landing.close()
        for writer in writers.values():
            for sink in writer.sinks:
                sink.path.unlink(missing_ok=True)
        raise
    landing.close()

    record = {
        "batch": spec.batch,
        "seed": spec.seed,
        "spec": spec.to_json(),
        "window": {"start": _iso(start), "end": _iso(end)},
        "volumes": volumes,
        "files": {name: w.files for name, w in writers.items()},
        "rows": {name: w.rows for name, w in writers.items()},
        "faults": log.to_json(),
        "state": {
            "next": {
                "order": counters.order,
                "payment": counters.payment,
                "session": counters.session,
            },
            "end": end,
        },
    }
    path = manifest.write(root, spec.batch, record, casts) if spec.write_manifest else None
    return GeneratedBatch(
        root=root,
        batch=spec.batch,
        seed=spec.seed,
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
        files={name: [root / f for f in w.files] for name, w in writers.items()},
        rows=record["rows"],
        faults=record["faults"],
        volumes=volumes,
        manifest=path,
        seconds=time.perf_counter() - began,
        record=record,
    )


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(batch: GeneratedBatch) -> Iterator[str]:
    """Lines for a terminal: rows and files per source, speed, faults, the manifest."""
    window = f"{_iso(int(batch.start.timestamp()))} .. {_iso(int(batch.end.timestamp()))}"
    yield f"shop batch {batch.batch} (seed {batch.seed}), {window} -> {batch.root}"
    for source in SOURCES:
        count = len(batch.files[source])
        yield f"  {source:<12} {batch.rows[source]:>10,} rows  {count} file(s)"
    rate = batch.events / batch.seconds if batch.seconds else 0.0
    yield (
        f"  {batch.events:,} events (orders, items, payments, web events) in "
        f"{batch.seconds:.2f}s, {rate:,.0f} events/s"
    )
    for fault, per_source in batch.faults.items():
        counts = ", ".join(f"{s} {e['count']:,}" for s, e in per_source.items())
        yield f"  fault {fault}: {counts}"
    if batch.manifest is not None:
        yield f"  manifest {batch.manifest}"
