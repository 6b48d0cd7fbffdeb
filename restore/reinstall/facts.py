"""What the freshly installed system has: asked through the runner, queries only.

Everything the pure planners compare the old host with: the release, the
packages installed and the names its archives know, the conffiles' shipped
MD5s and ucf's pristine ones, the files now at the old changed paths, the
accounts, the unit files.  Gathered once, before planning; a replay of a
recording of these queries plans the same steps.

The package names the archives know include the old host's third-party
repositories: their sources and keys are written to a scratch apt
configuration (``SCRATCH``, emptied first) and ``apt-get update`` fills
scratch lists with them beside the system's own sources, so the planning
(and the simulation) sees what the apply will see, and the system's apt
state is not touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hostbook.capture.parsers.apt_simulation import parse_reverse_provides
from hostbook.capture.parsers.dpkg_conffiles import parse_conffiles, parse_md5sum, parse_ucf
from hostbook.capture.parsers.passwd import parse_group, parse_passwd, parse_status
from hostbook.capture.parsers.systemctl import parse_unit_files
from hostbook.capture.probes.host_root import on_host, root_args
from hostbook.capture.probes.system import parse_os_release
from hostbook.process.runner import Runner

SCRATCH = "/var/cache/hostbook/reinstall-apt"
INSTALLED_FORMAT = "${db:Status-Abbrev}\\t${Package}\\t${Version}\\n"
CONFFILES_FORMAT = "${db:Status-Abbrev}\\t${Package}\\t${Conffiles}\\n"


@dataclass
class NewSystem:
    """The fresh system, as the planners see it."""

    os_id: str | None = None
    codename: str | None = None
    installed: dict[str, str] = field(default_factory=dict)
    manual: set[str] = field(default_factory=set)
    """installed packages apt has marked manual (apt-mark showmanual)."""
    known: set[str] = field(default_factory=set)
    """package names the archives (the system's and the scratch third-party ones) know."""
    providers: dict[str, list[str]] = field(default_factory=dict)
    """name (not a real package) -> the packages that provide it."""
    shipped: dict[str, tuple[str, str]] = field(default_factory=dict)
    """conffile path -> (package, shipped MD5), dpkg's and ucf's."""
    present: dict[str, str] = field(default_factory=dict)
    """path of an old changed file -> MD5 of the file there now."""
    users: dict[str, int] = field(default_factory=dict)
    user_of_uid: dict[int, str] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    group_of_gid: dict[int, str] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    """group -> its supplementary members (/etc/group)."""
    passwords: dict[str, str] = field(default_factory=dict)
    """user -> set / locked / none (``passwd --status --all``; never a hash)."""
    units: dict[str, str] = field(default_factory=dict)
    default_target: str | None = None


def apt_options(root: str = "", scratch: str = SCRATCH) -> list[str]:
    """apt options that read the scratch sources only, lists and caches in scratch.

    The scratch sources are the system's own (sources.list among them) and
    the old host's third-party ones (see scratch.prepare).

    ``root`` is the new system's tree when it is not ``/`` (a test's image):
    apt then reads that system's status and sources (``Dir``), and the scratch
    paths stay absolute.
    """
    options = [f"-oDir={root}/"] if root else []
    return [*options, f"-oDir::Etc::SourceList={scratch}/none.list",
            f"-oDir::Etc::SourceParts={scratch}/sources.list.d",
            f"-oDir::State::Lists={scratch}/lists", f"-oDir::Cache={scratch}/cache"]


def installed_packages(runner: Runner, root: str = "") -> dict[str, str]:
    result = runner.query(["dpkg-query", *root_args(root, "--root"), "-W",
                           f"-f={INSTALLED_FORMAT}"])
    installed: dict[str, str] = {}
    for line in result.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and len(fields[0]) >= 2 and fields[0][1] == "i":
            installed[fields[1]] = fields[2]
    return installed


def gather(runner: Runner, wanted: list[str], paths: list[str], root: str = "",
           scratch: str = SCRATCH) -> NewSystem:
    """Ask the new system; ``wanted`` are the old manual packages, ``paths`` the changed files.

    The scratch apt configuration must have been written (``scratch_files``)
    and updated before: this only reads.
    """
    new = NewSystem()
    release = parse_os_release(runner.read_file(on_host(root, "/etc/os-release")) or ""
                               or runner.read_file(on_host(root, "/usr/lib/os-release")) or "")
    new.os_id, new.codename = release.get("ID"), release.get("VERSION_CODENAME")
    new.installed = installed_packages(runner, root)
    marked = runner.query(["apt-mark", *root_args(root, "-oDir"), "showmanual"])
    new.manual = set(marked.stdout.split())
    apt = apt_options(root, scratch)
    names = runner.query(["apt-cache", *apt, "pkgnames"])
    new.known = set(names.stdout.split())
    for name in sorted({w.split(":", 1)[0] for w in wanted} - new.known - set(new.installed)):
        shown = runner.query(["apt-cache", *apt, "showpkg", name])
        providers = parse_reverse_provides(shown.stdout)
        if providers:
            new.providers[name] = providers
    conffiles = runner.query(["dpkg-query", *root_args(root, "--root"), "-W",
                              f"-f={CONFFILES_FORMAT}"])
    for conf in parse_conffiles(conffiles.stdout):
        new.shipped[conf.path] = (conf.package, conf.md5)
    ucf = parse_ucf(runner.read_file(on_host(root, "/var/lib/ucf/registry")) or "",
                    runner.read_file(on_host(root, "/var/lib/ucf/hashfile")) or "")
    for path, (package, md5) in ucf.items():
        if md5:
            new.shipped.setdefault(path, (package, md5))
    if paths:
        sums = runner.query(["md5sum", "--", *(on_host(root, p) for p in paths)])
        new.present = parse_md5sum(sums.stdout, root)
    for user in parse_passwd(runner.read_file(on_host(root, "/etc/passwd")) or ""):
        new.users[user.name] = user.uid
        new.user_of_uid.setdefault(user.uid, user.name)
    for group in parse_group(runner.read_file(on_host(root, "/etc/group")) or ""):
        new.groups[group.name] = group.gid
        new.group_of_gid.setdefault(group.gid, group.name)
        new.members[group.name] = set(group.members)
    status = runner.query(["passwd", *root_args(root, "--root"), "--status", "--all"])
    new.passwords = parse_status(status.stdout) if status.ok else {}
    systemctl = ["systemctl", *root_args(root, "--root"), "--no-pager"]
    units = runner.query([*systemctl, "--no-legend", "list-unit-files"])
    new.units = {u.unit: u.state for u in parse_unit_files(units.stdout)}
    target = runner.query([*systemctl, "get-default"])
    new.default_target = target.stdout.strip() or None
    return new
