"""Round-trip merge: people's comments and key order survive a re-capture."""

from __future__ import annotations

import json

from hostbook.manifest.merge import merge_document, to_plain
from hostbook.manifest.yamlio import dump_text, parse_text
from tests.paths import FIXTURES

ANNOTATED = """\
# kept: this host is the build server
schema: hostbook/storage/v1
# kept above entries
entries:
  # about sda
  - id: disk-sda
    type: disk
    size: 10
  - id: disk-sdb   # kept inline on sdb
    type: disk
    size: 20
  # about sdc
  - id: disk-sdc
    type: disk
    size: 30
notes: by hand  # a person's key order
"""


def merged(new: dict) -> str:
    return dump_text(merge_document(parse_text(ANNOTATED, "t.yaml"), new))


def test_unchanged_document_is_byte_identical() -> None:
    plain = to_plain(parse_text(ANNOTATED, "t.yaml"))
    assert merged(plain) == ANNOTATED


def test_comments_survive_value_change_and_records_match_by_key() -> None:
    new = to_plain(parse_text(ANNOTATED, "t.yaml"))
    new["entries"][2]["size"] = 31
    out = merged(new)
    assert "# kept: this host is the build server" in out
    assert "# about sda" in out and "# kept inline on sdb" in out
    assert "  # about sdc\n  - id: disk-sdc\n    type: disk\n    size: 31\n" in out


def test_removed_record_keeps_the_comment_about_its_neighbour() -> None:
    new = to_plain(parse_text(ANNOTATED, "t.yaml"))
    del new["entries"][1]
    out = merged(new)
    assert "disk-sdb" not in out
    assert "  # about sdc\n  - id: disk-sdc\n" in out


def test_inserted_record_goes_before_the_comment_of_the_next_one() -> None:
    new = to_plain(parse_text(ANNOTATED, "t.yaml"))
    new["entries"].insert(2, {"id": "disk-sdbb", "type": "disk", "size": 5})
    out = merged(new)
    assert out.index("disk-sdbb") < out.index("# about sdc") < out.index("id: disk-sdc")


def test_reordered_capture_does_not_reorder_by_position() -> None:
    new = to_plain(parse_text(ANNOTATED, "t.yaml"))
    new["entries"] = list(reversed(new["entries"]))
    out = merged(new)
    # Records follow the captured order, each still carrying its own inline comment.
    assert out.index("disk-sdc") < out.index("disk-sdb") < out.index("disk-sda")
    assert "- id: disk-sdb   # kept inline on sdb" in out


def test_person_key_order_is_kept_and_new_keys_follow_capture_order() -> None:
    new = to_plain(parse_text(ANNOTATED, "t.yaml"))
    new = {"schema": new["schema"], "added": 1, "entries": new["entries"], "notes": "by hand"}
    out = merged(new)
    assert out.index("schema:") < out.index("added: 1") < out.index("entries:")
    assert out.rstrip().endswith("notes: by hand  # a person's key order")


def test_plain_lists_keep_style_when_unchanged() -> None:
    text = "schema: hostbook/system/v1\nid_like: [debian, ubuntu]\n"
    doc = merge_document(parse_text(text, "t"), {"schema": "hostbook/system/v1",
                                                  "id_like": ["debian", "ubuntu"]})
    assert dump_text(doc) == text


def recorded_file(fixture: str, path: str) -> str:
    """A file as a lab guest's capture recorded it."""
    recording = json.loads((FIXTURES / fixture / "recording.json").read_text())
    return str(recording["files"][path])


def test_multiline_text_is_a_literal_block_that_reads_back_the_same() -> None:
    """A copied /etc/fstab shows line by line, so a diff names the line that changed."""
    fstab = recorded_file("storage-laptop", "/etc/fstab")
    doc = {"schema": "hostbook/storage/v1", "fstab": {"raw": fstab}, "after": 1}
    text = dump_text(merge_document(None, doc))
    first_line = fstab.splitlines()[0]
    assert "  raw: |\n" in text and f"    {first_line}\n" in text
    assert to_plain(parse_text(text, "t.yaml")) == doc
    assert dump_text(merge_document(parse_text(text, "t.yaml"), doc)) == text
    changed = fstab.replace("errors=remount-ro", "errors=remount-ro,noatime")
    before = text.splitlines()
    after = dump_text(merge_document(parse_text(text, "t.yaml"), {**doc, "fstab": {
        "raw": changed}})).splitlines()
    assert [(a, b) for a, b in zip(before, after, strict=True) if a != b] == [
        (f"    {first_line}", f"    {first_line.replace('remount-ro', 'remount-ro,noatime')}")]


def test_text_a_block_would_change_stays_quoted() -> None:
    """Carriage returns and control characters cannot sit in a block: quoted, exact."""
    crypttab = recorded_file("storage-laptop", "/etc/crypttab")
    for raw in (crypttab.replace("\n", "\r\n"), crypttab + "\x07\n", "\ufeff" + crypttab):
        doc = {"crypttab": {"raw": raw}}
        text = dump_text(merge_document(None, doc))
        assert "raw: |" not in text and '"' in text
        assert to_plain(parse_text(text, "t.yaml")) == doc
