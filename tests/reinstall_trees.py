"""The Debian trees and apt repositories the reinstall tests use, cached under /var/cache.

Made once (network: Debian's mirrors) and kept: an "old" Debian 12 tree
personalised by tests/fixtures/reinstall-tools/personalise.sh, a fresh Debian
12 tree, the third-party repository with its test key, and a local mirror of
every Debian package the old tree has, signed with that key, so the apply
installs without the network.

Each is keyed by what it is made from (the package lists, the scripts, the
key of what it derives from: the old tree embeds the third-party repository,
the mirror holds the old tree's packages), recorded in ``<name>.key`` beside
it, and made again when the key differs.  One made before keys were recorded
is taken as made from today's inputs (they had not changed since it was
possible to make it) and its key is written.  The paths do not change with
the key: recorded sections name the third-party repository's path.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.paths import FIXTURES, REPO_ROOT

CACHE = Path("/var/cache/hostbook/reinstall")
TOOLS = FIXTURES / "reinstall-tools"
MIRROR = CACHE / "mirror-bookworm"
THIRDPARTY = CACHE / "thirdparty"
OLD_PACKAGES = ("systemd,systemd-sysv,cron,openssh-server,git,less,vim-tiny,curl,"
                "python3-distutils,libssl3,rsync,nano,tmux,htop,jq,sudo,logrotate")


FRESH_PACKAGES = "systemd,systemd-sysv"


def _run(*argv: str | Path) -> None:
    subprocess.run([str(a) for a in argv], check=True, stdout=subprocess.DEVNULL)


def key_of(*parts: str | Path) -> str:
    """A digest of strings and of files' contents (a Path is read)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.read_bytes() if isinstance(part, Path) else part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _stamp(made: Path) -> Path:
    return made.with_name(made.name + ".key")


def _current(made: Path, key: str, whole: Path | None = None) -> bool:
    """``made`` is whole (``whole`` exists: a folder's last file) and was made from the
    inputs ``key`` names (see the module docstring)."""
    stamp, there = _stamp(made), (whole or made).exists()
    if there and not stamp.exists():
        stamp.write_text(key + "\n")
    return there and stamp.read_text().strip() == key


def _made(made: Path, key: str) -> None:
    _stamp(made).write_text(key + "\n")


def _debootstrap(name: str, include: str) -> Path:
    tar = CACHE / f"{name}.tar"
    key = key_of("mmdebstrap minbase bookworm", include)
    if not _current(tar, key):
        tar.unlink(missing_ok=True)
        _run("mmdebstrap", "--quiet", "--variant=minbase", "--skip=cleanup/apt/lists",
             f"--include={include}", "bookworm", tar, "http://deb.debian.org/debian")
        _made(tar, key)
    return tar


def extract(tar: Path, where: Path) -> Path:
    where.mkdir(parents=True)
    with tarfile.open(tar) as archive:
        archive.extractall(where, filter="fully_trusted")
    return where


