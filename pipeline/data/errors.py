"""The one error type for data that is missing or malformed on disk."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset's files are missing, truncated or not in the expected format.

    A ValueError subclass, so callers that already catch bad input catch this too; the message names
    the path, what was expected there, and how to fix it.
    """
