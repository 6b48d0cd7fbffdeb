"""Real Debian installations for the lab: a tarball built once per machine, cached.

A rebuild is proved by booting a real installed Debian with its own firmware,
bootloader and kernel.  mmdebstrap makes that system from Debian's packages;
a lab guest (which has the device-mapper, md and LUKS this machine lacks)
lays it onto its disks and installs the bootloader, and a later boot starts
from the disks alone.

The tree is the slow part (minutes of package downloads and unpacking), so it
is cached as ``/var/cache/hostbook/images/<suite>-<key>.tar``, keyed by
everything that decides its content: suite, variant, package list, mirror,
this module's recipe version and mmdebstrap's version.  A machine builds each
image once; a fresh machine builds it on first use (``.ci/setup`` does that
before the tests, ``python -m tests.lab.os_image`` by hand).  The tarball is
uncompressed because the guest unpacks it under emulation, where
decompression costs more than reading over the 9p share.

The image's root password is empty and locked; a marker unit the tests add
reports on the serial console, so no login is ever needed.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tests.tiers import TierUnavailable

CACHE = Path(os.environ.get("HOSTBOOK_IMAGE_CACHE", "/var/cache/hostbook/images"))
RECIPE = 1
"""Bump when the build below changes in a way the key would not see."""

BASE_PACKAGES = (
    "linux-image-amd64", "systemd-sysv", "udev", "kmod", "initramfs-tools",
    "grub-pc-bin", "grub-efi-amd64-bin", "grub2-common", "efibootmgr",
    "e2fsprogs", "xfsprogs", "dosfstools", "lvm2", "cryptsetup", "cryptsetup-initramfs",
    "mdadm", "python3", "python3-venv", "git", "restic", "borgbackup", "tar", "xfsdump",
    "zstd", "iproute2", "procps", "util-linux", "fdisk",
)
"""An installed server or laptop as the rebuild tests need it: its own kernel and
initramfs, both GRUB platforms (the -bin packages coexist, unlike grub-pc and
grub-efi-amd64), the storage stack's tools, the archivers to restore with, and
python3-venv and git so hostbook itself can be installed from wheels and capture."""


@dataclass(frozen=True)
class ImageSpec:
    """What an image is made of; its key names the cached tarball."""

    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = BASE_PACKAGES
    mirror: str = "http://deb.debian.org/debian"

    def key(self, mmdebstrap_version: str) -> str:
        facts = {"suite": self.suite, "variant": self.variant,
                 "packages": sorted(self.packages), "mirror": self.mirror,
                 "recipe": RECIPE, "mmdebstrap": mmdebstrap_version}
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def _mmdebstrap() -> tuple[str, str]:
    path = shutil.which("mmdebstrap")
    if path is None:
        raise TierUnavailable("no mmdebstrap (apt-get install mmdebstrap)")
    version = subprocess.run([path, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    return path, version


def image_path(spec: ImageSpec) -> Path:
    """Where the cached tarball of ``spec`` is (or would be)."""
    _, version = _mmdebstrap()
    return CACHE / f"{spec.suite}-{spec.key(version)}.tar"


def ensure_image(spec: ImageSpec = ImageSpec(), *, log: TextIO = sys.stderr) -> Path:
    """The tarball of ``spec``, built now unless the cache has it.

    Concurrent callers wait on one lock and the second finds the first's
    result; a build that fails or is killed leaves only a ``.partial`` file,
    removed by the next build.
    """
    binary, version = _mmdebstrap()
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / f"{spec.suite}-{spec.key(version)}.tar"
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        partial = target.with_suffix(".tar.partial")
        partial.unlink(missing_ok=True)
        started = time.monotonic()
        print(f"os-image: building {target.name} ({spec.suite}, "
              f"{len(spec.packages)} packages)", file=log, flush=True)
        argv = [
            binary, f"--variant={spec.variant}", "--mode=root", "--format=tar",
            f"--include={','.join(spec.packages)}",
            # A machine that boots from its own disk finds its root by fstab and
            # its console on the serial line; the tests write both when installing.
            "--customize-hook=echo hostbook-lab > \"$1/etc/hostname\"",
            "--customize-hook=rm -f \"$1/etc/machine-id\" && touch \"$1/etc/machine-id\"",
            spec.suite, str(partial), spec.mirror,
        ]
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              check=False, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            tail = "\n".join((done.stderr or done.stdout).splitlines()[-20:])
            raise RuntimeError(f"mmdebstrap failed ({done.returncode}):\n{tail}")
        partial.chmod(0o644)
        os.replace(partial, target)
        size = target.stat().st_size
        print(f"os-image: built {target} ({size / 2**20:.0f} MiB) in "
              f"{time.monotonic() - started:.0f} s", file=log, flush=True)
        return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="bookworm")
    args = parser.parse_args()
    try:
        path = ensure_image(ImageSpec(suite=args.suite))
    except (TierUnavailable, RuntimeError) as exc:
        print(f"os-image: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
