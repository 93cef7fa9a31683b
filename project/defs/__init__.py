"""Dagster definitions, one folder per capability; loaded by `project.definitions`."""
