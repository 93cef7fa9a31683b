"""Transform one month (July 2024) from the raw archive to Parquet marts, at 1x and 10x.

Target (issue #5): the 10x month (about 1 million contracts plus their updates) from raw
to Parquet marts in under 60 s and under 2 GB RSS on the 2-core reference machine.

Setup (not timed, cached under `bench/.cache/` by scale): the simulator's feeds render
every page of the month in pages of PNCP's size, straight into the real `ArchiveWriter`,
without HTTP (serving a 10x month over HTTP would take far longer than transforming it).
By default the contract family only (`contratos` + `contratos_atualizacao`: 180k records
at 1x, 1.8M at 10x), the volume the target names; `BENCH_TRANSFORM_FAMILIES=
contracts,procurements` adds the procurement family, which the linkage marts join (its
pages hold 50 records, so 10x is ~80k files and ~3x the work). Each timed workload runs
in its own process on a fresh copy of the cached archive:

- `dbt via dagster`: the real path, `dagster asset materialize` of the transformation
  selection for partition 2024-07-01 (in-process executor): dbt build of staging,
  intermediate and marts with their tests, then the Parquet export assets;
- `dbt build + export`: the same dbt build and exports without Dagster, to show what
  Dagster's fixed start-up adds;
- `pandas`: a straightforward pandas implementation of the same staging and mart logic
  (`bench.transformation_pandas`), whose row counts must equal the dbt marts'. At 10x it
  runs only if its 1x run, extrapolated, stays under 10 min and 12 GB.

Figures: wall time; CPU time of the whole process tree (on a shared machine, wall time
far above CPU/2 means the run waited for the cores); peak RSS as `ru_maxrss` (the largest
single process) and as the largest sampled sum over the process tree (Dagster's process
plus the `dbt` process it starts); the summary row's peak RSS is the larger of the two.
Logs and every figure of the last run are kept in `bench/results/transformation/`.
`BENCH_TRANSFORM_SCALES=1` and `BENCH_TRANSFORM_WORKLOADS=dagster,dbt,pandas` narrow a run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb

from bench.common import (
    RESULTS,
    BenchWarehouse,
    Measured,
    Measurement,
    fresh_warehouse,
    measured,
    print_table,
    render_instance,
    save,
    venv_on_path,
    warm_dbt_parse,
)
from project.lib import warehouse
from project.lib.exports import FILE_NAME, partition_dir
from project.lib.pncp.archive import NO_MODALIDADE, ArchivedPage, ArchiveWriter, ensure_archive
from project.lib.pncp.endpoints import ENDPOINTS
from project.lib.pncp.extract import request_params, slices_of
from project.simulators.pncp.feeds import portal_for
from project.simulators.pncp.pages import PageStore
from project.simulators.pncp.params import PageQuery

CACHE = Path(__file__).parent / ".cache" / "transformation"
DETAIL = RESULTS / "transformation"  # the last run's logs and every figure measured
CACHE_FORMAT = 1  # bump when the archive layout or the generation changes
SEED = 42  # the simulator's default: the same records the extraction benchmark serves
MONTH = [date(2024, 7, 1) + timedelta(days=n) for n in range(31)]
PARTITION = "2024-07-01"
FAMILIES = {
    "contracts": ("contratos", "contratos_atualizacao"),
    "procurements": ("contratacoes_publicacao", "contratacoes_atualizacao"),
}
SCALES = [float(s) for s in os.environ.get("BENCH_TRANSFORM_SCALES", "1,10").split(",")]
CHOSEN_FAMILIES = tuple(os.environ.get("BENCH_TRANSFORM_FAMILIES", "contracts").split(","))
TARGET_SCALE, TARGET_S, TARGET_MB = 10.0, 60.0, 2048.0
# pandas at 10x runs only if 1x, extrapolated linearly, stays under these
PANDAS_MAX_S, PANDAS_MAX_MB = 600.0, 12 * 1024.0
FLUSH_PAGES = 64  # pages per archive transaction, as the extractor writes them


# --- setup: the month's archive, rendered without HTTP ------------------------------------


def _render_slice(job: tuple[str, date, int, float]) -> list[ArchivedPage]:
    """Every page of one endpoint-day slice, exactly as the simulator would serve them."""
    name, day, modalidade, scale = job
    endpoint = ENDPOINTS[name]
    portal = portal_for(SEED, scale)
    store = PageStore(portal, max_bytes=1)  # no reuse: each page is rendered once
    params = request_params(endpoint, day, modalidade)
    per_modalidade = None if modalidade == NO_MODALIDADE else modalidade
    total = portal.count(name, day, per_modalidade)
    size = endpoint.max_page_size
    if not total:  # PNCP answers 204 for an empty slice; the archive keeps that page
        return [_page(name, day, modalidade, 1, params, 204, b"", 0, 0, 0)]
    pages = math.ceil(total / size)
    return [
        _page(
            name,
            day,
            modalidade,
            page,
            params,
            200,
            store.page(PageQuery(endpoint, day, day, per_modalidade, page, size)) or b"",
            min(size, total - (page - 1) * size),
            total,
            pages,
        )
        for page in range(1, pages + 1)
    ]


def _page(
    name: str,
    day: date,
    modalidade: int,
    page: int,
    params: dict[str, str],
    status: int,
    body: bytes,
    records: int,
    total: int,
    pages: int,
) -> ArchivedPage:
    return ArchivedPage(
        endpoint=name,
        day=day,
        modalidade=modalidade,
        page=page,
        params={**params, "pagina": str(page)},
        http_status=status,
        body=body,
        etag=None,
        record_count=records,
        total_records=total,
        total_pages=pages,
        attempts=1,
    )


def archive_dir(scale: float, families: Sequence[str]) -> Path:
    return CACHE / f"v{CACHE_FORMAT}-july2024-x{scale:g}-{'+'.join(families)}"


def build_archive(scale: float, families: Sequence[str]) -> Path:
    """The cached archive of the month at `scale` (rendered once; reruns reuse it)."""
    target = archive_dir(scale, families)
    if (target / "ready.json").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.monotonic()
    jobs = [
        (name, day, modalidade, scale)
        for family in families
        for name in FAMILIES[family]
        for day in MONTH
        for modalidade in slices_of(ENDPOINTS[name])
    ]
    records = pages = 0
    with (
        duckdb.connect(str(partial / "warehouse.duckdb")) as conn,
        ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool,
    ):
        ensure_archive(conn)
        with ArchiveWriter.on(conn, run_id="bench-setup") as writer:
            batch: list[ArchivedPage] = []
            for rendered in pool.map(_render_slice, jobs, chunksize=4):
                batch.extend(rendered)
                records += sum(p.record_count for p in rendered)
                pages += len(rendered)
                if len(batch) >= FLUSH_PAGES:
                    writer.write(batch)
                    batch = []
            writer.write(batch)
    info = {"scale": scale, "families": list(families), "records": records, "pages": pages}
    info["setup_s"] = round(time.monotonic() - started, 1)
    (partial / "ready.json").write_text(json.dumps(info, indent=2))
    partial.rename(target)
    print(f"  archived x{scale:g}: {records} records, {pages} pages in {info['setup_s']} s")
    return target


def archive_info(archive: Path) -> dict:
    return json.loads((archive / "ready.json").read_text())


# --- measuring: child processes on a fresh copy of the archive ----------------------------


@dataclass
class Run:
    """One timed workload at one scale."""

    workload: str
    scale: float
    records: int  # archived records the transformation reads
    seconds: float
    peak_rss_mb: float  # ru_maxrss: the largest single process of the child's tree
    tree_rss_mb: float  # the largest sampled sum over the child's process tree
    cpu_s: float  # CPU time of the whole tree (wall time above it is waiting or contention)
    rows: dict[str, float] = field(default_factory=dict)  # marts' rows, checked across
    notes: str = ""
    load: float = 0.0  # the machine's 1-minute load average when it ended

    @classmethod
    def of(cls, workload: str, archive: Path, m: Measured, rows: dict, notes: str = "") -> Run:
        info = archive_info(archive)
        notes = ", ".join([f"load {m.load:.1f}", *([notes] if notes else [])])
        return cls(
            workload, info["scale"], info["records"], m.seconds, m.peak_rss_mb, m.tree_rss_mb,
            m.cpu_s, rows, notes, m.load,
        )  # fmt: skip


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # bodies are only read: a hard link is a copy that costs nothing
    except OSError:
        shutil.copy2(src, dst)


@contextmanager
def fresh_copy(archive: Path, backend: str = "file") -> Iterator[BenchWarehouse]:
    """A scratch warehouse of `backend` holding the cached archive (the run writes into it)."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-transform-") as tmp,
        fresh_warehouse(backend, Path(tmp)) as scratch,
    ):
        load_archive(archive, scratch)
        yield scratch


