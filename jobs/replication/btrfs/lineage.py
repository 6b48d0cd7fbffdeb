"""btrfs replication planning: incremental parents by uuid, and broken receives.

btrfs has no guid/createtxg pair: identity across a send/receive is the
*received_uuid* a receiving subvolume records — the uuid of the source
snapshot it was made from — and a snapshot's *parent_uuid* names what it was
snapshotted from.  ``btrfs send -p PARENT SNAP`` needs a PARENT that exists
on both sides, i.e. a source snapshot whose uuid some target subvolume holds
as its received_uuid.

``btrfs receive`` creates the subvolume first, applies the stream, and only
at the end sets received_uuid and makes it read-only.  A transfer that broke
off leaves a writable subvolume without received_uuid: it must be deleted
before the snapshot is sent again (its name is taken) and must never be
used as a parent.

Parsers read ``btrfs subvolume list [-o] [-c] [-s] -u -q -R <path>`` and
``btrfs subvolume show <path>`` (btrfs-progs 6.x; fixtures recorded on loop
devices in tests/fixtures/btrfs/).  Planning is pure; retention-aware plans
for whole directories are in :mod:`hostbook.jobs.replication.btrfs.plan`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

_NONE = "-"
_LIST_RE = re.compile(
    r"^ID (?P<id>\d+) gen (?P<gen>\d+)(?: cgen (?P<cgen>\d+))? top level (?P<top>\d+)"
    r"(?: otime (?P<otime>\S+ \S+))?"
    r"(?: parent_uuid (?P<parent_uuid>\S+))?\s*"
    r"(?: received_uuid (?P<received_uuid>\S+))?\s*"
    r"(?: uuid (?P<uuid>\S+))?\s*"
    r" path (?P<path>.+)$"
)


class BtrfsParseError(ValueError):
    """btrfs output that cannot be read."""


@dataclass(frozen=True, slots=True)
class Subvolume:
    """One subvolume as btrfs lists it; uuids are None where btrfs prints ``-``."""

    id: int
    gen: int
    top_level: int
    path: str
    uuid: str | None
    parent_uuid: str | None
    received_uuid: str | None
    readonly: bool | None = None
    generation_at_creation: int | None = None
    creation: int | None = None
    send_transid: int | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def order(self) -> int:
        """The source's transaction order: generation at creation (``cgen``), else ``gen``."""
        return self.generation_at_creation or self.gen


def _uuid(value: str | None) -> str | None:
    return None if value in (None, _NONE, "") else value


