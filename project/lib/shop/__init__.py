"""The shop medallion (landing → bronze → silver → gold): plain Python, no Dagster."""
