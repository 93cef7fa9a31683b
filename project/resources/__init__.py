"""Dagster resources: thin `ConfigurableResource` wrappers over `project.lib`, one per file."""
