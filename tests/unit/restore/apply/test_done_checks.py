"""Done-checks on recorded answers: the laptop restore's checks asked in the VM lab
before apply (wiped disks: nothing is there yet) and after it (everything is).

The recordings hold every query the checks made (blkid, sfdisk --json, lvm,
cryptsetup status, findmnt, test -s, cryptsetup --test-passphrase), so the
replay answers exactly what the lab's tools said.
"""

from __future__ import annotations

import json

import pytest

from hostbook.process.recording import ReplayRunner
from hostbook.restore.apply.done_checks import is_done, table_matches
from hostbook.restore.plan.steps import DoneCheck
from tests.paths import FIXTURES

LAB = FIXTURES / "restore-lab"


def load(state: str) -> tuple[list[DoneCheck], list[bool], ReplayRunner]:
    folder = LAB / f"checks-{state}"
    data = json.loads((folder / "checks.json").read_text())
    checks = [DoneCheck(c["kind"], c["device"], c["expect"]) for c in data["checks"]]
    return checks, data["answers"], ReplayRunner(folder)


@pytest.mark.parametrize("state", ["before", "after"])
def test_replayed_checks_answer_as_in_the_lab(state: str) -> None:
    checks, answers, runner = load(state)
    assert [is_done(runner, c) for c in checks] == answers
    assert runner.unanswered == []


def test_nothing_is_done_on_wiped_disks_and_everything_after_apply() -> None:
    checks, before, _ = load("before")
    _, after, _ = load("after")
    kinds = {c.kind for c in checks}
    assert {"ptable", "blkid", "mapper", "lvm-vg", "lvm-lv", "mounted", "file",
            "key-opens"} <= kinds
    for check, was, now in zip(checks, before, after, strict=True):
        if check.kind == "never":
            assert not was and not now
        elif check.kind == "unmounted":
            assert was and now
        else:
            assert not was and now, check


def test_a_table_with_another_partition_is_not_the_planned_one() -> None:
    checks, _, runner = load("after")
    table = next(c for c in checks if c.kind == "ptable")
    assert table_matches(runner, table.device, table.expect)
    parts = json.loads(table.expect["partitions"])
    parts[-1][1] += 2048  # one partition a MiB larger
    changed = dict(table.expect, partitions=json.dumps(parts))
    assert not table_matches(runner, table.device, changed)
    assert not table_matches(runner, table.device, dict(table.expect, id="0x12345678"))
    mapper = next(c for c in checks if c.kind == "mapper")
    elsewhere = DoneCheck("mapper", mapper.device, dict(mapper.expect, backing="/dev/vdz9"))
    assert not is_done(runner, elsewhere)
