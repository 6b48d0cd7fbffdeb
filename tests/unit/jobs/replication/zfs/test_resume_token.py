"""Resume tokens written by real OpenZFS kernels, decoded without zfs.

The tokens and the values they must decode to come from their publishers
(tests/fixtures/zfs/README.md): zrepl's test table states the guids, the
sanoid issue states which snapshot was being sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostbook.jobs.replication.host_inventory import load_inventory
from hostbook.jobs.replication.zfs.ops import AbortResume
from hostbook.jobs.replication.zfs.plan import TargetSpec, plan_dataset
from hostbook.jobs.replication.zfs.resume_token import (
    ResumeTokenError,
    decode_token,
    fletcher4_first_word,
    resume_state,
)
from hostbook.jobs.replication.zfs.transfer import Endpoint, TransferExecutor
from hostbook.manifest.sections.retention import RetentionPolicy
from hostbook.process.runner import LiveRunner
from tests.paths import FAKES, FIXTURES

FIXTURE = FIXTURES / "zfs" / "resume_tokens.tsv"
ZFS = (sys.executable, "-S", str(FAKES / "zfs"))


def tokens() -> dict[str, str]:
    out = {}
    for line in FIXTURE.read_text().splitlines():
        origin, token = line.split("\t")
        out[origin.rsplit("#", 1)[1]] = token
    return out


def test_zrepl_tokens_decode_to_the_guids_zrepl_expects() -> None:
    full = decode_token(tokens()["normal-send-non-incremental"])
    assert full.toguid == 0x595D9F81AA9DDDAB and full.fromguid is None
    assert full.toname == "pool1/test@a" and (full.object, full.offset) == (1, 0)
    incr = decode_token(tokens()["normal-send-incremental"])
    assert incr.toguid == 0x854F02A2DD32CF0D and incr.fromguid == 0x595D9F81AA9DDDAB
    assert incr.toname == "pool1/test@b"


def test_syncoid_token_names_the_snapshot_syncoid_was_sending() -> None:
    token = tokens()["interrupted-syncoid-receive"]
    state = resume_state(token)
    assert state.toname == (
        "send/test/l0_1/l1_0/l2_2@syncoid_orion_2025-02-23:16:38:20-GMT-06:00")
    # An -I stream is a chain of incrementals: the interrupted one has a base.
    assert state.fromguid is not None and state.toguid is not None
    assert state.toguid.bit_length() <= 64 and state.remaining_bytes is None


def test_checksum_is_fletcher4_over_the_compressed_payload() -> None:
    for token in tokens().values():
        _, checksum, _, payload = token.split("-", 3)
        assert fletcher4_first_word(bytes.fromhex(payload)) == int(checksum, 16)


@pytest.mark.parametrize(
    "mangle, message",
    [
        # zrepl's own "corrupted token" case: the payload's tail was altered.
        (lambda t: t[:-6] + "12345", "corrupt"),
        # One payload digit changed: still hex, still even, caught by the checksum.
        (lambda t: t[:-3] + ("0" if t[-3] != "0" else "1") + t[-2:], "checksum"),
        (lambda t: t.replace("1-", "2-", 1), "version"),
        (lambda t: t.rsplit("-", 1)[0], "not <version>"),
        (lambda t: t[:-2] + "zz", "hexadecimal"),
    ],
)
def test_damaged_tokens_are_refused(mangle, message: str) -> None:  # type: ignore[no-untyped-def]
    token = tokens()["normal-send-non-incremental"]
    with pytest.raises(ResumeTokenError, match=message):
        decode_token(mangle(token))


def test_stale_genuine_token_on_a_target_is_aborted(tmp_path: Path) -> None:
    """The sending side cannot describe a foreign token; the plan decodes it itself."""
    src_env = {"HOSTBOOK_FAKE_ZFS_STATE": str(tmp_path / "s.json"),
               "HOSTBOOK_FAKE_ZFS_NOW": "1800000000"}
    dst_env = {**src_env, "HOSTBOOK_FAKE_ZFS_STATE": str(tmp_path / "d.json")}

    def zfs(env: dict[str, str], *args: str) -> None:
        subprocess.run([*ZFS, *args], env={**os.environ, **env}, check=True,
                       capture_output=True)

    zfs(src_env, "create", "-p", "tank/www")
    zfs(src_env, "snapshot", "tank/www@daily-1")
    zfs(dst_env, "create", "-p", "backup/www")
    # Leave the target holding the genuine partial-receive token (as zfs would
    # after an interrupted `zfs receive -s`).
    state = json.loads((tmp_path / "d.json").read_text())
    token = tokens()["interrupted-syncoid-receive"]
    state["datasets"]["backup/www"]["resume"] = {"token": token}
    (tmp_path / "d.json").write_text(json.dumps(state))

    src, dst = Endpoint(ZFS, env=src_env), Endpoint(ZFS, env=dst_env)
    source = load_inventory(LiveRunner(env=src_env), "tank/www", src)["tank/www"]
    target = load_inventory(LiveRunner(env=dst_env), "backup/www", dst, decode_from=src)
    resume = target["backup/www"].resume
    assert resume is not None and resume.toname is not None
    assert resume.toname.endswith("@syncoid_orion_2025-02-23:16:38:20-GMT-06:00")

    policy = RetentionPolicy(keep={"daily": 3})
    plan = plan_dataset(source, policy, [TargetSpec("nas", target["backup/www"], policy)],
                        1_800_000_000)
    assert not plan.refused
    abort = plan.operations[0]
    assert isinstance(abort, AbortResume)
    assert "syncoid_orion_2025-02-23:16:38:20" in abort.reason
    report = TransferExecutor(src, {"nas": dst}, runner=LiveRunner()).execute(plan.operations)
    assert report.ok, [s.error for s in report.steps]
    after = load_inventory(LiveRunner(env=dst_env), "backup/www", dst)["backup/www"]
    assert after.resume is None and [s.name for s in after.snapshots] == ["daily-1"]
