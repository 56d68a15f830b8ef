"""The error of the results room."""

from __future__ import annotations


class StudyFolderError(ValueError):
    """A study folder (or one of its files) cannot be read; the message names the file and what to do."""
