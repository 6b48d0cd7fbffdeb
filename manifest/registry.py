"""Which sections exist, their models, and how older schema versions migrate.

One table drives loading, validation, `hostbook schema` and the order files are
written in, so a new section is added in exactly one place.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.model import SectionDocument
from hostbook.manifest.sections.checkouts import CheckoutsDocument
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.sections.jobs import JobsDocument
from hostbook.manifest.sections.packages import PackagesDocument
from hostbook.manifest.sections.restore import RestoreDocument
from hostbook.manifest.sections.storage import StorageDocument
from hostbook.manifest.sections.system import SystemDocument

SECTIONS: dict[str, type[SectionDocument]] = {
    cls.SECTION: cls
    for cls in (
        SystemDocument,
        StorageDocument,
        PackagesDocument,
        CheckoutsDocument,
        JobsDocument,
        RestoreDocument,
        ConfigDocument,
    )
}
# The files kept per host; `config` is the capturing machine's, not a host file.
HOST_SECTIONS: tuple[str, ...] = tuple(n for n in SECTIONS if n != "config")
CAPTURED_SECTIONS: tuple[str, ...] = tuple(n for n in HOST_SECTIONS if SECTIONS[n].CAPTURED)
AUTHORED_SECTIONS: tuple[str, ...] = tuple(n for n in HOST_SECTIONS if not SECTIONS[n].CAPTURED)

Migration = Callable[[dict[str, Any]], dict[str, Any]]

# section -> {from_version: function turning a v<from> document into v<from+1>}.
# Version 1 is the first published version of every section, so the table is
# empty today; each future schema bump adds its step here.
MIGRATIONS: dict[str, dict[int, Migration]] = {name: {} for name in SECTIONS}

_SCHEMA_RE = re.compile(r"hostbook/(?P<section>[a-z]+)/v(?P<version>[0-9]+)")


def section_model(name: str) -> type[SectionDocument]:
    """The model class of a section, or a usage error naming the valid ones."""
    try:
        return SECTIONS[name]
    except KeyError:
        raise BadInputError(
            f"unknown section {name!r} (sections: {', '.join(SECTIONS)})"
        ) from None


def parse_schema_tag(tag: object) -> tuple[str, int] | None:
    """Split ``hostbook/<section>/v<N>`` into (section, N); None if malformed."""
    if not isinstance(tag, str):
        return None
    match = _SCHEMA_RE.fullmatch(tag)
    if not match:
        return None
    return match["section"], int(match["version"])


def migrate(
    section: str,
    data: dict[str, Any],
    version: int,
    migrations: dict[str, dict[int, Migration]] | None = None,
) -> dict[str, Any]:
    """Bring a document of an older schema version up to the current one.

    Raises ValueError with a readable reason when the version is newer than
    this hostbook knows or a step is missing, so the loader can point at the
    ``schema:`` line.
    """
    table = (MIGRATIONS if migrations is None else migrations).get(section, {})
    current = SECTIONS[section].VERSION
    if version > current:
        raise ValueError(
            f"schema version v{version} is newer than this hostbook understands (v{current})"
        )
    while version < current:
        step = table.get(version)
        if step is None:
            raise ValueError(f"no migration from {section} schema v{version}")
        data = step(dict(data))
        version += 1
    data["schema"] = SECTIONS[section].schema_string(current)
    return data
