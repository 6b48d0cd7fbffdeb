"""Registers the loop-device fixtures for this directory.

The fixtures live in tests/loopdev.py so any other test directory can use them the
same way (a conftest import, or ``pytest_plugins = ["tests.loopdev"]`` in the root
conftest). `pytest_plugins` is not allowed in a non-root conftest, hence the import.
The repository root goes on sys.path so ``tests.loopdev`` imports however pytest was
started (``.venv/bin/pytest`` does not put the working directory on sys.path).
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.loopdev import loop_devices, loop_tier  # noqa: E402

__all__ = ["loop_devices", "loop_tier"]
