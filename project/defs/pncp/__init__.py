"""PNCP procurement ETL: raw extraction assets, dbt models, checks, jobs and schedules.

What the platform learns from a capability, PNCP hands over here and in its group names
(`pncp_<layer>`, which the layer policy of `project.defs.ops.policy` reads): importing
the package registers its payload store as a side store of the warehouse
(`project.lib.stores`), so backups, rollback and read-only queries include it.
"""

from project.lib.pncp import payload_store  # noqa: F401  (registers the side store)
