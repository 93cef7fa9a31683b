"""Lowering a process's CPU priority: every thread, started before or after, and for good."""

import json
import subprocess
import sys

import pytest

from project.lib import priority

# In a child process: lowering the test's own would slow every later test of its worker.
CHILD = """
import json, os, threading
from project.lib import priority

base = priority.niceness()
want = min(priority.MAX_NICENESS, base + 5)
started, stop, early = threading.Event(), threading.Event(), {}

def waiting() -> None:
    early["tid"] = threading.get_native_id()
    started.set()
    stop.wait()

before = threading.Thread(target=waiting)
before.start()
started.wait()
lowered = priority.lower_priority(want)
early_thread = os.getpriority(os.PRIO_PROCESS, early["tid"])
asked_back = priority.lower_priority(base)  # a higher priority is not given back
late = {}
after = threading.Thread(target=lambda: late.update(n=priority.niceness()))
after.start()
after.join()
stop.set()
before.join()
print(json.dumps({"want": want, "got": [lowered, early_thread, asked_back, late["n"]]}))
"""


def test_every_thread_is_lowered_and_the_priority_is_not_raised_back() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    found = json.loads(done.stdout)
    if found["want"] == priority.niceness():
        pytest.skip("the tests already run at the lowest priority: nothing to lower")
    assert found["got"] == [found["want"]] * 4


def test_a_niceness_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="0-19"):
        priority.lower_priority(20)
