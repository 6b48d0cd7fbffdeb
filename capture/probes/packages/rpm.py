"""rpm/dnf probe: installed packages, the user-installed set, repositories.

``rpm -qa`` lists name, epoch, version, release and arch of every package in
one process; ``dnf repoquery --userinstalled`` (dnf 4 and 5) names what a
person installed, from dnf's own history, without touching the network
(``--cacheonly``, every repository disabled).  Repositories come from the
``.repo`` files themselves, so a rebuild can re-create them; their
credentials (username, password, client keys) are never read into the
manifest and URLs lose any user:password part.
"""

from __future__ import annotations

import configparser
from typing import Any

from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.redact import redact_url

QUERY_FORMAT = "%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n"
RPM_QUERY = ["rpm", "-qa", "--qf", QUERY_FORMAT]
DNF_USERINSTALLED = [
    "dnf", "--quiet", "--cacheonly", "--disablerepo=*", "repoquery", "--userinstalled",
]
REPOS_DIR = "/etc/yum.repos.d"
_TRUE = ("1", "yes", "true", "on")


def evra(epoch: str, version: str, release: str, arch: str) -> str:
    """``[epoch:]version-release.arch`` as rpm and dnf spell it."""
    prefix = "" if epoch in ("", "(none)", "0") else f"{epoch}:"
    return f"{prefix}{version}-{release}.{arch}"


def parse_rpm(text: str) -> tuple[dict[str, str], list[str]]:
    """(name -> space-separated EVRAs, imported gpg-pubkey version-releases)."""
    found: dict[str, list[str]] = {}
    keys: list[str] = []
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) != 5:
            continue
        name, epoch, version, release, arch = fields
        if name == "gpg-pubkey":
            keys.append(f"{version}-{release}")
            continue
        found.setdefault(name, []).append(evra(epoch, version, release, arch))
    versions = {name: " ".join(sorted(found[name])) for name in sorted(found)}
    return versions, sorted(keys)


def nevra_name(nevra: str) -> str:
    """The name part of ``name-[epoch:]version-release.arch``."""
    stem = nevra.rsplit(".", 1)[0] if "." in nevra else nevra
    parts = stem.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else stem


def parse_repo_file(path: str, text: str) -> list[dict[str, Any]]:
    """Repositories of one ``.repo`` file, secrets left out."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text, source=path)
    except configparser.Error:
        return []
    repos = []
    for section in parser.sections():
        if section == "main":
            continue
        values = parser[section]
        repo: dict[str, Any] = {"id": section, "file": path}
        if values.get("name"):
            repo["name"] = values["name"].strip()
        repo["enabled"] = values.get("enabled", "1").strip().lower() in _TRUE
        if values.get("baseurl"):
            repo["baseurl"] = [redact_url(u)[0] for u in values["baseurl"].split()]
        for key in ("metalink", "mirrorlist"):
            if values.get(key):
                repo[key] = redact_url(values[key].strip())[0]
        if values.get("gpgkey"):
            repo["gpgkey"] = values["gpgkey"].replace(",", " ").split()
        repos.append(repo)
    return repos


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    listing = ctx.runner.query(RPM_QUERY)
    if listing.missing:
        return
    if not listing.ok:
        ctx.mark_incomplete("rpm", listing.failure())
        return
    versions, keys = parse_rpm(listing.stdout)
    if not versions:
        return  # rpm is installed (as on Debian) but manages nothing here
    rpm: dict[str, Any] = {}
    users = ctx.runner.query(DNF_USERINSTALLED)
    if users.ok:
        manual = {nevra_name(line.strip()) for line in users.stdout.splitlines() if line.strip()}
        rpm["manual"] = sorted(manual & set(versions))
        rpm["auto"] = sorted(set(versions) - manual)
    else:
        ctx.mark_incomplete("rpm.manual", users.failure())
    rpm["versions"] = versions
    rpm["keys"] = keys
    repos: list[dict[str, Any]] = []
    for name in ctx.runner.list_dir(REPOS_DIR) or []:
        if name.endswith(".repo"):
            text = ctx.runner.read_file(f"{REPOS_DIR}/{name}")
            repos.extend(parse_repo_file(f"{REPOS_DIR}/{name}", text or ""))
    rpm["repositories"] = sorted(repos, key=lambda r: r["id"])
    doc["rpm"] = rpm


PROBE = Probe(
    name="packages.rpm",
    section="packages",
    commands=("rpm", "dnf"),
    collect=collect,
    description="rpm packages (name, epoch, version, release, arch), dnf user-installed set, "
    "/etc/yum.repos.d repositories",
)
