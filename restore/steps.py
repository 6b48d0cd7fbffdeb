"""The unit of a restore: a step with its commands and how to tell it is done.

The planner produces steps; the script renderer prints them; the executor runs
them with a journal.  Because all three share one list, the script a person
reads is exactly what `apply` does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Layer = Literal[
    "wipe", "partition", "md", "luks", "crypt", "lvm", "filesystem", "swap", "subvolume", "mount"
]


@dataclass(frozen=True)
class Command:
    """One program run: argv, optional text on stdin, optional secret on stdin.

    ``secret`` names a passphrase (by container id) fed on stdin at run time;
    the script reads it from the operator, the manifest never holds it.
    """

    argv: tuple[str, ...]
    stdin: str | None = None
    secret: str | None = None
    ok_codes: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class DoneCheck:
    """How to recognise that a step's result is already on the device.

    ``kind`` is one of: ``blkid`` (device carries TYPE and UUID), ``ptable``
    (disk carries a partition table with this id), ``md`` (array with this UUID
    exists), ``lvm-pv``, ``lvm-vg``, ``lvm-lv``, ``mapper`` (an open dm device),
    ``mounted`` (path is a mountpoint of this device), ``never``.
    """

    kind: str
    device: str = ""
    expect: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One restore action on named devices."""

    id: str
    layer: Layer
    summary: str
    commands: tuple[Command, ...]
    devices: tuple[str, ...] = ()
    destructive: bool = True
    done: DoneCheck | None = None
    notes: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        """Hash of what the step does, so a journal entry matches only the same step."""
        data = json.dumps(asdict(self), sort_keys=True, default=str)
        return hashlib.sha256(data.encode()).hexdigest()[:16]
