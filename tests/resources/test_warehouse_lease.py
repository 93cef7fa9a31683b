"""The warehouse lease: one holder at a time, visible waits, dead holders freed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import replace

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.test_utils import create_run_for_test

from project.resources.warehouse_lease import (
    HolderRecord,
    LeaseAborted,
    WarehouseHeldError,
    WarehouseLease,
    holders,
    record_key,
)

POOL = "test_warehouse"


def _started_run(instance: dg.DagsterInstance) -> str:
    run = create_run_for_test(instance, job_name="pncp_extract", status=dg.DagsterRunStatus.STARTED)
    return run.run_id


def _lease(instance: dg.DagsterInstance, run_id: str, step: str, **kwargs) -> WarehouseLease:
    messages: list[str] = kwargs.pop("messages", [])
    return WarehouseLease(instance, POOL, run_id, step, log=messages.append, poll_s=0.05, **kwargs)


def _gone_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_second_holder_waits_until_the_first_lets_go(instance: dg.DagsterInstance) -> None:
    first = _lease(instance, _started_run(instance), "first")
    messages: list[str] = []
    second = _lease(instance, _started_run(instance), "second", messages=messages)
    second.report_every_s = 0.0
    order: list[str] = []

    def wait_for_it() -> None:
        with second.hold():
            order.append("second")

    with first.hold():
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        time.sleep(1.5)
        order.append("first done")
    waiter.join(timeout=30)

    assert order == ["first done", "second"]
    assert any(f"held by run {first.run_id}" in m for m in messages), messages
    assert holders(instance, POOL, 30) == []  # both gave their slot back


def test_a_holder_whose_process_is_gone_is_freed_and_its_run_marked_failed(
    instance: dg.DagsterInstance,
) -> None:
    dead_run = _started_run(instance)
    dead = _lease(instance, dead_run, "killed_step")
    assert dead._claim()
    gone = replace(HolderRecord.mine("killed_step", time.time()), pid=_gone_pid())
    instance.run_storage.set_cursor_values(
        {record_key(POOL, dead_run, "killed_step"): gone.to_json()}
    )
    (holder,) = holders(instance, POOL, 30)
    assert "is gone" in holder.dead_reason

    messages: list[str] = []
    started = time.monotonic()
    with _lease(instance, _started_run(instance), "next", messages=messages).hold():
        waited = time.monotonic() - started

    assert waited < 10
    run = instance.get_run_by_id(dead_run)
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert any("dead holder" in m and dead_run in m for m in messages), messages
    failure = instance.get_records_for_run(
        dead_run, of_type=dg.DagsterEventType.RUN_FAILURE
    ).records[0]
    assert "process is gone while holding the warehouse" in failure.event_log_entry.message


def test_a_remote_holder_is_dead_once_its_heartbeat_is_stale(
    instance: dg.DagsterInstance,
) -> None:
    remote_run = _started_run(instance)
    assert _lease(instance, remote_run, "remote")._claim()
    old = time.time() - 120
    stale = HolderRecord("another-machine", 4242, None, old, old, "remote")
    instance.run_storage.set_cursor_values(
        {record_key(POOL, remote_run, "remote"): stale.to_json()}
    )

    (holder,) = holders(instance, POOL, 30)
    assert "no heartbeat from pid 4242 on another-machine" in holder.dead_reason
    fresh = HolderRecord("another-machine", 4242, None, old, time.time(), "remote")
    instance.run_storage.set_cursor_values(
        {record_key(POOL, remote_run, "remote"): fresh.to_json()}
    )
    (holder,) = holders(instance, POOL, 30)
    assert holder.dead_reason is None  # alive elsewhere: waited for, never freed


def test_a_holder_that_cannot_be_judged_stops_the_waiter_with_the_command_to_free_it(
    instance: dg.DagsterInstance,
) -> None:
    waiter = _lease(instance, _started_run(instance), "next", stale_after_s=1.0)
    unknown_run = _started_run(instance)
    assert instance.event_log_storage.claim_concurrency_slot(POOL, unknown_run, "x").is_claimed

    with (
        pytest.raises(WarehouseHeldError, match=f"pncp free-run {unknown_run}"),
        waiter.hold(),
    ):
        pytest.fail("the lease must not be granted")
    # The waiter withdrew its own claim: only the unknown holder remains.
    info = instance.event_log_storage.get_concurrency_info(POOL)
    assert [s.run_id for s in info.claimed_slots] == [unknown_run]
    assert [s.run_id for s in info.pending_steps] == [unknown_run]


def test_an_aborted_wait_withdraws_its_claim(instance: dg.DagsterInstance) -> None:
    holder = _lease(instance, _started_run(instance), "holder")
    waiter = _lease(instance, _started_run(instance), "waiter")
    abort = threading.Event()
    with holder.hold():
        timer = threading.Timer(0.5, abort.set)
        timer.start()
        with pytest.raises(LeaseAborted), waiter.hold(abort):
            pytest.fail("the lease must not be granted")
        info = instance.event_log_storage.get_concurrency_info(POOL)
        assert {s.run_id for s in info.pending_steps} == {holder.run_id}


def test_a_dead_step_under_a_live_run_loses_its_slot_but_not_its_run(
    instance: dg.DagsterInstance,
) -> None:
    live_run = create_run_for_test(instance, job_name="x", status=dg.DagsterRunStatus.STARTED)
    # The run's own process (as the executors record it) is this one: alive.
    instance.report_engine_event(
        "Executing steps in process", live_run, EngineEventData.in_process(os.getpid())
    )
    assert _lease(instance, live_run.run_id, "crashed_step")._claim()
    gone = replace(HolderRecord.mine("crashed_step", time.time()), pid=_gone_pid())
    instance.run_storage.set_cursor_values(
        {record_key(POOL, live_run.run_id, "crashed_step"): gone.to_json()}
    )

    with _lease(instance, _started_run(instance), "next").hold():
        pass

    assert instance.get_run_by_id(live_run.run_id).status == dg.DagsterRunStatus.STARTED


def test_a_waiter_killed_before_it_claims_its_assigned_slot_blocks_nobody(
    instance: dg.DagsterInstance,
) -> None:
    holder = _lease(instance, _started_run(instance), "holder")
    killed_waiter = _started_run(instance)
    with holder.hold():
        # A waiter queued behind the holder, then killed: its pending claim stays.
        lease = _lease(instance, killed_waiter, "waiter")
        assert not lease._claim()
        gone = replace(HolderRecord.mine("waiter", time.time()), pid=_gone_pid())
        instance.run_storage.set_cursor_values(
            {record_key(POOL, killed_waiter, "waiter"): gone.to_json()}
        )
    # Dagster assigned the freed slot to the dead waiter; the next one frees it and goes on.
    (assigned,) = holders(instance, POOL, 30)
    assert assigned.run_id == killed_waiter
    assert "is gone" in assigned.dead_reason
    started = time.monotonic()
    with _lease(instance, _started_run(instance), "next").hold():
        assert time.monotonic() - started < 10
