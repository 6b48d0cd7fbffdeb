"""pytest fixtures for the VM-lab tier (registered by tests/lab/conftest.py).

Other test directories can use them too: import them into their conftest, or list
``"tests.lab.fixtures"`` in the root conftest's ``pytest_plugins``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from tests.lab.layouts import ALL_LAYOUTS, LAYOUTS, build_step, collect_step, mount_step
from tests.lab.vm import BootResult, DiskSpec, Guest, Kernel, Step, build_initramfs, check_lab
from tests.tiers import TierUnavailable, available, skip_or_fail


@pytest.fixture(scope="session")
def lab_tier() -> tuple[Kernel, str]:
    """(kernel, qemu path) once this machine is known to boot lab guests.

    Skips with the reason when root, qemu, the kernel or busybox-static is missing,
    and fails instead under CI (CI=true), where .ci/run installs all of them. Builds
    the initramfs up front so a problem there shows as this fixture's error.
    """
    kernel, qemu = available(check_lab)
    available(lambda: build_initramfs(kernel))
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


@dataclass(frozen=True)
class BuiltLayouts:
    """The five builder layouts, built once per test session in one guest.

    Building them costs a minute of emulated CPU; the tests that start from built
    layouts each boot on their own copy of these disks instead and bring the
    layouts up from disk (``mount_steps``), which also proves the disks alone hold
    them.  ``boot`` is the build boot: each builder's step, then collect.sh's view
    in ``boot.results_dir / "state"``.
    """

    images: Path
    boot: BootResult

    def check(self) -> None:
        """Fail the calling test with the build boot's account if a build failed."""
        failed = [n for n in ALL_LAYOUTS if not self.boot[f"build-{n}"].ok]
        assert not failed, f"layouts not built: {failed}\n{self.boot.describe()}"

    def copies(self, folder: Path) -> dict[str, DiskSpec]:
        """Copies of the built disks in `folder` (sparse), by serial; the originals stay."""
        folder.mkdir(parents=True, exist_ok=True)
        disks = {}
        for spec in (d for n in ALL_LAYOUTS for d in LAYOUTS[n].disks):
            copy = folder / f"{spec.serial}.img"
            subprocess.run(["cp", "--sparse=always", str(self.images / copy.name), str(copy)],
                           check=True)
            disks[str(spec.serial)] = replace(spec, path=copy)
        return disks


def mount_steps(timeout: float | None = 300) -> list[Step]:
    """Steps that bring every built layout up from its disks, mounted as when built."""
    return [mount_step(n, timeout=timeout) for n in ALL_LAYOUTS]


@pytest.fixture(scope="session")
def built_layouts(lab_tier: tuple[Kernel, str]) -> Iterator[BuiltLayouts]:
    """All five layouts built once (see BuiltLayouts); removed at the session's end."""
    # Outside /tmp: the guest sees this machine's root read-only, but not its /tmp.
    base = Path(tempfile.mkdtemp(prefix="hostbook-built-layouts-", dir="/var/tmp"))
    disks = [replace(d, path=base / f"{d.serial}.img")
             for n in ALL_LAYOUTS for d in LAYOUTS[n].disks]
    try:
        with Guest(disks) as guest:
            boot = guest.run_steps(
                [*(build_step(n, timeout=300) for n in ALL_LAYOUTS),
                 collect_step(timeout=300)],
                timeout=1200, results_dir=base / "results")
        print("\nlayouts built:", boot.describe())
        yield BuiltLayouts(base, boot)
    finally:
        if os.environ.get("HOSTBOOK_LAB_KEEP"):
            print(f"built layouts: keeping {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def debian_image(lab_tier: tuple[Kernel, str]) -> Path:
    """The cached Debian image the installed-system tests lay onto their disks."""
    from tests.lab.os_image import ensure_image

    try:
        return ensure_image()
    except TierUnavailable as exc:
        skip_or_fail(str(exc))
        raise