def load_archive(archive: Path, scratch: BenchWarehouse) -> None:
    """Put the archive into an empty warehouse: a copy of its file, or, on a lake, its raw
    and meta tables (created as the platform creates them, then filled from the file), with
    the payload store beside either."""
    shutil.copytree(
        archive / "payloads", scratch.store_dir / "payloads",
        copy_function=_link_or_copy, dirs_exist_ok=True,
    )  # fmt: skip
    if scratch.backend == "file":
        shutil.copy2(archive / "warehouse.duckdb", scratch.target.path)
        return
    with warehouse.connection(scratch.target) as conn:
        ensure_archive(conn)
        conn.execute(f"ATTACH '{archive / 'warehouse.duckdb'}' AS archive (READ_ONLY)")
        tables = conn.execute(
            """SELECT schema_name, table_name FROM duckdb_tables()
               WHERE database_name = 'archive' AND schema_name IN ('raw', 'meta')"""
        ).fetchall()
        for schema, table in tables:
            conn.execute(
                f"INSERT INTO {schema}.{table} BY NAME SELECT * FROM archive.{schema}.{table}"
            )
        conn.execute("DETACH archive")


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def dbt_results(scratch: BenchWarehouse) -> dict[str, float]:
    """Rows of the exported month of each mart, plus staging rows and the value total."""
    exports = scratch.data / "exports" / "pncp"
    rows: dict[str, float] = {}
    with duckdb.connect() as conn:
        for mart in MARTS:
            path = partition_dir(exports, mart, MONTH[0]) / FILE_NAME
            rows[mart] = conn.execute(f"SELECT count(*) FROM '{path}'").fetchone()[0]
        contracts = partition_dir(exports, "contratos_mes", MONTH[0]) / FILE_NAME
        rows["valor_global"] = float(
            conn.execute(f"SELECT coalesce(sum(valor_global), 0) FROM '{contracts}'").fetchone()[0]
        )
    with warehouse.connection(scratch.target, read_only=True) as conn:
        rows["staging_contracts"] = conn.execute(
            "SELECT count(*) FROM staging.stg_pncp__contratos"
        ).fetchone()[0]
    return rows


