"""What a host name may be: it names a folder, a lock, a journal and archive files.

A host name becomes part of paths everywhere (``hosts/<host>/`` in the
manifest repository, ``<state>/<host>.lock``, ``<host>-<job>-...tar.zst`` in
an archive destination), so one rule, checked by every command, keeps it
from ever naming a path outside them: a DNS-label-like name of letters,
digits, ``.``, ``_`` and ``-``, starting with a letter or digit, at most 253
characters, with no ``..`` (and, by the character set, no ``/``).
"""

from __future__ import annotations

import re

from hostbook.manifest.errors import BadInputError

HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}")


def check_host(name: str) -> str:
    """Return ``name`` when it is a valid host name; raise BadInputError (exit 2) otherwise."""
    if HOST_NAME.fullmatch(name) is None or ".." in name:
        raise BadInputError(
            f"invalid host name {name!r}: use letters, digits, '.', '_' and '-' (starting "
            "with a letter or digit, at most 253 characters, no '..')"
        )
    return name
