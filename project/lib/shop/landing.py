"""The landing folder: which files are there, their fingerprints, and micro-batches of them.

A file is identified by its path (relative to the landing root) and its content's sha256.
Hashing is the only way to tell a rewrite in place from a touch, but it reads the whole
file, so the sensor hashes only files whose size or modification time differ from what it
saw last (its cursor, `LandingCursor`); an unchanged file costs one `stat`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from project.lib.shop.sources import LandingSource, ShopSources

_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class LandedFile:
    """A file as found on disk, before it is hashed."""

    source: str
    path: str  # relative to the landing root, with forward slashes
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Offer:
    """A file offered to bronze: its fingerprint and when the platform first saw it."""

    source: str
    path: str
    size: int
    mtime_ns: int
    sha256: str
    first_seen: str  # ISO-8601 UTC

    @property
    def modified_at(self) -> datetime:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, UTC)

    def as_config(self) -> dict[str, object]:
        return asdict(self)


def list_files(root: Path, source: LandingSource) -> Iterator[LandedFile]:
    """The source's files, oldest first (then by path): the order bronze ingests them in.

    Names starting with `.` or `_` are in-flight or bookkeeping files (a writer's temporary
    file, the generator's manifest) and are not data.
    """
    folder = root / source.name
    if not folder.is_dir():
        return
    found = []
    for path in folder.rglob("*"):
        if path.name.startswith((".", "_")) or not path.name.endswith(source.suffixes()):
            continue
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while listing
            continue
        if path.is_file():
            found.append(
                LandedFile(
                    source.name, path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns
                )
            )
    yield from sorted(found, key=lambda f: (f.mtime_ns, f.path))


def offer(root: Path, landed: LandedFile, now: datetime | None = None) -> Offer:
    seen = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    return Offer(
        landed.source,
        landed.path,
        landed.size,
        landed.mtime_ns,
        sha256_of(root / landed.path),
        seen,
    )


def micro_batches(offers: Iterable[Offer], source: LandingSource) -> Iterator[list[Offer]]:
    """Consecutive groups within the source's file and byte limits (a file larger than the
    byte limit is a batch of its own)."""
    batch: list[Offer] = []
    size = 0
    max_files = source.max_files_per_run or 50
    max_bytes = source.max_bytes_per_run or 512 * 1024**2
    for item in offers:
        if batch and (len(batch) >= max_files or size + item.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch


def batch_key(batch: list[Offer]) -> str:
    """A run key naming exactly these file versions (of one source or several): the same
    batch offered again (a sensor restarted before its cursor was saved) is the same run,
    which Dagster skips."""
    digest = hashlib.sha256()
    for item in batch:
        digest.update(f"{item.path}\0{item.sha256}\n".encode())
    return f"landing-{digest.hexdigest()[:24]}"


@dataclass
class LandingCursor:
    """What the sensor has offered: path -> [size, mtime_ns, sha256], per file.

    Kept by Dagster with the sensor (it survives sensor and daemon restarts). It only saves
    hashing: what bronze ingested is decided by the ledger in the warehouse, so a lost or
    reset cursor makes files be offered again, and bronze skips them.
    """

    seen: dict[str, list]

    @classmethod
    def parse(cls, text: str | None) -> LandingCursor:
        return cls(json.loads(text)["seen"] if text else {})

    def dump(self) -> str:
        return json.dumps({"seen": self.seen}, separators=(",", ":"), sort_keys=True)

    def changed(self, landed: LandedFile) -> bool:
        known = self.seen.get(landed.path)
        return known is None or known[0] != landed.size or known[1] != landed.mtime_ns

    def remember(self, landed: LandedFile, sha256: str) -> bool:
        """Record the file; True when its content is new (not a touch of a known file)."""
        known = self.seen.get(landed.path)
        self.seen[landed.path] = [landed.size, landed.mtime_ns, sha256]
        return known is None or known[2] != sha256


def new_offers(
    root: Path, sources: ShopSources, cursor: LandingCursor, now: datetime | None = None
) -> dict[str, list[Offer]]:
    """Per source, the files whose content the cursor has not seen; updates the cursor."""
    found: dict[str, list[Offer]] = {}
    for source in sources.sources.values():
        for landed in list_files(root, source):
            if not cursor.changed(landed):
                continue
            try:
                item = offer(root, landed, now)
            except FileNotFoundError:
                continue
            if cursor.remember(landed, item.sha256):
                found.setdefault(source.name, []).append(item)
    return found
