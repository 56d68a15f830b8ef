"""`python -m pipeline` is `sam-study`."""

from pipeline.cli.main import run_command

run_command()