def log_path(workload: str, archive: Path, backend: str = "file") -> Path:
    """Where a workload's stderr is kept (Dagster's and dbt's logs), for the record."""
    lake = "" if backend == "file" else f"-{backend}"
    return DETAIL / f"{workload}-x{archive_info(archive)['scale']:g}{lake}.log"


MARTS = (
    "contratos_mes",
    "spend_by_organ_month",
    "supplier_concentration",
    "procurement_contract_links",
)


def materialize(selection: str, partition: str) -> list[str]:
    """`dagster asset materialize` of `selection` for one partition, in the run's process."""
    return [
        _tool("dagster"), "asset", "materialize", "-m", "project.definitions",
        "--select", selection, "--partition", partition,
        "--config-json", json.dumps({"execution": {"config": {"in_process": {}}}}),
    ]  # fmt: skip


def run_dagster(archive: Path, backend: str = "file") -> Run:
    """The real path: `dagster asset materialize` of the transformation for the month."""
    from project.defs.pncp import selections  # plain strings; kept beside its use

    with fresh_copy(archive, backend) as scratch:
        render_instance(scratch.env)
        warm_dbt_parse({**scratch.env, **month_window()})
        started = time.time()
        log = log_path("dagster", archive, backend)
        m = measured(materialize(selections.TRANSFORMATION, PARTITION), scratch.env, log)
        phases = dagster_phases(log.read_text(), started, started + m.seconds)
        return Run.of("dbt via dagster", archive, m, dbt_results(scratch), phases)


