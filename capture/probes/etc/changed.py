"""Changed configuration probe: conffiles that differ from their package, files no package owns.

Five reads: the conffiles and their shipped MD5s (``dpkg-query -W``), every
path under /etc that packages list (one ``grep`` over the dpkg ``.list``
files), ucf's registry and hashfile (files maintainer scripts generate, with
their pristine MD5), the regular files under /etc (``find -printf``), and one
``md5sum`` of the candidates.  The file contents are never read: they are
data, and come back from an archive.

``IGNORED`` is what the capture leaves out on purpose.  machine-id and the ssh
host keys are the host's identity (data, not configuration: a reinstall makes
new ones, a rebuild from archives brings the old ones back); the account
databases (and pam's opasswd) belong to the accounts section or hold hashes; apt's files, fstab
and crypttab are the packages and storage sections'; the rest the system
rewrites itself (caches, the clock's drift, resolv.conf, dpkg's and ucf's
backup copies).
"""

from __future__ import annotations

from fnmatch import fnmatch
from typing import Any

from hostbook.capture.parsers.dpkg_conffiles import parse_conffiles, parse_md5sum, parse_ucf
from hostbook.capture.parsers.passwd import parse_group, parse_passwd
from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.host_root import host_root, on_host, root_args

IGNORED: tuple[str, ...] = (
    "machine-id", "hostname", "ssh/ssh_host_*",
    "passwd", "passwd-", "group", "group-", "shadow", "shadow-", "gshadow", "gshadow-",
    "subuid", "subuid-", "subgid", "subgid-", ".pwd.lock", "security/opasswd",
    "apt/*", "fstab", "crypttab",
    "ld.so.cache", "adjtime", "resolv.conf", "mtab", "ssl/certs/*",
    "*.dpkg-old", "*.dpkg-dist", "*.dpkg-new", "*.dpkg-bak", "*.ucf-old", "*.ucf-dist",
    "*.ucf-new", "*~",
)
"""Paths under /etc (relative, fnmatch patterns) the section never holds; see above."""

CONFFILES_FORMAT = "${db:Status-Abbrev}\\t${Package}\\t${Conffiles}\\n"
UCF_REGISTRY = "/var/lib/ucf/registry"
UCF_HASHFILE = "/var/lib/ucf/hashfile"
MD5_BATCH = 500


def ignored(path: str) -> bool:
    """Whether an absolute /etc path is left out (see ``IGNORED``)."""
    relative = path.removeprefix("/etc/")
    return any(fnmatch(relative, pattern) for pattern in IGNORED)


def _names(ctx: ProbeContext, root: str) -> tuple[dict[int, str], dict[int, str]]:
    """uid -> name and gid -> name of the described system (not the capturing one)."""
    users = parse_passwd(ctx.runner.read_file(on_host(root, "/etc/passwd")) or "")
    groups = parse_group(ctx.runner.read_file(on_host(root, "/etc/group")) or "")
    return {u.uid: u.name for u in users}, {g.gid: g.name for g in groups}


def _md5s(ctx: ProbeContext, root: str, paths: list[str]) -> dict[str, str] | None:
    sums: dict[str, str] = {}
    for start in range(0, len(paths), MD5_BATCH):
        batch = [on_host(root, p) for p in paths[start:start + MD5_BATCH]]
        result = ctx.run_ok(["md5sum", "--", *batch], "etc.md5", ok_codes=(0, 1))
        if result is None:
            return None
        sums.update(parse_md5sum(result.stdout, root))
    return sums


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    root = host_root(ctx)
    listing = ctx.runner.query(["dpkg-query", *root_args(root, "--root"), "-W",
                                f"-f={CONFFILES_FORMAT}"])
    if listing.missing:
        return  # not a dpkg host: rpm -V would go here
    if not listing.ok:
        ctx.mark_incomplete("etc.conffiles", listing.failure())
        return
    shipped = {c.path: c for c in parse_conffiles(listing.stdout)
               if c.path.startswith("/etc/") and not c.obsolete and not ignored(c.path)}
    owned_result = ctx.run_ok(
        ["grep", "-r", "-h", "--include=*.list", "^/etc/", on_host(root, "/var/lib/dpkg/info")],
        "etc.unowned", ok_codes=(0, 1))
    owned = set(owned_result.stdout.splitlines()) if owned_result else None
    ucf = parse_ucf(ctx.runner.read_file(on_host(root, UCF_REGISTRY)) or "",
                    ctx.runner.read_file(on_host(root, UCF_HASHFILE)) or "")
    found = ctx.run_ok(["find", on_host(root, "/etc"), "-xdev", "-type", "f",
                        "-printf", "%P\\t%m\\t%U\\t%G\\n"], "etc.files", ok_codes=(0, 1))
    present: dict[str, tuple[str, int, int]] = {}
    for line in (found.stdout if found else "").splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[2].isdigit() and fields[3].isdigit():
            present["/etc/" + fields[0]] = (fields[1], int(fields[2]), int(fields[3]))
    users, groups = _names(ctx, root)

    candidates: dict[str, dict[str, Any]] = {}
    for path, conf in shipped.items():
        candidates[path] = {"kind": "conffile", "package": conf.package,
                            "shipped_md5": conf.md5}
    for path, (package, pristine) in ucf.items():
        if path.startswith("/etc/") and path not in candidates and not ignored(path):
            candidates[path] = {"kind": "conffile", "package": package, "shipped_md5": pristine}
    if owned is not None:
        for path in present:
            if path not in owned and path not in candidates and not ignored(path):
                candidates[path] = {"kind": "unowned"}
    existing = sorted(p for p in candidates if p in present)
    sums = _md5s(ctx, root, existing) if existing else {}
    if sums is None:
        return

    files = []
    for path in sorted(candidates):
        record = candidates[path]
        if path not in present:
            if record["kind"] == "conffile":
                files.append({"path": path, **record, "state": "removed"})
            continue
        md5 = sums.get(path)
        if record["kind"] == "conffile" and md5 == record["shipped_md5"]:
            continue
        mode, uid, gid = present[path]
        files.append({
            "path": path, **record,
            "state": "added" if record["kind"] == "unowned" else "modified",
            "md5": md5, "mode": mode.zfill(4),
            "owner": users.get(uid, str(uid)), "group": groups.get(gid, str(gid)),
        })
    doc["files"] = files
    doc["ignored"] = list(IGNORED)


PROBE = Probe(
    name="etc.changed",
    section="etc",
    commands=("dpkg-query", "grep", "find", "md5sum"),
    collect=collect,
    description="conffiles changed from the package's shipped version, ucf-managed files "
    "changed, files under /etc no package owns (contents never read)",
)
