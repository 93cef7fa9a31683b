"""Automation condition sensors, one per kind of asset, running by default.

One sensor for the dbt models and one for the Python assets, of every capability: a
slow or failing evaluation of one kind never holds up the other, and either can be
paused on its own. Both evaluate in the code server
(`use_user_code_server`), so the conditions in `project.defs.ops.policy` run with the
code that defined them. Which condition an asset has is decided by that policy.
"""

import dagster as dg

DBT = dg.AssetSelection.kind("dbt")


def automation_sensors(
    minimum_interval_seconds: int = 30,
) -> list[dg.AutomationConditionSensorDefinition]:
    kinds = {"dbt": DBT, "python": dg.AssetSelection.all() - DBT}
    return [
        dg.AutomationConditionSensorDefinition(
            f"automation_{kind}",
            target=target,
            use_user_code_server=True,
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=minimum_interval_seconds,
            run_tags={"platform/automation": kind},
            description=f"Evaluates the automation conditions of the {kind} assets.",
        )
        for kind, target in kinds.items()
    ]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=automation_sensors())
