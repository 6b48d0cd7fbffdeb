"""jobs.yaml: the shipped example validates; mistakes are reported at their line and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbook.manifest.errors import ManifestError
from hostbook.manifest.sections.jobs import (
    BtrfsSnapshot,
    JobsDocument,
    LvmSnapshot,
    NoSnapshot,
    ZfsSnapshot,
)
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import parse_text, read_document
from tests.paths import EXAMPLES

EXAMPLES = EXAMPLES / "jobs"


def load(text: str) -> JobsDocument:
    return validate_as(JobsDocument, parse_text(text, "jobs.yaml"), "jobs.yaml")


def errors(text: str) -> list[str]:
    with pytest.raises(ManifestError) as info:
        load(text)
    return info.value.errors


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate(path: Path) -> None:
    doc = validate_as(JobsDocument, read_document(path), str(path))
    assert doc.jobs, "an example without jobs shows nothing"
    providers = {j.provider for j in doc.jobs}
    assert providers == {"lvm", "zfs", "btrfs", "none"}
    tools = {a.tool for j in doc.jobs for a in j.archive}
    assert tools == {"restic", "borg", "xfsdump", "tar"}
    assert doc.retention is not None and doc.replication is not None


def test_examples_exist() -> None:
    assert list(EXAMPLES.glob("*.yaml"))


def test_provider_defaults_follow_the_volume() -> None:
    doc = load(
        """\
schema: hostbook/jobs/v1
jobs:
  - {name: a, volume: {lv: vg0/home}}
  - {name: b, volume: {dataset: tank/data}}
  - {name: c, volume: {path: /boot}}
  - {name: d, volume: {path: /srv/sub}, snapshot: {provider: btrfs}}
"""
    )
    kinds = [type(j.snapshot) for j in doc.jobs]
    assert kinds == [LvmSnapshot, ZfsSnapshot, NoSnapshot, BtrfsSnapshot]
    assert [j.volume.key for j in doc.jobs] == [
        "lv-vg0-home", "dataset-tank-data", "path-boot", "path-srv-sub",
    ]


def test_lvm_size_forms() -> None:
    doc = load(
        """\
schema: hostbook/jobs/v1
jobs:
  - {name: a, volume: {lv: vg0/a}, snapshot: {provider: lvm, size: 10%origin}}
  - {name: b, volume: {lv: vg0/b}, snapshot: {provider: lvm, size: 4G}}
"""
    )
    sizes = [j.snapshot.lvcreate_size_args() for j in doc.jobs if isinstance(j.snapshot,
                                                                              LvmSnapshot)]
    assert sizes == [["--extents", "10%ORIGIN"], ["--size", "4G"]]
    assert "size" in errors(
        "schema: hostbook/jobs/v1\njobs:\n"
        "  - {name: a, volume: {lv: vg0/a}, snapshot: {provider: lvm, size: lots}}\n"
    )[0]


def test_unknown_key_names_line_and_column() -> None:
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - name: home
    volume: {path: /home}
    archive:
      - tool: tar
        destinaton: /backup
"""
    )
    assert any(e.startswith("jobs.yaml:7:9: unknown key 'destinaton'") for e in found), found


def test_a_password_value_is_refused_with_advice() -> None:
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - name: home
    volume: {path: /home}
    archive:
      - tool: restic
        repository: /backup
        password: hunter2
"""
    )
    assert len(found) == 1
    assert found[0].startswith("jobs.yaml:8:9:")  # the password key, not the archiver
    assert "password_command" in found[0] and "hunter2" not in found[0]


def test_exactly_one_password_source() -> None:
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - name: home
    volume: {path: /home}
    archive:
      - {tool: borg, repository: /backup}
"""
    )
    assert "exactly one of password_command or password_file" in found[0]


def test_credentials_in_a_repository_url_are_refused() -> None:
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - name: home
    volume: {path: /home}
    archive:
      - tool: restic
        repository: rest:https://user:secret@backup.example.org/
        password_file: /etc/restic.pass
