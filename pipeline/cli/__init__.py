"""`sam-study`: every command, and one table of exit codes (``exit_codes``)."""

from pipeline.cli.main import main

__all__ = ["main"]
