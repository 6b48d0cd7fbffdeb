"""Round-trip merge: people's comments and key order survive a re-capture."""

from __future__ import annotations

from hostbook.manifest.merge import merge_document, to_plain
from hostbook.manifest.yamlio import dump_text, parse_text

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