def dagster_phases(log: str, started: float, ended: float) -> str:
    """Where the Dagster run's time went, from its event log's timestamps (1 s grain)."""
    stamps = {}
    for line in log.splitlines():
        for mark in ("Running dbt command", "Finished dbt command"):
            if mark in line and mark not in stamps:
                stamp = datetime.strptime(line[:25], "%Y-%m-%d %H:%M:%S %z").timestamp()
                stamps[mark] = stamp
    if len(stamps) < 2:
        return ""
    dbt_start, dbt_end = stamps["Running dbt command"], stamps["Finished dbt command"]
    return (
        f"start-up {dbt_start - started:.0f} s, dbt build {dbt_end - dbt_start:.0f} s, "
        f"exports and wrap-up {ended - dbt_end:.0f} s"
    )


def month_window() -> dict[str, str]:
    """The month's window where the models read it, as the Dagster asset passes it."""
    from project.defs.pncp.transformation import WINDOW_ENV

    return {WINDOW_ENV["min_date"]: str(MONTH[0]), WINDOW_ENV["max_date"]: str(MONTH[-1])}


def run_dbt_build(archive: Path) -> Run:
    """The same dbt build and Parquet exports without Dagster (its start-up excluded)."""
    # Read here, not in the child: these modules import Dagster, whose import time is
    # exactly what this workload leaves out.
    from project.defs.pncp.exports import EXPORTS

    window = month_window()
    plan = {
        "dbt_args": ["build"],
        "exports": [[e.model, e.month_column, e.order_by] for e in EXPORTS],
    }
    with fresh_copy(archive) as scratch:
        command = [
            sys.executable, "-m", "bench.transformation_dbt", str(scratch.data), json.dumps(plan),
        ]  # fmt: skip
        m = measured(command, {**scratch.env, **window}, log_path("dbt", archive))
        rows = dbt_results(scratch)
    split = json.loads(m.stdout.strip().splitlines()[-1])
    notes = f"dbt build {split['dbt_s']:.1f} s + export {split['export_s']:.1f} s"
    return Run.of("dbt build + export", archive, m, rows, notes)


def run_pandas(archive: Path) -> Run:
    with fresh_copy(archive) as scratch:
        data = scratch.data
        command = [
            sys.executable, "-m", "bench.transformation_pandas", str(data), str(data / "pandas"),
        ]  # fmt: skip
        m = measured(command, scratch.env, log_path("pandas", archive))
    return Run.of("pandas", archive, m, json.loads(m.stdout.strip().splitlines()[-1]))


# --- the benchmark ------------------------------------------------------------------------


def pandas_fits(one_x: Run, records: int) -> tuple[bool, str]:
    """Whether pandas at `records` stays affordable, extrapolating its 1x run linearly."""
    factor = records / one_x.records
    seconds, mb = one_x.seconds * factor, max(one_x.peak_rss_mb, one_x.tree_rss_mb) * factor
    verdict = f"pandas extrapolated from 1x: ~{seconds:.0f} s, ~{mb / 1024:.1f} GB"
    return seconds <= PANDAS_MAX_S and mb <= PANDAS_MAX_MB, verdict


def check_same_result(dbt: Run, pandas: Run) -> None:
    """Both sides produced the same marts: equal row counts, equal contracted value."""
    for mart in (*MARTS, "staging_contracts"):
        assert dbt.rows[mart] == pandas.rows[mart], (mart, dbt.rows[mart], pandas.rows[mart])
    assert math.isclose(dbt.rows["valor_global"], pandas.rows["valor_global"], rel_tol=1e-9)


def meets_target(run: Run) -> bool:
    return run.seconds < TARGET_S and max(run.peak_rss_mb, run.tree_rss_mb) < TARGET_MB


