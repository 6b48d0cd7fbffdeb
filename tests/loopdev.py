"""Loop devices over sparse image files for the `loop` test tier, and the guardian.

Why this module exists: storage code must be proved on real block devices, and the
only real block devices a test may write to are the ones it created itself. Every
image file lives in one private work directory; every loop device is attached with
`losetup --find --show` over one of those files and is checked (by its sysfs
`backing_file`) to be ours before it is handed out and again before it is detached.
Anything not backed by a file in our work directory is never touched.

Cleanup must happen even when the test process cannot run its own `finally`
(SIGKILL, SIGTERM without a handler, a crash). So each work directory is watched by
a *guardian*: a tiny child process in its own session, holding the read end of a
pipe whose write end only the owner holds. When the owner dies, the pipe reaches EOF
and the guardian kills the processes the owner registered with it, detaches every
loop device backed by a file in the work directory, and removes the directory. The
VM-lab harness (tests/lab/vm.py) uses the same guardian for its qemu process and
disk images.

Use from tests::

    def test_something(loop_devices):
        dev = loop_devices("256M", sector_size=4096)
        dev.assert_ours()                      # before anything destructive
        subprocess.run(["sfdisk", dev.path], input="label: gpt\\n,,L\\n", ...)
        dev.partition(1)                       # "/dev/loopNp1"

Register the fixtures in a conftest with ``from tests.loopdev import loop_devices``
(or list ``"tests.loopdev"`` in the root conftest's ``pytest_plugins``).

Run as a script (``python tests/loopdev.py --guard DIR``) it is the guardian.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# pytest is imported lazily in the fixture helpers so that the guardian, which runs
# this file as a script, starts in a few tens of milliseconds.

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(size: int | str) -> int:
    """Bytes from ``4096``, ``"64M"``, ``"2G"`` or ``"1GiB"`` (binary units only).

    Image sizes are written by people in tests; one accepted spelling per unit keeps
    them unambiguous (``M`` is always MiB, as in qemu-img and losetup).
    """
    if isinstance(size, int):
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        return size
    m = _SIZE_RE.match(size)
    if not m:
        raise ValueError(f"cannot parse size {size!r} (use e.g. 512M, 2G or bytes)")
    value = int(m.group(1)) * _UNITS[m.group(2).upper()]
    if value <= 0:
        raise ValueError(f"size must be positive, got {size!r}")
    return value


# --------------------------------------------------------------------------------------
# The loop tier's prerequisites (the rule for a missing one is tests/tiers.py's)
# --------------------------------------------------------------------------------------


def check_loop_tier() -> None:
    """Raise TierUnavailable unless we are root with loop support and losetup."""
    # Imported here: the guardian runs this file as a script (-I -S), where the
    # tests package is not importable and no tier is checked.
    from tests.tiers import TierUnavailable

    if os.geteuid() != 0:
        raise TierUnavailable("loop tier needs root (creates loop devices)")
    if not os.path.exists("/dev/loop-control"):
        raise TierUnavailable("loop tier needs /dev/loop-control (loop driver)")
    if shutil.which("losetup") is None:
        raise TierUnavailable("loop tier needs losetup (util-linux)")


# --------------------------------------------------------------------------------------
# Loop-device inspection (sysfs only: cheap, and it never opens a device)
# --------------------------------------------------------------------------------------


def loop_backing_files() -> dict[str, str]:
    """Map every attached loop device (``/dev/loopN``) to its backing file path."""
    out: dict[str, str] = {}
    for entry in sorted(Path("/sys/block").glob("loop*")):
        bf = entry / "loop" / "backing_file"
        try:
            backing = bf.read_text().strip()
        except OSError:
            continue  # not attached
        if backing:
            out[f"/dev/{entry.name}"] = backing
    return out


def _inside(path: str, directory: Path) -> bool:
    """True when `path` names a file inside `directory` (a deleted backing file still
    counts: the kernel appends " (deleted)" to its name)."""
    path = path.removesuffix(" (deleted)")
    try:
        return Path(path).resolve().is_relative_to(directory.resolve())
    except OSError:
        return False


def loops_backed_by(directory: Path) -> list[str]:
    """The loop devices whose backing file lives in `directory`."""
    return [dev for dev, bf in loop_backing_files().items() if _inside(bf, directory)]


def _dev_numbers(dev: str) -> set[str]:
    """``MAJ:MIN`` of a loop device and of each of its partitions, from sysfs."""
    name = Path(dev).name
    base = Path("/sys/block") / name
    numbers: set[str] = set()
    with contextlib.suppress(OSError):
        numbers.add((base / "dev").read_text().strip())
    for part in base.glob(f"{name}p*"):
        with contextlib.suppress(OSError):
            numbers.add((part / "dev").read_text().strip())
    return numbers


def _release_users(dev: str) -> None:
    """Unmount filesystems and swap on `dev` or its partitions so it can be detached.

    Only mounts whose source device number belongs to this loop device are touched;
    they can only be ours, since the device is backed by a file in our directory.
    """
    numbers = _dev_numbers(dev)
    if not numbers:
        return
    # Deepest mount points first so nested mounts come off cleanly.
    targets: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[2] in numbers:
                targets.append(fields[4].replace("\\040", " "))
    for target in sorted(targets, key=lambda t: t.count("/"), reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)
    name = Path(dev).name
    with contextlib.suppress(OSError):
        for line in Path("/proc/swaps").read_text().splitlines()[1:]:
            swapdev = line.split()[0]
            if swapdev == dev or swapdev.startswith(f"/dev/{name}p"):
                subprocess.run(["swapoff", swapdev], capture_output=True, check=False)


def detach_loops_in(directory: Path) -> list[str]:
    """Detach every loop device backed by a file in `directory`; return their names.

    Idempotent, and safe by construction: the candidate list comes from the kernel's
    own record of backing files, filtered to our directory, and is re-checked right
    before each `losetup -d`.
    """
    detached: list[str] = []
    for dev in loops_backed_by(directory):
        _release_users(dev)
        for _attempt in range(20):
            current = loop_backing_files().get(dev)
            if current is None or not _inside(current, directory):
                break  # already gone, or (after a race) no longer ours: leave it
            res = subprocess.run(["losetup", "-d", dev], capture_output=True, check=False)
            if res.returncode == 0:
                break
            time.sleep(0.1)
        detached.append(dev)
    # LOOP_CLR_FD on a device that is still open only sets autoclear: wait briefly
    # so callers that check right after us see the final state.
    deadline = time.monotonic() + 5
    while loops_backed_by(directory) and time.monotonic() < deadline:
        time.sleep(0.05)
    return detached


# --------------------------------------------------------------------------------------
# The guardian
# --------------------------------------------------------------------------------------


def _pid_mentions(pid: int, needle: str) -> bool:
    """True when process `pid` exists and its command line contains `needle`; this
    protects against killing an unrelated process that reused a registered pid."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return needle.encode() in cmdline


