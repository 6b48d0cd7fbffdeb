"""hostbook's ZFS readers on real OpenZFS output, and the fake zfs held against it.

The recordings in tests/fixtures/zfs/{resume,pools,held} were made by
tests/lab/test_jobs_zfs.py on real pools (zfs 2.1.11, the lab kernel): a full
receive cut after 8 MiB, both pools after two job runs (full, ``-I`` range,
raw encrypted, resumed), and the snapshots a killed run left held.  The
replays go through the same functions the jobs use; the facts checked are
the ones zfs guarantees (guids survive a send, the token names the snapshot
being received), not values copied from the recording.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostbook.jobs.replication.host_inventory import load_inventory
from hostbook.jobs.replication.zfs.inventory import (
    DatasetInventory,
    list_datasets_argv,
    list_snapshots_argv,
)
from hostbook.jobs.replication.zfs.ops import FullTransfer, IncrementalTransfer
from hostbook.jobs.replication.zfs.resume_token import decode_token, resume_state
from hostbook.jobs.replication.zfs.transfer import (
    ASK_SIZE_FROM,
    Endpoint,
    TransferExecutor,
    parse_estimate,
    rough_size,
)
from hostbook.jobs.snapshot import zfs as snapshot_zfs
from hostbook.process.pipeline import PipelineResult
from hostbook.process.recording import ReplayRunner
from hostbook.process.result import CommandResult
from tests.paths import FAKES, FIXTURES

RECORDED = FIXTURES / "zfs"
FAKE = (sys.executable, "-S", str(FAKES / "zfs"))


def _replay(name: str, root: str) -> dict[str, DatasetInventory]:
    replay = ReplayRunner(RECORDED / name)
    inventory = load_inventory(replay, root, decode_from=Endpoint())
    assert not replay.unanswered, replay.unanswered
    return inventory


def _query(name: str, *argv: str) -> str:
    result = ReplayRunner(RECORDED / name).query(list(argv))
    assert result.ok, result.failure()
    return result.stdout


def test_a_cut_full_receive_leaves_the_dataset_with_a_token_and_no_snapshot() -> None:
    big = _replay("resume", "backup/big")["backup/big"]
    assert big.snapshots == () and big.exists
    assert big.resume is not None and big.resume.token.startswith("1-")
    # Real zfs's description of the token and hostbook's own decoder agree.
    mine = resume_state(big.resume.token)
    assert (mine.toguid, mine.toname, mine.fromguid) == (
        big.resume.toguid, big.resume.toname, big.resume.fromguid)
    assert big.resume.fromguid is None  # a full stream
    contents = decode_token(big.resume.token)
    assert contents.bytes > 0 and contents.offset <= contents.bytes
    # The token names the source snapshot by its guid, as the source lists it.
    tank = _replay("pools", "tank")
    seed = next(s for s in tank["tank/big"].snapshots if s.name == "daily-seed")
    assert big.resume.toname == seed.full_name and big.resume.toguid == seed.guid
    assert big.resume.remaining_bytes is not None and big.resume.remaining_bytes > 0


def test_received_snapshots_keep_their_guids_and_creation_order() -> None:
    tank = _replay("pools", "tank")
    backup = _replay("pools", "backup")
    pairs = {"tank/data": "backup/data", "tank/data/sub": "backup/data/sub",
             "tank/secret": "backup/secret", "tank/big": "backup/big"}
    for source, target in pairs.items():
        src = {s.name: s for s in tank[source].snapshots}
        dst = backup[target].snapshots
        assert dst, target
        for snap in dst:
            assert src[snap.name].guid == snap.guid, snap.full_name
            assert src[snap.name].creation == snap.creation  # kept by the receive
        # createtxg is the receiver's own: it orders the target like the source.
        assert [s.name for s in dst] == [s.name for s in tank[source].snapshots
                                         if s.name in {d.name for d in dst}]
        assert backup[target].resume is None
    assert tank["tank/secret"].encrypted and backup["backup/secret"].encrypted
    assert not tank["tank/data"].encrypted
    assert all(s.userrefs == 0 for inv in (*tank.values(), *backup.values())
               for s in inv.snapshots)


def test_send_estimates_are_read_from_real_dry_runs() -> None:
    tank = _replay("pools", "tank")
    names = [s.name for s in tank["tank/data"].snapshots]
    full = _query("pools", "zfs", "send", "-nvP", f"tank/data@{names[0]}")
    ranged = _query("pools", "zfs", "send", "-nvP", "-I", f"@{names[0]}",
                    f"tank/data@{names[-1]}")
    for text in (full, ranged):
        estimate = parse_estimate(text)
        lines = [line.split("\t") for line in text.splitlines()
                 if line.startswith(("full\t", "incremental\t"))]
        assert estimate is not None and estimate == sum(int(f[-1]) for f in lines)
    # -I carries every snapshot after the base, one line each.
    assert len([line for line in ranged.splitlines()
                if line.startswith("incremental\t")]) == len(names) - 1


def test_a_killed_runs_holds_are_seen_by_the_provider() -> None:
    data = _replay("held", "tank/data")
    held = [s for inv in data.values() for s in inv.snapshots if s.held]
    assert sorted(s.dataset for s in held) == ["tank/data", "tank/data/sub"]
    assert all(s is data[s.dataset].newest for s in held)
    replay = ReplayRunner(RECORDED / "held")
    for snap in held:
        assert snapshot_zfs.has_hold(replay, snap.full_name, snapshot_zfs.HOLD_TAG)


def test_the_mount_tree_is_read_from_real_zfs_list() -> None:
    replay = ReplayRunner(RECORDED / "pools")
    datasets = snapshot_zfs.list_filesystems(replay, "tank/data", recursive=True)
    assert [(d.name, d.mountpoint) for d in datasets] == [
        ("tank/data", "/srv/data"), ("tank/data/sub", "/srv/data/sub")]


@pytest.fixture
def fake_pools(tmp_path: Path) -> dict[str, str]:
    """The fake zfs with the recorded tree: tank/data, tank/data/sub, tank/big."""
    env = {**os.environ, "HOSTBOOK_FAKE_ZFS_STATE": str(tmp_path / "state.json"),
           "HOSTBOOK_FAKE_ZFS_NOW": "1800000000"}
    for argv in (["create", "tank"], ["create", "tank/data"], ["create", "tank/data/sub"],
                 ["create", "backup"], ["snapshot", "-r", "tank/data@daily-a"],
                 ["snapshot", "-r", "tank/data@daily-b"], ["snapshot", "-r", "tank/data@daily-c"]):
        subprocess.run([*FAKE, *argv], env=env, check=True)
    return env


def _columns(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines()]


def _fake(env: dict[str, str], *argv: str, stdin: bytes | None = None
          ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*FAKE, *argv], env=env, input=stdin, capture_output=True)


def _nvlist_keys(text: str) -> list[str]:
    return [line.split(" = ")[0].strip() for line in text.splitlines() if " = " in line]


def test_the_fake_lists_what_real_zfs_lists(fake_pools: dict[str, str]) -> None:
    """The listings the readers parse: the same columns, ``-`` only where real zfs has it."""
    replay = ReplayRunner(RECORDED / "pools")
    for argv in (list_datasets_argv("tank"), list_snapshots_argv("tank")):
        real = _columns(replay.query(argv).stdout)
        fake = _columns(_fake(fake_pools, *argv[1:]).stdout.decode())
        assert real and fake
        assert {len(r) for r in real} == {len(f) for f in fake}, (real[0], fake[0])
        for column in range(len(real[0])):
            if not any(r[column] == "-" for r in real):
                assert not any(f[column] == "-" for f in fake), f"{argv}: column {column}"


def test_the_fake_keeps_a_cut_receive_as_real_zfs_does(fake_pools: dict[str, str]) -> None:
    """A full receive cut short (-s): the new dataset stays, with a token and no snapshot,
    and ``send -nvP -t`` describes the token with real zfs's keys and size lines."""
    real_argv = list_datasets_argv("backup/big")
    real_row = _columns(ReplayRunner(RECORDED / "resume").query(real_argv).stdout)[0]
    real_token = real_row[3]
    real_text = ReplayRunner(RECORDED / "resume").query(
        ["zfs", "send", "-nvP", "-t", real_token]).stdout

    stream = _fake(fake_pools, "send", "tank/data@daily-a").stdout
    cut = _fake(fake_pools, "receive", "-s", "-u", "backup/cut", stdin=stream[: len(stream) // 2])
    assert cut.returncode == 1 and b"Partially received snapshot is saved" in cut.stderr
    (row,) = _columns(_fake(fake_pools, *list_datasets_argv("backup/cut")[1:]).stdout.decode())
    assert row[1:3] == real_row[1:3] and row[3].startswith("1-")
    assert _fake(fake_pools, *list_snapshots_argv("backup/cut")[1:]).stdout == b""
    fake_text = _fake(fake_pools, "send", "-nvP", "-t", row[3]).stdout.decode()
    assert _nvlist_keys(fake_text) == _nvlist_keys(real_text)
    for text in (fake_text, real_text):
        machine = [line.split("\t") for line in text.splitlines()
                   if line.startswith(("full\t", "size\t"))]
        assert [m[0] for m in machine] == ["full", "size"]
        assert int(machine[0][-1]) == int(machine[1][-1]) == parse_estimate(text)


def _estimate_shape(text: str) -> list[tuple[object, ...]]:
    """Per line of ``send -nvP``: its kind, field count, and which names carry a dataset."""
    return [(f[0], len(f), *("@" in x for x in f[1:-1]))
            for f in (line.split("\t") for line in text.splitlines())]


def test_the_fake_estimates_streams_as_real_zfs_prints_them(fake_pools: dict[str, str]) -> None:
    """``zfs send -nvP``: -I names its base short, -i in full; the size line sums them."""
    names = [s.name for s in _replay("pools", "tank")["tank/data"].snapshots]
    real_ranged = _query("pools", "zfs", "send", "-nvP", "-I", f"@{names[0]}",
                         f"tank/data@{names[-1]}")
    real_single = _query("pools", "zfs", "send", "-nvP", "-i", f"@{names[0]}",
                         f"tank/data@{names[1]}")
    real_full = _query("pools", "zfs", "send", "-nvP", f"tank/data@{names[0]}")
    fake_ranged = _fake(fake_pools, "send", "-nvP", "-I", "@daily-a",
                        "tank/data@daily-c").stdout.decode()
    fake_single = _fake(fake_pools, "send", "-nvP", "-i", "@daily-a",
                        "tank/data@daily-b").stdout.decode()
    fake_full = _fake(fake_pools, "send", "-nvP", "tank/data@daily-a").stdout.decode()
    assert _estimate_shape(fake_single) == _estimate_shape(real_single)
    assert _estimate_shape(fake_full) == _estimate_shape(real_full)
    # The recorded -I spans more snapshots than the fake's: compare the line kinds.
    assert set(_estimate_shape(fake_ranged)) == set(_estimate_shape(real_ranged))


def test_small_streams_are_sized_from_the_inventory_not_by_zfs() -> None:
    """The executor asks ``zfs send -nvP`` only for resumed, large and unsized streams."""
    tank = _replay("pools", "tank")["tank/data"]
    snaps = tank.snapshots
    ranged = IncrementalTransfer("b", "tank/data", "backup/data", snaps[0], snaps[1:], False, "")
    full = FullTransfer("b", "tank/data", "backup/data", snaps[0], False, False, "",
                        snaps[0].written)
    unknown = FullTransfer("b", "tank/data", "backup/data", snaps[0], False, False, "")
    real = parse_estimate(_query("pools", "zfs", "send", "-nvP", "-I", f"@{snaps[0].name}",
                                 f"tank/data@{snaps[-1].name}"))
    rough = rough_size(ranged)
    assert real is not None and rough is not None
    assert real / 4 <= rough <= real * 4 < ASK_SIZE_FROM  # the same order as zfs's own
    real_full = parse_estimate(_query("pools", "zfs", "send", "-nvP",
                                      f"tank/data@{snaps[0].name}"))
    assert real_full is not None and real_full / 4 <= snaps[0].written <= real_full * 4
    assert rough_size(unknown) is None
    asked: list[list[str]] = []

    class Listening(ReplayRunner):
        def query(self, argv, **kwargs):  # type: ignore[no-untyped-def, override]
            asked.append(list(argv))
            return super().query(argv, **kwargs)

        def pipeline(self, stages, **kwargs):  # type: ignore[no-untyped-def, override]
            return PipelineResult(tuple(CommandResult(s.argv, 0, "", "") for s in stages))

    executor = TransferExecutor(Endpoint(), {"b": Endpoint()},
                                runner=Listening(RECORDED / "pools"))
    small = executor.execute_one(ranged)
    assert small.ok and small.estimate == rough and asked == []
    assert executor.execute_one(full).ok and asked == []
    whole = executor.execute_one(unknown)
    assert whole.ok and asked == [["zfs", "send", "-nvP", f"tank/data@{snaps[0].name}"]]
    assert whole.estimate == parse_estimate(_query("pools", *asked[0]))
