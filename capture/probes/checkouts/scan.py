"""Find working copies below a directory, fast.

A home or /srv tree easily holds a hundred thousand directories, so the walk
is one tight ``os.scandir`` loop that decides everything from directory
entries alone (``d_type``, no stat per entry): a ``.git``/``.svn``/``.hg``
entry marks a checkout, ``HEAD`` + ``objects/`` + ``refs/`` a bare git
repository, ``pyvenv.cfg`` a virtualenv.  It never follows symlinks, never
enters VCS internals, configured excludes or network filesystems, and stops at
``max_depth``.  The caller runs it through ``runner.value`` so a recording
holds the result, not a hundred thousand directory listings.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

VCS_MARKERS = {".git": "git", ".svn": "svn", ".hg": "hg"}
# Filesystem types whose directories live on another machine: walking them is
# slow, may hang, and what they hold is that machine's to capture.
NETWORK_FSTYPES = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "sshfs", "afs", "ceph", "glusterfs",
     "davfs", "ncpfs", "lustre", "gpfs", "beegfs", "9p.network"}
)


@dataclass(frozen=True)
class ScanRules:
    """What the walk leaves out."""

    exclude_names: frozenset[str] = frozenset()
    # last component -> full suffixes, for excludes such as ".cargo/registry"
    exclude_suffixes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exclude_paths: frozenset[str] = frozenset()
    max_depth: int = 12

    @classmethod
    def build(
        cls, excludes: Iterable[str], max_depth: int, skip_paths: Iterable[str] = ()
    ) -> ScanRules:
        """Sort configured excludes into names, relative suffixes and absolute paths."""
        names: set[str] = set()
        suffixes: dict[str, list[str]] = {}
        paths = {p.rstrip("/") or "/" for p in skip_paths}
        for raw in excludes:
            item = raw.strip().rstrip("/")
            if not item:
                continue
            if item.startswith("/"):
                paths.add(item)
            elif "/" in item:
                suffixes.setdefault(item.rsplit("/", 1)[1], []).append("/" + item)
            else:
                names.add(item)
        return cls(
            exclude_names=frozenset(names),
            exclude_suffixes={k: tuple(v) for k, v in suffixes.items()},
            exclude_paths=frozenset(paths),
            max_depth=max_depth,
        )


def unescape_mountinfo(field_text: str) -> str:
    """Undo the octal escapes (``\\040`` for a space) of /proc/self/mountinfo."""
    if "\\" not in field_text:
        return field_text
    out = []
    index = 0
    while index < len(field_text):
        if field_text[index] == "\\" and field_text[index + 1 : index + 4].isdigit():
            out.append(chr(int(field_text[index + 1 : index + 4], 8)))
            index += 4
        else:
            out.append(field_text[index])
            index += 1
    return "".join(out)


def network_mounts(mountinfo: str | None) -> list[str]:
    """Mount points of network and FUSE filesystems, from /proc/self/mountinfo."""
    found: set[str] = set()
    for line in (mountinfo or "").splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields = left.split()
        fstype = right.split(" ", 1)[0]
        if len(fields) < 5:
            continue
        if fstype in NETWORK_FSTYPES or fstype.startswith("fuse."):
            found.add(unescape_mountinfo(fields[4]))
    return sorted(found)


def _git_file_target(path: str) -> str | None:
    """The ``gitdir:`` a ``.git`` file points to, made absolute."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(4096)
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("gitdir:"):
            target = line.split(":", 1)[1].strip()
            if not os.path.isabs(target):
                target = os.path.join(os.path.dirname(path), target)
            return os.path.normpath(target)
    return None


# Account names by id, cached for one scan: a walk meets the same few owners
# thousands of times, but accounts change between captures (a uid can be reused).
_names: dict[int, str] = {}
_groups: dict[int, str] = {}


