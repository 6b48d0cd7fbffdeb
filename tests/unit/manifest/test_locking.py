"""The flock loop: waits, gives up with the caller's error, writes who holds it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hostbook.manifest.locking import held


class Busy(Exception):
    pass


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def test_a_second_holder_waits_then_gives_up_then_takes_it(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with held(_open(path), 0, 0.05, Busy, lambda: "first\n"):
        assert path.read_text() == "first\n"
        started = time.monotonic()
        with pytest.raises(Busy), held(_open(path), 0.3, 0.05, Busy, lambda: "second\n"):
            pass
        assert time.monotonic() - started >= 0.3
        assert path.read_text() == "first\n"  # the waiter wrote nothing
    with held(_open(path), 0, 0.05, Busy, lambda: "third\n"):
        assert path.read_text() == "third\n"  # released when the first block ended
