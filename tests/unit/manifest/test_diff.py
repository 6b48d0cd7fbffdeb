"""Semantic diffs name the things that changed, for commit messages and review."""

from __future__ import annotations

from hostbook.manifest.diff import commit_message, diff_sections


def test_records_are_named_by_kind_and_identity() -> None:
    old = {"schema": "s", "entries": [
        {"id": "lv-root", "type": "lv", "name": "vg0/root", "size": 1},
        {"id": "fs-1", "type": "filesystem", "mountpoint": "/home", "label": "a"},
    ]}
    new = {"schema": "s", "entries": [
        {"id": "lv-root", "type": "lv", "name": "vg0/root", "size": 1},
        {"id": "lv-data", "type": "lv", "name": "vg0/data", "size": 1},
        {"id": "fs-1", "type": "filesystem", "mountpoint": "/home", "label": "b"},
    ]}
    diff = diff_sections("storage", old, new)
    assert diff.summary() == "storage: +lv vg0/data, filesystem /home label changed"


def test_packages_are_counted() -> None:
    old = {"apt": {"manual": ["a", "b"]}}
    new = {"apt": {"manual": ["a", "c", "d", "e"]}}
    assert diff_sections("packages", old, new).summary() == "packages: +3 -1"


def test_commit_message_has_subject_and_details() -> None:
    diffs = [
        diff_sections("system", {"kernel": "1"}, {"kernel": "2"}),
        diff_sections("packages", {"apt": {"manual": ["a"]}}, {"apt": {"manual": []}}),
        diff_sections("checkouts", {"x": 1}, {"x": 1}),
    ]
    message = commit_message(diffs)
    subject, blank, *details = message.splitlines()
    assert subject == "system: kernel changed; packages: -1"
    assert blank == "" and details == ["system: kernel changed", "packages: -manual a"]


def test_a_new_file_is_one_change() -> None:
    assert diff_sections("system", None, {"schema": "x", "a": 1}).summary() == (
        "system: +system file"
    )
    assert not diff_sections("system", {"a": 1}, {"a": 1}).changes


def test_many_changes_collapse_to_counts() -> None:
    old = {"entries": [{"id": str(i), "v": 0} for i in range(6)]}
    new = {"entries": [{"id": str(i), "v": 1} for i in range(6)]}
    assert diff_sections("storage", old, new).summary() == "storage: ~6"


def test_a_new_file_of_a_counted_section_is_named_alike_in_subject_and_body() -> None:
    new = diff_sections("packages", None, {"schema": "hostbook/packages/v1",
                                           "managers": [{"name": "dpkg"}]})
    message = commit_message([new])
    assert message.splitlines()[0] == "packages: +packages file"  # was "packages: +1"
    assert "packages: +1" not in message
