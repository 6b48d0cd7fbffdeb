"""Parse ``blkid -p -o export`` output covering several devices, and run it over many.

blkid prints one ``KEY=value`` block per device, blocks separated by a blank
line, values with shell-special characters escaped by a backslash.  A device
it cannot open ends the whole run with ``blkid: error: DEV: reason`` on
stderr; :func:`read_signatures` resumes with the devices after it (capture's
inventory and restore's look at the disks that are not targets both read
signatures this way).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hostbook.process.result import CommandResult

_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_ERROR = re.compile(r"^blkid: (?:error: )?(?P<device>/\S+): (?P<reason>.*)$")


def unescape(value: str) -> str:
    """Undo blkid's backslash escaping (``my\\ root`` -> ``my root``)."""
    return _ESCAPE.sub(r"\1", value)


def parse_export(text: str) -> dict[str, dict[str, str]]:
    """Map each ``DEVNAME`` to its other keys; devices without a block are absent."""
    devices: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}

    def flush() -> None:
        name = current.pop("DEVNAME", None)
        if name:
            devices[name] = dict(current)
        current.clear()

    for line in text.splitlines():
        if not line.strip():
            flush()
            continue
        key, sep, value = line.partition("=")
        if sep:
            current[key.strip()] = unescape(value)
    flush()
    return devices


def failed_device(stderr: str) -> tuple[str, str] | None:
    """The device blkid stopped at and why, from its stderr, if it stopped at one."""
    for line in stderr.splitlines():
        match = _ERROR.match(line.strip())
        if match:
            return match["device"], match["reason"]
    return None


BATCH = 64
"""Devices per blkid run: a long argv stays well below the kernel's limit."""

Query = Callable[[Sequence[str]], CommandResult]


@dataclass
class Signatures:
    """What ``blkid -p`` found on each device, and what it could not read: (part, reason)."""

    devices: dict[str, dict[str, str]] = field(default_factory=dict)
    unread: list[tuple[str, str]] = field(default_factory=list)


def read_signatures(query: Query, paths: Sequence[str], batch: int = BATCH) -> Signatures:
    """``blkid -p -o export`` over ``paths``, in as few runs as possible.

    In low-level mode blkid stops at the first device it cannot read (with a
    message naming it: reported as unread) or on which it finds nothing at
    all (exit 2, no message: a blank device, which is normal).  Either way
    the run resumes after that device, so each such device costs one more
    process.  A missing or timed-out blkid ends the reading (``signatures``
    unread); any other failure skips the rest of that batch.
    """
    found = Signatures()
    pending = list(paths)
    while pending:
        chunk = pending[:batch]
        result = query(["blkid", "-p", "-o", "export", *chunk])
        if result.missing or result.timed_out:
            found.unread.append(("signatures", result.failure()))
            return found
        values = parse_export(result.stdout)
        found.devices.update(values)
        if result.ok:
            pending = pending[len(chunk):]
            continue
        failed = failed_device(result.stderr)
        if failed is not None and failed[0] in chunk:
            device, reason = failed
            found.unread.append((f"device {device.removeprefix('/dev/')}", f"blkid: {reason}"))
            stop = chunk.index(device)
        elif result.returncode == 2:
            reported = [chunk.index(p) for p in values if p in chunk]
            stop = max(reported) + 1 if reported else 0  # the blank device
        else:
            tail = (result.stderr.strip().splitlines() or [""])[-1]
            found.unread.append(("signatures", f"blkid exit {result.returncode}: {tail}"))
            stop = len(chunk) - 1
        pending = chunk[stop + 1:] + pending[len(chunk):]
    return found
