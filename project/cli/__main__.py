"""`python -m project.cli`: the same as the `pncp` console script."""

from project.cli import app

app()
