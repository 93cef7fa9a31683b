"""Project-wide automation and freshness policy, decided per layer, applied in one place.

Capabilities name their asset groups `<capability>_<layer>` (`pncp_raw`, `pncp_marts`,
later `shop_gold`), so the layer says how an asset should be kept up to date, without
any capability having to repeat it:

| layer                                      | automation condition              | freshness |
| ------------------------------------------ | --------------------------------- | --------- |
| raw, bronze                                | none: schedules extract them      | -         |
| staging, intermediate, silver, models      | eager (cheap DuckDB views/tables) | -         |
| marts, gold                                | eager, or refresh when stale      | warn/fail |
| exports                                    | daily cron, only if inputs changed| -         |

Every condition is limited to the latest time window, so turning an automation sensor
back on after a long pause asks for at most one partition per asset (Dagster's guidance
for reactivation); older partitions are the monthly schedule's and backfills' job.
`project.definitions` applies `apply_policy` to everything `defs/` loads; an asset that
sets its own condition or freshness policy keeps it.
"""

from collections.abc import Callable
from datetime import timedelta

import dagster as dg

from project.defs.pncp.partitions import TIMEZONE

# Expensive layers run once a day, after the 06:00 extraction has had time to land.
DAILY_CRON = "0 7 * * *"

# Freshness windows by cadence: an asset rebuilt daily warns after a missed day and fails
# after a day and a half; a monthly one (marts of a closed month) gets a month's slack.
DAILY_WINDOWS = (timedelta(hours=26), timedelta(hours=36))
MONTHLY_WINDOWS = (timedelta(days=32), timedelta(days=35))

NO_AUTOMATION_LAYERS = frozenset({"raw", "bronze"})
EAGER_LAYERS = frozenset({"staging", "intermediate", "silver", "models", "seeds"})
FRESHNESS_LAYERS = frozenset({"marts", "gold"})
CRON_LAYERS = frozenset({"exports"})


def layer_of(group_name: str | None) -> str | None:
    """`pncp_marts` → `marts`; None for groups outside the `<capability>_<layer>` scheme."""
    if not group_name or "_" not in group_name:
        return None
    return group_name.rsplit("_", 1)[1]


def _guards() -> dg.AutomationCondition:
    # Never while the asset or an input is being written, nor with an input missing.
    return (
        ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    )


def refresh_when_stale() -> dg.AutomationCondition:
    """Once, when the asset's freshness turns FAIL: re-materialize its latest partition.

    `newly_true` fires on the tick the state flips, so a refresh that is still waiting for
    the freshness daemon to see its result is not requested again.
    """
    return (
        dg.AutomationCondition.in_latest_time_window()
        & dg.AutomationCondition.freshness_failed().newly_true()
        & _guards()
    ).with_label("refresh_when_stale")


def eager_or_stale() -> dg.AutomationCondition:
    return (dg.AutomationCondition.eager() | refresh_when_stale()).with_label("eager_or_stale")


def on_cron_if_inputs_changed(cron: str = DAILY_CRON, timezone: str = TIMEZONE):
    """At most once per cron tick, and only if an input changed since the asset last ran.

    Dagster's `on_cron` waits for every input to update *after* the tick, which never
    happens to inputs that are rebuilt before it (marts at 06:30, exports at 07:00); this
    batches any changes seen since the asset was last handled instead.
    """
    return (
        dg.AutomationCondition.in_latest_time_window()
        & dg.AutomationCondition.cron_tick_passed(cron, timezone).since_last_handled()
        & dg.AutomationCondition.any_deps_updated().since_last_handled()
        & _guards()
    ).with_label(f"on_cron_if_inputs_changed({cron}, {timezone})")


def condition_for(spec: dg.AssetSpec) -> dg.AutomationCondition | None:
    layer = layer_of(spec.group_name)
    if layer in EAGER_LAYERS:
        return dg.AutomationCondition.eager()
    if layer in FRESHNESS_LAYERS:
        return eager_or_stale()
    if layer in CRON_LAYERS:
        return on_cron_if_inputs_changed()
    return None


def _cadence(partitions_def: dg.PartitionsDefinition | None) -> timedelta:
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        first = partitions_def.get_first_partition_window()
        if first is not None:
            return first.end - first.start
    return timedelta(days=1)


def freshness_for(spec: dg.AssetSpec) -> dg.FreshnessPolicy | None:
    if layer_of(spec.group_name) not in FRESHNESS_LAYERS:
        return None
    warn, fail = MONTHLY_WINDOWS if _cadence(spec.partitions_def).days >= 28 else DAILY_WINDOWS
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn)


def apply_to_spec(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec with its layer's condition and freshness, unless it already declares its own."""
    changes: dict[str, object] = {}
    if spec.automation_condition is None and (condition := condition_for(spec)):
        changes["automation_condition"] = condition
    if spec.freshness_policy is None and (policy := freshness_for(spec)):
        changes["freshness_policy"] = policy
    return spec.replace_attributes(**changes) if changes else spec


def apply_policy(
    defs: dg.Definitions,
    hooks: set[dg.HookDefinition] | None = None,
    spec_policy: Callable[[dg.AssetSpec], dg.AssetSpec] = apply_to_spec,
) -> dg.Definitions:
    """`defs` with `spec_policy` over every asset spec and `hooks` on every executable asset."""
    assets = []
    for asset in defs.assets or []:
        if isinstance(asset, dg.AssetsDefinition | dg.AssetSpec):
            (asset,) = dg.map_asset_specs(spec_policy, [asset])
        if hooks and isinstance(asset, dg.AssetsDefinition) and asset.is_executable:
            asset = asset.with_hooks(hooks)
        assets.append(asset)
    return dg.Definitions(
        assets=assets,
        schedules=defs.schedules,
        sensors=defs.sensors,
        jobs=defs.jobs,
        resources=defs.resources,
        executor=defs.executor,
        loggers=defs.loggers,
        asset_checks=defs.asset_checks,
        metadata=defs.metadata,
    )
