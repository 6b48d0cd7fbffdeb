"""Sizes and times as people read them, for every layer's messages."""

from __future__ import annotations

from datetime import UTC, datetime


def human(size: int) -> str:
    """1073741824 -> '1 GiB'; 1288490188 -> '1.2 GiB'; exact below 1 KiB."""
    negative = size < 0
    value = float(abs(size))
    unit = "B"
    for name in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024:
            break
        value /= 1024
        unit = name
    text = f"{int(value)} {unit}" if unit == "B" or value == int(value) else f"{value:.2f} {unit}"
    if unit != "B" and value != int(value):
        text = text.replace(".00 ", " ")
    return ("-" if negative else "") + text


def iso_ns(stamp_ns: int) -> str:
    """``1733280000123456789`` -> ``2024-12-04T02:40:00.123456789Z`` (UTC, to the nanosecond).

    Every digit stays: two mtimes that differ by a nanosecond must not print alike.
    """
    seconds, nanos = divmod(stamp_ns, 1_000_000_000)
    when = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{when}.{nanos:09d}Z" if nanos else f"{when}Z"