def cleanup_workdir(workdir: Path, pids: list[int] | None = None) -> None:
    """Kill registered processes, detach our loop devices, remove `workdir`.

    The one cleanup routine used by the owner's `finally` and by the guardian.
    """
    for pid in pids or []:
        if pid != os.getpid() and _pid_mentions(pid, str(workdir)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(_pid_mentions(p, str(workdir)) for p in pids or []):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    detach_loops_in(workdir)
    shutil.rmtree(workdir, ignore_errors=True)


def _guard_main(workdir: str) -> int:
    """Guardian entry point: wait for the owner's pipe to close, then clean up.

    Protocol on stdin, one command a line: ``pid N`` registers a process to kill,
    ``release`` means the owner cleaned up (or wants to keep the files) and nothing
    is to be done. EOF without ``release`` means the owner died.
    """
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    pids: list[int] = []
    released = False
    for raw in sys.stdin:
        line = raw.strip()
        if line == "release":
            released = True
            break
        if line.startswith("pid "):
            with contextlib.suppress(ValueError):
                pids.append(int(line.split()[1]))
    if not released:
        cleanup_workdir(Path(workdir), pids)
    return 0


class Guardian:
    """Owner side of the guardian: start it, register pids, release it on success.

    The guardian runs in a new session so a Ctrl-C aimed at the test run's process
    group does not kill it before it can clean up.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._proc: subprocess.Popen[str] | None = subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).resolve()), "--guard", str(workdir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            close_fds=True,
        )
        self.pids: list[int] = []

    @property
    def pid(self) -> int | None:
        """The guardian's own pid (tests use it to watch it work)."""
        return self._proc.pid if self._proc else None

    def _send(self, line: str) -> None:
        if self._proc is None or self._proc.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError):
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()

    def register(self, pid: int) -> None:
        """Ask the guardian to kill `pid` (and its process group) if we die."""
        self.pids.append(pid)
        self._send(f"pid {pid}")

    def release(self) -> None:
        """Tell the guardian we cleaned up ourselves; it exits without acting."""
        if self._proc is None:
            return
        self._send("release")
        stdin: IO[str] | None = self._proc.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def make_workdir(prefix: str, base: Path | str | None = None) -> Path:
    """A fresh, uniquely named private directory (pid in the name, for debugging)."""
    base_dir = Path(base) if base is not None else Path(tempfile.gettempdir())
    base_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-{os.getpid()}-", dir=base_dir)).resolve()


# --------------------------------------------------------------------------------------
# Loop devices
# --------------------------------------------------------------------------------------


class NotOurDevice(RuntimeError):
    """Raised before any operation on a device this fixture did not create."""


