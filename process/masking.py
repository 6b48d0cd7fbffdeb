"""Secrets never shown: command lines and outputs as they may be logged or recorded.

A run log goes to monitoring and a recording becomes a test fixture, so what
is shown of a command is its argv with every known secret value replaced and
its extra environment by variable name only.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence

MASK = "***"

Masker = Callable[[str], str]
"""Replaces the secrets of one kind of output, keeping its structure (a caller's knowledge
of what the output is: git config lines, apt sources, ...), before anything is recorded."""


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each (non-empty) secret replaced."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def describe(
    argv: Sequence[str],
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    secrets: Iterable[str] = (),
) -> str:
    """A command as a person would type it; environment variables by name only."""
    line = shlex.join(argv)
    if env:
        line = " ".join(f"{k}=..." for k in sorted(env)) + " " + line
    if cwd:
        line = f"(cd {shlex.quote(cwd)} && {line})"
    return mask(line, secrets)
