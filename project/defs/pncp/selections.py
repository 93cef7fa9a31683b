"""Asset selections of the PNCP pipeline, as the `dagster` CLI and the operator CLI use them.

Extraction is daily-partitioned (`group:pncp_raw`); everything after it — staging,
intermediate, marts and Parquet exports — is monthly-partitioned and runs as one
selection per month.
"""

EXTRACTION = "group:pncp_raw"
TRANSFORMATION = (
    "group:pncp_staging or group:pncp_intermediate or group:pncp_marts or group:pncp_exports"
)
