"""Byte arithmetic shared by the sizing code, and sizes people can read."""

from __future__ import annotations

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30


def align_down(value: int, step: int) -> int:
    return value - value % step


def align_up(value: int, step: int) -> int:
    return -(-value // step) * step


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
