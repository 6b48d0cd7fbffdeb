"""Shared test helpers: fixture paths and a manifest repository in tmp."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    """The folder of recorded outputs from real hosts."""
    return FIXTURES
