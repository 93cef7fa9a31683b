"""The project's dbt CLI resource skips dagster-dbt's per-invocation probes."""

from importlib.metadata import version

from dagster_dbt import DbtCliResource

from project.resources.dbt import WarehouseDbtResource, build_dbt_resource, get_dbt_project
from project.settings import apply_to_environment, get_settings


def test_the_overridden_hooks_still_exist_in_dagster_dbt() -> None:
    """An upgrade that renames them would silently bring the probes back."""
    assert isinstance(
        DbtCliResource.__dict__["_cli_version"], type(WarehouseDbtResource._cli_version)
    )
    assert callable(DbtCliResource.__dict__["_initialize_dbt_core_adapter"])


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
