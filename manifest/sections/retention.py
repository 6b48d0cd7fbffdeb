"""Human-authored retention and replication policy (part of ``jobs.yaml``).

People write these; hostbook never rewrites them.  The models are strict
(unknown keys are errors) so that a typo such as ``dialy: 7`` is reported
instead of silently keeping nothing.  Durations stay as written ("48h",
"30d") so a round trip does not turn them into seconds; the planners ask
for seconds through the helper methods.

``jobs.yaml`` includes them as::

    retention:            # RetentionSettings
      local: {keep: {hourly: 24, daily: 7}, min_age: 1h}
      overrides:
        tank/scratch: {keep: {daily: 1}, keep_oldest: false}
    replication:          # ReplicationSettings
      targets:
        - name: offsite
          dataset: backup/tank
          host: backup@nas
          policy: {keep: {daily: 30, monthly: 12}}
      archives:
        - name: s3
          destination: /mnt/archive/tank
          full_every: 6
          expire_after: 90d
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from hostbook.manifest.model import Record

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
# At most 10 digits per number: 9,999,999,999 years is already no duration.
_DURATION = re.compile(r"(\d{1,10})\s*([smhdwy])")
_TYPE_NAME = re.compile(r"[A-Za-z0-9_.:+]+")


def parse_duration(text: str) -> int:
    """Seconds in a duration such as ``90m``, ``48h``, ``30d``, ``2w``, ``1y`` or ``1d12h``.

    A year is 365 days and a month is not a unit: "30d" says exactly what it means.
    """
    compact = text.strip().lower().replace(" ", "")
    if not compact:
        raise ValueError("empty duration")
    pos = 0
    total = 0
    for match in _DURATION.finditer(compact):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(compact):
        raise ValueError(
            f"invalid duration {text!r}: use a number and a unit s/m/h/d/w/y, e.g. '48h' or '30d'"
        )
    return total


def _check_duration(text: str) -> str:
    parse_duration(text)
    return text


Duration = Annotated[str, AfterValidator(_check_duration)]


def _check_types(mapping: dict[str, object]) -> None:
    for key in mapping:
        if "-" in key or not _TYPE_NAME.fullmatch(key):
            raise ValueError(
                f"snapshot type {key!r} is not a valid type name: the type is the snapshot "
                "name's prefix before the first '-', so it cannot contain '-'"
            )


class RetentionPolicy(Record):
    """What one location (the host itself or a target) keeps.

    The type of a snapshot is its name's prefix before the first ``-``
    (``daily-2024-05-01`` is a ``daily``), as backupd does.
    """

    keep: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Newest N snapshots to keep per type (by creation time), e.g. {hourly: 24}.",
    )
    keep_within: dict[str, Duration] = Field(
        default_factory=dict,
        description="Also keep every snapshot of a type younger than this, e.g. {hourly: 48h}.",
    )
    min_age: Duration | None = Field(
        default=None,
        description="Snapshots younger than this are never deleted, whatever the counts say.",
    )
    keep_oldest: bool = Field(
        default=True,
        description="Keep the oldest snapshot at the location and the earliest one it shares "
        "with a peer (the historical baseline). The latest shared snapshot is always kept.",
    )
    manage_unmatched: bool = Field(
        default=False,
        description="Delete snapshots whose type matches no policy entry; by default they "
        "are left alone (manual or other tools' snapshots).",
    )

    @model_validator(mode="after")
    def _types_valid(self) -> RetentionPolicy:
        _check_types(dict(self.keep))
        _check_types(dict(self.keep_within))
        return self

    def types(self) -> frozenset[str]:
        """Snapshot types this policy manages (has a count or a keep-within for)."""
        return frozenset(self.keep) | frozenset(self.keep_within)

    def keep_within_seconds(self) -> dict[str, int]:
        """``keep_within`` in seconds per type."""
        return {kind: parse_duration(text) for kind, text in self.keep_within.items()}

    def min_age_seconds(self) -> int:
        """``min_age`` in seconds (0 when unset)."""
        return parse_duration(self.min_age) if self.min_age else 0

    def wants_type(self, kind: str) -> bool:
        """Whether this location wants snapshots of ``kind`` at all."""
        return self.keep.get(kind, 0) > 0 or kind in self.keep_within


class ReplicationTarget(Record):
    """A ZFS (or btrfs) location that receives the host's snapshots.

    ``dataset`` is the root on the receiving side: the source dataset
    ``tank/data/www`` under the source root ``tank/data`` lands in
    ``<dataset>/www``.
    """

    name: str = Field(description="Short name used in reasons and reports, e.g. 'offsite'.")
    dataset: str = Field(description="Target root dataset (ZFS) or directory (btrfs).")
    source: str | None = Field(
        default=None,
        description="ZFS: source root dataset; None replicates every dataset the job "
        "snapshots. btrfs: the directory holding the read-only snapshots to send; None "
        "takes the snapshot directory of the btrfs job that clones to this target.",
    )
    host: str | None = Field(
        default=None, description="ssh destination (user@host); None for a local pool."
    )
    ssh_options: list[str] = Field(
        default_factory=list, description="Extra ssh arguments, e.g. ['-p', '2222']."
    )
    kind: Literal["zfs", "btrfs"] = "zfs"
    policy: RetentionPolicy = Field(default_factory=RetentionPolicy)
    raw: bool | None = Field(
        default=None,
        description="Send raw (-w). None: raw exactly when the source dataset is encrypted, "
        "so keys never leave the host.",
    )
    resumable: bool = Field(default=True, description="Receive with -s (resumable).")
    rollback: bool = Field(
        default=True,
        description="Receive with -F: roll the target back to its newest snapshot first "
        "(undoes stray writes on a backup copy).",
    )


class ArchiveTarget(Record):
    """Send streams kept as files (object storage, a mounted disk): btrsend's schedule."""

    name: str
    destination: str = Field(description="Directory or mounted bucket the stream files go to.")
    source: str | None = None
    full_every: int = Field(
        default=7, ge=0, description="Start a new full after this many incrementals."
    )
    interval: Duration = Field(
        default="1d", description="Archive at most once per this period."
    )
    expire_after: Duration | None = Field(
        default=None,
        description="Delete a whole chain once its newest member is older than this.",
    )
    compress: Literal["zstd", "none"] = "zstd"
    encrypt: Literal["age", "gpg", "none"] = "age"
    recipients: list[str] = Field(
        default_factory=list,
        description="age recipients (age1...) or gpg key ids/fingerprints; public keys only.",
    )

    @model_validator(mode="after")
    def _recipients_present(self) -> ArchiveTarget:
        if self.encrypt != "none" and not self.recipients:
            raise ValueError(f"archive {self.name!r}: encrypt={self.encrypt} needs recipients")
        return self


class RetentionSettings(Record):
    """The ``retention:`` entry of ``jobs.yaml``: what the host itself keeps."""

    local: RetentionPolicy = Field(default_factory=RetentionPolicy)
    overrides: dict[str, RetentionPolicy] = Field(
        default_factory=dict,
        description="Per-dataset policies; the longest matching dataset prefix wins, whole.",
    )

    def policy_for(self, dataset: str) -> RetentionPolicy:
        """The policy that governs ``dataset``: longest matching override, else ``local``."""
        best: str | None = None
        for prefix in self.overrides:
            stripped = prefix.rstrip("/")
            if (dataset == stripped or dataset.startswith(stripped + "/")) and (
                best is None or len(stripped) > len(best.rstrip("/"))
            ):
                best = prefix
        return self.overrides[best] if best is not None else self.local


class ReplicationSettings(Record):
    """The ``replication:`` entry of ``jobs.yaml``: where the snapshots go."""

    targets: list[ReplicationTarget] = Field(default_factory=list)
    archives: list[ArchiveTarget] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ReplicationSettings:
        names = [t.name for t in self.targets] + [a.name for a in self.archives]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"target names must be unique: {', '.join(dupes)}")
        return self