def parse_subvolume_list(text: str) -> list[Subvolume]:
    """Parse ``btrfs subvolume list -u -q -R`` (any of -u/-q/-R may be absent)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _LIST_RE.match(re.sub(r"\s+", " ", line.strip()))
        if not m:
            raise BtrfsParseError(f"line {n}: not a subvolume list line: {line!r}")
        out.append(
            Subvolume(
                id=int(m["id"]),
                gen=int(m["gen"]),
                top_level=int(m["top"]),
                path=m["path"],
                uuid=_uuid(m["uuid"]),
                parent_uuid=_uuid(m["parent_uuid"]),
                received_uuid=_uuid(m["received_uuid"]),
                generation_at_creation=int(m["cgen"]) if m["cgen"] else None,
                creation=_time(m["otime"]) if m["otime"] else None,
            )
        )
    return out


def _time(text: str | None) -> int | None:
    """Seconds since the epoch from btrfs's ``2026-11-22 03:10:43 +0000`` (``-``: None).

    ``subvolume list -s`` prints the time without a zone: it is the local time.
    """
    if not text or text.strip() == _NONE:
        return None
    text = text.strip()
    for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S"):
        try:
            return int(datetime.strptime(text, fmt).timestamp())
        except ValueError:
            continue
    return None


def parse_subvolume_show(text: str) -> Subvolume:
    """Parse ``btrfs subvolume show PATH``: the first line is the path, then ``Key: value``."""
    lines = text.splitlines()
    if not lines:
        raise BtrfsParseError("empty subvolume show output")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line and not line.startswith("\t\t\t"):
            key, _, value = line.strip().partition(":")
            fields[key.strip()] = value.strip()
    try:
        return Subvolume(
            id=int(fields["Subvolume ID"]),
            gen=int(fields["Generation"]),
            top_level=int(fields["Top level ID"]),
            path=lines[0].strip(),
            uuid=_uuid(fields.get("UUID")),
            parent_uuid=_uuid(fields.get("Parent UUID")),
            received_uuid=_uuid(fields.get("Received UUID")),
            readonly="readonly" in fields.get("Flags", ""),
            generation_at_creation=int(fields["Gen at creation"])
            if "Gen at creation" in fields
            else None,
            creation=_time(fields.get("Creation time")),
            send_transid=int(fields["Send transid"]) or None
            if fields.get("Send transid", "").isdigit()
            else None,
        )
    except KeyError as exc:
        raise BtrfsParseError(f"subvolume show output lacks {exc.args[0]!r}") from None


@dataclass(frozen=True, slots=True)
class HalfReceived:
    """A subvolume a broken ``btrfs receive`` left behind, and why we think so."""

    subvolume: Subvolume
    reason: str


def half_received(
    target: Iterable[Subvolume],
    under: str = "",
    readonly: Mapping[str, bool] | None = None,
    *,
    expected_names: Collection[str] | None = None,
) -> list[HalfReceived]:
    """Subvolumes under ``under`` that a receive created but never finished.

    Finished receives have a received_uuid (and are read-only); one without it,
    in the receive directory, is the remains of an interrupted transfer.
    ``readonly`` (path -> flag, from ``btrfs property get -ts PATH ro`` or
    ``subvolume show``) strengthens the verdict when known.

    With ``expected_names`` (the source snapshots' names) only subvolumes that
    carry such a name — ``btrfs receive`` names what it creates after the sent
    snapshot — or that were snapshotted from a finished copy in the same
    directory (what an incremental receive starts with) count; any other
    writable subvolume there is somebody's own and is left alone.
    """
    target = list(target)
    prefix = under.rstrip("/") + "/" if under else ""
    copies = {t.uuid for t in target if t.received_uuid is not None and t.uuid}
    out = []
    for sub in target:
        if prefix and not sub.path.startswith(prefix):
            continue
        if sub.received_uuid is not None:
            continue
        ro = sub.readonly if sub.readonly is not None else (readonly or {}).get(sub.path)
        if ro:
            continue
        if expected_names is not None and not (
            sub.name in expected_names or (sub.parent_uuid is not None
                                           and sub.parent_uuid in copies)
        ):
            continue
        why = "no received_uuid: btrfs receive did not finish"
        if ro is False:
            why += " (still writable)"
        out.append(HalfReceived(sub, why))
    return out


@dataclass(frozen=True, slots=True)
class ParentChoice:
    """The ``-p`` parent for sending a snapshot (None: a full send), and why."""

    snapshot: Subvolume
    parent: Subvolume | None
    reason: str


def received_copies(source: Subvolume, target: Iterable[Subvolume]) -> list[Subvolume]:
    """Target subvolumes that are complete copies of ``source`` (matched by uuid)."""
    keys = {u for u in (source.uuid, source.received_uuid) if u}
    return [t for t in target if t.received_uuid is not None and t.received_uuid in keys]


def choose_parent(
    snapshot: Subvolume, source: Sequence[Subvolume], target: Sequence[Subvolume]
) -> ParentChoice:
    """Pick the newest older source snapshot that the target holds a finished copy of.

    Older means a smaller generation at creation (the source's transaction order,
    like createtxg); names are never compared.
    """
    if received_copies(snapshot, target):
        return ParentChoice(snapshot, None, f"{snapshot.name} is already on the target")
    my_gen = snapshot.order
    candidates = []
    for sub in source:
        if sub.uuid == snapshot.uuid or sub.uuid is None:
            continue
        gen = sub.order
        if gen < my_gen and received_copies(sub, target):
            candidates.append((gen, sub))
    if not candidates:
        return ParentChoice(
            snapshot, None, "no older snapshot is complete on the target: full send"
        )
    _, parent = max(candidates, key=lambda c: c[0])
    copy = received_copies(parent, target)[0]
    return ParentChoice(
        snapshot, parent,
        f"{parent.name} is on the target as {copy.path} (received_uuid {copy.received_uuid})",
    )


@dataclass(frozen=True, slots=True)
class BtrfsStep:
    """One step: ``delete`` a subvolume (a half-received one, or by retention), or
    ``send`` a snapshot.  ``location`` says where a delete happens (``source`` or
    ``target``); ``target`` names the target a step concerns when a plan has several.
    """

    action: str
    subvolume: Subvolume
    parent: Subvolume | None
    reason: str
    location: str = "target"
    target: str = ""

    def argv(self, source_mount: str, target_mount: str, target_dir: str) -> list[list[str]]:
        if self.action == "delete":
            mount = source_mount if self.location == "source" else target_mount
            return [["btrfs", "subvolume", "delete", f"{mount}/{self.subvolume.path}"]]
        send = ["btrfs", "send"]
        if self.parent is not None:
            send += ["-p", f"{source_mount}/{self.parent.path}"]
        send.append(f"{source_mount}/{self.subvolume.path}")
        return [send, ["btrfs", "receive", f"{target_mount}/{target_dir}"]]


def plan_btrfs(
    wanted: Sequence[Subvolume],
    source: Sequence[Subvolume],
    target: Sequence[Subvolume],
    target_dir: str,
    readonly: Mapping[str, bool] | None = None,
) -> list[BtrfsStep]:
    """Delete broken receives in ``target_dir``, then send each wanted snapshot in order."""
    steps: list[BtrfsStep] = []
    names = {s.name for s in (*source, *wanted)}
    broken = half_received(target, target_dir, readonly, expected_names=names)
    broken_ids = {b.subvolume.id for b in broken}
    for b in broken:
        steps.append(BtrfsStep("delete", b.subvolume, None, b.reason))
    present = [t for t in target if t.id not in broken_ids]
    order = sorted(wanted, key=lambda s: s.order)
    for snap in order:
        choice = choose_parent(snap, source, present)
        if choice.parent is None and received_copies(snap, present):
            continue
        steps.append(BtrfsStep("send", snap, choice.parent, choice.reason))
        # Once sent, the snapshot is on the target as a finished copy.
        present = [*present, Subvolume(-1, 0, 0, f"{target_dir}/{snap.name}", None, None,
                                       snap.uuid, True)]
    return steps
