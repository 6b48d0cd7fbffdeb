"""The tier rules (tests/tiers.py): a missing prerequisite skips here, fails under CI."""

from __future__ import annotations

import os

import pytest

from tests.tiers import TierUnavailable, available, require_root, require_tools, skip_or_fail


def unavailable() -> None:
    raise TierUnavailable("no qemu-system-x86_64 (apt-get install qemu-system-x86)")


def test_a_missing_prerequisite_skips_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"no qemu-system-x86_64 \(apt-get"):
        available(unavailable)
    with pytest.raises(pytest.skip.Exception, match=r"^restore: no-such-tool-here not installed$"):
        require_tools("restore", ["sh", "no-such-tool-here"])
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        skip_or_fail("anything")


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_under_ci_it_is_a_failure(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI is set, so this is a failure: no qemu"):
        available(unavailable)
    with pytest.raises(pytest.fail.Exception, match="no-such-tool-here not installed"):
        require_tools("restore", ["no-such-tool-here"])


def test_what_is_there_passes_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert available(lambda: ("kernel", "qemu")) == ("kernel", "qemu")
    require_tools("a shell", ["sh"])
    if os.geteuid() == 0:
        require_root("this test")
    else:
        with pytest.raises(pytest.fail.Exception, match="this test needs root"):
            require_root("this test")