def unpacked(tar: Path) -> Path:
    """``tar`` unpacked once beside it (``<name>.tree``, keyed like it): a lower layer."""
    tree = tar.with_suffix(".tree")
    key = _stamp(tar).read_text().strip()
    if not _current(tree, key):
        shutil.rmtree(tree, ignore_errors=True)
        partial = tree.with_name(tree.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        _run("tar", "-C", partial, "--numeric-owner", "-xf", tar)  # ids, modes, links as stored
        partial.rename(tree)
        _made(tree, key)
    return tree


@contextlib.contextmanager
def layered(tar: Path, where: Path) -> Iterator[Path]:
    """A writable tree of ``tar`` at ``where/tree``: an overlay on the unpacked cache.

    Unpacking a 500 MB tree and deleting it again took most of the test's
    time on a busy disk; the overlay writes only what changes (into
    ``where/upper``) and the cached lower tree is never written.  Unmounted
    on leaving.
    """
    lower = unpacked(tar)
    upper, work, tree = where / "upper", where / "work", where / "tree"
    for folder in (upper, work, tree):
        folder.mkdir(parents=True)
    _run("mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={lower},upperdir={upper},workdir={work}", tree)
    try:
        yield tree
    finally:
        subprocess.run(["umount", str(tree)], check=True)


def ensure() -> dict[str, Path]:
    """The cached tarballs and repositories (made when missing or made from other inputs)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    thirdparty_key = key_of(TOOLS / "make_thirdparty_repo.sh")
    if not _current(THIRDPARTY, thirdparty_key, THIRDPARTY / "key.asc"):
        shutil.rmtree(THIRDPARTY, ignore_errors=True)
        _run("sh", TOOLS / "make_thirdparty_repo.sh", THIRDPARTY)
        _made(THIRDPARTY, thirdparty_key)
    old_tar = CACHE / "old-personalised.tar"
    old_key = key_of(OLD_PACKAGES, TOOLS / "personalise.sh", thirdparty_key)
    mirror_key = key_of(old_key, TOOLS / "make_mirror.sh")
    if not _current(old_tar, old_key) or not _current(MIRROR, mirror_key, MIRROR / "InRelease"):
        work = CACHE / "old-work"
        shutil.rmtree(work, ignore_errors=True)
        extract(_debootstrap("old-bookworm", OLD_PACKAGES), work)
        _run("sh", TOOLS / "personalise.sh", work, THIRDPARTY)
        old_tar.unlink(missing_ok=True)
        _run("tar", "-C", work, "-cf", old_tar, ".")
        _made(old_tar, old_key)
        shutil.rmtree(MIRROR, ignore_errors=True)
        _run("sh", TOOLS / "make_mirror.sh", work, THIRDPARTY, MIRROR)
        _made(MIRROR, mirror_key)
        shutil.rmtree(work)
    fresh = _debootstrap("fresh-bookworm", FRESH_PACKAGES)
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


ARCHIVE_TOOLS = ("zstd", "restic")
"""What ``hostbook run`` calls that a minimal Debian tree lacks: this machine's
(Debian 12's) binaries, copied to the tree's /usr/local/bin (not packages, so
the captured sections do not change)."""


def single_file() -> Path:
    """hostbook as one file for this interpreter (a Debian 12 tree's python3 is 3.11).

    Cached under CACHE keyed by the interpreter and the checkout's files (tracked
    or not ignored, tests and benchmarks aside); a build for other files is
    removed when a new one is made.
    """
    listed = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-co", "--exclude-standard"],
                            check=True, capture_output=True, text=True).stdout.split("\n")
    names = sorted(n for n in listed if n and n.split("/", 1)[0] not in (
        "tests", "benchmarks", "examples") and (REPO_ROOT / n).is_file())
    key = key_of(sys.version, *names, *(REPO_ROOT / n for n in names))
    built = CACHE / f"hostbook-{key}.pyz"
    if not built.exists():
        for stale in CACHE.glob("hostbook-*.pyz"):
            stale.unlink()
        made = subprocess.run([sys.executable, str(REPO_ROOT / "packaging" / "single_file.py"),
                               "--installed", "--output", str(built)],
                              capture_output=True, text=True, cwd=REPO_ROOT)
        if made.returncode != 0:  # e.g. setuptools 65 builds no wheel without `wheel`
            raise RuntimeError(f"the single-file build failed: {made.stderr[-2000:]}")
    return built


def install_hostbook(tree: Path, built: Path) -> None:
    """Put hostbook and the archivers' tools into ``tree``, as its owner would install them."""
    bin_dir = tree / "usr/local/bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(built, bin_dir / "hostbook")
    for tool in ARCHIVE_TOOLS:
        found = shutil.which(tool)
        if found:
            shutil.copy2(found, bin_dir / tool)


def run_in_tree(tree: Path, shared: Path, argv: Sequence[str]) -> subprocess.CompletedProcess:
    """``argv`` run with ``tree`` as "/" (chroot), in a mount namespace of its own.

    /proc, /dev and /sys are bound in, and ``shared`` at the same absolute
    path, so what the tree's programs write there (the manifest repository,
    the archives, the run history) is read on this machine at the paths they
    name.  The namespace ends with the command: no mount outlives it.
    """
    inside = tree / str(shared).lstrip("/")
    inside.mkdir(parents=True, exist_ok=True)
    script = ('set -e; mount --bind "$1" "$2$1"; mount -t proc proc "$2/proc"; '
              'mount --rbind /dev "$2/dev"; mount --rbind /sys "$2/sys"; '
              'tree=$2; shift 2; exec chroot "$tree" "$@"')
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           script, "sh", str(shared), str(tree), *argv],
                          capture_output=True, text=True, timeout=600)
