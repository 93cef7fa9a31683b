"""The project's dbt CLI resource skips dagster-dbt's per-invocation probes and keeps
dbt's partial parse per profile."""

import os
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import pytest
from dagster_dbt import DbtCliResource

from project.resources.dbt import (
    PARSE_CACHE_KEEP,
    WarehouseDbtResource,
    build_dbt_resource,
    get_dbt_project,
    keep_parse,
    saved_parse_path,
)
from project.settings import apply_to_environment, get_settings


def test_the_overridden_hooks_still_exist_in_dagster_dbt() -> None:
    """An upgrade that renames them would silently bring the probes back."""
    assert isinstance(
        DbtCliResource.__dict__["_cli_version"], type(WarehouseDbtResource._cli_version)
    )
    assert callable(DbtCliResource.__dict__["_initialize_dbt_core_adapter"])
    # Its invocation's target folder, where the kept parse is placed before dbt starts.
    assert callable(DbtCliResource.__dict__["_get_unique_target_path"])


def test_the_private_column_lineage_builder_still_has_the_signature_used() -> None:
    """`project.resources.dbt.warehouse_metadata` calls dagster-dbt's sqlglot builder (and its
    input tuple) by keyword, and reads these fields of the finished invocation."""
    import dataclasses
    import inspect

    from dagster_dbt.core.dbt_cli_event import EventHistoryMetadata, _build_column_lineage_metadata
    from dagster_dbt.core.dbt_cli_invocation import DbtCliInvocation

    assert EventHistoryMetadata._fields == ("columns", "parents")
    assert set(inspect.signature(_build_column_lineage_metadata).parameters) == {
        "event_history_metadata",
        "dbt_resource_props",
        "manifest",
        "dagster_dbt_translator",
        "target_path",
        "project",
    }
    fields = {f.name for f in dataclasses.fields(DbtCliInvocation)}
    assert {"manifest", "dagster_dbt_translator", "target_path", "project"} <= fields


def test_the_version_comes_from_package_metadata_without_running_dbt() -> None:
    apply_to_environment(get_settings())  # as loading the code location does: dbt on PATH
    resource = build_dbt_resource(get_dbt_project())
    assert isinstance(resource, WarehouseDbtResource)
    assert str(resource._cli_version) == version("dbt-core")
    assert resource._cli_version.major == 1
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_a_parse_is_kept_per_profile_environment_and_replaced_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt re-parses everything when its saved parse was made with another profile (another
    warehouse path, the lake): each profile environment keeps its own, newest first."""
    profiles = get_dbt_project().profiles_dir  # the project's own profiles.yml
    monkeypatch.setenv("DBT_WAREHOUSE_PATH", str(tmp_path / "a.duckdb"))
    monkeypatch.delenv("DBT_TARGET", raising=False)
    first = saved_parse_path(tmp_path, profiles, "dev")
    assert saved_parse_path(tmp_path, profiles, "dev") == first
    assert saved_parse_path(tmp_path, profiles, None) == first, "the profile's default target"
    assert saved_parse_path(tmp_path, profiles, "lake") != first
    # A lake's variables left in the environment are not the file target's business.
    monkeypatch.setenv("DBT_LAKE_CATALOG", "host=elsewhere")
    assert saved_parse_path(tmp_path, profiles, "dev") == first
    monkeypatch.setenv("DBT_WAREHOUSE_PATH", str(tmp_path / "b.duckdb"))
    assert saved_parse_path(tmp_path, profiles, "dev") != first

    run = tmp_path / "run"
    run.mkdir()
    invocation = SimpleNamespace(target_path=run, project_dir=tmp_path)
    keep_parse(invocation, first)  # a failed invocation that never parsed keeps nothing
    assert not first.exists()
    for n in range(PARSE_CACHE_KEEP + 3):
        (run / "partial_parse.msgpack").write_bytes(b"parse %d" % n)
        saved = first.with_name(f"{n:02d}.msgpack")
        keep_parse(invocation, saved)
        os.utime(saved, (n, n))  # ordered, whatever the clock's resolution
    kept = sorted(p.name for p in first.parent.iterdir())
    assert kept == [f"{n:02d}.msgpack" for n in range(3, PARSE_CACHE_KEEP + 3)]
    assert first.with_name("18.msgpack").read_bytes() == b"parse 18"
