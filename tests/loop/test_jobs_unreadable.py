"""restic and borg over a file they cannot read, for real: the tool runs as nobody.

Root reads everything, so the archiver runs in a forked child that has
dropped to nobody for good (the venv's interpreter lives under /root, out
of nobody's reach, so nobody cannot start one).  Each run is recorded under
tests/unit/jobs/archive/test_base.py's ``UNREADABLE``; with
HOSTBOOK_UPDATE_FIXTURES=1 the recording becomes the unit tests' replay
(tests/fixtures/jobs/<tool>-unreadable).
"""

from __future__ import annotations

import json
import os
import shutil
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from hostbook.jobs.archive import borg as archive_borg
from hostbook.jobs.archive import restic as archive_restic
from hostbook.jobs.run.context import WARNING
from hostbook.process.recording import RECORDING_FILE, RecordingRunner
from hostbook.process.runner import LiveRunner
from tests.unit.jobs.archive import test_borg, test_restic
from tests.unit.jobs.archive.test_base import (
    JOB_RECORDINGS,
    NOBODY,
    UNREADABLE,
    context,
    request,
)

pytestmark = pytest.mark.loop

ARCHIVERS: dict[str, tuple[Callable[..., Any], Callable[[], Any], dict[str, str]]] = {
    "restic": (archive_restic.archive, test_restic.unreadable_spec, {}),
    "borg": (archive_borg.archive, test_borg.unreadable_spec,
             {"BORG_BASE_DIR": str(UNREADABLE / "home")}),
}


def unreadable_tree() -> None:
    """``source`` with a readable file and a mode 000 one; a password file nobody reads."""
    shutil.rmtree(UNREADABLE, ignore_errors=True)
    source = UNREADABLE / "source"
    source.mkdir(parents=True)
    UNREADABLE.chmod(0o777)
    (source / "readable").write_text("ok\n")
    (source / "secret").write_text("no\n")
    (source / "secret").chmod(0)
    source.chmod(0o755)
    (UNREADABLE / "pass").write_text("pw\n")
    (UNREADABLE / "pass").chmod(0o644)


def archive_as_nobody(tool: str) -> dict[str, Any]:
    """Run the archiver as nobody with a recording runner; its result's record."""
    archive, spec, env = ARCHIVERS[tool]
    settings = spec()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            recorder = RecordingRunner(LiveRunner(env=env), UNREADABLE)
            ctx, _log = context(runner=recorder)
            result = archive(request(ctx, UNREADABLE / "source"), settings)
            recorder.save()
            os.write(write, json.dumps(result.record()).encode())
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        data = answer.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return dict(json.loads(data))


@pytest.mark.parametrize("tool", ["restic", "borg"])
def test_a_file_the_tool_cannot_read_is_a_warning_and_the_archive_exists(
    loop_tier: None, tool: str
) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"needs {tool}")
    unreadable_tree()
    try:
        result = archive_as_nobody(tool)
        assert result["status"] == WARNING, result["message"]
        assert result["archive_id"] is not None
        assert "secret" in result["message"]
        if os.environ.get("HOSTBOOK_UPDATE_FIXTURES") == "1":
            target = JOB_RECORDINGS / f"{tool}-unreadable"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(UNREADABLE / RECORDING_FILE, target / RECORDING_FILE)
    finally:
        shutil.rmtree(UNREADABLE, ignore_errors=True)