def _owner(uid: int) -> str:
    if uid not in _names:
        try:
            _names[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            _names[uid] = str(uid)
    return _names[uid]


def _group(gid: int) -> str:
    if gid not in _groups:
        try:
            _groups[gid] = grp.getgrgid(gid).gr_name
        except KeyError:
            _groups[gid] = str(gid)
    return _groups[gid]


def describe(path: str, vcs: str, **extra: Any) -> dict[str, Any]:
    """A found checkout: where, which VCS, and who owns its root."""
    entry: dict[str, Any] = {"path": path, "vcs": vcs}
    try:
        info = os.lstat(path)
    except OSError:
        pass
    else:
        entry["owner"] = _owner(info.st_uid)
        entry["group"] = _group(info.st_gid)
        entry["mode"] = f"{stat.S_IMODE(info.st_mode):04o}"
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def scan(root: str, rules: ScanRules) -> dict[str, Any]:
    """Walk ``root`` and return ``{"checkouts": [...], "unreadable": [...]}``, sorted.

    Each checkout is a dict with ``path``, ``vcs``, ownership, and for git
    ``layout`` (``repository``, ``bare``, ``worktree``), ``gitdir`` when the
    repository lives elsewhere and ``gitmodules`` when submodules are declared.
    Submodule working trees are not reported on their own: their superproject
    lists them.
    """
    root = os.path.normpath(root)
    _names.clear()
    _groups.clear()
    found: list[dict[str, Any]] = []
    unreadable: list[str] = []
    names_excluded = rules.exclude_names
    suffixes = rules.exclude_suffixes
    skip = rules.exclude_paths
    max_depth = rules.max_depth
    if root in skip:
        return {"checkouts": [], "unreadable": []}
    stack: list[tuple[str, int]] = [(root, 0)]
    pop = stack.pop
    push = stack.append
    while stack:
        path, depth = pop()
        try:
            iterator = os.scandir(path)
        except OSError:
            if path == root and not os.path.exists(root):
                continue  # a configured root this host does not have
            unreadable.append(path)
            continue
        subdirs: list[str] = []
        markers: list[tuple[str, bool]] = []
        has_head = has_venv = has_gitmodules = False
        with iterator:
            for entry in iterator:
                name = entry.name
                if name in VCS_MARKERS:
                    with contextlib.suppress(OSError):
                        markers.append((name, entry.is_dir(follow_symlinks=False)))
                    continue
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir:
                    if name not in names_excluded:
                        subdirs.append(name)
                elif name == "HEAD":
                    has_head = True
                elif name == "pyvenv.cfg":
                    has_venv = True
                elif name == ".gitmodules":
                    has_gitmodules = True
        if has_venv:
            continue  # a virtualenv: rebuilt from requirements, never a checkout
        if has_head and "objects" in subdirs and "refs" in subdirs:
            found.append(describe(path, "git", layout="bare"))
            continue  # a bare repository's insides are its own
        for name, is_dir in markers:
            vcs = VCS_MARKERS[name]
            if vcs != "git":
                found.append(describe(path, vcs))
                continue
            marker = path + "/.git"
            if is_dir:
                found.append(
                    describe(path, "git", layout="repository", gitmodules=has_gitmodules or None)
                )
                continue
            target = _git_file_target(marker)
            if target is None:
                continue
            if "/modules/" in target:
                continue  # a submodule: listed by its superproject
            layout = "worktree" if "/worktrees/" in target else "repository"
            found.append(
                describe(
                    path, "git", layout=layout, gitdir=target,
                    gitmodules=has_gitmodules or None,
                )
            )
        if depth >= max_depth:
            continue
        prefix = path + "/" if path != "/" else "/"
        for name in subdirs:
            child = prefix + name
            if child in skip:
                continue
            ends = suffixes.get(name)
            if ends and any(child.endswith(end) for end in ends):
                continue
            push((child, depth + 1))
    found.sort(key=lambda item: item["path"])
    unreadable.sort()
    return {"checkouts": found, "unreadable": unreadable}
