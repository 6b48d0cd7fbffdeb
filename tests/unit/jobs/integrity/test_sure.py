"""The integrity database: fast update, escaping, check of a copied tree, damaged files."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostbook.commands.sure import sure as sure_cli
from hostbook.jobs.integrity import database as sure_db
from hostbook.jobs.integrity import sure
from hostbook.manifest.errors import BadInputError


def make_tree(root: Path) -> None:
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "docs" / "a.txt").write_bytes(b"alpha\n")
    (root / "docs" / "deep" / "b.bin").write_bytes(os.urandom(70000))
    (root / "empty").write_bytes(b"")
    (root / "tab\tand\nnewline\\").write_bytes(b"odd name")
    (root / os.fsdecode(b"latin1-\xe9")).write_bytes(b"not utf-8 name")
    (root / "link").symlink_to("docs/a.txt")
    (root / "dangling").symlink_to("nowhere/at\tall")
    os.mkfifo(root / "fifo")
    (root / "docs" / "a.txt").chmod(0o640)


def test_update_records_every_entry_and_reuses_hashes(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    make_tree(root)
    first = tmp_path / "1.sure.gz"
    stats = sure.update(root, first)
    db = sure_db.read(first)
    paths = [e.path for e in db.entries]
    assert paths[0] == "."
    assert paths == sorted(paths, key=sure_db.tree_key)  # tree order, deterministic
    by = db.by_path()
    assert by["docs/a.txt"].kind == "f" and by["docs/a.txt"].mode == 0o640
    import hashlib

    assert by["docs/a.txt"].value == hashlib.sha256(b"alpha\n").hexdigest()
    assert by["link"].kind == "l" and by["link"].value == "docs/a.txt"
    assert by["dangling"].value == "nowhere/at\tall"
    assert by["fifo"].kind == "p"
    assert by["tab\tand\nnewline\\"].value == hashlib.sha256(b"odd name").hexdigest()
    assert os.fsdecode(b"latin1-\xe9") in by
    assert stats.files == 5 and stats.hashed == 5 and stats.reused == 0

    # Nothing changed: every hash is reused and the file is byte-identical except its time.
    second = tmp_path / "2.sure.gz"
    stats = sure.update(root, second, first)
    assert stats.hashed == 0 and stats.reused == 5
    assert sure_db.read(second).entries == db.entries

    # Same size, new content: the ctime changed, so it is hashed again.
    (root / "docs" / "a.txt").write_bytes(b"ALPHA\n")
    third = tmp_path / "3.sure.gz"
    stats = sure.update(root, third, second)
    assert stats.hashed == 1 and stats.reused == 4
    assert sure_db.read(third).by_path()["docs/a.txt"].value == hashlib.sha256(
        b"ALPHA\n"
    ).hexdigest()


def test_a_replaced_inode_is_hashed_again_even_with_same_size_and_times(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "f").write_bytes(b"1234")
    first = tmp_path / "1.sure.gz"
    sure.update(root, first)
    old = (root / "f").stat()
    (root / "g").write_bytes(b"5678")
    os.utime(root / "g", ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(root / "g", root / "f")  # new inode at the same path
    stats = sure.update(root, tmp_path / "2.sure.gz", first)
    assert stats.hashed == 1


def test_excludes_and_the_in_tree_database_are_left_out(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    (root / sure.IN_TREE_DIR).mkdir(parents=True)
    (root / sure.IN_TREE_DIR / "x.sure.gz").write_bytes(b"db")
    (root / "cache" / "sub").mkdir(parents=True)
    (root / "cache" / "sub" / "f").write_bytes(b"c")
    (root / "keep.log").write_bytes(b"k")
    (root / "drop.tmp").write_bytes(b"d")
    db, _stats = sure.scan(root, exclude=["cache", "*.tmp"])
    assert [e.path for e in db.entries] == [".", "keep.log"]


def test_check_of_an_exact_copy_then_one_changed_byte(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    make_tree(root)
    database = tmp_path / "db.sure.gz"
    sure.update(root, database)
    copy = tmp_path / "copy"
    # cp -a keeps modes, owners, times and links but not inodes or ctimes.
    subprocess.run(["cp", "-a", str(root), str(copy)], check=True)
    assert sure.check(copy, database) == []
    target = copy / "docs" / "deep" / "b.bin"
    data = bytearray(target.read_bytes())
    data[1234] ^= 0x01
    stat = target.stat()
    target.write_bytes(bytes(data))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old mtime
    found = sure.check(copy, database)
    assert len(found) == 1
    assert found[0].path == "docs/deep/b.bin" and found[0].status == "changed"
    assert [c[0] for c in found[0].changes] == ["sha256"]


def test_check_lists_missing_extra_and_metadata_changes(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    make_tree(root)
    database = tmp_path / "db.sure.gz"
    sure.update(root, database)
    (root / "empty").unlink()
    (root / "new").write_bytes(b"")
    (root / "docs" / "a.txt").chmod(0o600)
    (root / "link").unlink()
    (root / "link").symlink_to("elsewhere")
    found = {d.path: d for d in sure.check(root, database)}
    assert found["empty"].status == "missing"
    assert found["new"].status == "extra"
    assert found["docs/a.txt"].changes == (("mode", "640", "600"),)
    assert ("target", "docs/a.txt", "elsewhere") in found["link"].changes
    assert "target docs/a.txt -> elsewhere" in found["link"].describe()
    # The directory whose entries changed has a new mtime: reported, unless times are ignored
    # (the root's own mtime never is: it is the directory a restore goes into).
    (root / "docs" / "gone").write_bytes(b"")
    (root / "docs" / "gone").unlink()
    found = {d.path: d for d in sure.check(root, database)}
    assert [c[0] for c in found["docs"].changes] == ["mtime"]
    assert "." not in found
    assert "docs" not in {d.path for d in sure.check(root, database, ignore=["times"])}
    with pytest.raises(BadInputError, match="cannot ignore"):
        sure.check(root, database, ignore=["colour"])


def test_damaged_databases_are_one_line_errors(tmp_path: Path) -> None:
    plain = tmp_path / "plain.sure.gz"
    plain.write_bytes(b"not gzip at all")
    with pytest.raises(BadInputError, match="not a readable gzip file"):
        sure_db.read(plain)
    wrong = tmp_path / "wrong.sure.gz"
    wrong.write_bytes(gzip.compress(b"hello\n"))
    with pytest.raises(BadInputError, match=r"wrong.sure.gz:1:1: not a hostbook"):
        sure_db.read(wrong)
    broken = tmp_path / "broken.sure.gz"
    broken.write_bytes(gzip.compress(
        b"#hostbook-sure v1\n#root /x\n#created now\n.\td\t755\t0\t0\t4096\t1\t1\t2\t\nbad\n"
    ))
    with pytest.raises(BadInputError, match=r"broken.sure.gz:5: not a sure entry"):
        sure_db.read(broken)


def test_escape_round_trip() -> None:
    names = ["plain", "tab\there", "new\nline", "back\\slash", "\x01ctl", os.fsdecode(b"\xff\xfe"),
             "ünïcödé", "\\x41 literal"]
    for name in names:
        escaped = sure_db.escape(name)
        assert "\t" not in escaped and "\n" not in escaped
        assert sure_db.unescape(escaped) == name


def test_store_keeps_the_newest(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    store = tmp_path / "store"
    for stamp in ("20240101T000000Z", "20240102T000000Z", "20240103T000000Z"):
        sure.update(root, store / f"{stamp}{sure_db.SUFFIX}")
    latest = sure_db.latest(store)
    assert latest is not None and latest.name.startswith("20240103")
    removed = sure_db.prune(store, 2)
    assert [p.name[:8] for p in removed] == ["20240101"]
    assert len(list(sure_db.iter_databases(store))) == 2


def test_cli_update_and_check(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    make_tree(root)
    database = tmp_path / "db.sure.gz"
    runner = CliRunner()
    result = runner.invoke(sure_cli, ["update", str(root), "--against", str(database)])
    assert result.exit_code == 0, result.output
    assert "5 hashed" in result.output
    result = runner.invoke(sure_cli, ["update", str(root), "--against", str(database)])
    assert "0 hashed, 5 reused" in result.output
    result = runner.invoke(sure_cli, ["check", str(root), "--against", str(database)])
    assert result.exit_code == 0
    (root / "docs" / "a.txt").write_bytes(b"changed\n")
    result = runner.invoke(sure_cli, ["check", str(root), "--against", str(database), "--json"])
    assert result.exit_code == 1
    assert '"path": "docs/a.txt"' in result.output


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary directory an unprivileged user can reach (pytest's is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="hostbook-sure-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv")
def test_unreadable_files_are_reported(shared_tmp: Path) -> None:
    """As an unprivileged user (root reads everything), an unreadable file is recorded
    with hash ``-`` and named in the statistics."""
    root = shared_tmp / "tree"
    root.mkdir()
    (root / "secret").write_bytes(b"s")
    (root / "secret").chmod(0)
    (root / "open").write_bytes(b"o")
    root.chmod(0o755)
    out = shared_tmp / "db.sure.gz"
    code = (
        "import sys; from pathlib import Path; from hostbook.jobs.integrity import sure;"
        "s = sure.update(sys.argv[1], Path(sys.argv[2])); print(s.unreadable, s.hashed)"
    )
    argv = [sys.executable, "-c", code, str(root), str(out)]
    if os.geteuid() == 0:
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['secret']", "2"]
    assert sure_db.read(out).by_path()["secret"].value == sure.UNREADABLE


def test_streamed_parallel_and_buffered_databases_are_identical(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    for top in ("a", "b", "c"):
        make_tree(root / top)
    (root / "big.bin").write_bytes(os.urandom(5 << 20))  # hashed in the thread pool
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"{workers}.sure.gz"
        stats = sure.update(root, out, workers=workers, label="/x")
        outputs[workers] = (sure_db.read(out).entries, stats.hashed, stats.entries)
    assert outputs[1] == outputs[2]
    assert outputs[1][1] == 16 and outputs[1][2] == len(outputs[1][0])


def test_parallel_walk_writes_the_same_lines(tmp_path: Path) -> None:
    """Top-level directories walked in worker processes give the sequential result."""
    root = tmp_path / "tree"
    root.mkdir()
    for top in ("a", "b", "c", "d", "e"):
        make_tree(root / top) if top != "c" else (root / top).mkdir()
    (root / "top-file").write_bytes(b"at the top")
    (root / "zlink").symlink_to("a")
    alone, stats1 = sure.scan_lines(root, workers=1)
    together, stats3 = sure.scan_lines(root, workers=3)
    assert together == alone
    assert (stats3.entries, stats3.files, stats3.hashed) == (
        stats1.entries, stats1.files, stats1.hashed)
    prior = {sure_db.unescape(line.split("\t", 1)[0]): line for line in alone
             if line.split("\t")[1] == "f"}
    again, stats = sure.scan_lines(root, prior, workers=3)
    assert again == alone and stats.hashed == 0 and stats.reused == stats1.files


def test_a_failing_worker_is_an_error_not_a_hang(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "tree"
    for top in ("a", "b"):
        (root / top).mkdir(parents=True)
        (root / top / "f").write_bytes(b"x")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("walker broke")

    monkeypatch.setattr(sure, "_walk_units", broken)
    with pytest.raises(RuntimeError, match="walker broke"):
        sure.scan_lines(root, workers=2)


def test_a_damaged_previous_database_costs_only_speed(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    make_tree(root)
    previous = tmp_path / "previous.sure.gz"
    sure.update(root, previous)
    previous.write_bytes(previous.read_bytes()[:100])  # truncated by a crash or a full disk
    stats = sure.update(root, tmp_path / "next.sure.gz", previous)
    assert stats.previous_error is not None and "previous.sure.gz" in stats.previous_error
    assert stats.hashed == stats.files == 5
    assert sure.check(root, tmp_path / "next.sure.gz") == []


def test_hash_never_blocks_on_or_follows_what_replaced_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "was-a-file"
    os.mkfifo(fifo)
    assert sure.hash_file(str(fifo)) == sure.UNREADABLE  # would block forever if opened
    (tmp_path / "target").write_bytes(b"secret elsewhere")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    assert sure.hash_file(str(tmp_path / "link")) == sure.UNREADABLE
    assert sure.hash_file(str(tmp_path / "target")) == sure.hash_file(
        str(tmp_path / "target"), 10 << 20)  # small and large paths agree


def test_reuse_survives_added_and_removed_entries(tmp_path: Path) -> None:
    """Added and removed entries change nothing for the files that stayed."""
    root = tmp_path / "tree"
    for top in ("a", "m", "z"):
        for i in range(40):
            (root / top / f"d{i:02d}").mkdir(parents=True)
            (root / top / f"d{i:02d}" / "f").write_bytes(bytes([i]))
    first = tmp_path / "1.sure.gz"
    sure.update(root, first, workers=1)
    for i in range(30):  # a run of new directories, longer than the look-ahead
        (root / "m" / f"c{i:02d}" / "x").mkdir(parents=True)
    (root / "a" / "d05" / "f").unlink()
    (root / "z" / "d39" / "f").write_bytes(b"changed!")
    second = tmp_path / "2.sure.gz"
    stats = sure.update(root, second, first, workers=1)
    assert (stats.hashed, stats.reused) == (1, 118)
    assert sure.check(root, second) == []
    assert sure_db.read(second).entries == sure.scan(root)[0].entries


def test_check_prints_dates_and_sizes_people_read(tmp_path: Path) -> None:
    """Text output: ISO mtimes and sizes with units; --json keeps nanoseconds and bytes."""
    import json

    from click.testing import CliRunner

    from hostbook.commands.sure import sure as sure_cli

    root = tmp_path / "tree"
    root.mkdir()
    (root / "big").write_bytes(b"x" * 3000)
    os.utime(root / "big", ns=(1_700_000_000_000_000_000, 1_700_000_000_123_456_789))
    database = tmp_path / "db.sure.gz"
    sure.update(root, database)
    (root / "big").write_bytes(b"y" * 5120)
    os.utime(root / "big", ns=(1_700_000_000_000_000_000, 1_733_280_000_000_000_000))
    runner = CliRunner()
    result = runner.invoke(sure_cli, ["check", str(root), "--against", str(database)])
    assert result.exit_code == 1
    line = next(x for x in result.output.splitlines() if x.startswith("changed: big"))
    assert "size 2.93 KiB (3000 bytes) -> 5 KiB (5120 bytes)" in line, line
    assert "mtime 2023-11-14T22:13:20.123456789Z -> 2024-12-04T02:40:00Z" in line, line
    result = runner.invoke(sure_cli, ["check", str(root), "--against", str(database), "--json"])
    [big] = [d for d in json.loads(result.output) if d["path"] == "big"]
    assert {"field": "mtime", "recorded": "1700000000123456789",
            "found": "1733280000000000000"} in big["changes"]
