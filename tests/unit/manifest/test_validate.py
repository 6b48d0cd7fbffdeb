"""Loading reports every error as FILE:LINE:COL and never writes anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbook.manifest.errors import ManifestError
from hostbook.manifest.registry import migrate, parse_schema_tag
from hostbook.manifest.sections.system import SystemDocument
from hostbook.manifest.validate import validate_document
from hostbook.manifest.yamlio import atomic_write_text, parse_text, read_document

GOOD = """\
schema: hostbook/system/v1
hostname: web1
os:
  id: debian
  version_id: '12'
kernel: 6.1.0-18-amd64
boot_mode: uefi
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        validate_document(parse_text(text, "system.yaml"), "system.yaml", "system")
    return info.value.errors


def test_valid_document_loads() -> None:
    doc = validate_document(parse_text(GOOD, "system.yaml"), "system.yaml", "system")
    assert isinstance(doc, SystemDocument)
    assert doc.os.version_id == "12"


def test_wrong_type_points_at_the_value() -> None:
    errors = errors_of(GOOD.replace("boot_mode: uefi", "boot_mode: [uefi]"))
    assert len(errors) == 1
    assert errors[0].startswith("system.yaml:7:1: boot_mode:")


def test_unknown_key_points_at_the_key() -> None:
    errors = errors_of(GOOD.replace("  id: debian", "  id: debian\n  flavour: testing"))
    assert errors == ["system.yaml:5:3: unknown key 'flavour' (at os.flavour)"]


def test_every_error_is_reported_at_once() -> None:
    text = GOOD.replace("hostname: web1", "hostname: [a]\nextra: 1")
    assert len(errors_of(text)) == 2


def test_broken_yaml_gives_line_and_column() -> None:
    with pytest.raises(ManifestError) as info:
        parse_text("schema: hostbook/system/v1\nos:\n  id: [debian\n", "system.yaml")
    (message,) = info.value.errors
    assert message.startswith("system.yaml:4:1: ")


def test_schema_line_is_checked() -> None:
    assert errors_of(GOOD.replace("hostbook/system/v1", "hostbook/system/v9"))[0].startswith(
        "system.yaml:1:1: schema version v9 is newer"
    )
    assert "expected 'system'" in errors_of(GOOD.replace("system/v1", "storage/v1"))[0]
    assert "missing or malformed" in errors_of(GOOD.replace("schema:", "schemaa:"))[0]


def test_older_versions_migrate_step_by_step() -> None:
    def v1_to_v2(data: dict) -> dict:
        data["kernel_release"] = data.pop("kernel")
        return data

    class Future(SystemDocument):
        VERSION = 2

    import hostbook.manifest.registry as registry

    saved = registry.SECTIONS["system"]
    registry.SECTIONS["system"] = Future
    try:
        out = migrate("system", {"schema": "hostbook/system/v1", "kernel": "6.1"}, 1,
                      {"system": {1: v1_to_v2}})
    finally:
        registry.SECTIONS["system"] = saved
    assert out == {"schema": "hostbook/system/v2", "kernel_release": "6.1"}
    assert parse_schema_tag("hostbook/system/v2") == ("system", 2)
    assert parse_schema_tag("hostbook/System/2") is None


def test_atomic_write_leaves_no_temp_file_and_reports_unchanged(tmp_path: Path) -> None:
    target = tmp_path / "a" / "system.yaml"
    assert atomic_write_text(target, GOOD) is True
    assert atomic_write_text(target, GOOD) is False
    assert [p.name for p in target.parent.iterdir()] == ["system.yaml"]
    assert read_document(target)["hostname"] == "web1"
