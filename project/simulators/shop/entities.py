"""Change feeds of a dimension (customers, products): inserts, updates, deletes over time.

A `Cast` is a dimension's state after a batch (kept in the manifest folder so the next
batch updates entities that exist, with their current values, and continues each key's
`seq`). `evolve` plays one batch: new entities are inserted at times spread over the
window (the first batch back-dates them up to 30 days, so the first orders have
customers), then updates and deletes hit entities alive at their time. Updates are few
(thousands), so they run as a loop over current values; inserts are drawn as arrays.

The `Timeline` answers "was entity e usable at time t, at which price" for the orders,
so orders never reference a customer before its insert or after its delete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from project.simulators.shop.draws import DAY
from project.simulators.shop.pools import Pools

INSERT, UPDATE, DELETE = "insert", "update", "delete"
BACKFILL = 30 * DAY  # a first batch's entities existed before its window


class Model(Protocol):
    """What differs between customers and products."""

    prefix: str  # id prefix, e.g. "C"
    width: int  # id digits
    attrs: tuple[str, ...]  # tracked values, in landing order
    kinds: tuple[tuple[str, float], ...]  # update kinds and their shares
    delete_share: float

    def new(self, rng: np.random.Generator, n: int, pools: Pools) -> dict[str, np.ndarray]: ...

    def update(
        self, kind: str, current: dict[str, Any], rng: np.random.Generator, pools: Pools
    ) -> dict[str, Any]: ...

    def usable(self, attrs: dict[str, np.ndarray]) -> np.ndarray:
        """Whether an alive entity can be referenced (a product must be active)."""
        ...

    def render(self, attrs: dict[str, np.ndarray]) -> dict[str, pa.Array]:
        """The tracked values as landed text."""
        ...


@dataclass
class Cast:
    """A dimension after a batch: entity numbers ascending, their seq, deleted flag, values."""

    numbers: np.ndarray
    seq: np.ndarray
    deleted: np.ndarray
    attrs: dict[str, np.ndarray]

    @classmethod
    def empty(cls, model: Model) -> Cast:
        none = np.empty(0, np.int64)
        return cls(none, none, np.empty(0, bool), {a: np.empty(0, object) for a in model.attrs})

    def __len__(self) -> int:
        return len(self.numbers)

    def write(self, path: Path) -> None:
        columns = {"number": self.numbers, "seq": self.seq, "deleted": self.deleted}
        pq.write_table(pa.table({**columns, **self.attrs}), path)

    @classmethod
    def read(cls, path: Path, model: Model) -> Cast:
        table = pq.read_table(path)

        def column(name: str) -> np.ndarray:
            return table.column(name).to_numpy(zero_copy_only=False)

        return cls(
            numbers=column("number").astype(np.int64),
            seq=column("seq").astype(np.int64),
            deleted=column("deleted").astype(bool),
            attrs={a: column(a) for a in model.attrs},
        )


@dataclass
class Feed:
    """One batch's changes in delivery (time) order; values still as arrays, not text."""

    entity: np.ndarray  # index into the cast (0-based, by number)
    numbers: np.ndarray
    op: np.ndarray  # object: insert | update | delete
    seq: np.ndarray
    changed_at: np.ndarray  # epoch seconds
    attrs: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.entity)


class Timeline:
    """Each entity's usability and values over the batch, for as-of lookups."""

    def __init__(
        self,
        feed: Feed,
        numbers: np.ndarray,
        start_usable: np.ndarray,
        start_attrs: dict[str, np.ndarray],
        model: Model,
    ) -> None:
        self.numbers = numbers  # entity index -> id number
        order = np.lexsort((np.arange(len(feed)), feed.changed_at, feed.entity))
        self.entity = feed.entity[order]
        self.time = feed.changed_at[order]
        attrs = {a: v[order] for a, v in feed.attrs.items()}
        self.usable = (feed.op[order] != DELETE) & model.usable(attrs)
        self.attrs = attrs
        self.start_usable = start_usable
        self.start_attrs = start_attrs
        self._base = int(self.time.min()) if len(self.time) else 0
        self._keys = self._key(self.entity, self.time)

    def _key(self, entity: np.ndarray, time: np.ndarray) -> np.ndarray:
        return (entity.astype(np.int64) << 34) + (np.asarray(time, np.int64) - self._base + 1)

    def _latest(self, entity: np.ndarray, time: np.ndarray) -> np.ndarray:
        """Index of the entity's last change at or before `time`, or -1."""
        if not len(self._keys):
            return np.full(len(entity), -1)
        i = np.searchsorted(self._keys, self._key(entity, np.maximum(time, self._base)), "right")
        i -= 1
        hit = (i >= 0) & (self.entity[np.maximum(i, 0)] == entity) & (time >= self._base)
        return np.where(hit, i, -1)

    def usable_at(self, entity: np.ndarray, time: np.ndarray) -> np.ndarray:
        return self._as_of(self.usable, self.start_usable, entity, time)

    def value_at(self, attr: str, entity: np.ndarray, time: np.ndarray) -> np.ndarray:
        return self._as_of(self.attrs[attr], self.start_attrs[attr], entity, time)

    def _as_of(
        self, changed: np.ndarray, start: np.ndarray, entity: np.ndarray, time: np.ndarray
    ) -> np.ndarray:
        """The value after the entity's last change at or before `time`, else at start."""
        if not len(changed):
            return start[entity]
        i = self._latest(entity, time)
        return np.where(i >= 0, changed[np.maximum(i, 0)], start[entity])

    def pick(
        self, rng: np.random.Generator, time: np.ndarray, skew: float, what: str
    ) -> np.ndarray:
        """Entities usable at each `time`, older ones favoured (index ~ n * u**skew)."""
        n = len(self.start_usable)
        if not n and len(time):
            raise ValueError(f"no {what} to reference: this batch and the ones before add none")
        out = np.empty(len(time), np.int64)
        todo = np.arange(len(time))
        for _ in range(100):
            if not len(todo):
                return out
            candidate = np.floor(n * rng.random(len(todo)) ** skew).astype(np.int64)
            ok = self.usable_at(candidate, time[todo])
            out[todo[ok]] = candidate[ok]
            todo = todo[~ok]
        if not len(todo):
            return out
        raise ValueError(f"no {what} to reference at {len(todo)} event times; add more")


