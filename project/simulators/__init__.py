"""Simulators and data generators used only by the demo, benchmarks and tests; never production."""
