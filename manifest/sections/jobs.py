"""The `jobs` section: snapshot and archive jobs, written by people, never by capture.

A job names one volume, how to snapshot it, and what to do with the snapshot:
record an integrity database ("sure"), clone it to replication targets, and
archive it with the tool made for that (restic, borg, xfsdump, tar).  The
models are strict so that a typo is reported with its line and column instead
of silently disabling a backup.

Secrets never live here: archivers take a ``password_command`` or a
``password_file`` (handed to the tool through its own environment variable),
and a repository URL that carries a credential is refused.

Layout::

    schema: hostbook/jobs/v1
    settings: {stale_after: 36h}
    jobs:
      - name: home
        volume: {lv: vg0/home}
        snapshot: {provider: lvm, size: 20%ORIGIN}
        archive:
          - tool: restic
            repository: /srv/backup/restic
            password_file: /etc/hostbook/restic.pass
    retention: {...}       # RetentionSettings (manifest/sections/retention.py)
    replication: {...}     # ReplicationSettings: clone targets are named there
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from hostbook.manifest import names
from hostbook.manifest.model import Record, SectionDocument, fail_at
from hostbook.manifest.sections.retention import (
    Duration,
    ReplicationSettings,
    RetentionSettings,
    parse_duration,
)

_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SNAP_WORD = re.compile(r"[A-Za-z0-9_.:+]+")


def snapshot_word(value: str) -> bool:
    """Whether ``value`` may be a snapshot name's type or prefix (no '-': the type is the
    name's part before the first '-')."""
    return len(value) <= 64 and _SNAP_WORD.fullmatch(value) is not None
_DATASET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]*")
_LVM_SIZE = re.compile(r"(\d+(\.\d+)?)([bBsSkKmMgGtTpPeE]?)")
_LVM_EXTENTS = re.compile(r"(\d+)(%(ORIGIN|VG|FREE|PVS))?")
_URL_CREDENTIAL = re.compile(r"://[^/@\s:]*:[^/@\s]+@")
_SECRET_KEYS = ("password", "passphrase", "secret", "key_value")


def _fail(loc: tuple[str | int, ...], message: str, value: Any = None) -> ValidationError:
    """A validation error placed at ``loc`` inside the model (see :func:`fail_at`)."""
    return fail_at([(loc, message)], "jobs")


def _absolute(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"{path!r} is not an absolute path")
    if "\n" in path or "\x00" in path:
        raise ValueError("paths cannot contain newlines or NUL")
    return path.rstrip("/") or "/"


def _check_name(name: str) -> str:
    if not _JOB_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r}: use letters, digits, '_', '.' and '-' (starting with a letter or digit)"
        )
    return name


def _no_secrets(data: Any, where: str) -> Any:
    """Refuse secret-looking keys with a message that says what to use instead."""
    if isinstance(data, dict):
        for key in data:
            if isinstance(key, str) and key.lower() in _SECRET_KEYS:
                raise fail_at([((key,), (
                    f"{where}: secrets never go into jobs.yaml; use password_command "
                    "(a command that prints it) or password_file (a root-only file)"
                ))])
    return data


AbsPath = Annotated[str, Field(min_length=1)]
Name = Annotated[str, Field(min_length=1, max_length=64)]


# -- volume ------------------------------------------------------------------------


