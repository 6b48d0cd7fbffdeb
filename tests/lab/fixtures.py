"""pytest fixtures for the VM-lab tier (registered by tests/lab/conftest.py).

Other test directories can use them too: import them into their conftest, or list
``"tests.lab.fixtures"`` in the root conftest's ``pytest_plugins``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.lab.vm import DiskSpec, Guest, Kernel, build_initramfs, check_lab
from tests.loopdev import TierUnavailable, skip_or_fail


@pytest.fixture(scope="session")
def lab_tier() -> tuple[Kernel, str]:
    """(kernel, qemu path) once this machine is known to boot lab guests.

    Skips with the reason when root, qemu, the kernel or busybox-static is missing,
    and fails instead under CI (CI=true), where .ci/run installs all of them. Builds
    the initramfs up front so a problem there shows as this fixture's error.
    """
    try:
        kernel, qemu = check_lab()
        build_initramfs(kernel)
    except TierUnavailable as exc:
        skip_or_fail(str(exc))
        raise  # unreachable: skip_or_fail always raises
    return kernel, qemu


GuestFactory = Callable[..., Guest]


@pytest.fixture
def lab_guest(lab_tier: tuple[Kernel, str]) -> Iterator[GuestFactory]:
    """Factory: ``g = lab_guest([DiskSpec("2G", serial="d0")], keep_images=True)``.

    Every Guest it made is closed at teardown (qemu killed, images removed), whatever
    the test's outcome.
    """
    made: list[Guest] = []

    def make(disks: list[DiskSpec] | tuple[DiskSpec, ...] = (), **kwargs: Any) -> Guest:
        g = Guest(disks, **kwargs)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()
