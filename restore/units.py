"""Byte arithmetic shared by the sizing code, and sizes people can read."""

from __future__ import annotations

from hostbook.manifest.units import human

__all__ = ["GIB", "KIB", "MIB", "align_down", "align_up", "human"]

KIB = 1 << 10
MIB = 1 << 20
GIB = 1 << 30


def align_down(value: int, step: int) -> int:
    return value - value % step


def align_up(value: int, step: int) -> int:
    return -(-value // step) * step
