"""Durable appends: private files, torn last lines closed off, torn records skipped."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hostbook.manifest.durable import durable_append, json_lines, private_dir


def test_an_append_is_private_and_closes_off_a_torn_line(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "state" / "journal"
        durable_append(path, json.dumps({"n": 1}))
        with path.open("ab") as handle:
            handle.write(b'{"n": 2, "tor')  # the writer was killed mid-line
        durable_append(path, json.dumps({"n": 3}))
        durable_append(path, "[4]")  # a line that is no object
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert path.read_bytes().splitlines() == [b'{"n": 1}', b'{"n": 2, "tor', b'{"n": 3}', b"[4]"]
    assert list(json_lines(path)) == [{"n": 1}, {"n": 3}]
    assert list(json_lines(tmp_path / "missing")) == []


def test_a_folder_of_its_own_is_narrowed(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    durable_append(folder / "j", "{}")
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    named = tmp_path / "named"
    named.mkdir()
    named.chmod(0o755)
    private_dir(named)  # a folder a person named keeps its mode
    assert oct(named.stat().st_mode & 0o777) == "0o755"
