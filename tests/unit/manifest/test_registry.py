"""The section registry: its table loads each model on first use, and agrees with it.

The registry names the models instead of importing them (a storage capture
must not build the jobs schema), so the table's names and captured flags are
checked here against the model classes themselves.
"""

from __future__ import annotations

import pytest

from hostbook.manifest import registry
from hostbook.manifest.errors import BadInputError
from hostbook.manifest.model import SectionDocument


def test_every_entry_is_the_model_of_its_section() -> None:
    assert list(registry.SECTIONS) == [
        "system", "storage", "packages", "checkouts", "accounts", "etc", "services", "jobs",
        "restore", "config"]
    for name, model in registry.SECTIONS.items():
        assert issubclass(model, SectionDocument)
        assert name == model.SECTION
        assert (name in registry.CAPTURED_SECTIONS) == model.CAPTURED
    assert registry.CAPTURED_SECTIONS == (
        "system", "storage", "packages", "checkouts", "accounts", "etc", "services")
    assert registry.AUTHORED_SECTIONS == ("jobs", "restore")
    assert "config" not in registry.HOST_SECTIONS


def test_an_unknown_section_is_a_usage_error_naming_the_known_ones() -> None:
    assert "nosuch" not in registry.SECTIONS
    with pytest.raises(BadInputError, match=r"unknown section 'nosuch' \(sections: system, "):
        registry.section_model("nosuch")
