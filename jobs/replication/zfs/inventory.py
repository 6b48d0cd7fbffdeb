"""The typed snapshot inventory the retention and replication planners work on.

An inventory is what ``zfs list -Hp`` says about one location: per dataset,
its snapshots in ZFS's own order (``createtxg``), each identified by its
``guid`` — the only identity that survives a send/receive and a rename.
Names are for people and for the snapshot *type* (the prefix before the
first ``-``); they never decide identity or order.

``zfs list -H`` prints no header and separates fields by one tab; ``-p``
prints exact numbers (bytes, seconds since the epoch); an unset value is
``-``.  Parsing is strict about the column count, lenient about nothing
else: a line that does not fit is an error naming the line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

SNAPSHOT_PROPS: tuple[str, ...] = (
    "name",
    "guid",
    "createtxg",
    "creation",
    "used",
    "written",
    "userrefs",
)
DATASET_PROPS: tuple[str, ...] = ("name", "type", "encryption", "receive_resume_token")


class InventoryError(ValueError):
    """``zfs list`` output that cannot be read."""


def snapshot_type(name: str) -> str:
    """The snapshot's type: its name up to the first ``-`` (the whole name without one)."""
    head, _, _ = name.partition("-")
    return head


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One snapshot at one location.

    ``createtxg`` orders snapshots within a location exactly (``creation`` has
    one-second resolution); ``creation`` orders them across locations, because a
    received snapshot keeps its creation time but gets the receiver's txg.
    """

    dataset: str
    name: str
    guid: int
    createtxg: int
    creation: int
    used: int = 0
    written: int = 0
    userrefs: int = 0

    @property
    def full_name(self) -> str:
        return f"{self.dataset}@{self.name}"

    @property
    def kind(self) -> str:
        """The retention type (``hourly`` for ``hourly-2024-01-01-1300``)."""
        return snapshot_type(self.name)

    @property
    def held(self) -> bool:
        """Held by someone (``zfs hold``): zfs refuses to destroy it."""
        return self.userrefs > 0


@dataclass(frozen=True, slots=True)
class ResumeState:
    """A partially received stream on a target (``receive_resume_token``).

    ``toguid``/``fromguid``/``toname`` come from decoding the token with
    ``zfs send -nvP -t TOKEN`` ("resume token contents:"); ``None`` when not decoded.
    """

    token: str
    toguid: int | None = None
    fromguid: int | None = None
    toname: str | None = None
    remaining_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class DatasetInventory:
    """One dataset at one location: its snapshots in createtxg order, and its state."""

    dataset: str
    snapshots: tuple[Snapshot, ...] = ()
    exists: bool = True
    dataset_type: str = "filesystem"
    encrypted: bool = False
    resume: ResumeState | None = None
    _by_guid: dict[int, Snapshot] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.snapshots, key=lambda s: (s.createtxg, s.creation)))
        object.__setattr__(self, "snapshots", ordered)
        object.__setattr__(self, "_by_guid", {s.guid: s for s in ordered})

    def by_guid(self, guid: int) -> Snapshot | None:
        return self._by_guid.get(guid)

    def guids(self) -> set[int]:
        return set(self._by_guid)

    @property
    def newest(self) -> Snapshot | None:
        return self.snapshots[-1] if self.snapshots else None

    @property
    def oldest(self) -> Snapshot | None:
        return self.snapshots[0] if self.snapshots else None

    def with_snapshots(self, snapshots: Iterable[Snapshot]) -> DatasetInventory:
        return replace(self, snapshots=tuple(snapshots))


Inventory = Mapping[str, DatasetInventory]


def _int(value: str, what: str, line_no: int) -> int:
    if value in ("-", ""):
        return 0
    try:
        return int(value)
    except ValueError:
        raise InventoryError(f"line {line_no}: {what} is not a number: {value!r}") from None


def parse_snapshot_list(
    text: str, props: Sequence[str] = SNAPSHOT_PROPS
) -> dict[str, list[Snapshot]]:
    """Parse ``zfs list -Hp -t snapshot -o <props>`` into snapshots per dataset.

    ``props`` must include ``name``, ``guid``, ``createtxg`` and ``creation``;
    ``used``, ``written`` and ``userrefs`` are read when present.
    """
    index = {p: i for i, p in enumerate(props)}
    for needed in ("name", "guid", "createtxg", "creation"):
        if needed not in index:
            raise InventoryError(f"snapshot listing lacks the {needed!r} column")
    width = len(props)
    i_name, i_guid, i_txg, i_cre = (index[p] for p in ("name", "guid", "createtxg", "creation"))
    i_used, i_written, i_refs = (index.get(p) for p in ("used", "written", "userrefs"))
    out: dict[str, list[Snapshot]] = {}
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != width:
            raise InventoryError(
                f"line {line_no}: expected {width} tab-separated fields "
                f"({','.join(props)}), got {len(fields)}: {line!r}"
            )
        dataset, at, name = fields[i_name].partition("@")
        if not at:
            raise InventoryError(f"line {line_no}: {fields[i_name]!r} is not a snapshot name")
        snap = Snapshot(
            dataset=dataset,
            name=name,
            guid=_int(fields[i_guid], "guid", line_no),
            createtxg=_int(fields[i_txg], "createtxg", line_no),
            creation=_int(fields[i_cre], "creation", line_no),
            used=_int(fields[i_used], "used", line_no) if i_used is not None else 0,
            written=_int(fields[i_written], "written", line_no) if i_written is not None else 0,
            userrefs=_int(fields[i_refs], "userrefs", line_no) if i_refs is not None else 0,
        )
        out.setdefault(dataset, []).append(snap)
    return out


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """One row of ``zfs list -Hp -t filesystem,volume -o name,type,encryption,...``."""

    name: str
    dataset_type: str
    encrypted: bool
    resume_token: str | None


def parse_dataset_list(text: str, props: Sequence[str] = DATASET_PROPS) -> list[DatasetRow]:
    """Parse the dataset listing (type, encryption, resume token) of one location."""
    index = {p: i for i, p in enumerate(props)}
    if "name" not in index:
        raise InventoryError("dataset listing lacks the 'name' column")
    rows: list[DatasetRow] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        fields = line.split("\t")
        if len(fields) != len(props):
            raise InventoryError(
                f"line {line_no}: expected {len(props)} fields ({','.join(props)}): {line!r}"
            )

        def get(prop: str, fields: list[str] = fields) -> str:
            i = index.get(prop)
            return fields[i] if i is not None else "-"

        token = get("receive_resume_token")
        rows.append(
            DatasetRow(
                name=fields[index["name"]],
                dataset_type=get("type") if get("type") != "-" else "filesystem",
                encrypted=get("encryption") not in ("-", "off", ""),
                resume_token=None if token in ("-", "") else token,
            )
        )
    return rows


def build_inventory(
    dataset_text: str,
    snapshot_text: str,
    *,
    dataset_props: Sequence[str] = DATASET_PROPS,
    snapshot_props: Sequence[str] = SNAPSHOT_PROPS,
    resume: Mapping[str, ResumeState] | None = None,
) -> dict[str, DatasetInventory]:
    """Combine the dataset and snapshot listings of one location into an inventory."""
    snaps = parse_snapshot_list(snapshot_text, snapshot_props)
    inv: dict[str, DatasetInventory] = {}
    for row in parse_dataset_list(dataset_text, dataset_props):
        state = (resume or {}).get(row.name)
        if state is None and row.resume_token:
            state = ResumeState(token=row.resume_token)
        inv[row.name] = DatasetInventory(
            dataset=row.name,
            snapshots=tuple(snaps.pop(row.name, ())),
            dataset_type=row.dataset_type,
            encrypted=row.encrypted,
            resume=state,
        )
    for name, rest in snaps.items():  # snapshots of datasets the listing did not name
        inv[name] = DatasetInventory(dataset=name, snapshots=tuple(rest))
    return inv


def parse_resume_description(text: str, token: str) -> ResumeState:
    """Read ``zfs send -nvP -t TOKEN`` output ("resume token contents:" nvlist).

    The nvlist prints ``\\tname = value`` lines with uint64 values in hex
    (``0x...``); the machine lines ``full``/``incremental``/``size`` follow.
    """
    values: dict[str, str] = {}
    remaining: int | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if " = " in line:
            key, _, value = line.partition(" = ")
            values[key.strip()] = value.strip()
        elif line.startswith("size\t"):
            try:
                remaining = int(line.split("\t")[1])
            except (IndexError, ValueError):
                remaining = None

    def num(key: str) -> int | None:
        value = values.get(key)
        if value is None:
            return None
        try:
            return int(value, 0)
        except ValueError:
            return None

    return ResumeState(
        token=token,
        toguid=num("toguid"),
        fromguid=num("fromguid"),
        toname=values.get("toname"),
        remaining_bytes=remaining,
    )


def list_snapshots_argv(dataset: str | None = None, recursive: bool = True) -> list[str]:
    """The ``zfs list`` command whose output :func:`parse_snapshot_list` reads."""
    argv = ["zfs", "list", "-Hp", "-t", "snapshot", "-o", ",".join(SNAPSHOT_PROPS)]
    argv += ["-s", "createtxg"]
    if recursive:
        argv.append("-r")
    if dataset:
        argv.append(dataset)
    return argv


def list_datasets_argv(dataset: str | None = None, recursive: bool = True) -> list[str]:
    """The ``zfs list`` command whose output :func:`parse_dataset_list` reads."""
    argv = ["zfs", "list", "-Hp", "-t", "filesystem,volume", "-o", ",".join(DATASET_PROPS)]
    if recursive:
        argv.append("-r")
    if dataset:
        argv.append(dataset)
    return argv