@dataclass(frozen=True)
class LoopDevice:
    """One attached loop device over an image file we created."""

    path: str
    """``/dev/loopN``."""
    image: Path
    size: int
    sector_size: int

    @property
    def name(self) -> str:
        """``loopN``."""
        return Path(self.path).name

    def partition(self, number: int) -> str:
        """Device node of partition `number` (the kernel names them loopNpM)."""
        return f"{self.path}p{number}"

    def partitions(self) -> list[str]:
        """Partition device nodes the kernel currently knows, in order."""
        base = Path("/sys/block") / self.name
        parts = sorted(base.glob(f"{self.name}p*"), key=lambda p: int(p.name.split("p")[-1]))
        return [f"/dev/{p.name}" for p in parts]

    def rescan(self) -> list[str]:
        """Make the kernel's partition list match the on-disk table; return it.

        `--partscan` asks the kernel to parse the table itself, but a kernel built
        without partition parsers (this machine's: no CONFIG_EFI_PARTITION or
        CONFIG_MSDOS_PARTITION) silently finds nothing. `partx --update` parses the
        table in user space (libblkid) and adds/removes partitions with BLKPG, which
        works on every kernel, so tests call this after writing a table.
        """
        self.assert_ours()
        res = subprocess.run(["partx", "--update", self.path], capture_output=True, check=False)
        if res.returncode != 0:  # no table any more (wiped): drop stale partitions
            subprocess.run(["partx", "--delete", self.path], capture_output=True, check=False)
        return self.partitions()

    def is_ours(self) -> bool:
        """True while the kernel says this device is backed by our image file."""
        backing = loop_backing_files().get(self.path)
        return backing is not None and backing.removesuffix(" (deleted)") == str(self.image)

    def assert_ours(self) -> None:
        """Raise NotOurDevice unless the device is still backed by our image: call it
        before anything destructive (sfdisk, mkfs, wipefs, dd)."""
        if not self.is_ours():
            raise NotOurDevice(f"{self.path} is not backed by {self.image} any more")


class LoopDevices:
    """Creates sparse images and loop devices; detaches and removes them on close.

    A context manager (and the object the `loop_devices` fixture yields). Calling it,
    or `add()`, creates one image file and attaches it.
    """

    def __init__(self, base: Path | str | None = None, prefix: str = "hostbook-loop") -> None:
        self.workdir = make_workdir(prefix, base)
        self.guardian = Guardian(self.workdir)
        self.devices: list[LoopDevice] = []
        self._closed = False

    def __enter__(self) -> LoopDevices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __call__(
        self, size: int | str = "64M", *, sector_size: int = 512, partscan: bool = True
    ) -> LoopDevice:
        return self.add(size, sector_size=sector_size, partscan=partscan)

    def add(
        self, size: int | str = "64M", *, sector_size: int = 512, partscan: bool = True
    ) -> LoopDevice:
        """Create a sparse image of `size` and attach it with `losetup --find --show`.

        `sector_size` 4096 gives a 4Kn device (logical and physical block size 4096),
        the shape of modern NVMe disks that partitioning code must get right.
        """
        if self._closed:
            raise RuntimeError("LoopDevices already closed")
        if sector_size not in (512, 1024, 2048, 4096):
            raise ValueError(f"unsupported sector size {sector_size}")
        nbytes = parse_size(size)
        if nbytes % sector_size:
            raise ValueError(f"size {nbytes} is not a multiple of sector size {sector_size}")
        image = self.workdir / f"disk{len(self.devices)}.img"
        with open(image, "xb") as fh:  # "x": never reuse or overwrite a file
            fh.truncate(nbytes)  # sparse: no blocks allocated
        cmd = ["losetup", "--find", "--show"]
        if partscan:
            cmd.append("--partscan")
        if sector_size != 512:
            cmd += ["--sector-size", str(sector_size)]
        cmd.append(str(image))
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()}")
        dev = LoopDevice(path=res.stdout.strip(), image=image, size=nbytes,
                         sector_size=sector_size)
        self.devices.append(dev)
        dev.assert_ours()
        return dev

    def close(self) -> None:
        """Detach our devices (unmounting anything on them) and delete the images."""
        if self._closed:
            return
        self._closed = True
        try:
            cleanup_workdir(self.workdir)
        finally:
            self.guardian.release()


@contextlib.contextmanager
def loop_devices_ctx(base: Path | str | None = None) -> Iterator[LoopDevices]:
    """`with loop_devices_ctx() as make: dev = make("64M")` outside pytest."""
    devs = LoopDevices(base)
    try:
        yield devs
    finally:
        devs.close()


def _pytest_fixtures() -> tuple[Callable[..., object], Callable[..., object]]:
    import pytest

    from tests.tiers import available

    @pytest.fixture(scope="session")
    def loop_tier() -> None:
        """Skips (fails under CI) unless this machine can run the loop tier."""
        available(check_loop_tier)

    @pytest.fixture
    def loop_devices(loop_tier: None) -> Iterator[LoopDevices]:
        """Factory fixture: ``dev = loop_devices("256M", sector_size=4096)``.

        Everything it made is detached and deleted at teardown, whatever the outcome.
        """
        with loop_devices_ctx() as devs:
            yield devs

    return loop_tier, loop_devices


if __name__ != "__main__":
    loop_tier, loop_devices = _pytest_fixtures()


def _main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--guard":
        return _guard_main(argv[1])
    if argv == ["--list"]:
        print(json.dumps(loop_backing_files(), indent=2))
        return 0
    print("usage: loopdev.py --guard DIR | --list", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
