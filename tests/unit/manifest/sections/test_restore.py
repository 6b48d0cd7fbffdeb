"""restore.yaml: the examples validate, and bad files name file, line and column."""

from __future__ import annotations

import pytest

from hostbook.manifest.errors import ManifestError
from hostbook.manifest.sections.restore import DEFAULT_TARGET, RestoreDocument
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import parse_text, read_document
from tests.paths import EXAMPLES

EXAMPLES = EXAMPLES / "restore"


def test_examples_exist_and_validate() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 3
    for path in files:
        doc = validate_as(RestoreDocument, read_document(path), str(path))
        assert doc.target.startswith("/")


def test_defaults_restore_exactly_onto_mnt_target() -> None:
    doc = RestoreDocument.model_validate({"schema": "hostbook/restore/v1"})
    assert doc.target == DEFAULT_TARGET == "/mnt/target"
    assert doc.disks == [] and doc.lvs == [] and doc.skip == [] and doc.md_resync


@pytest.mark.parametrize(("text", "where", "message"), [
    ("schema: hostbook/restore/v1\ntarget: relative/path\n", ":2:", "absolute path"),
    ("schema: hostbook/restore/v1\ntarget: /\n", ":2:", "other than /"),
    ("schema: hostbook/restore/v1\nlvs:\n  - id: lv:vg/a\n    free_percent: 0\n", ":4:",
     "more than 0"),
    ("schema: hostbook/restore/v1\nlvs:\n  - id: vg/a\n    free_percent: 10\n", ":3:",
     "lv:vg0/home"),
    ("schema: hostbook/restore/v1\nlvs:\n  - id: lv:vg/a\n    free_percent: 60\n"
     "  - id: lv:vg/b\n    free_percent: 50\n", ":2:", "adds up to over 100"),
    ("schema: hostbook/restore/v1\ndisks:\n  - id: disk:x\n    grow: first\n", ":4:",
     "grow"),
    ("schema: hostbook/restore/v1\nskipp: []\n", ":2:", "skipp"),
])
def test_bad_policy_is_reported_with_its_place(text: str, where: str, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        validate_as(RestoreDocument, parse_text(text, "restore.yaml"), "restore.yaml")
    joined = "\n".join(caught.value.errors)
    assert f"restore.yaml{where}" in joined
    assert message in joined
