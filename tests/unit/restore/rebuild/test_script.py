"""The whole rebuild as one script, and its journal's phases, for the recorded laptop."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbook.restore.apply.apply_journal import Journal
from hostbook.restore.boot.session import PreparedBoot, guard_of
from hostbook.restore.rebuild.script import rebuild_steps, render_rebuild
from hostbook.restore.rebuild.session import Preflight, Rebuild, RebuildRequest
from hostbook.restore.session import HostDocuments, Prepared
from tests.unit.restore.boot.test_planner import boot, layout, storage
from tests.unit.restore.plan.lab_plans import policy


def checked(tmp_path: Path) -> tuple[RebuildRequest, Preflight]:
    plan = layout("storage-uefi")
    documents = HostDocuments("laptop", storage("storage-uefi"), policy(),
                              tmp_path / "storage.yaml")
    prepared = Prepared(plan, documents, {}, Journal(tmp_path / "j"), False)
    boot_plan = boot("storage-uefi", plan=plan)
    prepared_boot = PreparedBoot(boot_plan, plan, Journal(tmp_path / "b"), guard_of(plan))
    request = RebuildRequest(repository=tmp_path / "repo", host="laptop", maps=("auto",),
                             at="manifest:HEAD")
    return request, Preflight(prepared, [], [], [
        "restic -r /srv/backup/restic restore 1234abcd --target /x"], prepared_boot)


def test_the_script_runs_layout_then_data_then_boot_then_verify(tmp_path: Path) -> None:
    request, pre = checked(tmp_path)
    steps = rebuild_steps(request, pre)
    layers = [s.layer for s in steps]
    assert layers.index("partition") < layers.index("data") < layers.index("bootloader")
    assert [s.id for s in steps][-2:] == ["verify", "release"]
    data = next(s for s in steps if s.id == "data")
    assert data.commands[0].argv[:4] == ("hostbook", "restore", "data", "laptop")
    assert data.commands[0].argv[-2:] == ("--at", "manifest:HEAD")
    assert data.notes == ("runs: restic -r /srv/backup/restic restore 1234abcd --target /x",)
    script = render_rebuild(request, pre)
    assert script.index("sfdisk") < script.index("hostbook restore data laptop") < script.index(
        "chroot /mnt/target grub-install")
    assert "#     runs: restic -r /srv/backup/restic restore" in script
    assert script.rstrip().endswith("'")  # the closing echo names the verify command


def test_a_phase_done_under_the_same_request_is_skipped_and_another_request_starts_over(
        tmp_path: Path) -> None:
    request, _ = checked(tmp_path)
    request.state_dir = tmp_path / "state"
    said: list[str] = []
    ran: list[str] = []
    first = Rebuild(None, request, said.append)  # type: ignore[arg-type]
    first.phase("boot", lambda: ran.append("boot"), skippable=True)
    again = Rebuild(None, request, said.append)  # type: ignore[arg-type]
    again.phase("boot", lambda: ran.append("boot"), skippable=True)
    assert ran == ["boot"] and again.outcome.phases["boot"] == "skipped"
    request.at = "1"
    other = Rebuild(None, request, said.append)  # type: ignore[arg-type]
    other.phase("boot", lambda: ran.append("boot"), skippable=True)
    assert ran == ["boot", "boot"]


def test_a_failed_phase_is_journaled_as_failed_and_runs_again(tmp_path: Path) -> None:
    request, _ = checked(tmp_path)
    request.state_dir = tmp_path / "state"
    run = Rebuild(None, request, lambda text: None)  # type: ignore[arg-type]

    def boom() -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        run.phase("boot", boom, skippable=True)
    assert run.outcome.phases["boot"] == "failed"
    assert not Rebuild(None, request, lambda text: None).done_before(  # type: ignore[arg-type]
        "boot")
