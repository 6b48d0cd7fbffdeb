"""Shared test helpers: fixture paths and a manifest repository in tmp."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.paths import FIXTURES


@pytest.fixture
def fixtures() -> Path:
    """The folder of recorded outputs from real hosts."""
    return FIXTURES
