"""Helpers shared by benchmarks: measured child processes, the results table, result files.

A benchmark's `run()` returns `Measurement`s: wall time and peak RSS of the measured
process, an in-run baseline (the naive way of doing the same work), optionally the target
it must meet, and the machine's load average when it ended (others' work slows a run
down: the figure says how quiet the machine was). `make bench` prints them as one table
and saves them, with the git commit, as `bench/results/<timestamp>.json`, so runs can be
compared across commits.

`measured` runs a child the way every platform workload is measured: wall time, CPU time
of its whole tree, and peak RSS both as `ru_maxrss` (the largest single process) and as
the largest sampled sum over the process tree (a Dagster run plus the `dbt` process it
starts), with its stderr kept in a log.

`fresh_warehouse` gives a benchmark an empty warehouse of either backend (a DuckDB file,
or a DuckLake whose catalog is a schema of its own in PostgreSQL, dropped afterwards) and
the environment that points the platform's processes at it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from project.lib import warehouse

RESULTS = Path(__file__).parent / "results"
REPO = Path(__file__).resolve().parent.parent


@dataclass
class Measurement:
    workload: str
    seconds: float
    peak_rss_mb: float
    records: int = 0
    baseline_seconds: float | None = None
    baseline_records: int | None = None
    target_seconds: float | None = None
    target_rss_mb: float | None = None
    # 1-minute load average when the measurement ended (set when the Measurement is made)
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float | None:
        """How many times better than the baseline.

        Throughput (records/s over records/s) when both sides count records, since the
        baseline may do less work; otherwise baseline time over time.
        """
        if not self.baseline_seconds or not self.seconds:
            return None
        if self.records and self.baseline_records:
            return self.records_per_s / (self.baseline_records / self.baseline_seconds)
        return self.baseline_seconds / self.seconds

    @property
    def target_met(self) -> bool | None:
        """None when the benchmark sets no target."""
        if self.target_seconds is None and self.target_rss_mb is None:
            return None
        return (self.target_seconds is None or self.seconds < self.target_seconds) and (
            self.target_rss_mb is None or self.peak_rss_mb < self.target_rss_mb
        )

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "records_per_s": self.records_per_s,
            "ratio": self.ratio,
            "target_met": self.target_met,
        }


def run_measured(
    command: Sequence[str], env: dict[str, str] | None = None
) -> tuple[float, float, str]:
    """Run a child to completion; return (wall seconds, its peak RSS in MB, stdout)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:4]} exited {proc.returncode}:\n{stdout[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, stdout


# --- child processes: wall time, CPU time, peak RSS of the whole process tree -----------------


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree_rss_mb(root: int) -> float:
    """RSS summed over every descendant of `root` (shared pages count once per process)."""
    total, stack = 0, _children(root)
    while stack:
        pid = stack.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        stack += _children(pid)
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


@contextmanager
def tree_rss_peak(interval_s: float = 0.1) -> Iterator[list[float]]:
    """Sample the RSS of this process's children while the block runs; yields [peak MB]."""
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval_s):
            peak[0] = max(peak[0], _tree_rss_mb(os.getpid()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    tree_rss_mb: float
    cpu_s: float  # user + system of the child and every descendant it waited for
    load: float  # the machine's 1-minute load average when it ended (others' work too)
    stdout: str


def measured(command: Sequence[str], env: dict[str, str], log: Path) -> Measured:
    """Run a child with wall time, peak RSS and CPU time; its stderr goes to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    quiet = ["sh", "-c", 'exec "$@" 2>"$BENCH_LOG"', "sh", *command]
    before = os.times()
    with tree_rss_peak() as tree:
        try:
            seconds, rss, out = run_measured(quiet, env={**env, "BENCH_LOG": str(log)})
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n--- {log} ---\n{log.read_text()[-4000:]}") from None
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return Measured(seconds, rss, tree[0], cpu, os.getloadavg()[0], out)


def venv_on_path() -> None:
    """Put this interpreter's bin/ first on PATH, as activating the venv would: dagster-dbt
    runs `dbt` from PATH (here, and when it re-parses a stale manifest in this process)."""
    bin_dir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bin_dir:
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


def render_instance(env: dict[str, str]) -> None:
    """`DAGSTER_HOME`/dagster.yaml for a run with `env`, as `make instance` renders it."""
    subprocess.run(
        [sys.executable, "-m", "project.lib.instance"],
        env={**os.environ, **env},
        check=True,
        stdout=subprocess.DEVNULL,
    )


@contextmanager
def simulator_process(*args: str) -> Iterator[str]:
    """The PNCP simulator in its own process (its CPU is not the extractor's); yields base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "project.simulators.pncp", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def load_average() -> str:
    """The machine's 1, 5 and 15-minute load averages, for a line of figures."""
    return "/".join(f"{n:.1f}" for n in os.getloadavg())


# --- warehouses of either backend -----------------------------------------------------------

# The PostgreSQL database that holds the DuckLake catalogs of benchmark runs (one schema each,
# dropped after the run). A variable of the benchmark's own: never a deployment's catalog.
CATALOG_ENV = "BENCH_CATALOG_URL"
DEFAULT_CATALOG_URL = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ("file", "ducklake")


@dataclass(frozen=True)
class BenchWarehouse:
    """A scratch warehouse: `data` is the run's PLATFORM_DATA_DIR, `env` the settings that
    point the platform's processes (the runner, `dagster`, dbt) at it."""

    target: warehouse.Target
    data: Path
    env: dict[str, str]

    @property
    def backend(self) -> str:
        return self.target.backend

    @property
    def store_dir(self) -> Path:
        """Where side stores live (`payloads/pncp`, ...): beside the file or the lake."""
        return self.target.anchor.parent


def catalog_url() -> str:
    return os.environ.setdefault(CATALOG_ENV, DEFAULT_CATALOG_URL)


@contextmanager
def lake_catalog() -> Iterator[str]:
    """A fresh catalog schema name, dropped (with everything DuckLake put in it) afterwards."""
    import psycopg2  # only benchmarks of the lake need it

    schema = f"bench_lake_{uuid.uuid4().hex[:10]}"
    try:
        yield schema
    finally:
        warehouse.close_lakes()  # this process's catalog connections, before the drop
        admin = psycopg2.connect(catalog_url(), connect_timeout=10)
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            admin.close()


@contextmanager
def fresh_warehouse(backend: str, root: Path) -> Iterator[BenchWarehouse]:
    """An empty warehouse of `backend` under `root` (a scratch directory the caller removes)."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    env = {
        "PLATFORM_DATA_DIR": str(data),
        "EXPORTS_DIR": str(data / "exports"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "DAGSTER_PG_URL": "",
        "LOG_FORMAT": "text",
        "WAREHOUSE_BACKEND": backend,
    }
    if backend == "file":
        path = data / "warehouse.duckdb"
        yield BenchWarehouse(
            warehouse.Target("file", path), data, {**env, "WAREHOUSE_PATH": str(path)}
        )
        return
    with lake_catalog() as schema:
        files = data / "lake" / "files"
        target = warehouse.Target("ducklake", files, schema, catalog_env=CATALOG_ENV)
        lake = {
            "WAREHOUSE_CATALOG_URL": catalog_url(),
            "WAREHOUSE_CATALOG_SCHEMA": schema,
            "WAREHOUSE_DATA_PATH": str(files),
        }
        yield BenchWarehouse(target, data, {**env, **lake})


# --- result files ---------------------------------------------------------------------------


def git_commit() -> str:
    """The checked-out commit, with `-dirty` when the work tree has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def save_run(results: Mapping[str, list[Measurement]], directory: Path = RESULTS) -> Path:
    """Write one run of benchmarks to `<directory>/<UTC timestamp>.json`; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    at = time.time()
    path = directory / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(at))}.json"
    document = {
        "at": at,
        "commit": git_commit(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "benchmarks": {name: [m.as_dict() for m in ms] for name, ms in results.items()},
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def save(name: str, measurements: list[Measurement]) -> Path:
    """One benchmark's results as their own run file (a benchmark module run alone)."""
    return save_run({name: measurements})


def previous_run(before: Path | None = None, directory: Path = RESULTS) -> dict | None:
    """The latest saved run older than `before` (file names sort by time), if any."""
    files = sorted(p for p in directory.glob("*.json") if before is None or p.name < before.name)
    for path in reversed(files):
        try:
            document = json.loads(path.read_text())
        except ValueError:
            continue
        if "benchmarks" in document:
            return {**document, "path": str(path)}
    return None


# --- the table ------------------------------------------------------------------------------


def _target(m: Measurement) -> str:
    if m.target_met is None:
        return "-"
    limits = []
    if m.target_seconds is not None:
        limits.append(f"<{m.target_seconds:g} s")
    if m.target_rss_mb is not None:
        limits.append(f"<{m.target_rss_mb:g} MB")
    return f"{'met' if m.target_met else 'MISSED'} ({', '.join(limits)})"


def table(measurements: Sequence[Measurement]) -> str:
    """One line per workload: time, peak RSS, baseline time, ratio, target, load average."""
    header = ("workload", "time", "peak RSS", "baseline time", "ratio", "target", "load")
    rows = [
        (
            m.workload,
            f"{m.seconds:.1f} s",
            f"{m.peak_rss_mb:.0f} MB",
            f"{m.baseline_seconds:.1f} s" if m.baseline_seconds else "-",
            f"{m.ratio:.1f}x" if m.ratio else "-",
            _target(m),
            f"{m.load:.1f}",
        )
        for m in measurements
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
        )

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def print_table(measurements: Sequence[Measurement]) -> None:
    print(table(measurements))


def comparison(measurements: Sequence[Measurement], previous: dict) -> list[str]:
    """Lines comparing each workload's time with the same workload in `previous`."""
    before = {row["workload"]: row for rows in previous["benchmarks"].values() for row in rows}
    lines = []
    for m in measurements:
        if (old := before.get(m.workload)) and old.get("seconds"):
            change = (m.seconds - old["seconds"]) / old["seconds"]
            lines.append(
                f"  {m.workload}: {old['seconds']:.1f} s -> {m.seconds:.1f} s ({change:+.0%}), "
                f"peak {old['peak_rss_mb']:.0f} -> {m.peak_rss_mb:.0f} MB"
            )
    return lines


@contextmanager
def pg_cursor(url: str) -> Iterator:
    """An autocommit cursor on the PostgreSQL at `url` (a benchmark's own tables)."""
    import psycopg2  # only the benchmarks' parent processes need it

    conn = psycopg2.connect(url, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.close()


WARM_PARSE = """
from project.resources.dbt import build_dbt_resource, collect_events, get_dbt_project
from project.settings import apply_to_environment, get_settings

settings = get_settings()
apply_to_environment(settings)  # as loading the code location does
dbt = build_dbt_resource(get_dbt_project(), target=settings.dbt_target)
events, failure = collect_events(dbt.cli(["parse"], raise_on_error=True))
if failure is not None:
    raise failure
"""


def warm_dbt_parse(env: dict[str, str]) -> None:
    """A `dbt parse` with the settings `env` gives (and the window it holds, if any),
    through the project's dbt resource, so the measured runs start from a parse kept for
    their profile as every run of a deployment but its first does (project/resources/
    dbt.py). Setup, not timed."""
    command = [sys.executable, "-c", WARM_PARSE]
    subprocess.run(command, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
