"""Lineage of the code location, in plain Python: OpenLineage naming, run events, export.

Dagster gathers the facts (`project.defs.ops.lineage`: the asset graph, a step's events);
this package turns them into OpenLineage datasets and run events (`events`), sends them
through openlineage-python's own transports (`transport`), and writes the code location's
whole graph as one JSON document (`export`). Nothing here knows a capability: a dataset's
place comes from its catalog entry, its `dagster/table_name` in the warehouse, or a
`dagster/uri`, whichever the asset declares (`naming`).
"""
