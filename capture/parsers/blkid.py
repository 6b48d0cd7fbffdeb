"""Parse ``blkid -p -o export`` output covering several devices.

blkid prints one ``KEY=value`` block per device, blocks separated by a blank
line, values with shell-special characters escaped by a backslash.  A device
it cannot open ends the whole run with ``blkid: error: DEV: reason`` on
stderr; the caller retries with the devices after it (see
:func:`failed_device`).
"""

from __future__ import annotations

import re

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
