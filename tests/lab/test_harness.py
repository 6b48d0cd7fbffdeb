"""The harness's own promises: steps that report, loud failures, nothing left behind.

"Nothing left behind" is checked against the system itself: no process whose command
line mentions the guest's work directory, no loop device backed by a file in it, and
no work directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.lab.fixtures import GuestFactory
from tests.lab.layouts import LAYOUTS, build_step, disks_for
from tests.lab.vm import (
    DiskSpec,
    GuestError,
    GuestTimeout,
    Kernel,
    Step,
    find_kernel,
    find_qemu,
)
from tests.loopdev import loops_backed_by
from tests.paths import REPO_ROOT
from tests.tiers import TierUnavailable, skip_or_fail

pytestmark = pytest.mark.lab


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(proc.name))
    return found


def _assert_nothing_left(workdir: Path, qemu_pid: int | None) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        _processes_mentioning(str(workdir)) or workdir.exists()
    ):
        time.sleep(0.2)
    assert not _processes_mentioning(str(workdir)), "a process for the guest is left"
    if qemu_pid is not None:
        assert not Path(f"/proc/{qemu_pid}").exists() or \
            "qemu" not in Path(f"/proc/{qemu_pid}/cmdline").read_text(errors="replace")
    assert not loops_backed_by(workdir), "a loop device over the guest's files is left"
    assert not workdir.exists(), f"{workdir} is left"


def test_boot_builds_one_layout_with_its_files(lab_guest: GuestFactory) -> None:
    """One boot builds the laptop layout (the heaviest one-disk layout) and reports the
    checksums of every file its builder wrote. How fast: benchmarks/lab.py."""
    g = lab_guest(disks_for("laptop"))
    result = g.run_steps([build_step("laptop")], timeout=300)
    assert result.ok, result.describe()
    assert result.ready_seconds is not None and result.ready_seconds > 0
    assert set(LAYOUTS["laptop"].expected_checksums()) <= {
        line.split(None, 1)[1]
        for line in (result.results_dir / "laptop" / "checksums.sha256").read_text()
        .splitlines()
    }


def test_steps_report_their_own_exit_codes_and_streams(lab_guest: GuestFactory) -> None:
    """One boot, several steps: each has its own rc/stdout/stderr and per-step
    timeout, the boot goes on after a failing step, results come back, and the
    builders refuse to run outside a lab guest."""
    g = lab_guest([DiskSpec("64M", serial="tiny0", sector_size=4096)])
    result = g.run_steps(
        [
            Step("ok", "echo out; echo err >&2; echo data > $LAB_RESULTS/file"),
            Step("py", "import sys; print('py', sys.version_info[0]); sys.exit(3)", "python"),
            Step("disk", "blockdev --getss /dev/disk/by-id/virtio-tiny0"),
            Step("hang", "sleep 600", timeout=2),
            Step("never", "echo unreachable"),
            # The builders' safety guard: without hostbook.lab=1 on the kernel command
            # line (i.e. on a real machine) they refuse, and the disk stays blank.
            Step("guard", 'sed "s/hostbook.lab=1//" /proc/cmdline > /tmp/cmdline\n'
                          "mount --bind /tmp/cmdline /proc/cmdline\n"
                          'bash "$LAB_BUILDERS/legacy.sh" build /dev/disk/by-id/virtio-tiny0\n'
                          "echo rc=$?; umount /proc/cmdline\n"
                          "blkid -p /dev/disk/by-id/virtio-tiny0; echo blkid=$?"),
        ],
        timeout=300, stop_on_error=False,
    )
    assert (result["ok"].rc, result["ok"].stdout, result["ok"].stderr) == (0, "out\n", "err\n")
    assert (result["py"].rc, result["py"].stdout) == (3, "py 3\n")
    assert (result["disk"].rc, result["disk"].stdout.strip()) == (0, "4096")
    assert result["hang"].rc == 124  # killed by its own step timeout, boot went on
    assert result["never"].rc == 0
    assert result["guard"].stdout == "rc=99\nblkid=2\n", result["guard"].stderr
    assert "refusing to run" in result["guard"].stderr
    assert (result.results_dir / "file").read_text() == "data\n"
    assert not result.ok
    assert "step hang: rc=124" in result.describe()


def test_timeout_kills_guest_mid_step_and_leaves_nothing(lab_guest: GuestFactory) -> None:
    g = lab_guest([DiskSpec("1G", serial="victim0")])
    workdir = g.workdir
    image = g.disk_paths[0]
    boot = g.start([Step("hang", "echo mid-way-marker; sleep 600")])
    qemu_pid = boot.pid
    boot.wait_for_step("hang", timeout=240)
    time.sleep(1)
    with pytest.raises(GuestTimeout) as excinfo:
        boot.wait(timeout=3)
    message = str(excinfo.value)
    assert "did not finish within 3" in message
    assert "step 'hang' was running" in message and "mid-way-marker" in message
    assert "HOSTBOOK-LAB: step hang start" in message  # the console tail
    assert qemu_pid is not None and not _processes_mentioning(str(image))
    assert not image.exists(), "a blank-per-boot image outlived its boot"
    g.close()
    _assert_nothing_left(workdir, qemu_pid)


def test_guest_dying_mid_way_is_a_loud_error(lab_guest: GuestFactory) -> None:
    g = lab_guest([DiskSpec("256M")])
    with pytest.raises(GuestError) as excinfo:
        g.run("echo about-to-die; sync; echo o > /proc/sysrq-trigger; sleep 60", timeout=300)
    message = str(excinfo.value)
    assert "stopped before finishing" in message
    assert "about-to-die" in message
    assert "console tail" in message
    workdir = g.workdir
    g.close()
    _assert_nothing_left(workdir, None)


def test_sigkill_of_the_test_process_leaves_nothing(lab_tier: tuple[Kernel, str]) -> None:
    """The owner is SIGKILLed while its guest boots: its finally never runs, so qemu
    must die with it (PDEATHSIG) and the guardian must remove the work directory and
    the kept disk image."""
    child_code = textwrap.dedent(
        f"""
        import json, sys, time
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from tests.lab.vm import DiskSpec, Guest, Step
        g = Guest([DiskSpec("1G", serial="orphan0")], keep_images=True)
        boot = g.start([Step("hang", "sleep 600")])
        print(json.dumps({{"workdir": str(g.workdir), "qemu": boot.pid,
                          "guardian": g.guardian.pid}}), flush=True)
        time.sleep(600)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", child_code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline() or "{}")
        assert info, child.stderr.read() if child.stderr else "child said nothing"
        workdir = Path(info["workdir"])
        time.sleep(3)  # mid-way through the guest's boot
        assert info["qemu"] in _processes_mentioning(str(workdir)), "qemu should be running"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        _assert_nothing_left(workdir, info["qemu"])
        assert not Path(f"/proc/{info['guardian']}").exists() or _wait_gone(info["guardian"])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _wait_gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return not Path(f"/proc/{pid}").exists()


def test_missing_qemu_skips_here_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no qemu-system-x86_64 on it
    with pytest.raises(TierUnavailable, match="qemu"):
        find_qemu()
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no qemu"):
        skip_or_fail("no qemu")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        skip_or_fail("no qemu")


def test_missing_kernel_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTBOOK_LAB_KERNEL", "0.0.0-no-such-kernel")
    with pytest.raises(TierUnavailable, match="no guest kernel"):
        find_kernel()
