"""Definitions shared by every capability: resources and loggers."""
