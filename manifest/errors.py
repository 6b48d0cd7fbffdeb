"""Errors that carry their own exit code, shared by every layer.

The documented exit codes are: 0 ok, 1 partial (some part incomplete or a
warning-level outcome), 2 usage or bad input, 3 runtime failure.  Raising one of
these lets the CLI map any failure to the right code without knowing its cause.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_BAD_INPUT = 2
EXIT_RUNTIME = 3


class HostbookError(Exception):
    """Base error: a one-line message for people and an exit code for scripts."""

    exit_code: int = EXIT_RUNTIME


class BadInputError(HostbookError):
    """The user gave something unusable: a bad file, flag or argument."""

    exit_code = EXIT_BAD_INPUT


class ManifestError(BadInputError):
    """A manifest file is not valid; ``errors`` holds every ``FILE:LINE:COL: msg``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class RuntimeFailure(HostbookError):
    """Something outside the user's input failed (a tool, git, the disk)."""

    exit_code = EXIT_RUNTIME
