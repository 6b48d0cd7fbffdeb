"""The semantic diff on real captures: renamed devices and reordered lists are cosmetic,
an added LV is rebuild-relevant.

The storage captures are three real captures of one lab laptop
(tests/fixtures/review-pairs): built, then an LV added, then booted again with a
blank disk in front of it so the kernel named its disk vdb.  The reordering is
a person's edit of a real captured file (capture keeps the order people give).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostbook.cli import cli
from hostbook.manifest.merge import to_plain
from hostbook.manifest.yamlio import dump_text, read_document
from hostbook.review.history import compare_revisions, diff_host
from hostbook.review.semantic import compare_section
from tests.paths import FIXTURES
from tests.unit.review.captured import HOST, history

GOLDEN = FIXTURES / "golden-manifests"


@pytest.fixture(scope="module")
def laptop(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("review") / "repo"
    repo, shas = history(path, "before", "added-lv", "renamed")
    return path, repo, shas


def test_an_added_lv_is_rebuild_relevant(laptop) -> None:  # type: ignore[no-untyped-def]
    _, repo, (before, added, _) = laptop
    diff = compare_revisions(repo, HOST, before, added)
    assert [(d.kind, d.identity) for d in diff.rebuild] == [
        ("added", "id=lv:laptopvg/extra"), ("added", "id=fs:lv:laptopvg/extra")]
    assert diff.rebuild[0].describe() == "+lv laptopvg/extra"
    assert diff.cosmetic == []


def test_a_renamed_kernel_device_is_cosmetic(laptop) -> None:  # type: ignore[no-untyped-def]
    _, repo, (_, added, renamed) = laptop
    diff = compare_revisions(repo, HOST, added, renamed)
    assert diff.rebuild == []
    renames = {d.identity: (d.old, d.new) for d in diff.cosmetic if d.kind == "renamed"}
    assert renames == {
        "id=disk:virtio-laptop0": ("vda", "vdb"),
        "id=disk:virtio-laptop0-part1": ("vda1", "vdb1"),
        "id=disk:virtio-laptop0-part2": ("vda2", "vdb2"),
        "id=disk:virtio-laptop0-part3": ("vda3", "vdb3"),
        "id=fs:disk:virtio-laptop0-part1": ("vda1", "vdb1"),
        "id=fs:disk:virtio-laptop0-part2": ("vda2", "vdb2"),
    }
    assert all(d.reason for d in diff.cosmetic)
    # Nothing was removed and added again under another name.
    assert {d.kind for d in diff.differences} <= {"renamed", "changed"}


def test_a_reordered_list_and_keys_are_cosmetic(tmp_path: Path) -> None:
    document = to_plain(read_document(GOLDEN / "storage-laptop" / "storage.yaml"))
    edited = copy.deepcopy(document)
    edited["entries"].reverse()
    edited["entries"][0] = dict(reversed(list(edited["entries"][0].items())))
    edited["fstab"]["entries"][0]["options"] = "errors=remount-ro"  # unchanged value
    edited = {"schema": edited["schema"], "boot": edited["boot"],
              **{k: v for k, v in edited.items() if k not in ("schema", "boot")}}
    differences = compare_section("storage", document, edited)
    assert differences, "the edit must be seen"
    assert {d.kind for d in differences} == {"reordered"}
    assert all(d.relevance == "cosmetic" for d in differences)
    # Reading the edited text back gives the same answer as the data it was made of.
    path = tmp_path / "storage.yaml"
    path.write_text(dump_text(edited))
    assert compare_section("storage", document, to_plain(read_document(path))) == differences


def test_reordering_the_efi_boot_order_matters() -> None:
    document = to_plain(read_document(GOLDEN / "storage-uefi" / "storage.yaml"))
    edited = copy.deepcopy(document)
    edited["boot"]["efi_boot_order"].reverse()
    (difference,) = compare_section("storage", document, edited)
    assert (difference.kind, difference.relevance) == ("reordered", "rebuild")


def test_a_package_added_is_rebuild_relevant_and_an_upgrade_cosmetic() -> None:
    document = to_plain(read_document(GOLDEN / "packages-apt" / "packages.yaml"))
    older = copy.deepcopy(document)
    older["apt"]["manual"].remove("jq")
    versions = older["apt"]["versions"]
    versions["git"] = "1:2.0-1"
    differences = compare_section("packages", older, document)
    assert [(d.kind, d.thing, d.relevance) for d in differences] == [
        ("added", "apt.manual jq", "rebuild"),
        ("changed", "apt.versions.git", "cosmetic"),
    ]


def test_a_checkout_that_stopped_being_restorable_is_rebuild_relevant() -> None:
    old = {"schema": "hostbook/checkouts/v1", "roots": ["/srv"], "checkouts": [
        {"path": "/srv/app", "vcs": "git", "head": "a" * 40, "restorable": True,
         "reason": "clean, every commit on a remote", "modified": 0}]}
    new = copy.deepcopy(old)
    new["checkouts"][0].update(head="b" * 40, restorable=False, modified=2,
                               reason="2 uncommitted changes")
    (difference,) = compare_section("checkouts", old, new)
    assert difference.identity == "path=/srv/app"
    assert difference.relevance == "rebuild"
    assert {f.field: f.relevance for f in difference.fields} == {
        "head": "cosmetic", "modified": "cosmetic", "restorable": "rebuild",
        "reason": "rebuild"}


def test_diff_defaults_to_the_last_two_captures(laptop) -> None:  # type: ignore[no-untyped-def]
    _, repo, (_, added, renamed) = laptop
    diff = diff_host(repo, HOST)
    assert (diff.old, diff.new) == (added, renamed)
    assert diff_host(repo, HOST, added[:10]).new == renamed


def test_the_diff_command(laptop) -> None:  # type: ignore[no-untyped-def]
    path, _, (before, added, _) = laptop
    runner = CliRunner()
    text = runner.invoke(cli, ["diff", HOST, before[:12], added[:12], "--repo", str(path)])
    assert text.exit_code == 0, text.output
    assert "rebuild-relevant (2):\n  storage: +lv laptopvg/extra" in text.output
    data = runner.invoke(cli, ["diff", HOST, "--repo", str(path), "--json"])
    parsed = json.loads(data.output)
    assert parsed["rebuild_relevant"] == []
    assert {d["kind"] for d in parsed["cosmetic"]} == {"renamed", "changed"}
    only = runner.invoke(cli, ["diff", HOST, "--section", "packages", "--repo", str(path)])
    assert "rebuild-relevant (0):\ncosmetic (0):" in only.output


@pytest.mark.parametrize("args, message", [
    (["nosuch"], "no capture of host 'nosuch' (hosts: laptop)"),
    ([HOST, "deadbeef"], "no commit 'deadbeef'"),
    ([HOST, "--section", "nosuch"], "no section 'nosuch'"),
])
def test_bad_diff_input_is_one_line_and_exit_2(laptop, args, message) -> None:  # type: ignore[no-untyped-def]
    path, *_ = laptop
    result = CliRunner().invoke(cli, ["diff", *args, "--repo", str(path)])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_log_json_carries_each_commits_semantic_summary(laptop) -> None:  # type: ignore[no-untyped-def]
    path, *_ = laptop
    result = CliRunner().invoke(cli, ["log", HOST, "--json", "--repo", str(path)])
    assert result.exit_code == 0, result.output
    newest, added, first = json.loads(result.output)
    assert newest["semantic"]["rebuild_relevant"] == 0
    assert newest["semantic"]["cosmetic"] == 7
    assert added["semantic"]["rebuild_changes"] == [
        "storage: +lv laptopvg/extra", "storage: +filesystem laptopvg/extra"]
    assert first["semantic"]["rebuild_changes"] == ["storage: +storage file"]
    assert set(first) >= {"sha", "date", "author", "subject"}


def test_show_one_section(laptop) -> None:  # type: ignore[no-untyped-def]
    path, *_ = laptop
    runner = CliRunner()
    shown = runner.invoke(cli, ["show", HOST, "--section", "storage", "--repo", str(path)])
    assert shown.exit_code == 0
    assert shown.output.startswith("# ==> hosts/laptop/storage.yaml <==\nschema: hostbook/storage")
    assert shown.output.count("# ==>") == 1
    as_json = runner.invoke(cli, ["show", HOST, "--section", "storage", "--json",
                                  "--repo", str(path)])
    assert list(json.loads(as_json.output)) == ["storage"]
    missing = runner.invoke(cli, ["show", HOST, "--section", "packages", "--repo", str(path)])
    assert missing.exit_code == 2
    assert "no packages.yaml" in missing.output
