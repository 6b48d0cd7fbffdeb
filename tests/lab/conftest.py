"""Registers the VM-lab fixtures (tests/lab/fixtures.py) for this directory.

The repository root goes on sys.path so ``tests.lab`` imports however pytest was
started; `pytest_plugins` is not allowed in a non-root conftest, hence the import.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.lab.fixtures import built_layouts, debian_image, lab_guest, lab_tier  # noqa: E402

__all__ = ["built_layouts", "debian_image", "lab_guest", "lab_tier"]
