"""Which sections exist, their models, and how older schema versions migrate.

One table drives loading, validation, `hostbook schema` and the order files are
written in, so a new section is added in exactly one place.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, MutableMapping
from importlib import import_module
from typing import Any

from hostbook.manifest.errors import BadInputError
from hostbook.manifest.model import SectionDocument

_MODELS: dict[str, tuple[str, bool]] = {
    "system": ("system:SystemDocument", True),
    "storage": ("storage:StorageDocument", True),
    "packages": ("packages:PackagesDocument", True),
    "checkouts": ("checkouts:CheckoutsDocument", True),
    "accounts": ("accounts:AccountsDocument", True),
    "etc": ("etc:EtcDocument", True),
    "services": ("services:ServicesDocument", True),
    "jobs": ("jobs:JobsDocument", False),
    "restore": ("restore:RestoreDocument", False),
    "config": ("config:ConfigDocument", False),
}
"""Section -> (``module:class`` under hostbook.manifest.sections, captured?), in the
order files are written.  The flag is the model's ``CAPTURED``; the model is
imported when first used, so a storage capture never builds the jobs schema."""


class _Models(MutableMapping[str, type[SectionDocument]]):
    """Section name -> model class, each imported on first use."""

    def __init__(self) -> None:
        self._loaded: dict[str, type[SectionDocument]] = {}

    def __getitem__(self, name: str) -> type[SectionDocument]:
        if name not in self._loaded:
            module, _, cls = _MODELS[name][0].partition(":")
            model = getattr(import_module(f"hostbook.manifest.sections.{module}"), cls)
            if (name, _MODELS[name][1]) != (model.SECTION, model.CAPTURED):
                raise RuntimeError(f"registry entry {name!r} does not match {model.__name__}")
            self._loaded[name] = model
        return self._loaded[name]

    def __setitem__(self, name: str, model: type[SectionDocument]) -> None:
        self._loaded[name] = model

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in _MODELS or name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter(_MODELS)

    def __len__(self) -> int:
        return len(_MODELS)


SECTIONS: MutableMapping[str, type[SectionDocument]] = _Models()
# The files kept per host; `config` is the capturing machine's, not a host file.
HOST_SECTIONS: tuple[str, ...] = tuple(n for n in _MODELS if n != "config")
CAPTURED_SECTIONS: tuple[str, ...] = tuple(n for n in HOST_SECTIONS if _MODELS[n][1])
AUTHORED_SECTIONS: tuple[str, ...] = tuple(n for n in HOST_SECTIONS if not _MODELS[n][1])

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
