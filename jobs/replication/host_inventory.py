"""What a host's replication plan is made from, read through the runner.

ZFS: each location's ``zfs list`` (locally, or through ssh for a remote
target), with any resume token decoded by ``zfs send -nvP -t`` on the sending
side.  btrfs: each source snapshot directory and each of its targets'
directories (:func:`hostbook.jobs.replication.btrfs.inventory.load_directory`).
Reading is all this module does; planning is :mod:`hostbook.jobs.replication.host_plan`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from hostbook.jobs.replication.btrfs.inventory import BtrfsDirectory, load_directory
from hostbook.jobs.replication.btrfs.plan import BtrfsTarget
from hostbook.jobs.replication.zfs.inventory import (
    DatasetInventory,
    ResumeState,
    build_inventory,
    list_datasets_argv,
    list_snapshots_argv,
    parse_resume_description,
)
from hostbook.jobs.replication.zfs.resume_token import ResumeTokenError, resume_state
from hostbook.jobs.replication.zfs.transfer import Endpoint
from hostbook.manifest.errors import RuntimeFailure
from hostbook.manifest.sections.retention import ReplicationSettings, ReplicationTarget
from hostbook.process.result import CommandResult
from hostbook.process.runner import Runner


class BtrfsSource(NamedTuple):
    """A btrfs source snapshot directory (as configured), what it holds, and its targets."""

    directory: str
    source: BtrfsDirectory
    targets: tuple[BtrfsTarget, ...]


def ssh_command(target: ReplicationTarget) -> tuple[str, ...]:
    """How a remote target is reached (nothing for a local one)."""
    if not target.host:
        return ()
    return ("ssh", "-o", "BatchMode=yes", *target.ssh_options, target.host)


def endpoint_for(target: ReplicationTarget, zfs: Sequence[str] = ("zfs",)) -> Endpoint:
    return Endpoint((*zfs,), ssh_command(target) or None)


def _list(runner: Runner, endpoint: Endpoint, argv: Sequence[str]) -> CommandResult:
    """A read-only zfs command on an endpoint (with its environment, e.g. a fake's state)."""
    return runner.query(endpoint.argv(*argv[1:]), env=endpoint.env or None, timeout=600.0)


def _zfs(runner: Runner, endpoint: Endpoint, argv: Sequence[str]) -> str:
    full = endpoint.argv(*argv[1:])
    result = _list(runner, endpoint, argv)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeFailure(f"{' '.join(full)}: exit {result.returncode}: {tail}")
    return result.stdout


def load_inventory(
    runner: Runner,
    root: str | None = None,
    endpoint: Endpoint | None = None,
    *,
    decode_from: Endpoint | None = None,
) -> dict[str, DatasetInventory]:
    """One location's inventory under ``root`` (all pools when None).

    A missing ``root`` gives an empty inventory (a target not yet created).
    Resume tokens are decoded on ``decode_from`` (the sending side).
    """
    endpoint = endpoint or Endpoint()
    ds_argv = list_datasets_argv(root)
    result = _list(runner, endpoint, ds_argv)
    if result.returncode != 0:
        if root and "dataset does not exist" in result.stderr:
            return {}
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeFailure(f"{' '.join(ds_argv)}: exit {result.returncode}: {tail}")
    snaps = _zfs(runner, endpoint, list_snapshots_argv(root))
    inventory = build_inventory(result.stdout, snaps)
    decoder = decode_from or endpoint
    decoded: dict[str, ResumeState] = {}
    for name, inv in inventory.items():
        if inv.resume is not None:
            res = _list(runner, decoder, ["zfs", "send", "-nvP", "-t", inv.resume.token])
            if res.returncode == 0:
                decoded[name] = parse_resume_description(res.stdout, inv.resume.token)
            else:
                # The sending side could not describe it (unreachable, older zfs):
                # the token itself still names the snapshot and its base.
                with contextlib.suppress(ResumeTokenError):
                    decoded[name] = resume_state(inv.resume.token)
    if decoded:
        inventory = {
            name: (
                DatasetInventory(
                    inv.dataset, inv.snapshots, inv.exists, inv.dataset_type, inv.encrypted,
                    decoded[name],
                )
                if name in decoded
                else inv
            )
            for name, inv in inventory.items()
        }
    return inventory


def load_zfs_targets(runner: Runner, replication: ReplicationSettings
                     ) -> dict[str, dict[str, DatasetInventory]]:
    """Every ZFS target's inventory under its dataset, by target name."""
    return {
        target.name: load_inventory(runner, target.dataset, endpoint_for(target),
                                    decode_from=Endpoint())
        for target in replication.targets if target.kind == "zfs"
    }


def load_btrfs_sources(
    runner: Runner,
    replication: ReplicationSettings,
    sources: Mapping[str, Sequence[str]],
) -> list[BtrfsSource]:
    """Each source directory (sorted) with its named targets' directories, as read now."""
    by_name = {t.name: t for t in replication.targets}
    loaded: list[BtrfsSource] = []
    for directory in sorted(sources):
        source = load_directory(runner, directory)
        targets = []
        for name in sources[directory]:
            target = by_name[name]
            ssh = ssh_command(target)
            targets.append(BtrfsTarget(name, load_directory(runner, target.dataset, ssh=ssh),
                                       target.policy, ssh))
        loaded.append(BtrfsSource(directory, source, tuple(targets)))
    return loaded
