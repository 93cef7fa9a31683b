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


def test_the_version_comes_from_package_metadata_without_running_dbt() -> None:
    apply_to_environment(get_settings())  # as loading the code location does: dbt on PATH
    resource = build_dbt_resource(get_dbt_project())
    assert isinstance(resource, WarehouseDbtResource)
    assert str(resource._cli_version) == version("dbt-core")
    assert resource._cli_version.major == 1
    assert resource._initialize_dbt_core_adapter(["build"]) is None