def print_runs(runs: list[Run]) -> None:
    pandas = {r.scale: r for r in runs if r.workload == "pandas"}
    print(
        f"{'workload':<20}{'scale':>6}{'records in':>12}{'time s':>9}{'cpu s':>8}"
        f"{'peak MB':>9}{'tree MB':>9}{'pandas/dbt':>12}  target"
    )
    for r in runs:
        base = pandas.get(r.scale)
        ratio = "-" if r.workload == "pandas" else "n/a"
        if base and r.workload != "pandas":
            ratio = f"{base.seconds / r.seconds:.1f}x"
        target = "-"
        if r.scale == TARGET_SCALE and r.workload == "dbt via dagster":
            target = "MET" if meets_target(r) else "MISSED"
        print(
            f"{r.workload:<20}{f'{r.scale:g}x':>6}{r.records:>12,}{r.seconds:>9.1f}{r.cpu_s:>8.1f}"
            f"{r.peak_rss_mb:>9.0f}{r.tree_rss_mb:>9.0f}{ratio:>12}  {target}"
            + (f"  ({r.notes})" if r.notes else "")
        )
    print(
        f"target: the {TARGET_SCALE:g}x month raw -> Parquet marts through Dagster in"
        f" < {TARGET_S:.0f} s and < {TARGET_MB / 1024:.0f} GB (peak and tree RSS);"
        " pandas/dbt = pandas time / dbt time"
    )


def run() -> list[Measurement]:
    """Set up (or reuse) each scale's archive, run every workload, print the table."""
    venv_on_path()
    # Setup, not timed: a manifest older than the dbt sources is re-parsed by the first
    # process that loads the definitions, which would then pay for it.
    from project.resources.dbt import get_dbt_project

    get_dbt_project()
    runs: list[Run] = []
    one_x: Run | None = None
    for scale in SCALES:
        archive = build_archive(scale, CHOSEN_FAMILIES)
        records = archive_info(archive)["records"]
        print(f"== x{scale:g}: {records:,} records of {', '.join(CHOSEN_FAMILIES)}", flush=True)
        dbt_runs = [WORKLOADS[name](archive) for name in ("dagster", "dbt") if name in CHOSEN]
        runs += dbt_runs
        fits, verdict = (True, "") if one_x is None else pandas_fits(one_x, records)
        if "pandas" in CHOSEN and (fits or os.environ.get("BENCH_TRANSFORM_PANDAS") == "always"):
            pandas = run_pandas(archive)
            for dbt in dbt_runs:
                check_same_result(dbt, pandas)
            runs.append(pandas)
            one_x = one_x or pandas
        elif "pandas" in CHOSEN:
            limits = f"limits {PANDAS_MAX_S:.0f} s, {PANDAS_MAX_MB / 1024:.0f} GB"
            print(f"  pandas skipped at x{scale:g}: {verdict} ({limits}); its ratio is n/a")
        print_runs(runs)
    save_detail(runs)
    return [to_measurement(r, runs) for r in runs]


WORKLOADS = {"dagster": run_dagster, "dbt": run_dbt_build, "pandas": run_pandas}
CHOSEN = os.environ.get("BENCH_TRANSFORM_WORKLOADS", ",".join(WORKLOADS)).split(",")


def to_measurement(run: Run, runs: list[Run]) -> Measurement:
    """A row of `make bench`'s table: peak RSS is the larger of ru_maxrss and tree RSS."""
    base = next((r for r in runs if r.workload == "pandas" and r.scale == run.scale), None)
    headline = run.workload == "dbt via dagster" and run.scale == TARGET_SCALE
    return Measurement(
        workload=f"transform x{run.scale:g}: {run.workload}",
        seconds=run.seconds,
        peak_rss_mb=max(run.peak_rss_mb, run.tree_rss_mb),
        records=run.records,
        baseline_seconds=base.seconds if base and base is not run else None,
        baseline_records=base.records if base and base is not run else None,
        target_seconds=TARGET_S if headline else None,
        target_rss_mb=TARGET_MB if headline else None,
        load=run.load,
    )


def save_detail(runs: list[Run]) -> Path:
    """Every figure measured (CPU, both RSS figures, mart rows) beside the run's logs."""
    DETAIL.mkdir(parents=True, exist_ok=True)
    path = DETAIL / "runs.json"
    rows = [{**asdict(r), "target_met": meets_target(r)} for r in runs]
    detail = {"benchmark": "transformation", "at": time.time(), "families": CHOSEN_FAMILIES}
    path.write_text(json.dumps({**detail, "runs": rows}, indent=2))
    return path


def main() -> None:
    measurements = run()
    save("transformation", measurements)
    print_table(measurements)


if __name__ == "__main__":
    main()
