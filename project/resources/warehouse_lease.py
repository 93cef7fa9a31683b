"""The warehouse lease: a slot of the Dagster pool, held only while DuckDB is written.

DuckDB has one writer per file, so every writer takes a slot of the warehouse pool
(`WAREHOUSE_POOL`, limited to one by `concurrency.pools.default_limit` in
`conf/dagster/dagster.yaml`). The slot is claimed here, in the step's own code, rather
than by Dagster's executor for a whole op (`pool=` on the asset), for two reasons:

- **short holds.** An extraction holds the warehouse only for each commit of archived
  pages, not while it waits on the network: a year's backfill no longer stops the daily
  schedule or a month's dbt build, which take the slot between two commits;
- **dead holders are found and freed.** A run killed with `kill -9` (or a lost machine)
  leaves its slot claimed in the instance; Dagster's executor would wait for it silently
  and for ever. Here every holder leaves a record in the instance's key-value store
  (host, pid, process start time, heartbeat), and a waiter checks the holders while it
  waits: a holder whose process is gone on this host, or whose heartbeat is older than
  `stale_after_s` on another host, is dead (a slot with no record is dead once its run
  has ended); its run is marked failed with the reason, its slots are freed, and the
  waiter goes on. A slot with no record whose run still looks alive cannot be judged
  safely: after `stale_after_s` the waiter stops with `WarehouseHeldError`, naming the
  run and the `pncp free-run` command that releases it.

Waiting is visible (a log line every `report_every_s` naming the holding run, its step
and since when) and interruptible: Ctrl-C, SIGTERM or the caller's `abort` event end the
wait, and the pending claim is withdrawn. Slots still show on the UI's pool page.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

RECORD_PREFIX = "platform/warehouse_lease"
# A holder on another machine is dead after this long without a heartbeat.
STALE_AFTER_S = 30.0
HOST = socket.gethostname()


class WarehouseHeldError(RuntimeError):
    """The warehouse slot is held by a holder whose liveness cannot be decided."""


class LeaseAborted(RuntimeError):
    """The wait for the warehouse was abandoned (the caller stopped)."""


def process_start(pid: int) -> float | None:
    """When process `pid` started (clock ticks since boot), or None if it does not exist.

    Read from /proc (Linux) rather than psutil, which the project does not otherwise need:
    together with the pid it identifies a process even after its pid is reused.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc (macOS): existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0.0
    # Fields after the command name, which is in parentheses and may contain spaces.
    return float(stat.rsplit(")", 1)[1].split()[19])


