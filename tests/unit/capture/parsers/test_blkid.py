"""blkid over many devices: resumed past a blank device and past one it cannot open.

The recording (tests/fixtures/restore-probing/, made on this machine's loop
devices) has both: the first run stops at a blank loop device (exit 2, no
message), the next at this machine's own disk, which blkid may not open here.
"""

from __future__ import annotations

import json

from hostbook.capture.parsers.blkid import read_signatures
from hostbook.process.recording import ReplayRunner
from tests.paths import FIXTURES

RECORDING = FIXTURES / "restore-probing"
SCENARIO = json.loads((RECORDING / "scenario.json").read_text())


def test_the_reading_resumes_after_each_device_blkid_stops_at() -> None:
    runner = ReplayRunner(RECORDING)
    blank, whole, parted, part = (SCENARIO[k] for k in
                                  ("blank", "filesystem", "partitioned", "partition"))
    found = read_signatures(runner.query, [blank, whole, parted, part, "/dev/vda"])
    assert found.devices == {p: {k: v for k, v in SCENARIO["blkid"][p].items() if k != "DEVNAME"}
                             for p in (whole, parted, part)}
    assert found.unread == [("device vda", "blkid: Operation not permitted")]
    assert runner.unanswered == []
