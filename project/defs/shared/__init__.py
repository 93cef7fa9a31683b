"""Definitions shared by every capability: the resources."""
