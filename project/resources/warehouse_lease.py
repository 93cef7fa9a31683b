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
import logging
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
import sqlalchemy.exc

RECORD_PREFIX = "platform/warehouse_lease"
# A holder on another machine is dead after this long without a heartbeat.
STALE_AFTER_S = 30.0
HOST = socket.gethostname()
logger = logging.getLogger(__name__)


def _machine() -> str:
    """Where pids mean the same thing: the host name, its boot, its pid namespace.

    The host name alone is not enough: containers may share one without sharing their
    processes, and would take each other's live pids for gone ones.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:  # no /proc (macOS): one namespace per host
        return HOST
    return f"{HOST}/{boot}/{namespace}"


MACHINE = _machine()


class WarehouseHeldError(RuntimeError):
    """The warehouse slot is held by a holder whose liveness cannot be decided."""


class WarehouseBusyError(RuntimeError):
    """A bounded wait for the warehouse ran out while a live holder kept it."""


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

    host: str  # for people
    pid: int
    process_start: float | None
    since: float  # epoch seconds the claim was made (granted, once it is)
    heartbeat: float  # epoch seconds of the last sign of life, by the holder's clock
    label: str  # what holds it, for people: "pncp/raw/atas", "sensor pipeline_metrics"
    machine: str = ""  # where its pid can be checked (`MACHINE`)

    @classmethod
    def mine(cls, label: str, since: float) -> HolderRecord:
        pid = os.getpid()
        return cls(HOST, pid, process_start(pid), since, time.time(), label, MACHINE)

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
    """A claimed slot of the pool (or one assigned to a waiter) and what is known of it."""

    run_id: str
    step_key: str
    record: HolderRecord | None
    run_status: str | None  # None: not a run (a sensor) or a run deleted from the instance
    dead_reason: str | None  # why the holder is dead; None while it is (or may be) alive
    run_gone: bool = False  # the run's own process is gone too: the run is dead, not a step

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


def _coordinator_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid of the process that runs `run_id`'s steps (the run worker, or the command
    that executes it in process), from the first engine event that names one."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=20
    ).records
    for record in records:
        data = record.event_log_entry.dagster_event.event_specific_data
        pid = getattr(data, "metadata", {}).get("pid") if data is not None else None
        if pid is not None:
            try:
                return int(getattr(pid, "value", pid))
            except (TypeError, ValueError):
                continue
    return None


Heartbeats = dict[tuple[str, str], tuple[float, float]]


def judge(
    instance: dg.DagsterInstance,
    pool: str,
    run_id: str,
    step_key: str,
    stale_after_s: float,
    seen: Heartbeats | None = None,
) -> Holder:
    """What is known of one holder of `pool`, and whether it is dead.

    A holder on another machine is judged by its heartbeat: with `seen` (a waiter that
    looks again and again), by how long its value has not changed on this machine's
    clock, so clock skew between machines does not matter; without it (a one-off look,
    `pncp doctor`), by its age.
    """
    record = _read_record(instance, record_key(pool, run_id, step_key))
    run = instance.get_run_by_id(run_id)
    status = run.status.value if run is not None else None
    reason = None
    run_gone = False
    # The holder's own process decides first: a run marked finished (by run monitoring,
    # say) whose step still writes must keep its slot, or two writers would meet.
    if record is not None and record.machine == MACHINE:
        start = process_start(record.pid)
        if start is None or (record.process_start and start and start != record.process_start):
            reason = f"its process {record.pid} on {record.host} is gone"
            coordinator = _coordinator_pid(instance, run_id) if run is not None else None
            run_gone = coordinator is None or process_start(coordinator) is None
    elif record is not None:
        age = time.time() - record.heartbeat
        if seen is not None:
            beat, noticed = seen.get((run_id, step_key), (None, time.monotonic()))
            if beat != record.heartbeat:
                noticed = time.monotonic()
                seen[(run_id, step_key)] = (record.heartbeat, noticed)
            age = time.monotonic() - noticed
        if age > stale_after_s:
            reason = f"no heartbeat from pid {record.pid} on {record.host} for {age:.0f} s"
            run_gone = True  # its machine is lost to us: so is the run's step there
    elif run is not None and run.is_finished:
        reason = f"its run is {status} but the slot was never freed"
    return Holder(run_id, step_key, record, status, reason, run_gone)


def holders(
    instance: dg.DagsterInstance,
    pool: str,
    stale_after_s: float,
    seen: Heartbeats | None = None,
) -> list[Holder]:
    """Every holder of `pool`, judged: the claimed slots, and the slots Dagster assigned to
    a waiter that has not claimed them yet (a waiter killed then would block them all)."""
    info = instance.event_log_storage.get_concurrency_info(pool)
    keys = [(slot.run_id, slot.step_key) for slot in info.claimed_slots]
    keys += [
        (step.run_id, step.step_key)
        for step in info.pending_steps
        if step.assigned_timestamp is not None and (step.run_id, step.step_key) not in keys
    ]
    return [judge(instance, pool, run_id, step, stale_after_s, seen) for run_id, step in keys]


def free_dead(instance: dg.DagsterInstance, holder: Holder, pool: str) -> None:
    """Free a dead holder's slot; if its run is dead too, mark it failed and free all of it.

    A step process that died under a live run worker (multiprocess executor) loses only
    its slot: the run worker fails that step itself, and may retry it.
    """
    storage = instance.event_log_storage
    storage.free_concurrency_slot_for_step(holder.run_id, holder.step_key)
    _write_record(instance, record_key(pool, holder.run_id, holder.step_key), None)
    run = instance.get_run_by_id(holder.run_id)
    if run is None or not holder.run_gone:
        return
    if not run.is_finished:
        instance.report_run_failed(
            run,
            f"Marked failed: its process is gone while holding the warehouse ({holder.dead_reason})"
            f"; its slot in pool {pool} was freed.",
        )
    storage.free_concurrency_slots_for_run(holder.run_id)


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


# The run log's record of each hold, read by operators and by the tests that check who
# held the warehouse when.
TAKEN = "warehouse lease taken"
GIVEN_BACK = "warehouse lease given back"


def ensure_pool(instance: dg.DagsterInstance, pool: str, slots: int | None = None) -> bool:
    """Whether the instance limits `pool`, creating its default limit as the executor would.

    With `slots`, the pool's limit is set to it when it differs: the warehouse's backend
    decides how many writers it takes (1 on a DuckDB file, WAREHOUSE_WRITERS on a lake),
    so switching backends needs no manual `dagster instance concurrency set`.
    """
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return False
    limits = {limit.name: limit.limit for limit in storage.get_pool_limits()}
    if slots is not None and limits.get(pool) != slots:
        storage.set_concurrency_slots(pool, slots)
        return True
    if pool not in limits and instance.global_op_concurrency_default_limit is not None:
        storage.initialize_concurrency_limit_to_default(pool)
        limits = {limit.name: limit.limit for limit in storage.get_pool_limits()}
    return pool in limits


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
        slots: int | None = None,
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
        self._since = time.time()
        self._seen: Heartbeats = {}
        self.enforced = ensure_pool(instance, pool, slots)

    def _claim(self) -> bool:
        try:
            status = self.instance.event_log_storage.claim_concurrency_slot(
                self.pool, self.run_id, self.step_key
            )
        except sqlalchemy.exc.OperationalError as exc:  # a busy SQLite, a PostgreSQL blip
            logger.warning("claiming the warehouse slot failed, retrying: %s", exc)
            return False
        return status.is_claimed

    def _withdraw(self) -> None:
        self.instance.event_log_storage.free_concurrency_slot_for_step(self.run_id, self.step_key)
        _write_record(self.instance, self._key, None)

    def others_waiting(self) -> bool:
        """Whether another holder waits for a slot of the pool (not yet assigned one)."""
        if not self.enforced:
            return False
        info = self.instance.event_log_storage.get_concurrency_info(self.pool)
        return any(
            step.assigned_timestamp is None
            and (step.run_id, step.step_key) != (self.run_id, self.step_key)
            for step in info.pending_steps
        )

    def _free_dead_holders(self) -> list[Holder]:
        """Free the other holders that are dead; return the others, alive or undecided."""
        others = []
        for holder in holders(self.instance, self.pool, self.stale_after_s, self._seen):
            if (holder.run_id, holder.step_key) == (self.run_id, self.step_key):
                continue
            if holder.dead_reason:
                action = "marking its run failed and " if holder.run_gone else ""
                self.log(
                    f"warehouse held by a dead holder, {holder.describe()}: "
                    f"{holder.dead_reason}; {action}freeing its slot"
                )
                free_dead(self.instance, holder, self.pool)
            else:
                others.append(holder)
        return others

    def _check_holders(self, unknown_since: dict[tuple[str, str], float]) -> list[Holder]:
        """Free dead holders; raise for a holder that cannot be judged for too long."""
        alive = []
        for holder in self._free_dead_holders():
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

    def _wait(self, abort: threading.Event | None, wait_s: float | None = None) -> None:
        started = time.monotonic()
        alive: list[Holder] = []
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
            if wait_s is not None and now - started >= wait_s:
                held_by = "; ".join(h.describe() for h in alive) or "another holder"
                raise WarehouseBusyError(
                    f"the warehouse is held by {held_by} (waited {wait_s:.0f} s)"
                )
            if abort is not None:
                if abort.wait(self.poll_s):
                    raise LeaseAborted("stopped while waiting for the warehouse")
            else:
                time.sleep(self.poll_s)

    @contextmanager
    def hold(
        self, abort: threading.Event | None = None, wait_s: float | None = None
    ) -> Iterator[None]:
        """Hold a slot of the pool for the body; waits (visibly) while another holds it.

        The record is written before the claim, so a claimed slot always has one, and kept
        alive by a heartbeat from then on, waiting included: a waiter that Dagster assigns
        the slot to is never taken for dead before it claims it.
        """
        if not self.enforced:
            yield
            return
        self._since = time.time()
        _write_record(self.instance, self._key, HolderRecord.mine(self.label, self._since))
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(stop,), daemon=True)
        beat.start()
        taken = False
        try:
            asked = time.time()
            self._wait(abort, wait_s)
            self._since, taken = time.time(), True
            _write_record(self.instance, self._key, HolderRecord.mine(self.label, self._since))
            self.log(f"{TAKEN} (pool {self.pool}, after {self._since - asked:.1f} s)")
            yield
        finally:
            stop.set()
            beat.join()
            self._withdraw()
            if taken:
                self.log(f"{GIVEN_BACK} after {time.time() - self._since:.1f} s")

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
            self._free_dead_holders()
            yield self._claim()
        finally:
            self._withdraw()

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_s):
            try:
                _write_record(self.instance, self._key, HolderRecord.mine(self.label, self._since))
            except Exception as exc:  # a storage blip: the next beat tries again
                logger.warning("warehouse lease heartbeat failed, retrying: %s", exc)
