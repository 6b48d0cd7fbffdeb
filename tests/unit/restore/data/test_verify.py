"""Verification words: differences with what differs, times as ISO dates; parents' modes."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from hostbook.cli import cli
from hostbook.jobs.integrity import sure
from hostbook.jobs.integrity.database import read
from hostbook.restore.data.metadata import apply_recorded, parents_of
from hostbook.restore.data.verify import check_tree, difference_words, ns_time
from tests.unit.restore.data.recorded import RECORDED


def tree(root: Path) -> None:
    (root / "etc" / "app").mkdir(parents=True)
    (root / "etc" / "app" / "conf").write_text("a = 1\n")
    (root / "notes").write_text("kept\n")
    os.utime(root / "notes", ns=(1_714_564_800_000_000_000, 1_714_564_800_000_000_000))
    (root / "etc" / "app").chmod(0o750)
    for path in (root / "etc" / "app" / "conf", root / "etc" / "app", root / "etc"):
        os.utime(path, ns=(1, 1_700_000_000_000_000_000))


def test_times_are_iso_dates() -> None:
    assert ns_time("1714564800000000000") == "2024-05-01T12:00:00Z"
    assert ns_time("1714564800123456789") == "2024-05-01T12:00:00.123456789Z"


def test_every_difference_says_what_differs_in_words(tmp_path: Path) -> None:
    original, restored = tmp_path / "a", tmp_path / "b"
    for root in (original, restored):
        root.mkdir()
        tree(root)
    database = tmp_path / "db.sure.gz"
    sure.update(original, database)
    assert check_tree(restored, database, []) == []
    (restored / "notes").write_text("changed\n")
    os.utime(restored / "notes", ns=(1_714_651_200_000_000_000, 1_714_651_200_000_000_000))
    (restored / "etc" / "app" / "conf").chmod(0o600)
    (restored / "extra").write_text("x")
    words = [difference_words(d) for d in check_tree(restored, database, [])]
    assert words[0] == "changed: etc/app/conf: mode 644 -> 600"
    assert words[1] == "extra: extra (restored tree has it, the database does not)"
    assert words[2].startswith("changed: notes: size 5 -> 8, mtime 2024-05-01T12:00:00Z -> "
                               "2024-05-02T12:00:00Z, content (sha256) ")
    # A restore of one path compares that path and its parents only.
    assert check_tree(restored, database, ["etc/app/conf"])[0].path == "etc/app/conf"
    assert len(check_tree(restored, database, ["etc/app/conf"])) == 1


def test_parents_of_a_single_path_get_the_archived_modes(tmp_path: Path) -> None:
    original, restored = tmp_path / "a", tmp_path / "b"
    original.mkdir()
    tree(original)
    os.utime(original / "etc" / "app", ns=(1, 1_600_000_000_000_000_000))
    database = tmp_path / "db.sure.gz"
    sure.update(original, database)
    (restored / "etc" / "app").mkdir(parents=True)  # as a tool makes them: default modes
    (restored / "etc" / "app" / "conf").write_text("a = 1\n")
    os.utime(restored / "etc" / "app" / "conf", ns=(1, 1_700_000_000_000_000_000))
    assert parents_of(["etc/app/conf"]) == ["etc/app", "etc"]
    entries = {e.path: e for e in read(database).entries if e.path in ("etc", "etc/app")}
    assert apply_recorded(restored, entries) == ["etc/app", "etc"]
    assert (restored / "etc" / "app").stat().st_mode & 0o777 == 0o750
    assert (restored / "etc" / "app").stat().st_mtime_ns == 1_600_000_000_000_000_000
    assert check_tree(restored, database, ["etc/app/conf"]) == []


def test_the_command_refuses_with_every_reason_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, [
        "restore", "data", "labhost", "--jobs-file", str(RECORDED / "jobs.yaml"),
        "--state-dir", str(tmp_path / "state"), "--target", str(tmp_path / "nothing")])
    assert result.exit_code == 2, result.output
    assert "REFUSED (nothing was written):" in result.output
    assert f"target root {tmp_path / 'nothing'} does not exist" in result.output
    assert not (tmp_path / "nothing").exists()
    assert not (tmp_path / "state" / "restore").exists()
