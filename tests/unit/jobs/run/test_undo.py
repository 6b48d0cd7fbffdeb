"""The one table of resource kinds: every provider's and archiver's, whatever was imported.

Undo functions used to be registered by decorators as their modules were
imported; the snapshot providers were imported only by the snap step, so a
run without it (``--step unsnap`` after a killed run) found the killed run's
btrfs snapshot "unknown" and exited 3 with the snapshot left in place.  The
CLI runs here in a fresh interpreter, where nothing else has imported them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hostbook.jobs.archive.registry import ARCHIVERS
from hostbook.jobs.run.orchestrator import journal_path
from hostbook.jobs.run.run_journal import Journal, Resource
from hostbook.jobs.run.undo import KINDS, is_debris, is_deferred, undo
from hostbook.jobs.snapshot.registry import PROVIDERS
from hostbook.process.runner import LiveRunner


def test_a_run_without_the_snap_step_undoes_a_killed_runs_provider_resources(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(
        "schema: hostbook/jobs/v1\n"
        f"settings: {{state_dir: {tmp_path / 'state'}, mount_root: {tmp_path / 'mnt'}}}\n"
        f"jobs:\n  - {{name: data, volume: {{path: {data}}}}}\n"
    )
    dead = Journal(journal_path(tmp_path / "state", "h"))
    run_id = dead.begin(["snap", "unsnap"], ["data"])  # killed: no end record
    gone = tmp_path / "data" / ".hostbook-snapshots" / "daily-hostbook-20240501T120000Z"
    dead.intend("btrfs-snapshot", "path-data", path=str(gone))
    result = subprocess.run(
        [sys.executable, "-m", "hostbook", "run", "--jobs-file", str(jobs), "--host", "h",
         "--step", "unsnap", "--no-notify"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert "unknown resource kind" not in result.stdout, result.stdout
    assert (f"leftover of interrupted run {run_id}: removed btrfs-snapshot {gone}"
            in result.stdout), result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert Journal(journal_path(tmp_path / "state", "h")).open_resources() == []


def test_every_declared_kind_is_in_the_table_once() -> None:
    declared = [kind for p in PROVIDERS.values() for kind in p.resources]
    declared += [kind for a in ARCHIVERS.values() for kind in a.resources]
    for kind in declared:
        assert KINDS[kind.name] is kind
    assert set(KINDS) == {k.name for k in declared} | {"taken"}
    assert set(KINDS) >= {"mount", "dir", "partial", "zfs-hold", "zfs-snapshot",
                          "lvm-snapshot", "btrfs-snapshot", "restic-lock", "borg-lock"}


def test_debris_is_what_only_a_killed_tool_leaves() -> None:
    assert [k for k in sorted(KINDS) if is_debris(k)] == ["borg-lock", "partial", "restic-lock"]
    assert [k for k in sorted(KINDS) if is_deferred(k)] == ["borg-lock", "restic-lock"]
    assert not is_debris("no-such-kind") and not is_deferred("no-such-kind")


def test_an_unknown_kind_is_a_reason_not_an_error(tmp_path: Path) -> None:
    resource = Resource(id="1", kind="floppy", run="r", volume="v")
    assert undo(LiveRunner(), resource) == "unknown resource kind 'floppy' in the journal"
