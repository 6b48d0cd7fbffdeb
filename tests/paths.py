"""Where the test suite's shared files are: one definition, used by every test module.

Tests live in folders that mirror the package, at different depths, so no test
computes these from its own ``__file__``.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TESTS = REPO_ROOT / "tests"
FIXTURES = TESTS / "fixtures"
"""Outputs recorded from real tools on real hosts (see fixtures/README.md)."""
FAKES = TESTS / "fakes"
EXAMPLES = REPO_ROOT / "examples"
