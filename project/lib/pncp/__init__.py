"""PNCP (Portal Nacional de Contratações Públicas) consultation API.

Endpoints, resilient client, raw archive and extraction. The local simulator that tests,
the demo and benchmarks run against is not part of it: see `project.simulators.pncp`.
"""
