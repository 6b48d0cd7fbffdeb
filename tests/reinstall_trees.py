"""The Debian trees and apt repositories the reinstall tests use, cached under /var/cache.

Made once (network: Debian's mirrors) and kept: an "old" Debian 12 tree
personalised by tests/fixtures/reinstall-tools/personalise.sh, a fresh Debian
12 tree, the third-party repository with its test key, and a local mirror of
every Debian package the old tree has, signed with that key, so the apply
installs without the network.  Each is rebuilt only when missing.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

from tests.paths import FIXTURES

CACHE = Path("/var/cache/hostbook/reinstall")
TOOLS = FIXTURES / "reinstall-tools"
MIRROR = CACHE / "mirror-bookworm"
THIRDPARTY = CACHE / "thirdparty"
OLD_PACKAGES = ("systemd,systemd-sysv,cron,openssh-server,git,less,vim-tiny,curl,"
                "python3-distutils,libssl3,rsync,nano,tmux,htop,jq,sudo,logrotate")


def _run(*argv: str | Path) -> None:
    subprocess.run([str(a) for a in argv], check=True, stdout=subprocess.DEVNULL)


def _debootstrap(name: str, include: str) -> Path:
    tar = CACHE / f"{name}.tar"
    if not tar.exists():
        _run("mmdebstrap", "--quiet", "--variant=minbase", "--skip=cleanup/apt/lists",
             f"--include={include}", "bookworm", tar, "http://deb.debian.org/debian")
    return tar


def extract(tar: Path, where: Path) -> Path:
    where.mkdir(parents=True)
    with tarfile.open(tar) as archive:
        archive.extractall(where, filter="fully_trusted")
    return where


def ensure() -> dict[str, Path]:
    """The cached tarballs and repositories (made when missing)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (THIRDPARTY / "key.asc").exists():
        _run("sh", TOOLS / "make_thirdparty_repo.sh", THIRDPARTY)
    old_tar = CACHE / "old-personalised.tar"
    if not old_tar.exists():
        work = CACHE / "old-work"
        shutil.rmtree(work, ignore_errors=True)
        extract(_debootstrap("old-bookworm", OLD_PACKAGES), work)
        _run("sh", TOOLS / "personalise.sh", work, THIRDPARTY)
        _run("tar", "-C", work, "-cf", old_tar, ".")
        if not (MIRROR / "InRelease").exists():
            _run("sh", TOOLS / "make_mirror.sh", work, THIRDPARTY, MIRROR)
        shutil.rmtree(work)
    fresh = _debootstrap("fresh-bookworm", "systemd,systemd-sysv")
    return {"old": old_tar, "fresh": fresh}


def point_at_local_repositories(tree: Path) -> None:
    """The fresh tree's apt reads the local mirror (signed by the test key), not Debian's."""
    (tree / "etc/apt/sources.list").write_text(
        f"deb [signed-by=/etc/apt/keyrings/hostbook-mirror.asc] file:{MIRROR} ./\n")
    keyrings = tree / "etc/apt/keyrings"
    keyrings.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(THIRDPARTY / "key.asc", keyrings / "hostbook-mirror.asc")
    for repo in (MIRROR, THIRDPARTY / "repo"):  # at the same path inside, for the chroot
        shutil.copytree(repo, tree / str(repo).lstrip("/"), dirs_exist_ok=True)
