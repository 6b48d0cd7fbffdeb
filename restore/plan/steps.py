"""The unit of a restore: a step with its commands and how to tell it is done.

The planner produces steps; the script renderer prints them; the executor runs
them with a journal.  Because all three share one list, the script a person
reads is exactly what `apply` does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

Layer = Literal[
    "wipe", "partition", "md", "luks", "crypt", "lvm", "filesystem", "swap", "subvolume",
    "mount", "keyfile", "data", "bind", "system", "initramfs", "bootloader", "nvram", "check",
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
    secret_name: str | None = None  # the container's name, for prompts and key file names

    def as_dict(self) -> dict[str, object]:
        return {"argv": list(self.argv), "stdin": self.stdin, "secret": self.secret,
                "secret_name": self.secret_name, "ok_codes": list(self.ok_codes)}


@dataclass(frozen=True)
class DoneCheck:
    """How to recognise that a step's result is already on the device.

    ``kind`` is one of (see :mod:`hostbook.restore.apply.done_checks`): ``blkid`` (device
    carries these blkid values), ``ptable`` (disk carries this partition table),
    ``md-members`` (every member carries the array's superblock), ``md``
    (the array is running), ``lvm-vg``, ``lvm-lv``, ``mapper`` (an open dm
    device), ``mounted``, ``unmounted``, ``subvolume`` (a btrfs subvolume
    exists under a mounted top level), ``default-subvolume``, ``file``
    (a non-empty file), ``key-opens`` (a key file opens a LUKS container),
    ``never``.
    """

    kind: str
    device: str = ""
    expect: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "device": self.device, "expect": dict(self.expect)}


@dataclass(frozen=True)
class Step:
    """One restore action on named devices.

    ``destructive`` steps write signatures or data; the executor never repeats
    one whose result is already on the device.  ``wait_for`` lists device
    nodes that must exist once the commands ran (udev creates them a moment
    later).  ``stable_key``, when set, replaces the commands in the journal
    fingerprint: the wipe step lists the signatures found when the plan was
    made, which differ on a re-run after an interruption, yet it is the same
    step.
    """

    id: str
    layer: Layer
    summary: str
    commands: tuple[Command, ...]
    devices: tuple[str, ...] = ()
    destructive: bool = True
    done: DoneCheck | None = None
    notes: tuple[str, ...] = ()
    wait_for: tuple[str, ...] = ()
    stable_key: str | None = None

    def fingerprint(self) -> str:
        """Hash of what the step does, so a journal entry matches only the same step."""
        if self.stable_key is not None:
            basis: object = {"id": self.id, "layer": self.layer, "key": self.stable_key}
        else:
            basis = {
                "id": self.id,
                "layer": self.layer,
                "commands": [c.as_dict() for c in self.commands],
                "devices": list(self.devices),
                "done": self.done.as_dict() if self.done else None,
            }
        data = json.dumps(basis, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, object]:
        """Plain data for ``plan --json``."""
        return {
            "id": self.id,
            "layer": self.layer,
            "summary": self.summary,
            "destructive": self.destructive,
            "devices": list(self.devices),
            "commands": [c.as_dict() for c in self.commands],
            "done": self.done.as_dict() if self.done else None,
            "wait_for": list(self.wait_for),
            "notes": list(self.notes),
        }
