"""The sales example: datasets from the catalog (defs.yaml), nodes in assets.py."""
