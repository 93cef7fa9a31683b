"""JSON logs: one object per line, Dagster context lifted to top-level keys."""

import io
import json
import logging
from pathlib import Path

import dagster as dg
import pytest

from project.lib.instance import ensure_dagster_home
from project.lib.logs import json_handler
from project.settings import load_settings


def test_plain_records_render_as_one_json_object_with_extras() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test.logs.plain")
    logger.addHandler(json_handler(stream))
    logger.propagate = False
    logger.warning("archived %d pages", 3, extra={"endpoint": "contratos"})
    line = json.loads(stream.getvalue().strip())
    assert line["message"] == "archived 3 pages"
    assert line["level"] == "WARNING"
    assert line["endpoint"] == "contratos"


def test_with_log_format_json_run_logs_are_json_lines_with_run_asset_and_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("PNCP_API_TOKEN", "tok-never-logged")
    settings = load_settings()
    home = ensure_dagster_home(settings)
    daily = dg.DailyPartitionsDefinition(start_date="2024-07-01")

    @dg.asset(partitions_def=daily, key=["pncp", "raw", "probe"])
    def probe(context: dg.AssetExecutionContext) -> None:
        context.log.info("hello from the probe")
        logging.getLogger("project.lib.probe").info("library line", extra={"records": 7})

    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dg.materialize([probe], partition_key="2024-07-02", instance=instance)
    assert result.success

    log_file: Path = settings.json_log_file
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert lines, "no JSON log lines written"
    assert all(line["run_id"] == result.run_id for line in lines)
    probe_line = next(x for x in lines if x["message"] == "hello from the probe")
    assert probe_line["asset"] == "pncp/raw/probe"
    assert probe_line["partition"] == "2024-07-02"
    library_line = next(x for x in lines if x["message"] == "library line")
    assert library_line["records"] == 7
    assert "tok-never-logged" not in log_file.read_text()