class Volume(Record):
    """What a job protects: exactly one of a path, an LVM LV or a ZFS dataset.

    ``path`` is a mountpoint (provider ``none``) or a btrfs subvolume
    (provider ``btrfs``); ``lv`` is ``VG/LV``; ``dataset`` is a ZFS dataset.
    """

    path: str | None = Field(None, description="Mountpoint or btrfs subvolume path.")
    lv: str | None = Field(None, description="LVM logical volume as VG/LV, e.g. vg0/home.")
    dataset: str | None = Field(None, description="ZFS dataset, e.g. tank/home.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Volume:
        given = [k for k in ("path", "lv", "dataset") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a volume is exactly one of path, lv or dataset")
        if self.path is not None:
            self.path = _absolute(self.path)
        if self.lv is not None:
            vg, sep, lv = self.lv.partition("/")
            problem = names.lvm_name_problem("VG", vg) or names.lvm_name_problem("LV", lv)
            if not sep or problem:
                raise ValueError(f"lv {self.lv!r}: expected VG/LV" + (f"; {problem}"
                                                                      if problem else ""))
        if self.dataset is not None and (
            not _DATASET.fullmatch(self.dataset) or "@" in self.dataset or "//" in self.dataset
            or any(part in (".", "..") for part in self.dataset.split("/"))
        ):
            raise ValueError(f"dataset {self.dataset!r} is not a ZFS dataset name")
        return self

    @property
    def kind(self) -> str:
        """``path``, ``lv`` or ``dataset``."""
        if self.lv is not None:
            return "lv"
        if self.dataset is not None:
            return "dataset"
        return "path"

    @property
    def ident(self) -> str:
        """The volume as people write it: ``/home``, ``vg0/home`` or ``tank/home``."""
        return self.path or self.lv or self.dataset or ""

    @property
    def key(self) -> str:
        """A stable, file-name-safe key: the same volume gets the same key every run.

        It names the stable mount path (restic and borg find unchanged files by
        path), the integrity database folder and the history records.
        """
        raw = self.ident.strip("/") or "root"
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", raw.replace("/", "-")).strip("-.") or "root"
        return f"{self.kind}-{safe}"


# -- snapshot providers ------------------------------------------------------------


class _Named(Record):
    prefix: str = Field(
        "hostbook",
        description="Marks hostbook's own snapshots (name: <type>-<prefix>-<time>).",
    )
    type: str = Field(
        "daily",
        description="Retention type: the name's first '-'-separated part, as the "
        "retention policy counts it (hourly, daily, weekly...).",
    )

    @model_validator(mode="after")
    def _words(self) -> _Named:
        for field in ("prefix", "type"):
            value = getattr(self, field)
            if not _SNAP_WORD.fullmatch(value):
                raise ValueError(
                    f"{field} {value!r}: letters, digits and _ . : + only (no '-': the "
                    "type is the name's part before the first '-')"
                )
        return self


class ZfsSnapshot(_Named):
    """``zfs snapshot`` (recursive by default); kept for retention, held during the run."""

    provider: Literal["zfs"]
    recursive: bool = Field(True, description="Snapshot child datasets too (zfs snapshot -r).")
    hold: bool = Field(
        True, description="zfs hold the snapshot during the run so no pruning removes it."
    )
    keep: bool = Field(
        True, description="Keep the snapshot after the run (retention prunes it later)."
    )


class LvmSnapshot(Record):
    """``lvcreate --snapshot``: a transient snapshot removed after the run."""

    provider: Literal["lvm"]
    size: str = Field(
        "20%ORIGIN",
        description="Copy-on-write space: a size (4G, 512M) or extents (20%ORIGIN, 10%VG, "
        "5%FREE).",
    )
    mount_options: list[str] = Field(
        default_factory=list, description="Extra mount options for the snapshot."
    )

    @model_validator(mode="after")
    def _size(self) -> LvmSnapshot:
        text = self.size.strip()
        if "%" in text:
            if not _LVM_EXTENTS.fullmatch(text.upper()):
                raise ValueError(f"size {self.size!r}: use N%ORIGIN, N%VG, N%FREE or N%PVS")
        elif not _LVM_SIZE.fullmatch(text):
            raise ValueError(f"size {self.size!r}: use a size such as 4G or 512M")
        return self

    def lvcreate_size_args(self) -> list[str]:
        """``--extents N%ORIGIN`` or ``--size 4G``: what lvcreate wants."""
        text = self.size.strip()
        if "%" in text:
            return ["--extents", text.upper()]
        return ["--size", text]


class BtrfsSnapshot(_Named):
    """A read-only btrfs subvolume snapshot."""

    provider: Literal["btrfs"]
    directory: str | None = Field(
        None,
        description="Where snapshots are created (same filesystem); default "
        "<subvolume>/../.snapshots/<subvolume name>.",
    )
    keep: bool | None = Field(
        None,
        description="Keep the snapshot after the run; default: kept when the job clones "
        "or archives btrfs streams (the next send needs it as parent), deleted otherwise.",
    )

    @model_validator(mode="after")
    def _dir(self) -> BtrfsSnapshot:
        if self.directory is not None:
            self.directory = _absolute(self.directory)
        return self


class NoSnapshot(Record):
    """No snapshot: the live filesystem is used (/boot, the ESP, vfat)."""

    provider: Literal["none"]


Snapshot = Annotated[
    ZfsSnapshot | LvmSnapshot | BtrfsSnapshot | NoSnapshot, Field(discriminator="provider")
]

_PROVIDER_FOR_KIND = {"lv": ("lvm",), "dataset": ("zfs",), "path": ("none", "btrfs")}


# -- integrity database --------------------------------------------------------------


class SureSettings(Record):
    """The per-volume integrity database recorded from the snapshot."""

    enabled: bool = True
    exclude: list[str] = Field(
        default_factory=list,
        description="Paths relative to the volume root (or fnmatch patterns) left out.",
    )
    keep: int = Field(30, ge=1, description="Databases kept per volume (one per run).")
    in_snapshot: bool = Field(
        True,
        description="Also write the database into the snapshot when it is writable "
        "(LVM), so every archive carries its own.",
    )


# -- archivers ---------------------------------------------------------------------


class _Archiver(Record):
    name: str | None = Field(
        None, description="Unique within the job; default: the tool's name."
    )
    exclude: list[str] = Field(
        default_factory=list, description="Exclude patterns in the tool's own syntax."
    )
    extra_args: list[str] = Field(
        default_factory=list, description="Extra arguments passed to the tool verbatim."
    )
    timeout: Duration | None = Field(None, description="Give up after this long (e.g. 12h).")

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        return _no_secrets(data, "archiver")

    @property
    def label(self) -> str:
        tool = getattr(self, "tool", "archive")
        return self.name or str(tool)

    def timeout_seconds(self) -> float | None:
        return float(parse_duration(self.timeout)) if self.timeout else None


class ArchiveKeep(Record):
    """Which archives of this host, job and volume a repository keeps (the rest is pruned).

    The snapshot-retention vocabulary, applied by the tool itself (restic
    ``forget --prune``, borg ``prune`` + ``compact``) to the archives this host
    and job made only; ``within`` keeps everything younger than it.
    """

    hourly: int | None = Field(None, ge=1)
    daily: int | None = Field(None, ge=1)
    weekly: int | None = Field(None, ge=1)
    monthly: int | None = Field(None, ge=1)
    yearly: int | None = Field(None, ge=1)
    within: Duration | None = Field(None, description="Keep every archive younger than this.")

    @model_validator(mode="after")
    def _something(self) -> ArchiveKeep:
        if all(getattr(self, k) is None for k in ARCHIVE_KEEP_RULES) and self.within is None:
            raise ValueError("keep names no rule: give hourly, daily, weekly, monthly, yearly "
                             "or within")
        return self


ARCHIVE_KEEP_RULES = ("hourly", "daily", "weekly", "monthly", "yearly")


class RepositoryCheck(Record):
    """A scheduled repository check (restic ``check``, borg ``check``) after an archive."""

    every: Duration = Field("7d", description="Check when the last check is older than this.")
    read_data_subset: str | None = Field(
        None, description="restic only: also read this part of the data (e.g. 5% or 1/10).",
    )

    @field_validator("read_data_subset")
    @classmethod
    def _subset(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d+(\.\d+)?%|\d+/\d+|\d+[KMGT]?", value):
            raise ValueError(f"{value!r}: expected a percentage (5%), n/t or a size (1G)")
        return value


class RepositoryArchive(_Archiver):
    """An archiver that writes into a password-protected repository (restic, borg)."""

    repository: str = Field(description="Repository location in the tool's syntax.")
    password_command: str | None = Field(
        None, description="Command printing the password (RESTIC_PASSWORD_COMMAND, "
        "BORG_PASSCOMMAND)."
    )
    password_file: str | None = Field(None, description="Root-only file holding the password.")
    env_file: str | None = Field(
        None,
        description="KEY=VALUE file read at run time for the tool's other settings "
        "(e.g. AWS_ACCESS_KEY_ID): secrets stay out of the manifest and argv.",
    )
    init: bool = Field(False, description="Create the repository when it does not exist.")
    keep: ArchiveKeep | None = Field(
        None, description="Prune this host's and job's archives to these after each archive.",
    )
    check: RepositoryCheck | None = Field(None, description="Check the repository on a schedule.")

    @model_validator(mode="after")
    def _password(self) -> RepositoryArchive:
        if (self.password_command is None) == (self.password_file is None):
            raise ValueError("give exactly one of password_command or password_file")
        if self.password_file is not None:
            self.password_file = _absolute(self.password_file)
        if self.env_file is not None:
            self.env_file = _absolute(self.env_file)
        if _URL_CREDENTIAL.search(self.repository):
            raise ValueError(
                "repository URL carries a credential: put it in env_file or the tool's "
                "own configuration"
            )
        return self


class ResticArchive(RepositoryArchive):
    """``restic backup --json``, tagged with host, job and volume."""

    tool: Literal["restic"]
    tags: list[str] = Field(default_factory=list, description="Extra tags.")


class BorgArchive(RepositoryArchive):
    """``borg create --json --log-json``; archive named <host>-<job>-<volume>-<time>."""

    tool: Literal["borg"]
    compression: str = Field("zstd,3", description="borg --compression spec.")
    encryption: str = Field("repokey-blake2", description="Used by init only.")


class XfsdumpArchive(_Archiver):
    """xfsdump of an XFS volume with a level schedule, its inventory kept at the destination."""

    tool: Literal["xfsdump"]
    destination: str = Field(description="Directory for dump files and the inventory.")
    levels: list[Annotated[int, Field(ge=0, le=9)]] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4, 5, 6],
        description="Level per run, cycling; counted in successful dumps, so a failed "
        "level 0 is retried as level 0. Must start with 0.",
    )

    @model_validator(mode="after")
    def _levels(self) -> XfsdumpArchive:
        self.destination = _absolute(self.destination)
        if not self.levels or self.levels[0] != 0:
            raise ValueError("levels must start with a level 0 (full) dump")
        if self.exclude:
            raise ValueError(
                "xfsdump cannot exclude by pattern: mark files with chattr +d and add "
                "extra_args: [-e]"
            )
        return self


class TarArchive(_Archiver):
    """GNU tar with zstd into a directory: for small, simple targets (/boot, the ESP)."""

    tool: Literal["tar"]
    destination: str = Field(description="Directory the .tar.zst files go to.")
    level: int = Field(3, ge=1, le=19, description="zstd compression level.")
    keep: int = Field(0, ge=0, description="Archives kept for this job and volume; 0 keeps all.")

    @model_validator(mode="after")
    def _dest(self) -> TarArchive:
        self.destination = _absolute(self.destination)
        return self


class StreamArchive(_Archiver):
    """Send streams kept as files in a directory, full then incrementals (btrsend's schedule).

    The stream is the volume itself (``zfs send -p`` of the job's dataset,
    ``btrfs send`` of its read-only snapshot), so a restore receives it back
    whole.  Encryption uses public keys only; ``identities`` (age identity
    files) and ``gnupg_home`` are what ``restore data`` decrypts with, on the
    restoring host, and are never read by a run.
    """

    destination: str = Field(description="Directory the stream files and catalogue.sqlite go to.")
    compression: Literal["zstd", "none"] = "zstd"
    encryption: Literal["age", "gpg", "none"] = "age"
    recipients: list[str] = Field(
        default_factory=list,
        description="age recipients (age1...) or gpg key ids/fingerprints; public keys only.",
    )
    identities: list[str] = Field(
        default_factory=list,
        description="age identity files restore data decrypts with (root-only files).",
    )
    gnupg_home: str | None = Field(
        None, description="GNUPGHOME holding the secret key restore data decrypts gpg with.")
    full_every: int = Field(7, ge=0, description="Start a new full after this many incrementals.")
    interval: Duration = Field("1d", description="Archive at most once per this period.")
    expire_after: Duration | None = Field(
        None, description="Delete a whole chain once its newest member is older than this.")

    @model_validator(mode="after")
    def _stream(self) -> StreamArchive:
        self.destination = _absolute(self.destination)
        self.identities = [_absolute(i) for i in self.identities]
        if self.gnupg_home is not None:
            self.gnupg_home = _absolute(self.gnupg_home)
        if self.encryption != "none" and not self.recipients:
            raise ValueError(f"encryption {self.encryption} needs recipients")
        if self.exclude:
            raise ValueError("a send stream holds the whole volume: exclude does not apply")
        return self


class ZfsStreamArchive(StreamArchive):
    """``zfs send -p`` of the job's dataset snapshot (the dataset only, not its children)."""

    tool: Literal["zfs-stream"]


class BtrfsStreamArchive(StreamArchive):
    """``btrfs send [-p PARENT]`` of the job's read-only subvolume snapshot."""

    tool: Literal["btrfs-stream"]


STREAM_PROVIDER = {"zfs-stream": "zfs", "btrfs-stream": "btrfs"}
"""The snapshot provider whose snapshots each stream tool sends."""

Archiver = Annotated[
    ResticArchive | BorgArchive | XfsdumpArchive | TarArchive | ZfsStreamArchive
    | BtrfsStreamArchive, Field(discriminator="tool")
]


# -- monitoring --------------------------------------------------------------------


class Monitor(Record):
    """A healthchecks-style URL: GET <url>/start, POST <url> on success, <url>/fail."""

    url: str = Field(description="Ping URL, e.g. https://hc-ping.com/<uuid>.")
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds per ping.")
    log_lines: int = Field(50, ge=0, le=10000, description="Log tail sent with the outcome.")

    @model_validator(mode="after")
    def _url(self) -> Monitor:
        if not re.match(r"https?://", self.url) or any(c.isspace() or not c.isprintable()
                                                       for c in self.url):
            raise ValueError(f"monitor url {self.url!r}: expected http:// or https:// and no "
                             "spaces or control characters")
        if _URL_CREDENTIAL.search(self.url):
            raise ValueError("monitor url carries a credential")
        return self


# -- jobs --------------------------------------------------------------------------


class Job(Record):
    """One volume, its snapshot, and what happens to the snapshot."""

    name: Name = Field(description="Unique job name (letters, digits, _ . -; at most 64).")
    volume: Volume
    snapshot: Snapshot | None = Field(
        None,
        description="Snapshot provider; default from the volume: lv -> lvm, dataset -> zfs, "
        "path -> none.",
    )
    enabled: bool = True
    sure: SureSettings = Field(default_factory=SureSettings)
    clone: list[str] = Field(
        default_factory=list, description="Names of replication.targets to clone to."
    )
    archive: list[Archiver] = Field(default_factory=list)
    monitor: Monitor | None = None
    stale_after: Duration | None = Field(
        None, description="Status calls the volume stale after this long without a "
        "successful archive (default: settings.stale_after)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)

    @model_validator(mode="after")
    def _consistent(self) -> Job:
        kind = self.volume.kind
        if self.snapshot is None:
            if kind == "lv":
                self.snapshot = LvmSnapshot(provider="lvm")
            elif kind == "dataset":
                self.snapshot = ZfsSnapshot(provider="zfs")
            else:
                self.snapshot = NoSnapshot(provider="none")
        provider = self.snapshot.provider
        if provider not in _PROVIDER_FOR_KIND[kind]:
            wanted = {"lvm": "lv", "zfs": "dataset", "btrfs": "path", "none": "path"}[provider]
            raise _fail(
                ("snapshot", "provider"),
                f"snapshot provider {provider!r} needs a volume given as {wanted}, not {kind}",
                provider,
            )
        seen: set[str] = set()
        for index, archiver in enumerate(self.archive):
            if archiver.label in seen:
                raise _fail(
                    ("archive", index),
                    f"archiver name {archiver.label!r} is used twice in this job "
                    "(set a unique name: on each)",
                )
            seen.add(archiver.label)
            if isinstance(archiver, XfsdumpArchive) and provider == "zfs":
                raise _fail(("archive", index, "tool"), "xfsdump archives XFS, not ZFS datasets")
            sender = STREAM_PROVIDER.get(archiver.tool)
            if sender is not None and provider != sender:
                raise _fail(("archive", index, "tool"),
                            f"{archiver.tool} sends {sender} snapshots: give the job a "
                            f"snapshot: {{provider: {sender}}}", archiver.tool)
        if self.clone and provider not in ("zfs", "btrfs"):
            raise _fail(("clone",), "clone needs a zfs or btrfs snapshot (send/receive)")
        return self

    @property
    def provider(self) -> str:
        assert self.snapshot is not None
        return self.snapshot.provider

    def stale_seconds(self, default: str) -> int:
        return parse_duration(self.stale_after or default)


class JobSettings(Record):
    """Where run state lives and the defaults every job shares."""

    state_dir: str | None = Field(
        None, description="Journal, lock and history (default /var/lib/hostbook/state)."
    )
    mount_root: str = Field(
        "/run/hostbook/volumes",
        description="Snapshots are mounted read-only at <mount_root>/<volume key>: the same "
        "path every run.",
    )
    sure_store: str | None = Field(
        None,
        description="Where integrity databases are kept (default: hosts/<host>/sure/ beside "
        "the manifest, not committed).",
    )
    stale_after: Duration = Field(
        "36h", description="Default age after which a volume counts as stale."
    )
    lock_wait: Duration = Field(
        "0s", description="How long a run waits for another run of this host to finish."
    )

    @model_validator(mode="after")
    def _paths(self) -> JobSettings:
        self.mount_root = _absolute(self.mount_root)
        if self.state_dir is not None:
            self.state_dir = _absolute(self.state_dir)
        if self.sure_store is not None:
            self.sure_store = _absolute(self.sure_store)
        return self


class JobsDocument(SectionDocument):
    """hosts/<host>/jobs.yaml."""

    SECTION = "jobs"
    CAPTURED = False

    settings: JobSettings = Field(default_factory=JobSettings)
    jobs: list[Job] = Field(default_factory=list)
    retention: RetentionSettings | None = None
    replication: ReplicationSettings | None = None

    @model_validator(mode="after")
    def _references(self) -> JobsDocument:
        seen: set[str] = set()
        for index, job in enumerate(self.jobs):
            if job.name in seen:
                raise _fail(("jobs", index, "name"), f"job name {job.name!r} is used twice")
            seen.add(job.name)
        targets = {t.name: t for t in (self.replication.targets if self.replication else [])}
        providers: dict[str, str] = {}
        for index, job in enumerate(self.jobs):
            for pos, name in enumerate(job.clone):
                target = targets.get(name)
                if target is None:
                    known = ", ".join(sorted(targets)) or "none defined"
                    raise _fail(
                        ("jobs", index, "clone", pos),
                        f"clone target {name!r} is not in replication.targets ({known})",
                        name,
                    )
                if target.kind != job.provider:
                    raise _fail(
                        ("jobs", index, "clone", pos),
                        f"target {name!r} is {target.kind}; this job's snapshots are "
                        f"{job.provider}",
                        name,
                    )
            key = job.volume.key
            if providers.setdefault(key, job.provider) != job.provider:
                raise _fail(
                    ("jobs", index, "snapshot"),
                    f"volume {job.volume.ident} is already snapshotted with "
                    f"{providers[key]}: jobs on one volume share one snapshot",
                )
        return self

    def job(self, name: str) -> Job | None:
        for job in self.jobs:
            if job.name == name:
                return job
        return None
