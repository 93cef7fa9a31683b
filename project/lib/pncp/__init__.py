"""PNCP (Portal Nacional de Contratações Públicas) consultation API.

Endpoints, resilient client, local simulator, raw archive and extraction.
"""
