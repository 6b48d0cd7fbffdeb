"""The `packages` section (captured): what a person chose to install, per manager.

The point of this file is rebuilding a host on a clean install, possibly of a
newer release, without copying every program's bytes.  What matters most is
*which* packages a person asked for (``manual``); the versions are recorded
for reference in a separate map.  Every manager uses the same layout:

- ``manual``: sorted names a person asked for (the list a rebuild installs);
- ``auto``: sorted names pulled in as dependencies;
- ``versions``: a sorted name -> version map.

so a routine upgrade changes only ``versions`` lines, one line per package,
and a newly chosen package is one added name.  Names of packages of a foreign
architecture carry it (``libc6:i386``) so every key is unique.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hostbook.manifest.model import Record, SectionDocument


class AptSourceEntry(Record):
    """One apt source stanza (deb822) or line (one-line format)."""

    types: list[str] = Field(description="deb and/or deb-src")
    uris: list[str] = Field(description="archive URIs, credentials removed")
    suites: list[str]
    components: list[str] = Field(default_factory=list)
    signed_by: str | None = Field(
        None, description="key file the entry names, or 'inline' for an embedded key"
    )
    architectures: list[str] | None = None
    enabled: bool | None = Field(None, description="false when the stanza says Enabled: no")
    options: dict[str, str] | None = Field(None, description="any other option (trusted, ...)")
    credentials_redacted: bool | None = Field(
        None, description="true when a user name or password was removed from a URI"
    )


class AptSourceFile(Record):
    """A sources file and its entries."""

    path: str
    format: Literal["deb822", "one-line"]
    entries: list[AptSourceEntry] = Field(default_factory=list)


class KeyFile(Record):
    """An OpenPGP key file apt trusts: its fingerprints, and how a reinstall gets it back.

    A key file a package installs (debian-archive-keyring) names the package:
    it comes back with it.  Any other one (a third-party repository's) keeps
    its public key material, ASCII-armored: a public key is not a secret.  A
    file holding a secret key is never kept.
    """

    path: str
    fingerprints: list[str] = Field(default_factory=list)
    package: str | None = Field(None, description="the package that installs the file")
    material: str | None = Field(
        None, description="the public keys, ASCII-armored, when no package installs the file"
    )
    error: str | None = Field(None, description="why the file could not be read")


class AptPin(Record):
    """One stanza of an apt preferences (pinning) file."""

    packages: list[str]
    pin: str
    priority: int
    explanation: str | None = None


class AptPinFile(Record):
    """A preferences file and its stanzas, in file order (order matters to apt)."""

    path: str
    stanzas: list[AptPin] = Field(default_factory=list)


class AptPackages(Record):
    """dpkg/apt: installed packages, the manual set, sources, keys and pins."""

    architecture: str | None = Field(None, description="dpkg --print-architecture")
    foreign_architectures: list[str] = Field(default_factory=list)
    manual: list[str] = Field(default_factory=list, description="apt-mark showmanual")
    auto: list[str] = Field(default_factory=list, description="installed, not manual")
    held: list[str] = Field(default_factory=list)
    beyond_base: list[str] = Field(
        default_factory=list,
        description="manual packages that are not part of the release's base install",
    )
    base_from: Literal["installer-log", "priority"] | None = Field(
        None,
        description="installer-log: /var/log/installer/initial-status.gz; "
        "priority: packages of priority required/important/standard",
    )
    versions: dict[str, str] = Field(default_factory=dict)
    sources: list[AptSourceFile] = Field(default_factory=list)
    keys: list[KeyFile] = Field(default_factory=list)
    pins: list[AptPinFile] = Field(default_factory=list)


class RpmRepository(Record):
    """A repository defined in /etc/yum.repos.d (secrets never recorded)."""

    id: str
    name: str | None = None
    enabled: bool = True
    baseurl: list[str] | None = None
    metalink: str | None = None
    mirrorlist: str | None = None
    gpgkey: list[str] | None = None
    file: str | None = Field(None, description="the .repo file defining it")


class RpmPackages(Record):
    """rpm (with dnf): versions as [epoch:]version-release.arch, user-installed set."""

    manual: list[str] | None = Field(
        None, description="dnf repoquery --userinstalled; absent when dnf is not there"
    )
    auto: list[str] | None = None
    versions: dict[str, str] = Field(
        default_factory=dict,
        description="name -> [epoch:]version-release.arch; several installed "
        "instances (kernels, multilib) are space-separated",
    )
    keys: list[str] = Field(
        default_factory=list, description="imported signing keys (gpg-pubkey version-release)"
    )
    repositories: list[RpmRepository] = Field(default_factory=list)


class PacmanPackages(Record):
    """pacman: explicit vs dependency, and foreign (not in any sync database: AUR)."""

    manual: list[str] = Field(default_factory=list, description="pacman -Qqe (explicit)")
    auto: list[str] = Field(default_factory=list, description="installed as dependencies")
    foreign: list[str] = Field(default_factory=list, description="pacman -Qqm")
    versions: dict[str, str] = Field(default_factory=dict)
    repositories: list[str] | None = Field(None, description="pacman-conf --repo-list")


class PipPackages(Record):
    """pip-installed distributions of the system interpreter (not the OS's own)."""

    interpreter: str
    manual: list[str] = Field(default_factory=list, description="installed on request")
    auto: list[str] = Field(default_factory=list, description="installed as dependencies")
    versions: dict[str, str] = Field(default_factory=dict)


class PipxApp(Record):
    """One pipx-managed application venv."""

    name: str
    version: str | None = None
    spec: str | None = Field(None, description="what was installed, when not just the name")
    python: str | None = None
    injected: dict[str, str] | None = Field(None, description="injected package -> version")


class PipxPackages(Record):
    """pipx applications of the capturing user."""

    apps: list[PipxApp] = Field(default_factory=list)


class FlatpakApp(Record):
    """An installed flatpak application."""

    id: str = Field(description="installation/application/arch/branch")
    name: str = Field(description="application ID")
    arch: str | None = None
    branch: str | None = None
    origin: str | None = None
    installation: str | None = None
    version: str | None = None


class FlatpakPackages(Record):
    """flatpak applications (runtimes follow from them)."""

    apps: list[FlatpakApp] = Field(default_factory=list)


class Snap(Record):
    """An installed snap."""

    name: str
    channel: str | None = Field(None, description="the tracked channel")
    revision: str | None = None
    version: str | None = None
    confinement: Literal["strict", "classic", "devmode", "jailmode"] = "strict"


class SnapPackages(Record):
    """snaps."""

    snaps: list[Snap] = Field(default_factory=list)


class PackagesDocument(SectionDocument):
    """hosts/<host>/packages.yaml: one block per package manager present."""

    SECTION = "packages"

    apt: AptPackages | None = None
    rpm: RpmPackages | None = None
    pacman: PacmanPackages | None = None
    pip: PipPackages | None = None
    pipx: PipxPackages | None = None
    flatpak: FlatpakPackages | None = None
    snap: SnapPackages | None = None
