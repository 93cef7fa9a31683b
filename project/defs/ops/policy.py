"""Project-wide automation and freshness policy, decided per layer, applied in one place.

Capabilities name their asset groups `<capability>_<layer>` (`pncp_raw`, `pncp_marts`),
so the layer says how an asset should be kept up to date, without any capability having
to repeat it, and without this module knowing which capabilities exist:

| layer                                 | automation condition               | freshness |
| ------------------------------------- | ---------------------------------- | --------- |
| raw, bronze                           | none: schedules extract them       | -         |
| staging, intermediate, models, silver | eager (cheap DuckDB views/tables)  | -         |
| marts, gold                           | eager, or refresh when stale       | warn/fail |

Freshness windows (warn / fail): 26 h / 36 h for daily assets, 32 / 47 days for monthly
ones; each pair reads differently in the UI ("a day" / "2 days", "a month" / "2 months").
| exports                               | daily cron, only if inputs changed | -         |

`bronze`, `silver` and `gold` are the medallion names of the same layers, for a
capability that prefers them (the shop does). A group outside the
scheme (Dagster's `default`, say) gets no policy.

Every condition is limited to the latest time window, so turning an automation sensor
back on after a long pause asks for at most one partition per asset (Dagster's guidance
for reactivation); older partitions are the schedules' and backfills' job.
`project.definitions` applies `apply_policy` to everything `defs/` loads, through
Dagster's own mapping of asset specs, so nothing else in the definitions (jobs, sensors,
the component tree) is rebuilt; an asset that sets its own condition or freshness policy
keeps it.
"""

from collections.abc import Callable
from datetime import timedelta

import dagster as dg
from dagster_shared.record import replace

# The platform's wall clock for cron conditions: its operators work in Brasília time.
# A platform constant, not a capability's: each capability's partitions and schedules
# keep their own timezone.
PLATFORM_TIMEZONE = "America/Sao_Paulo"

# Expensive layers run once a day, after the morning extractions have had time to land.
DAILY_CRON = "0 7 * * *"

# Freshness windows by cadence: an asset rebuilt daily warns after a missed day and fails
# after a day and a half; a monthly one (marts of a closed month, built on the 2nd) warns
# once a monthly build is missed and fails when it is still missing two weeks later.
# The UI shows each window rounded (dayjs `humanize`: 26-45 days all read "a month"), so
# the two must fall on different words to tell WARN from FAIL: "a day" / "2 days",
# "a month" / "2 months" (47 days rounds to 2 months; 35 read "a month" like 32).
DAILY_WINDOWS = (timedelta(hours=26), timedelta(hours=36))
MONTHLY_WINDOWS = (timedelta(days=32), timedelta(days=47))

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


def on_cron_if_inputs_changed(cron: str = DAILY_CRON, timezone: str = PLATFORM_TIMEZONE):
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


def with_asset_hooks(defs: dg.Definitions, hooks: set[dg.HookDefinition]) -> dg.Definitions:
    """`defs` with `hooks` on every executable asset (a multi-asset or dbt assets included).

    Definitions has no public method to map over its assets as a whole, only over their
    specs; this copies it the way Dagster's own methods do (`replace` of the record, as in
    `permissive_map_resolved_asset_specs`), so every other field is kept as it is.
    """
    assets = [
        asset.with_hooks(hooks)
        if isinstance(asset, dg.AssetsDefinition) and asset.is_executable
        else asset
        for asset in defs.assets or []
    ]
    return replace(defs, assets=assets)


def apply_policy(
    defs: dg.Definitions,
    hooks: set[dg.HookDefinition] | None = None,
    spec_policy: Callable[[dg.AssetSpec], dg.AssetSpec] = apply_to_spec,
) -> dg.Definitions:
    """`defs` with `spec_policy` over every asset spec and `hooks` on every executable asset.

    The permissive mapping passes objects without specs (a SourceAsset) through untouched,
    as a capability may still declare one.
    """
    mapped = defs.permissive_map_resolved_asset_specs(func=spec_policy, selection=None)
    return with_asset_hooks(mapped, hooks) if hooks else mapped