"""
    )
    assert "credential" in found[0] and "secret" not in found[0]


def test_provider_must_fit_the_volume() -> None:
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - name: home
    volume: {path: /home}
    snapshot: {provider: lvm}
"""
    )
    assert found[0].startswith("jobs.yaml:5:16:"), found
    assert "needs a volume given as lv" in found[0]


def test_clone_target_must_exist_and_match_the_provider() -> None:
    base = """\
schema: hostbook/jobs/v1
jobs:
  - name: srv
    volume: {dataset: tank/srv}
    clone: [offsite, usb]
replication:
  targets:
    - {name: offsite, dataset: backup/srv}
"""
    found = errors(base)
    assert found[0].startswith("jobs.yaml:5:22:"), found
    assert "'usb' is not in replication.targets (offsite)" in found[0]
    found = errors(base + "    - {name: usb, dataset: /mnt/usb, kind: btrfs}\n")
    assert "target 'usb' is btrfs; this job's snapshots are zfs" in found[0]


def test_job_names_unique_and_one_provider_per_volume() -> None:
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - {name: a, volume: {path: /srv}}
  - {name: a, volume: {path: /var}}
"""
    )
    assert found[0].startswith("jobs.yaml:4:6:") and "used twice" in found[0]
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - {name: a, volume: {path: /srv}}
  - {name: b, volume: {path: /srv}, snapshot: {provider: btrfs}}
"""
    )
    assert "already snapshotted with none" in found[0]


def test_archiver_names_unique_within_a_job() -> None:
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - name: a
    volume: {path: /srv}
    archive:
      - {tool: tar, destination: /b1}
      - {tool: tar, destination: /b2}
"""
    )
    assert found[0].startswith("jobs.yaml:7:9:") and "'tar' is used twice" in found[0]


def test_xfsdump_schedule_starts_with_a_full_dump() -> None:
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - name: a
    volume: {lv: vg/a}
    archive:
      - {tool: xfsdump, destination: /b, levels: [1, 2]}
"""
    )
    assert "level 0" in found[0]


def test_snapshot_type_cannot_contain_a_dash() -> None:
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - {name: a, volume: {dataset: tank/a}, snapshot: {provider: zfs, type: every-hour}}
"""
    )
    assert "before the first '-'" in found[0]


def test_monitor_url_is_http() -> None:
    found = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - {name: a, volume: {path: /a}, monitor: {url: "ftp://x"}}
"""
    )
    assert "http" in found[0]


def test_stale_after_must_be_a_duration() -> None:
    found = errors(
        "schema: hostbook/jobs/v1\njobs:\n  - {name: a, volume: {path: /a}, stale_after: soon}\n"
    )
    assert found[0].startswith("jobs.yaml:3:") and "duration" in found[0]


def test_stream_targets_fit_their_snapshots_and_need_recipients() -> None:
    wrong = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - name: a
    volume: {dataset: tank/a}
    archive:
      - {tool: btrfs-stream, destination: /b, encryption: none}
"""
    )
    assert wrong[0].startswith("jobs.yaml:6:10:"), wrong
    assert "btrfs-stream sends btrfs snapshots" in wrong[0]
    keyless = errors(
        """\
schema: hostbook/jobs/v1
jobs:
  - name: a
    volume: {dataset: tank/a}
    archive:
      - {tool: zfs-stream, destination: /b}
"""
    )
    assert "encryption age needs recipients" in keyless[0]
    doc = load(
        """\
schema: hostbook/jobs/v1
jobs:
  - name: a
    volume: {path: /srv/a}
    snapshot: {provider: btrfs}
    archive:
      - {tool: btrfs-stream, destination: /b, recipients: [age1x], identities: [/k],
         full_every: 3, interval: 12h, expire_after: 30d}
"""
    )
    target = doc.jobs[0].archive[0]
    assert (target.tool, target.label, target.encryption) == ("btrfs-stream", "btrfs-stream",
                                                              "age")
