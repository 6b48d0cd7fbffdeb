"""The fake zfs, inventory parsing, and plans run end to end against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostbook.commands.plan import plan_group
from hostbook.jobs.replication.host_inventory import load_inventory
from hostbook.jobs.replication.host_plan import plan_host
from hostbook.jobs.replication.zfs.inventory import (
    DATASET_PROPS,
    SNAPSHOT_PROPS,
    parse_snapshot_list,
)
from hostbook.jobs.replication.zfs.ops import FullTransfer, IncrementalTransfer, ResumeTransfer
from hostbook.jobs.replication.zfs.plan import TargetSpec, plan_dataset
from hostbook.jobs.replication.zfs.transfer import Endpoint, TransferExecutor
from hostbook.manifest.sections.retention import (
    ReplicationSettings,
    RetentionPolicy,
    RetentionSettings,
)
from hostbook.process.runner import LiveRunner
from tests.paths import FAKES

FAKE = FAKES / "zfs"
# The fake is stdlib-only: run it without site (skips slow .pth imports and shims).
ZFS = (sys.executable, "-S", str(FAKE))


class Pool:
    """One fake host: a state file and a way to run its zfs."""

    def __init__(self, path: Path, now: int = 1_800_000_000) -> None:
        self.env = {"HOSTBOOK_FAKE_ZFS_STATE": str(path), "HOSTBOOK_FAKE_ZFS_NOW": str(now)}
        self.endpoint = Endpoint(ZFS, env=self.env)
        self.runner = LiveRunner(env=self.env)

    def zfs(self, *args: str, check: bool = True, env: dict | None = None,
            stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*ZFS, *args], capture_output=True, text=stdin is None,
            env={**os.environ, **self.env, **(env or {})}, input=stdin, check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"zfs {' '.join(args)}: {proc.stderr}")
        return proc

    def tick(self, now: int) -> None:
        self.env["HOSTBOOK_FAKE_ZFS_NOW"] = str(now)


@pytest.fixture
def pools(tmp_path: Path) -> tuple[Pool, Pool]:
    src, dst = Pool(tmp_path / "src.json"), Pool(tmp_path / "dst.json")
    src.zfs("create", "tank")
    src.zfs("create", "-p", "tank/data/www")
    dst.zfs("create", "backup")
    return src, dst


def test_fake_list_has_the_documented_column_format(pools: tuple[Pool, Pool]) -> None:
    src, _ = pools
    src.zfs("snapshot", "-r", "tank@daily-1")
    out = src.zfs("list", "-Hp", "-t", "snapshot", "-o", ",".join(SNAPSHOT_PROPS),
                  "-s", "createtxg", "-r", "tank").stdout
    snaps = parse_snapshot_list(out)
    assert set(snaps) == {"tank", "tank/data", "tank/data/www"}
    rows = src.zfs("list", "-Hp", "-t", "filesystem,volume", "-o", ",".join(DATASET_PROPS),
                   "-r", "tank").stdout.splitlines()
    assert rows[0] == "tank\tfilesystem\toff\t-"


def test_fake_errors_mimic_zfs(pools: tuple[Pool, Pool]) -> None:
    src, dst = pools
    src.zfs("snapshot", "tank/data/www@a")
    res = src.zfs("snapshot", "tank/data/www@a", check=False)
    assert (res.returncode, res.stderr) == (
        1, "cannot create snapshot 'tank/data/www@a': dataset already exists\n")
    res = src.zfs("list", "nope", check=False)
    assert (res.returncode, res.stderr) == (1, "cannot open 'nope': dataset does not exist\n")
    assert src.zfs("list", "-Z", check=False).returncode == 2
    assert src.zfs("frobnicate", check=False).returncode == 2
    src.zfs("hold", "keep", "tank/data/www@a")
    res = src.zfs("destroy", "tank/data/www@a", check=False)
    assert "dataset is busy" in res.stderr and res.returncode == 1
    assert src.zfs("holds", "-H", "tank/data/www@a").stdout.startswith("tank/data/www@a\tkeep\t")
    src.zfs("release", "keep", "tank/data/www@a")
    res = src.zfs("destroy", "tank/data/www@zz", check=False)
    assert res.stderr == "could not find any snapshots to destroy; check snapshot names.\n"
    res = dst.zfs("receive", "-A", "backup", check=False)
    assert "does not have any resumable receive state to abort" in res.stderr
    assert src.zfs("get", "-Hp", "-o", "value", "guid", "tank/data/www").stdout.strip().isdigit()


def _host_plan(src: Pool, dst: Pool, local: RetentionPolicy, remote: RetentionPolicy, now: int):
    source = load_inventory(src.runner, "tank/data/www", src.endpoint)
    target = load_inventory(dst.runner, "backup/www", dst.endpoint, decode_from=src.endpoint)
    spec = TargetSpec(
        "nas", target.get("backup/www") or _missing(), remote, None, "backup/www",
    )
    return plan_dataset(source["tank/data/www"], local, [spec], now)


def _missing():
    from hostbook.jobs.replication.zfs.inventory import DatasetInventory

    return DatasetInventory("backup/www", exists=False)


def test_end_to_end_with_interrupted_receive_and_resume(pools: tuple[Pool, Pool]) -> None:
    src, dst = pools
    local = RetentionPolicy(keep={"hourly": 6, "daily": 3})
    remote = RetentionPolicy(keep={"daily": 5})
    t = 1_800_000_000
    for day in range(3):
        for hour in range(4):
            t += 3600
            src.tick(t)
            src.zfs("snapshot", f"tank/data/www@hourly-d{day}h{hour}")
        src.zfs("snapshot", f"tank/data/www@daily-d{day}")
    progress: list[tuple[str, int, int | None]] = []
    executor = TransferExecutor(src.endpoint, {"nas": dst.endpoint},
                                progress=lambda n, b, e: progress.append((n, b, e)),
                                runner=LiveRunner())

    # First run: an empty target gets a full send, then -i hops over the hourlies.
    p = _host_plan(src, dst, local, remote, t)
    assert not p.refused
    assert isinstance(p.operations[[type(o) for o in p.operations].index(FullTransfer)],
                      FullTransfer)
    # Interrupt the receive of the second daily halfway.
    ops = list(p.operations)
    full_at = next(i for i, op in enumerate(ops) if isinstance(op, FullTransfer))
    assert executor.execute(ops[: full_at + 1]).ok
    dst.env["HOSTBOOK_FAKE_ZFS_INTERRUPT_AFTER"] = "2000"
    report = executor.execute(ops[full_at + 1 :])
    del dst.env["HOSTBOOK_FAKE_ZFS_INTERRUPT_AFTER"]
    assert not report.ok
    assert "Partially received snapshot is saved" in report.steps[-1].error
    token = dst.zfs("get", "-Hp", "-o", "value", "receive_resume_token", "backup/www").stdout
    assert token.startswith("1-")

    # Second run: the plan resumes from the token, then sends the rest.
    p2 = _host_plan(src, dst, local, remote, t)
    assert not p2.refused
    assert isinstance(p2.operations[0], ResumeTransfer)
    report = executor.execute(p2.operations)
    assert report.ok, [s.error for s in report.steps]
    # Every report has a total: zfs's own (resumed, large) or the inventory's (small).
    assert progress and all(e is not None and e > 0 for _, _b, e in progress)

    # Converged: the target holds exactly the planned dailies and nothing is left to do.
    names = dst.zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", "backup").stdout.split()
    assert names == ["backup/www@daily-d0", "backup/www@daily-d1", "backup/www@daily-d2"]
    p3 = _host_plan(src, dst, local, remote, t)
    assert not any(isinstance(op, FullTransfer | IncrementalTransfer | ResumeTransfer)
                   for op in p3.operations)
    kept = src.zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", "tank/data/www").stdout
    # 6 newest hourlies, plus the oldest snapshot kept as the baseline.
    assert kept.count("@hourly-") == 7 and "@hourly-d0h0" in kept and kept.count("@daily-") == 3


def test_stale_token_is_aborted_against_the_fake(pools: tuple[Pool, Pool]) -> None:
    src, dst = pools
    src.zfs("snapshot", "tank/data/www@daily-1")
    src.zfs("snapshot", "tank/data/www@daily-2")
    ex = TransferExecutor(src.endpoint, {"nas": dst.endpoint}, runner=LiveRunner())
    remote = RetentionPolicy(keep={"daily": 5})
    p = _host_plan(src, dst, remote, remote, 1_800_000_000)
    assert ex.execute(p.operations[:1]).ok
    dst.env["HOSTBOOK_FAKE_ZFS_INTERRUPT_AFTER"] = "1000"
    assert not ex.execute(p.operations[1:]).ok
    del dst.env["HOSTBOOK_FAKE_ZFS_INTERRUPT_AFTER"]
    src.zfs("destroy", "tank/data/www@daily-2")  # the token's snapshot is gone
    src.zfs("snapshot", "tank/data/www@daily-3")
    p2 = _host_plan(src, dst, remote, remote, 1_800_000_000)
    assert p2.operations[0].KIND == "abort"
    assert ex.execute(p2.operations).ok
    names = dst.zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", "backup").stdout.split()
    assert names == ["backup/www@daily-1", "backup/www@daily-3"]


def test_raw_send_keeps_encryption(tmp_path: Path) -> None:
    src, dst = Pool(tmp_path / "s.json"), Pool(tmp_path / "d.json")
    src.zfs("create", "-o", "encryption=on", "vault")
    src.zfs("snapshot", "vault@daily-1")
    dst.zfs("create", "backup")
    source = load_inventory(src.runner, "vault", src.endpoint)["vault"]
    p = plan_dataset(source, RetentionPolicy(keep={"daily": 1}),
                     [TargetSpec("nas", _missing(), RetentionPolicy(keep={"daily": 1}), None,
                                 "backup/www")], 1_800_000_000)
    executor = TransferExecutor(src.endpoint, {"nas": dst.endpoint}, runner=LiveRunner())
    assert executor.execute(p.operations).ok
    assert dst.zfs("get", "-Hp", "-o", "value", "encryption", "backup/www").stdout.strip() == (
        "aes-256-gcm")


def test_cli_plan_retention_json_and_text(pools: tuple[Pool, Pool], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    src, _ = pools
    # A local backup pool on the same host, so `zfs` on PATH serves both sides.
    src.zfs("create", "backup")
    for i in range(4):
        src.zfs("snapshot", f"tank/data/www@daily-{i}")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "zfs").symlink_to(FAKE)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    for key, value in src.env.items():
        monkeypatch.setenv(key, value)
    repo = tmp_path / "repo"
    (repo / "hosts" / "web1").mkdir(parents=True)
    (repo / "hosts" / "web1" / "jobs.yaml").write_text(
        "schema: hostbook/jobs/v1\n"
        "retention:\n  local:\n    keep: {daily: 2}\n    keep_oldest: false\n"
        "replication:\n  targets:\n    - name: usb\n      dataset: backup/tank\n"
        "      source: tank\n      policy: {keep: {daily: 3}}\n"
    )
    runner = CliRunner()
    res = runner.invoke(plan_group, ["retention", "web1", "--repo", str(repo), "--json",
                                     "--source", "tank", "--now", "2027-01-01T00:00:00"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    www = next(d for d in data["datasets"] if d["dataset"] == "tank/data/www")
    actions = [(d["snapshot"].split("@")[1], d["action"]) for d in www["source"]["decisions"]]
    assert actions == [("daily-0", "delete"), ("daily-1", "keep"), ("daily-2", "keep"),
                       ("daily-3", "keep")]
    assert "not yet replicated to usb" in " ".join(www["source"]["decisions"][1]["reasons"])
    res = runner.invoke(plan_group, ["replication", "web1", "--repo", str(repo),
                                     "--source", "tank", "--now", "2027-01-01T00:00:00"])
    assert res.exit_code == 0, res.output
    assert "zfs send tank/data/www@daily-1 | zfs receive -s backup/tank/data/www" in res.output
    assert "why: target usb is empty" in res.output


def test_plan_host_maps_datasets_under_target_root() -> None:
    from hostbook.jobs.replication.zfs.inventory import DatasetInventory, Snapshot

    inv = {"tank/a": DatasetInventory("tank/a", (Snapshot("tank/a", "daily-1", 1, 1, 1),))}
    settings = ReplicationSettings.model_validate(
        {"targets": [{"name": "nas", "dataset": "pool/bk", "source": "tank",
                      "policy": {"keep": {"daily": 1}}}]}
    )
    plan = plan_host("h", RetentionSettings(), settings, inv, {}, 100)
    assert plan.datasets[0].targets[0].target_dataset == "pool/bk/a"
