"""The sales example: datasets from the catalog (defs.yaml), nodes in assets.py."""

# Every sales asset a run can materialize (the raw datasets are sources, read only).
SELECTION = "group:sales_staging or group:sales_exports"
