"""PNCP procurement ETL: raw extraction assets, dbt models, checks."""