@dataclass(frozen=True)
class HolderRecord:
    """Who holds (or waits for) a slot: written before the claim, removed after the free."""

    host: str
    pid: int
    process_start: float | None
    since: float  # epoch seconds the claim was made
    heartbeat: float  # epoch seconds of the last sign of life
    label: str  # what holds it, for people: "pncp/raw/atas", "sensor pipeline_metrics"

    @classmethod
    def mine(cls, label: str, since: float) -> HolderRecord:
        pid = os.getpid()
        return cls(HOST, pid, process_start(pid), since, time.time(), label)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> HolderRecord | None:
        if not text:
            return None
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True)
class Holder:
    """A claimed slot of the pool and what is known of its holder."""

    run_id: str
    step_key: str
    record: HolderRecord | None
    run_status: str | None  # None: not a run (a sensor) or a run deleted from the instance
    dead_reason: str | None  # why the holder is dead; None while it is (or may be) alive

    @property
    def since(self) -> str:
        if self.record is None:
            return "an unknown time"
        return datetime.fromtimestamp(self.record.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    def describe(self) -> str:
        where = f", pid {self.record.pid} on {self.record.host}" if self.record else ""
        label = self.record.label if self.record else self.step_key
        return f"run {self.run_id} ({label}{where}) since {self.since}"


def record_key(pool: str, run_id: str, step_key: str) -> str:
    return f"{RECORD_PREFIX}/{pool}/{run_id}/{step_key}"


def _read_record(instance: dg.DagsterInstance, key: str) -> HolderRecord | None:
    return HolderRecord.from_json(instance.run_storage.get_cursor_values({key}).get(key))


def _write_record(instance: dg.DagsterInstance, key: str, record: HolderRecord | None) -> None:
    # The key-value store has no delete: an empty value is "no record".
    instance.run_storage.set_cursor_values({key: record.to_json() if record else ""})


def judge(
    instance: dg.DagsterInstance, pool: str, run_id: str, step_key: str, stale_after_s: float
) -> Holder:
    """What is known of one holder of `pool`, and whether it is dead."""
    record = _read_record(instance, record_key(pool, run_id, step_key))
    run = instance.get_run_by_id(run_id)
    status = run.status.value if run is not None else None
    reason = None
    # The holder's own process decides first: a run marked finished (by run monitoring,
    # say) whose step still writes must keep its slot, or two writers would meet.
    if record is not None and record.host == HOST:
        start = process_start(record.pid)
        if start is None or (record.process_start and start and start != record.process_start):
            reason = f"its process {record.pid} on {record.host} is gone"
    elif record is not None:
        age = time.time() - record.heartbeat
        if age > stale_after_s:
            reason = f"no heartbeat from pid {record.pid} on {record.host} for {age:.0f} s"
    elif run is not None and run.is_finished:
        reason = f"its run is {status} but the slot was never freed"
    return Holder(run_id, step_key, record, status, reason)


def holders(instance: dg.DagsterInstance, pool: str, stale_after_s: float) -> list[Holder]:
    """Every holder of a slot of `pool`, judged."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    return [
        judge(instance, pool, slot.run_id, slot.step_key, stale_after_s)
        for slot in info.claimed_slots
    ]


def free_dead(instance: dg.DagsterInstance, holder: Holder, pool: str) -> None:
    """Mark a dead holder's run failed (if it still looks alive) and free all its slots."""
    run = instance.get_run_by_id(holder.run_id)
    if run is not None and not run.is_finished:
        instance.report_run_failed(
            run,
            f"Marked failed: its process is gone while holding the warehouse ({holder.dead_reason})"
            f"; its slot in pool {pool} was freed.",
        )
    instance.event_log_storage.free_concurrency_slots_for_run(holder.run_id)
    _write_record(instance, record_key(pool, holder.run_id, holder.step_key), None)


def free_run(instance: dg.DagsterInstance, run_id: str, pool: str, reason: str) -> bool:
    """The operator's release of a run's slots (`pncp free-run`); True if it held any."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    held = [s for s in info.claimed_slots if s.run_id == run_id]
    pending = [s for s in info.pending_steps if s.run_id == run_id]
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_failed(run, f"Marked failed by an operator: {reason}")
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    for slot in held:
        _write_record(instance, record_key(pool, run_id, slot.step_key), None)
    return bool(held or pending)


def _ensure_pool(instance: dg.DagsterInstance, pool: str) -> bool:
    """Whether the instance limits `pool`, creating its default limit as the executor would."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return False
    names = {limit.name for limit in storage.get_pool_limits()}
    if pool not in names and instance.global_op_concurrency_default_limit is not None:
        storage.initialize_concurrency_limit_to_default(pool)
        names = {limit.name for limit in storage.get_pool_limits()}
    return pool in names


class WarehouseLease:
    """Claims of one holder (a step of a run, or a sensor) on the warehouse pool."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        pool: str,
        run_id: str,
        step_key: str,
        *,
        label: str | None = None,
        log: Callable[[str], None] | None = None,
        stale_after_s: float = STALE_AFTER_S,
        heartbeat_s: float = 5.0,
        poll_s: float = 0.25,
        report_every_s: float = 15.0,
    ) -> None:
        self.instance = instance
        self.pool = pool
        self.run_id = run_id
        self.step_key = step_key
        self.label = label or step_key
        self.log = log or (lambda _message: None)
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self.report_every_s = report_every_s
        self._key = record_key(pool, run_id, step_key)
        self.enforced = _ensure_pool(instance, pool)

    def _claim(self) -> bool:
        status = self.instance.event_log_storage.claim_concurrency_slot(
            self.pool, self.run_id, self.step_key
        )
        return status.is_claimed

    def _withdraw(self) -> None:
        self.instance.event_log_storage.free_concurrency_slot_for_step(self.run_id, self.step_key)
        _write_record(self.instance, self._key, None)

    def _check_holders(self, unknown_since: dict[tuple[str, str], float]) -> list[Holder]:
        """Free dead holders; raise for a holder that cannot be judged for too long."""
        found = holders(self.instance, self.pool, self.stale_after_s)
        alive = []
        for holder in found:
            if holder.run_id == self.run_id and holder.step_key == self.step_key:
                continue
            if holder.dead_reason:
                self.log(
                    f"warehouse held by a dead holder, {holder.describe()}: "
                    f"{holder.dead_reason}; marking its run failed and freeing its slot"
                )
                free_dead(self.instance, holder, self.pool)
                continue
            if holder.record is None:
                first = unknown_since.setdefault((holder.run_id, holder.step_key), time.time())
                if time.time() - first > self.stale_after_s:
                    raise WarehouseHeldError(
                        f"the warehouse (pool {self.pool}) is held by run {holder.run_id} "
                        f"(step {holder.step_key}, status {holder.run_status or 'unknown'}), "
                        "which left no liveness record; if that run is not running any more, "
                        f"free it with: pncp free-run {holder.run_id}"
                    )
            alive.append(holder)
        return alive

    def _wait(self, abort: threading.Event | None) -> None:
        started = time.monotonic()
        next_report = started
        next_check = started
        unknown_since: dict[tuple[str, str], float] = {}
        while not self._claim():
            now = time.monotonic()
            if now >= next_check:
                alive = self._check_holders(unknown_since)
                next_check = now + 1.0
                if now >= next_report and alive:
                    waited = f" (waiting {now - started:.0f} s)" if now - started >= 1 else ""
                    self.log(
                        f"waiting for the warehouse{waited}: pool {self.pool} is held by "
                        + "; ".join(h.describe() for h in alive)
                    )
                    next_report = now + self.report_every_s
                if not alive:
                    continue  # a slot was freed: claim again at once
            if abort is not None:
                if abort.wait(self.poll_s):
                    raise LeaseAborted("stopped while waiting for the warehouse")
            else:
                time.sleep(self.poll_s)

    @contextmanager
    def hold(self, abort: threading.Event | None = None) -> Iterator[None]:
        """Hold a slot of the pool for the body; waits (visibly) while another holds it."""
        if not self.enforced:
            yield
            return
        # The record is written before the claim, so a claimed slot always has one.
        _write_record(self.instance, self._key, HolderRecord.mine(self.label, time.time()))
        stop = threading.Event()
        try:
            self._wait(abort)
            since = time.time()
            _write_record(self.instance, self._key, HolderRecord.mine(self.label, since))
            beat = threading.Thread(target=self._beat, args=(stop, since), daemon=True)
            beat.start()
            try:
                yield
            finally:
                stop.set()
                beat.join()
        finally:
            self._withdraw()

    @contextmanager
    def try_hold(self) -> Iterator[bool]:
        """Hold a slot if one is free now (after freeing dead holders); never waits.

        Yields whether it holds one: periodic work (a sensor) skips a busy warehouse and
        comes back, and each attempt also frees the slots of dead holders.
        """
        if not self.enforced:
            yield True
            return
        _write_record(self.instance, self._key, HolderRecord.mine(self.label, time.time()))
        try:
            for holder in holders(self.instance, self.pool, self.stale_after_s):
                if holder.dead_reason and holder.run_id != self.run_id:
                    self.log(
                        f"freeing the warehouse slot of dead {holder.describe()}: "
                        f"{holder.dead_reason}"
                    )
                    free_dead(self.instance, holder, self.pool)
            claimed = self._claim()
            yield claimed
        finally:
            self._withdraw()

    def _beat(self, stop: threading.Event, since: float) -> None:
        while not stop.wait(self.heartbeat_s):
            _write_record(self.instance, self._key, HolderRecord.mine(self.label, since))
