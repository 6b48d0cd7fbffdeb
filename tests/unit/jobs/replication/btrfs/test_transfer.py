"""btrfs transfer commands, cancellation of a running pipe, and stopping at a failure.

The send/receive itself runs on real file systems in
tests/loop/test_btrfs_replication_loop.py; here the parts that need no root.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from hostbook.jobs.replication.btrfs.inventory import load_directory
from hostbook.jobs.replication.btrfs.lineage import BtrfsStep
from hostbook.jobs.replication.btrfs.transfer import (
    BtrfsEndpoint,
    BtrfsExecutor,
    delete_argv,
    receive_argv,
    send_argv,
)
from hostbook.process.pipeline import Stage
from hostbook.process.recording import ReplayRunner
from hostbook.process.runner import LiveRunner
from tests.paths import FIXTURES

FIX = FIXTURES / "btrfs" / "replication"
SCENARIO = json.loads((FIX / "scenario.json").read_text())
MiB = 1 << 20


def recorded_snapshots():  # type: ignore[no-untyped-def]
    return {s.name: s for s in load_directory(ReplayRunner(FIX), SCENARIO["source"]).subvolumes}


def test_commands_for_local_and_ssh_targets() -> None:
    snaps = recorded_snapshots()
    step = BtrfsStep("send", snaps["daily-hostbook-2"], snaps["daily-hostbook-1"], "x",
                     "target", "nas")
    src = SCENARIO["source"]
    assert send_argv(step) == ["btrfs", "send", "-p", f"{src}/daily-hostbook-1",
                               f"{src}/daily-hostbook-2"]
    nas = BtrfsEndpoint.over_ssh("/srv/backup/web 1", "backup@nas", ["-p", "2222"])
    assert receive_argv(nas) == ["ssh", "-o", "BatchMode=yes", "-p", "2222", "backup@nas",
                                 "btrfs receive '/srv/backup/web 1'"]
    assert receive_argv(BtrfsEndpoint("/mnt/usb")) == ["btrfs", "receive", "/mnt/usb"]
    gone = BtrfsStep("delete", snaps["daily-hostbook-1"], None, "x", "source")
    assert delete_argv(gone) == ["btrfs", "subvolume", "delete", f"{src}/daily-hostbook-1"]


def test_cancel_cuts_a_running_stream(tmp_path: Path) -> None:
    out = tmp_path / "received"
    writer = "import sys\nfor _ in range(64): sys.stdout.buffer.write(b'x' * (1 << 17))\n"
    reader = f"import sys\nopen({str(out)!r}, 'wb').write(sys.stdin.buffer.read())\n"
    cancel = threading.Event()

    def on_bytes(count: int) -> None:
        if count >= MiB:
            cancel.set()

    piped = LiveRunner().pipeline(
        [Stage.of([sys.executable, "-c", writer]), Stage.of([sys.executable, "-c", reader])],
        on_bytes=on_bytes, cancel=cancel,
    )
    sender, receiver = piped.stages
    assert piped.cancelled and not piped.ok
    assert sender.returncode != 0 and receiver.returncode == 0  # killed; the reader saw an end
    assert MiB <= piped.bytes < 8 * MiB and out.stat().st_size == piped.bytes


def test_executor_stops_at_the_first_failure(tmp_path: Path) -> None:
    snaps = recorded_snapshots()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    steps = [BtrfsStep("send", snaps["daily-hostbook-1"], None, "x", "target", "usb"),
             BtrfsStep("delete", snaps["daily-hostbook-2"], None, "x", "source")]
    executor = BtrfsExecutor({"usb": BtrfsEndpoint(str(blocker / "backup"))}, runner=LiveRunner())
    report = executor.execute(steps)
    assert not report.ok and len(report.steps) == 1
    assert report.steps[0].error.startswith(f"mkdir {blocker}/backup: ")
