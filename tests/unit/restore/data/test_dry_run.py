"""``restore data --dry-run`` on the recorded archives: the commands, in order, nothing written.

The preflight's listings are replayed from the recorded runs; every command
that would write is printed instead, which shows the path mapping: the
volume's directory under the target bind-mounted at the stable snapshot path,
restic restoring that path into the view, borg and tar extracting inside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbook.process.runner import DryRunRunner
from hostbook.restore.data.session import DataRequest, restore_data
from tests.unit.restore.data.recorded import KEY, RECORDED, WORK, replay

VOLUME = WORK / "data"


def dry_run(tmp_path: Path, source: str, *paths: str) -> tuple[list[str], int]:
    printed: list[str] = []
    runner = DryRunRunner(echo=printed.append, live=replay())
    request = DataRequest(repository=None, host="labhost", jobs_file=RECORDED / "jobs.yaml",
                          target=str(tmp_path / "target"), source=source, dry_run=True,
                          paths=list(paths), state_dir=tmp_path / "state")
    (tmp_path / "target").mkdir()
    outcome = restore_data(request, runner=runner)
    assert [v.status for v in outcome.volumes] == ["dry-run"]
    # the listing queries (run for real, here replayed) come first; then what would write
    first = next(i for i, line in enumerate(printed) if line.startswith("mount "))
    return printed[first:], outcome.exit_code


@pytest.mark.parametrize("source", ["local", "borg", "tar"])
def test_the_commands_map_the_archive_layout_onto_the_mount_point(tmp_path: Path,
                                                                  source: str) -> None:
    commands, code = dry_run(tmp_path, source)
    assert code == 0
    directory = tmp_path / "target" / VOLUME.relative_to("/")
    view = tmp_path / "state" / "restore" / "data-view" / KEY / f"{WORK}/volumes/{KEY}"[1:]
    mount, extract, umount = commands
    assert mount == f"mount --bind {directory} {view}"
    assert umount == f"umount {view}"
    if source == "local":
        assert extract.startswith(f"RESTIC_PASSWORD_FILE=... restic --repo {WORK}/restic "
                                  "restore ")
        assert extract.endswith(f" --target {tmp_path / 'state/restore/data-view' / KEY} "
                                f"--include {WORK}/volumes/{KEY}")
    elif source == "borg":
        assert extract == (f"(cd {view} && BORG_PASSCOMMAND=... borg extract --numeric-ids "
                           f"--sparse {WORK}/borg::labhost-data-{KEY}-20240502T120000Z)")
    else:
        assert extract.startswith(f"tar --extract --file {WORK}/tar/labhost-data-{KEY}-"
                                  "20240502T120000Z.tar.zst --use-compress-program zstd "
                                  f"--directory {view} --numeric-owner")
        assert "--xattrs-include=*" in extract
    # nothing was written: no directory made, no journal
    assert not directory.exists() and not (tmp_path / "state" / "restore").exists()


@pytest.mark.parametrize(("source", "tail"), [
    ("local", f"--include {WORK}/volumes/{KEY}/etc/app.conf"),
    ("borg", "20240502T120000Z etc/app.conf)"),
    ("tar", " ./etc/app.conf"),
])
def test_a_path_is_given_to_the_tool_relative_to_the_volume(tmp_path: Path, source: str,
                                                            tail: str) -> None:
    commands, _code = dry_run(tmp_path, source, f"{VOLUME}/etc/app.conf")
    assert commands[1].endswith(tail)
