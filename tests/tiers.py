"""The tier rules: when a test that needs this machine's root, devices or tools may skip.

Why one module: the loop tier (root, loop devices), the VM lab (root, qemu, a
kernel) and the root-only tests elsewhere all face a machine that may lack
what they need.  Here they skip with the reason; under CI (``CI`` set, where
.ci/run installs everything and runs as root) the same reason is a failure,
because a broken CI set-up must not quietly run nothing.  Each tier's own
check (``tests.loopdev.check_loop_tier``, ``tests.lab.vm.check_lab``) raises
:class:`TierUnavailable`; these functions turn it into the skip or the failure.

Imports nothing but the standard library and pytest (lazily), so the loop-device
guardian, which runs tests/loopdev.py as a script, stays quick to start.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from typing import NoReturn, TypeVar

T = TypeVar("T")


class TierUnavailable(Exception):
    """This machine cannot run a root-only tier; the message says why."""


def in_ci() -> bool:
    """True when running under CI, where a missing prerequisite must fail, not skip."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test with `reason`, or fail it under CI."""
    import pytest

    if in_ci():
        pytest.fail(f"CI is set, so this is a failure: {reason}", pytrace=False)
    pytest.skip(reason)


def available(check: Callable[[], T]) -> T:
    """What a tier's `check` returns; skip (fail under CI) when it raises TierUnavailable."""
    try:
        return check()
    except TierUnavailable as exc:
        skip_or_fail(str(exc))


def require_root(what: str) -> None:
    """Skip (fail under CI) unless this process is root; `what` names what needs it."""
    if os.geteuid() != 0:
        skip_or_fail(f"{what} needs root")


def require_tools(what: str, tools: Iterable[str]) -> None:
    """Skip (fail under CI) unless every program in `tools` is on PATH."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        skip_or_fail(f"{what}: {', '.join(missing)} not installed")