def evolve(
    model: Model,
    cast: Cast,
    inserts: int,
    changes: int,
    window: tuple[int, int],
    rng: np.random.Generator,
    pools: Pools,
) -> tuple[Feed, Cast, Timeline]:
    """One batch of a dimension: its feed, the cast after it, and its timeline."""
    start, end = window
    n0 = len(cast)
    first_number = int(cast.numbers[-1]) + 1 if n0 else 1
    numbers = np.concatenate([cast.numbers, np.arange(first_number, first_number + inserts)])
    backfill = BACKFILL if not (~cast.deleted).any() else 0
    born = np.sort(rng.integers(start - backfill, end, inserts))
    new = model.new(rng, inserts, pools)
    values = {a: np.concatenate([cast.attrs[a].astype(new[a].dtype), new[a]]) for a in model.attrs}
    start_attrs = {a: v.copy() for a, v in values.items()}
    start_usable = np.concatenate(
        [~cast.deleted & model.usable(cast.attrs), np.zeros(inserts, bool)]
    )
    after = Cast(
        numbers=numbers,
        seq=np.concatenate([cast.seq, np.ones(inserts, np.int64)]),
        deleted=np.concatenate([cast.deleted, np.zeros(inserts, bool)]),
        attrs=values,
    )
    inserted = {
        "entity": np.arange(n0, n0 + inserts),
        "op": np.full(inserts, INSERT, object),
        "seq": np.ones(inserts, np.int64),
        "changed_at": born,
        **new,
    }
    since = np.concatenate([np.full(n0, start - backfill - 1, np.int64), born])
    changed = _play_changes(model, after, since, changes, window, rng, pools)
    rows = {k: np.concatenate([inserted[k], changed[k]]) for k in inserted}
    order = np.argsort(rows["changed_at"], kind="stable")
    rows = {k: v[order] for k, v in rows.items()}
    feed = Feed(
        entity=rows["entity"],
        numbers=numbers[rows["entity"]],
        op=rows["op"],
        seq=rows["seq"],
        changed_at=rows["changed_at"],
        attrs={a: rows[a] for a in model.attrs},
    )
    return feed, after, Timeline(feed, numbers, start_usable, start_attrs, model)


def _play_changes(
    model: Model,
    cast: Cast,
    since: np.ndarray,
    changes: int,
    window: tuple[int, int],
    rng: np.random.Generator,
    pools: Pools,
) -> dict[str, np.ndarray]:
    """Updates and deletes of entities alive in the window, applied to `cast` in time
    order (a change comes a minute or more after its entity's insert at `since`)."""
    start, end = window
    alive = np.flatnonzero(~cast.deleted)
    entity = alive[rng.integers(0, max(len(alive), 1), changes if len(alive) else 0)]
    low = np.maximum(start, since[entity] + 60)
    entity, low = entity[low < end], low[low < end]
    when = low + np.floor(rng.random(len(entity)) * (end - low)).astype(np.int64)
    is_delete = rng.random(len(entity)) < model.delete_share
    kind_names = [k for k, _ in model.kinds]
    shares = np.array([s for _, s in model.kinds])
    kinds = rng.choice(len(kind_names), size=len(entity), p=shares / shares.sum())
    out: dict[str, list[Any]] = {k: [] for k in ("entity", "op", "seq", "changed_at")}
    images: dict[str, list[Any]] = {a: [] for a in model.attrs}
    for i in np.lexsort((np.arange(len(entity)), when)):
        e = int(entity[i])
        if cast.deleted[e]:
            continue
        cast.seq[e] += 1
        if is_delete[i]:
            cast.deleted[e] = True
        else:
            now = {a: cast.attrs[a][e] for a in model.attrs}
            for a, v in model.update(kind_names[kinds[i]], now, rng, pools).items():
                cast.attrs[a][e] = v
        for key, value in zip(
            out, (e, DELETE if is_delete[i] else UPDATE, cast.seq[e], when[i]), strict=True
        ):
            out[key].append(value)
        for a in model.attrs:
            images[a].append(cast.attrs[a][e])
    return {
        "entity": np.array(out["entity"], np.int64),
        "op": np.array(out["op"], object),
        "seq": np.array(out["seq"], np.int64),
        "changed_at": np.array(out["changed_at"], np.int64),
        **{a: np.array(images[a], dtype=cast.attrs[a].dtype) for a in model.attrs},
    }
