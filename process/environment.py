"""The environment every tool runs in: C locale, sbin directories on PATH.

Parsers expect untranslated text, and system tools live in sbin on Debian,
which a non-root PATH (cron, a user's shell) often lacks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

_EXTRA_PATH = ("/usr/local/sbin", "/usr/sbin", "/sbin")


def search_path(base: str | None = None) -> str:
    """PATH (``base``, else this process's) with the sbin directories appended."""
    parts = (base if base is not None else os.environ.get("PATH", "/usr/bin:/bin")).split(
        os.pathsep
    )
    parts += [p for p in _EXTRA_PATH if p not in parts]
    return os.pathsep.join(parts)


def tool_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment as tools should see it: C locale, sbin on PATH."""
    env = dict(os.environ)
    env.update({"LC_ALL": "C", "LANG": "C", "PATH": search_path()})
    env.pop("LANGUAGE", None)
    if extra:
        env.update(extra)
    return env
