"""VM-lab harness: boot a real Debian kernel under qemu (TCG) and run steps as root.

Why: this machine's kernel has no device-mapper or md, so LUKS, LVM and RAID can only
be built inside a guest. The guest's root is this machine's own root over 9p,
read-only, with a tmpfs overlay (see shared/LAB.md), so the guest runs the same
python3, tools and the checkout's virtualenv: the `hostbook` under test, unchanged.

Shape of one boot (everything for it lives in one private work directory, watched by
the guardian from tests/loopdev.py so even a SIGKILLed test run leaves nothing)::

    workdir/
      disk0.img ...            sparse raw images (virtio disks, serial= per disk)
      boot1/share/             writable 9p share, /lab in the guest
        config, stage2.sh      written by us; stage2.sh is the guest's PID 1
        steps/plan.tsv, steps/N.script
        out/N.stdout|stderr|rc|start|end, out/ready, out/done
        results/               the steps' results folder ($LAB_RESULTS)
      boot1/console.log        the guest's serial console
      boot1/qemu.log           qemu's own stdout/stderr

Usage::

    with Guest([DiskSpec("2G", serial="data0")], keep_images=True) as g:
        r = g.run("mkfs.ext4 -q /dev/disk/by-id/virtio-data0 && blkid", timeout=120)
        assert r.rc == 0, r.stderr
        r = g.run_steps([Step("a", "lsblk -J"), Step("b", "print(1)", "python")])
        assert r.ok and r["a"].stdout
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import gzip
import hashlib
import io
import lzma
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.loopdev import Guardian, cleanup_workdir, make_workdir, parse_size
from tests.paths import REPO_ROOT
from tests.tiers import TierUnavailable

LAB_DIR = Path(__file__).resolve().parent
GUEST_DIR = LAB_DIR / "guest"
BUILDERS_DIR = LAB_DIR / "builders"
CACHE_DIR = LAB_DIR / ".cache"

ROOT_TAG = "hbroot"
SHARE_TAG = "hbshare"
#: Modules the initramfs needs to reach the 9p root; the rest load from the root.
INITRAMFS_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
DEFAULT_MEMORY_MB = 1536
DEFAULT_CPUS = 2
CONSOLE_TAIL_LINES = 60
#: Firmware a guest can boot with: SeaBIOS (qemu's default) or OVMF (UEFI).
FIRMWARES = ("bios", "uefi")
#: OVMF as split code/variable-store images (pflash), best first: Debian 12's `ovmf`
#: ships both pairs; the 4M one has room for more variables, the 2M one is older.
OVMF_PFLASH = (
    (Path("/usr/share/OVMF/OVMF_CODE_4M.fd"), Path("/usr/share/OVMF/OVMF_VARS_4M.fd")),
    (Path("/usr/share/OVMF/OVMF_CODE.fd"), Path("/usr/share/OVMF/OVMF_VARS.fd")),
)
#: OVMF as one image with code and variables (`-bios`; variables do not persist).
OVMF_COMBINED = Path("/usr/share/ovmf/OVMF.fd")


class GuestError(RuntimeError):
    """The guest did not finish its steps; the message carries the console tail."""


class GuestTimeout(GuestError):
    """The guest ran past its timeout and was killed."""


# --------------------------------------------------------------------------------------
# Environment: kernel, qemu, busybox
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kernel:
    """A kernel usable for the guest: image plus the matching module tree."""

    version: str
    vmlinuz: Path
    modules: Path


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"(\d+)", version))


def find_kernel() -> Kernel:
    """The newest /boot/vmlinuz-<ver> that has /lib/modules/<ver>/modules.dep.

    Never `uname -r`: this machine runs a different, module-less kernel.
    HOSTBOOK_LAB_KERNEL=<version> picks one explicitly.
    """
    wanted = os.environ.get("HOSTBOOK_LAB_KERNEL")
    candidates: list[Kernel] = []
    for image in Path("/boot").glob("vmlinuz-*"):
        version = image.name.removeprefix("vmlinuz-")
        modules = Path("/lib/modules") / version
        if (modules / "modules.dep").is_file() and os.access(image, os.R_OK):
            candidates.append(Kernel(version, image, modules))
    if wanted:
        candidates = [k for k in candidates if k.version == wanted]
    if not candidates:
        raise TierUnavailable(
            "no guest kernel: need /boot/vmlinuz-<ver> with /lib/modules/<ver> "
            "(apt-get install linux-image-amd64)"
            + (f"; HOSTBOOK_LAB_KERNEL={wanted} not found" if wanted else "")
        )
    return max(candidates, key=lambda k: _version_key(k.version))


def find_qemu() -> str:
    """Path of qemu-system-x86_64, or TierUnavailable."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise TierUnavailable("no qemu-system-x86_64 (apt-get install qemu-system-x86)")
    return qemu


def _is_static_elf(path: Path) -> bool:
    """True when the ELF file has no program interpreter (PT_INTERP), i.e. is static:
    the initramfs has no libc, so a dynamic busybox would not start."""
    with open(path, "rb") as fh:
        data = fh.read(65536)
    if data[:4] != b"\x7fELF" or data[4] != 2:  # 64-bit only
        return False
    phoff = int.from_bytes(data[0x20:0x28], "little")
    phentsize = int.from_bytes(data[0x36:0x38], "little")
    phnum = int.from_bytes(data[0x38:0x3A], "little")
    for i in range(phnum):
        off = phoff + i * phentsize
        if int.from_bytes(data[off:off + 4], "little") == 3:  # PT_INTERP
            return False
    return True


def find_busybox() -> Path:
    """A statically linked busybox (busybox-static) for the initramfs."""
    for cand in ("/bin/busybox", "/usr/bin/busybox", shutil.which("busybox") or ""):
        if cand and Path(cand).is_file() and _is_static_elf(Path(cand)):
            return Path(cand)
    raise TierUnavailable("no statically linked busybox (apt-get install busybox-static)")


@dataclass(frozen=True)
class Ovmf:
    """UEFI firmware for qemu: `code` plus the template variable store `nvram`
    (pflash), or one combined image (`nvram` None, loaded with -bios)."""

    code: Path
    nvram: Path | None


def find_ovmf() -> Ovmf:
    """OVMF from the `ovmf` package: split pflash images when present, because
    only those keep the variables efibootmgr writes; else the combined image."""
    for code, nvram in OVMF_PFLASH:
        if code.is_file() and nvram.is_file():
            return Ovmf(code, nvram)
    if OVMF_COMBINED.is_file():
        return Ovmf(OVMF_COMBINED, None)
    raise TierUnavailable(
        "UEFI guests need OVMF firmware: none of "
        + ", ".join(str(c) for c, _ in OVMF_PFLASH) + f" or {OVMF_COMBINED} "
        "(apt-get install ovmf)"
    )


def check_lab(firmware: str = "bios") -> tuple[Kernel, str]:
    """Raise TierUnavailable unless this machine can boot lab guests (with
    `firmware`, "bios" or "uefi")."""
    if firmware not in FIRMWARES:
        raise ValueError(f"firmware must be one of {FIRMWARES}, got {firmware!r}")
    if os.geteuid() != 0:
        raise TierUnavailable("lab tier needs root (qemu virtfs as root, disk images)")
    qemu = find_qemu()
    kernel = find_kernel()
    find_busybox()
    for tool in ("modprobe", "mdadm", "lvm", "cryptsetup", "udevadm"):
        if shutil.which(tool) is None and not Path(f"/sbin/{tool}").exists():
            raise TierUnavailable(f"lab tier needs {tool} on this machine (the guest uses it)")
    if firmware == "uefi":
        find_ovmf()
    return kernel, qemu


# --------------------------------------------------------------------------------------
# The initramfs (cpio newc + gzip, written in Python: no cpio tool needed)
# --------------------------------------------------------------------------------------


class _Cpio:
    """Minimal writer for the kernel's initramfs format (cpio "newc")."""

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.ino = 1
        self.dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)
               ) -> None:
        encoded = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(encoded), 0]
        self.ino += 1
        self.buf.write(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
        self.buf.write(b"\0" * (-(110 + len(encoded)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))

    def mkdir(self, name: str) -> None:
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        name = name.strip("/")
        if "/" in name:
            self.mkdir(name.rsplit("/", 1)[0])
        self._entry(name, stat.S_IFREG | mode, data)

    def chardev(self, name: str, major: int, minor: int) -> None:
        self._entry(name.strip("/"), stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()


def _module_bytes(path: Path) -> bytes:
    """Module file contents, decompressed (busybox insmod wants a plain .ko)."""
    if path.suffix == ".xz":
        return lzma.decompress(path.read_bytes())
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes())
    if path.suffix == ".zst":
        return subprocess.run(["zstd", "-dc", str(path)], capture_output=True,
                              check=True).stdout
    return path.read_bytes()


@functools.lru_cache(maxsize=4)
def _initramfs_modules(kernel: Kernel) -> list[Path]:
    """Module files, dependencies first, for INITRAMFS_MODULES on `kernel`."""
    seen: list[Path] = []
    for module in INITRAMFS_MODULES:  # one at a time: each list is in load order
        res = subprocess.run(
            ["modprobe", "-S", kernel.version, "--show-depends", module],
            capture_output=True, text=True, check=False,
        )
        if res.returncode != 0:
            raise TierUnavailable(f"modprobe --show-depends {module} for {kernel.version}: "
                                  f"{res.stderr.strip()}")
        for line in res.stdout.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "insmod" and Path(words[1]) not in seen:
                seen.append(Path(words[1]))
    return seen


def build_initramfs(kernel: Kernel | None = None) -> Path:
    """The guest initramfs for `kernel`, built once and cached in tests/lab/.cache/.

    The cache key covers the kernel version, the module files, busybox and init.sh,
    so any change rebuilds it. Written atomically: parallel runs cannot see half a file.
    """
    kernel = kernel or find_kernel()
    busybox = find_busybox()
    modules = _initramfs_modules(kernel)
    init_src = (GUEST_DIR / "init.sh").read_text()
    key = hashlib.sha256()
    key.update(init_src.encode())
    for p in [busybox, *modules]:
        st = p.stat()
        key.update(f"{p}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    target = CACHE_DIR / f"initramfs-{kernel.version}-{key.hexdigest()[:16]}.cpio.gz"
    if target.is_file():
        return target

    cpio = _Cpio()
    for d in ("bin", "sbin", "dev", "proc", "sys", "lower", "ovl", "newroot"):
        cpio.mkdir(d)
    cpio.chardev("dev/console", 5, 1)
    cpio.chardev("dev/null", 1, 3)
    cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
    insmods: list[str] = []
    for mod in modules:
        rel = str(mod).lstrip("/")
        for suffix in (".xz", ".gz", ".zst"):
            rel = rel.removesuffix(suffix)
        cpio.file(rel, _module_bytes(mod))
        insmods.append(f"insmod /{rel} || fail 'insmod {Path(rel).name}'")
    init = "".join("\n".join(insmods) + "\n" if line.strip() == "@INSMOD@" else line
                   for line in init_src.splitlines(keepends=True))
    cpio.file("init", init.encode(), 0o755)

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(gzip.compress(cpio.finish(), compresslevel=6, mtime=0))
    os.replace(tmp, target)
    for old in CACHE_DIR.glob(f"initramfs-{kernel.version}-*.cpio.gz"):
        if old != target:
            with contextlib.suppress(OSError):
                old.unlink()
    return target


# --------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------


@dataclass
class DiskSpec:
    """One guest disk (a virtio-blk device).

    `path` None: the harness creates a sparse image in its work directory and deletes
    it on close. `path` given: that image file is the caller's; it is created (sparse,
    `size`) if missing and never deleted. `serial` shows in the guest as
    /dev/disk/by-id/virtio-<serial> (at most 20 characters); the default is
    ``disk<N>``. `sector_size` 4096 makes a 4Kn disk.
    """

    size: int | str = "2G"
    serial: str | None = None
    path: Path | str | None = None
    sector_size: int = 512

    def __post_init__(self) -> None:
        if self.sector_size not in (512, 4096):
            raise ValueError(f"sector_size must be 512 or 4096, got {self.sector_size}")
        if self.serial is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,20}", self.serial):
            raise ValueError(f"serial {self.serial!r}: 1-20 of [A-Za-z0-9_.-]")

    @property
    def nbytes(self) -> int:
        """Size in bytes."""
        return parse_size(self.size)


@dataclass
class Step:
    """One named script run in the guest as root.

    `interpreter` is "bash", "sh" or "python" (the host's interpreter, normally the
    project's virtualenv, so `import hostbook` is the checkout). `timeout` (seconds)
    bounds this step alone inside the guest; the boot has its own overall timeout.
    """

    name: str
    script: str
    interpreter: str = "bash"
    timeout: float | None = None

    def __post_init__(self) -> None:
        if self.interpreter not in ("bash", "sh", "python"):
            raise ValueError(f"interpreter must be bash, sh or python: {self.interpreter!r}")
        if not self.name or "\t" in self.name or "\n" in self.name:
            raise ValueError(f"bad step name {self.name!r}")


@dataclass
class StepResult:
    """What one step did. `rc` is None when the step never ran (an earlier step
    failed with stop_on_error)."""

    name: str
    rc: int | None
    stdout: str
    stderr: str
    seconds: float | None

    @property
    def ok(self) -> bool:
        """True when the step ran and exited 0."""
        return self.rc == 0


@dataclass
class BootResult:
    """One boot's outcome: per-step results, console, results folder, timings.

    `rc`, `stdout` and `stderr` are those of the last step that ran, which is the
    only one for `Guest.run`.
    """

    steps: dict[str, StepResult]
    console: str
    results_dir: Path
    seconds: float
    """Wall-clock seconds from qemu start to its exit."""
    ready_seconds: float | None
    """Guest uptime when udev had settled and the first step could start."""
    phases: dict[str, float] = field(default_factory=dict)
    """Guest uptime at each stage-2 phase (stage2, modules, udevd, settled, steps,
    shutdown): where boot time goes."""

    def __getitem__(self, name: str) -> StepResult:
        return self.steps[name]

    @property
    def ok(self) -> bool:
        """True when every step ran and exited 0."""
        return all(s.ok for s in self.steps.values())

    @property
    def last(self) -> StepResult:
        """The last step that ran (or the first one if none did)."""
        ran = [s for s in self.steps.values() if s.rc is not None]
        return ran[-1] if ran else next(iter(self.steps.values()))

    @property
    def rc(self) -> int | None:
        return self.last.rc

    @property
    def stdout(self) -> str:
        return self.last.stdout

    @property
    def stderr(self) -> str:
        return self.last.stderr

    def describe(self) -> str:
        """A failure report: each step's rc and the tail of its stderr."""
        lines = [f"boot took {self.seconds:.1f}s (ready at {self.ready_seconds}s; "
                 f"phases {self.phases})"]
        for s in self.steps.values():
            lines.append(f"--- step {s.name}: rc={s.rc} ({s.seconds}s)")
            if not s.ok:
                lines += [f"    {ln}" for ln in (s.stdout + s.stderr).splitlines()[-25:]]
        return "\n".join(lines)

    def check(self) -> BootResult:
        """Raise AssertionError with `describe()` unless every step succeeded."""
        if not self.ok:
            raise AssertionError(self.describe())
        return self


def _tail(text: str, lines: int = CONSOLE_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _hidden_in_guest() -> list[str]:
    """Host directories the guest needs (checkout, virtualenv, interpreter) that its
    fresh tmpfs /tmp or /run would hide; stage2.sh bind-mounts them back."""
    wanted = {REPO_ROOT, Path(sys.prefix), Path(sys.executable).resolve().parent,
              Path(sys.base_prefix)}
    return sorted(str(p) for p in wanted
                  if p.is_relative_to("/tmp") or p.is_relative_to("/run"))


LAB_LOCK = Path(os.environ.get("HOSTBOOK_LAB_LOCK", "/run/lock/hostbook-lab.lock"))


def _lab_lock() -> int:
    """An fd holding the machine's one lab lock, waited for: one guest runs at a time.

    Two guests side by side each take twice as long under TCG and time out; the
    lock is passed to qemu (``pass_fds``), so it is held exactly as long as the
    guest runs, whoever started it, and a killed test cannot leave it behind.
    """
    LAB_LOCK.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(LAB_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _set_pdeathsig() -> None:
    """In the qemu child: die with the parent (belt and braces next to the guardian)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# --------------------------------------------------------------------------------------
# The guest
# --------------------------------------------------------------------------------------


@dataclass
class DiskBoot:
    """What a boot of an installed system showed (Guest.boot_disks)."""

    console: str
    seconds: float
    powered_off: bool
    """True when the system powered itself off; False when ``until`` ended it."""
    returncode: int | None

    def lines(self, prefix: str) -> list[str]:
        """The console's reports that begin with ``prefix`` (a marker unit's), from the
        prefix on: the getty's login prompt shares the serial line and may come first."""
        return [line[line.index(prefix):].strip() for line in self.console.splitlines()
                if prefix in line]


class Guest:
    """A lab guest definition: disks plus machine settings; each `run*` is one boot.

    keep_images=True: harness-owned images persist across this Guest's boots (boot 1
    builds, boot 2 restores, boot 3 verifies); False: each boot gets blank images.
    Caller-owned images (DiskSpec.path) always persist. `close()` (or leaving the
    `with` block) kills anything still running and removes the work directory; so
    does the guardian if this process dies. HOSTBOOK_LAB_KEEP=1 keeps the work
    directory for post-mortem debugging.

    firmware="uefi" boots OVMF instead of SeaBIOS, still straight into the kernel
    (OVMF starts the kernel's EFI stub from qemu's fw_cfg), so the guest has
    /sys/firmware/efi and EFI variables for efibootmgr. The variable store is a
    writable copy of OVMF's template in the work directory; like the harness's own
    disks it starts blank at every boot unless keep_images is set.
    """

    def __init__(
        self,
        disks: Sequence[DiskSpec] = (),
        *,
        keep_images: bool = False,
        workdir: Path | str | None = None,
        memory_mb: int = DEFAULT_MEMORY_MB,
        cpus: int = DEFAULT_CPUS,
        kernel: Kernel | None = None,
        clean_shutdown: bool = True,
        append: str = "",
        firmware: str = "bios",
    ) -> None:
        self.kernel, self.qemu = check_lab(firmware)
        self.firmware = firmware
        self.ovmf = find_ovmf() if firmware == "uefi" else None
        if kernel is not None:
            self.kernel = kernel
        self.disks = list(disks)
        serials = [d.serial or f"disk{i}" for i, d in enumerate(self.disks)]
        if len(set(serials)) != len(serials):
            raise ValueError(f"duplicate disk serials: {serials}")
        self.serials = serials
        self.keep_images = keep_images
        self.memory_mb = memory_mb
        self.cpus = cpus
        self.clean_shutdown = clean_shutdown
        self.append = append
        self.initramfs = build_initramfs(self.kernel)
        self.workdir = make_workdir("hostbook-lab", workdir)
        self.guardian = Guardian(self.workdir)
        self.boots = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        self.disk_paths: list[Path] = [
            Path(d.path).resolve() if d.path is not None else self.workdir / f"disk{i}.img"
            for i, d in enumerate(self.disks)
        ]

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Kill qemu if running; remove the work directory (images, shares, logs)."""
        if self._closed:
            return
        self._closed = True
        self._kill()
        if os.environ.get("HOSTBOOK_LAB_KEEP"):
            print(f"hostbook-lab: keeping {self.workdir}", file=sys.stderr)
        else:
            cleanup_workdir(self.workdir)
        self.guardian.release()

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        self._proc = None

    @property
    def images_persist(self) -> bool:
        """True when some disk image outlives a boot (keep_images, or caller-owned)."""
        return self.keep_images or any(d.path is not None for d in self.disks)

    @property
    def qemu_pid(self) -> int | None:
        """Pid of the running qemu, if a boot is in progress (for tests of the kill
        path)."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    # -- disks -------------------------------------------------------------------------

    def _prepare_disks(self) -> None:
        for spec, path in zip(self.disks, self.disk_paths, strict=True):
            owned = spec.path is None
            if owned and not self.keep_images and path.exists():
                path.unlink()  # a blank disk for every boot
            if not path.exists():
                if spec.nbytes % spec.sector_size:
                    raise ValueError(f"{path}: size not a multiple of {spec.sector_size}")
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "xb") as fh:
                    fh.truncate(spec.nbytes)

    def _drop_disks(self) -> None:
        if self.keep_images:
            return
        for spec, path in zip(self.disks, self.disk_paths, strict=True):
            if spec.path is None:
                with contextlib.suppress(OSError):
                    path.unlink()

    # -- firmware ----------------------------------------------------------------------

    @property
    def nvram_path(self) -> Path:
        """The guest's writable UEFI variable store (pflash unit 1)."""
        return self.workdir / "efivars.fd"

    def _prepare_firmware(self) -> None:
        """A writable variable store for this boot: OVMF's template, unless the
        previous boot's variables persist with the images."""
        if self.ovmf is None or self.ovmf.nvram is None:
            return
        if not (self.keep_images and self.nvram_path.exists()):
            shutil.copyfile(self.ovmf.nvram, self.nvram_path)

    def _firmware_args(self) -> list[str]:
        """qemu options for the firmware: none for SeaBIOS (qemu's default)."""
        if self.ovmf is None:
            return []
        if self.ovmf.nvram is None:
            return ["-bios", str(self.ovmf.code)]
        return ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={self.ovmf.code}",
                "-drive", f"if=pflash,format=raw,unit=1,file={self.nvram_path}"]

    # -- the boot ----------------------------------------------------------------------

    def _machine_args(self) -> list[str]:
        """The emulated machine every boot uses, whatever it starts."""
        return [
            self.qemu, "-name", f"hostbook-lab,process={self.workdir.name}",
            "-machine", "pc,accel=tcg", "-cpu", os.environ.get("HOSTBOOK_LAB_CPU", "max"),
            "-smp", str(self.cpus), "-m", str(self.memory_mb),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
        ]

    def _disk_args(self, boot_disk: int | None = None) -> list[str]:
        """The virtio disks with their serials; ``boot_disk`` is the firmware's first."""
        cmd: list[str] = []
        for i, (spec, path) in enumerate(zip(self.disks, self.disk_paths, strict=True)):
            cmd += ["-drive", f"if=none,id=d{i},file={path},format=raw,cache=unsafe,"
                    "discard=unmap"]
            dev = f"virtio-blk-pci,drive=d{i},serial={self.serials[i]}"
            if spec.sector_size != 512:
                dev += f",logical_block_size={spec.sector_size}," \
                       f"physical_block_size={spec.sector_size}"
            if boot_disk == i:
                dev += ",bootindex=1"
            cmd += ["-device", dev]
        return cmd

    def _qemu_cmd(self, share: Path, console: Path | None) -> list[str]:
        append = " ".join(
            [
                "console=ttyS0", "quiet", "panic=-1", "hostbook.lab=1",
                f"hostbook.root={ROOT_TAG}", f"hostbook.share={SHARE_TAG}",
                "mitigations=off", "tsc=reliable", "no_timer_check", "8250.nr_uarts=1",
                "i8042.noaux", "i8042.nokbd", "raid=noautodetect", self.append,
            ]
        ).strip()
        cmd = [
            *self._machine_args(),
            "-kernel", str(self.kernel.vmlinuz), "-initrd", str(self.initramfs),
            "-append", append,
            "-serial", f"file:{console}" if console else "mon:stdio",
            "-virtfs",
            f"local,path=/,mount_tag={ROOT_TAG},security_model=none,readonly=on,"
            "multidevs=remap",
            "-virtfs",
            f"local,path={share},mount_tag={SHARE_TAG},security_model=none,multidevs=remap",
            "-device", "virtio-rng-pci",
        ]
        return cmd + self._firmware_args() + self._disk_args()

    def boot_disks(self, *, timeout: float, boot_disk: int = 0,
                   until: str | None = None) -> DiskBoot:
        """Boot what is installed on the disks: firmware, its bootloader, its kernel.

        No ``-kernel``, no shared root: the installed system is on its own, the way
        a rebuilt machine is.  It tells the test what it saw on its serial console
        (a marker unit, say) and powers itself off.  ``until``: stop the guest as
        soon as the console shows this text instead of waiting for the power-off.
        The images must outlive the boot that installed them (``keep_images``).
        Raises GuestTimeout, with the console tail, when neither happens in time.
        """
        if self._closed:
            raise RuntimeError("Guest is closed")
        if not self.keep_images and any(d.path is None for d in self.disks):
            raise ValueError("boot_disks needs keep_images=True (or caller-owned images)")
        self.boots += 1
        boot_dir = self.workdir / f"boot{self.boots}"
        boot_dir.mkdir(parents=True)
        console = boot_dir / "console.log"
        self._prepare_disks()
        self._prepare_firmware()
        cmd = [*self._machine_args(), "-serial", f"file:{console}",
               "-device", "virtio-rng-pci", *self._firmware_args(),
               *self._disk_args(boot_disk)]
        lock = _lab_lock()
        started = time.monotonic()
        try:
            with open(boot_dir / "qemu.log", "wb") as log:
                self._proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=_set_pdeathsig, pass_fds=(lock,))
            self.guardian.register(self._proc.pid)
        finally:
            os.close(lock)
        proc = self._proc
        seen = False
        try:
            while proc.poll() is None:
                if time.monotonic() - started > timeout:
                    raise GuestTimeout(
                        f"installed system did not finish within {timeout}s and was killed\n"
                        + _tail(_read(console)))
                if until is not None and until in _read(console):
                    seen = True
                    break
                time.sleep(0.5)
        finally:
            self._kill()
            self._proc = None
        text = _read(console)
        return DiskBoot(console=text, seconds=time.monotonic() - started,
                        powered_off=not seen, returncode=proc.returncode)

    def _write_share(self, share: Path, steps: Sequence[Step], mode: str,
                     stop_on_error: bool) -> None:
        for sub in ("steps", "out", "results"):
            (share / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(GUEST_DIR / "stage2.sh", share / "stage2.sh")
        venv_bin = Path(sys.executable).parent
        config = {
            "LAB_MODE": mode,
            "LAB_STOP_ON_ERROR": "1" if stop_on_error else "0",
            "LAB_PYTHON": sys.executable,
            "LAB_PATH": str(venv_bin),
            "LAB_BUILDERS": str(BUILDERS_DIR),
            "LAB_CWD": str(REPO_ROOT),
            "LAB_TERM": os.environ.get("TERM", "vt100") if mode == "shell" else "dumb",
            # Tearing the stack down only matters for images that outlive the boot.
            "LAB_KEEP": "\n".join(_hidden_in_guest()),
            "LAB_CLEAN_SHUTDOWN": "1" if self.clean_shutdown and self.images_persist else "0",
        }
        (share / "config").write_text(
            "".join(f"{k}={shlex.quote(v)}\n" for k, v in config.items())
        )
        names = [s.name for s in steps]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate step names: {names}")
        plan = []
        for idx, step in enumerate(steps):
            (share / "steps" / f"{idx:02d}.script").write_text(step.script)
            tmo = str(int(step.timeout)) if step.timeout else "0"
            plan.append(f"{idx:02d}\t{step.name}\t{step.interpreter}\t{tmo}\n")
        (share / "steps" / "plan.tsv").write_text("".join(plan))

    def start(self, steps: Sequence[Step], *, stop_on_error: bool = False) -> Boot:
        """Start one boot running `steps` and return at once; `Boot.wait()` finishes
        it. For tests that act on a running guest (e.g. kill it mid-way); most tests
        want `run_steps`."""
        if self._closed:
            raise RuntimeError("Guest is closed")
        if not steps:
            raise ValueError("no steps to run")
        if self._proc is not None and self._proc.poll() is None:
            raise RuntimeError("this Guest is already running a boot")
        self.boots += 1
        boot_dir = self.workdir / f"boot{self.boots}"
        share = boot_dir / "share"
        share.mkdir(parents=True)
        self._write_share(share, steps, "batch", stop_on_error)
        self._prepare_disks()
        self._prepare_firmware()
        boot = Boot(self, list(steps), boot_dir)
        lock = _lab_lock()
        try:
            with open(boot.qemu_log, "wb") as log:
                self._proc = subprocess.Popen(
                    self._qemu_cmd(share, boot.console_log), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    preexec_fn=_set_pdeathsig, pass_fds=(lock,),
                )
            self.guardian.register(self._proc.pid)
        except BaseException:
            self._kill()
            self._drop_disks()
            raise
        finally:
            os.close(lock)
        boot.proc = self._proc
        return boot

    def run_steps(
        self,
        steps: Sequence[Step],
        *,
        timeout: float = 300,
        stop_on_error: bool = False,
        results_dir: Path | str | None = None,
    ) -> BootResult:
        """Boot once, run `steps` in order, power off; return per-step results.

        A guest still running after `timeout` seconds is killed and GuestTimeout is
        raised with the console tail; a guest that dies before finishing raises
        GuestError. A step failing is not an exception: check `result.ok`/`check()`.
        `results_dir`: copy the guest's results folder there (it otherwise lives in
        the work directory until `close()`).
        """
        return self.start(steps, stop_on_error=stop_on_error).wait(
            timeout, results_dir=results_dir)

    def run(
        self,
        script: str,
        *,
        timeout: float = 300,
        interpreter: str = "bash",
        results_dir: Path | str | None = None,
    ) -> BootResult:
        """Boot once and run one script; `result.rc/.stdout/.stderr` are its own."""
        return self.run_steps([Step("main", script, interpreter)], timeout=timeout,
                              results_dir=results_dir)

    def shell(self, steps: Sequence[Step] = ()) -> int:
        """Boot with the console on this terminal, run `steps` (output shown), then
        give an interactive root shell; power off when it exits. Ctrl-A X kills the
        guest. Returns qemu's exit code."""
        if self._closed:
            raise RuntimeError("Guest is closed")
        self.boots += 1
        share = self.workdir / f"boot{self.boots}" / "share"
        share.mkdir(parents=True)
        self._write_share(share, steps, "shell", False)
        self._prepare_disks()
        self._prepare_firmware()
        lock = _lab_lock()
        try:
            try:
                self._proc = subprocess.Popen(self._qemu_cmd(share, None),
                                              preexec_fn=_set_pdeathsig, pass_fds=(lock,))
            finally:
                os.close(lock)
            self.guardian.register(self._proc.pid)
            rc = self._proc.wait()
            self._proc = None
            return rc
        finally:
            self._kill()
            self._drop_disks()


class Boot:
    """One running boot of a Guest (from `Guest.start`)."""

    def __init__(self, guest: Guest, steps: list[Step], boot_dir: Path) -> None:
        self.guest = guest
        self.steps = steps
        self.dir = boot_dir
        self.share = boot_dir / "share"
        self.console_log = boot_dir / "console.log"
        self.qemu_log = boot_dir / "qemu.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = time.monotonic()

    @property
    def pid(self) -> int | None:
        """qemu's pid."""
        return self.proc.pid if self.proc else None

    def console(self) -> str:
        """The console so far."""
        return _read(self.console_log)

    def step_started(self, name: str) -> bool:
        """True once the guest has started step `name`."""
        idx = [s.name for s in self.steps].index(name)
        return (self.share / "out" / f"{idx:02d}.start").exists()

    def wait_for_step(self, name: str, timeout: float) -> None:
        """Block until step `name` has started; GuestError if qemu exits first,
        GuestTimeout (guest killed) if `timeout` passes."""
        deadline = time.monotonic() + timeout
        while not self.step_started(name):
            if self.proc is None or self.proc.poll() is not None:
                raise GuestError(f"guest exited before step {name!r} started\n"
                                 f"--- console tail:\n{_tail(self.console())}")
            if time.monotonic() > deadline:
                self.kill()
                raise GuestTimeout(f"step {name!r} did not start within {timeout}s\n"
                                   f"--- console tail:\n{_tail(self.console())}")
            time.sleep(0.2)

    def kill(self) -> None:
        """Kill qemu now (SIGKILL to its process group)."""
        self.guest._kill()
        self.guest._drop_disks()

    def _progress(self) -> str:
        """Where a killed guest had got to, with the partial output of the step that
        was running: the console alone rarely says why a step hung."""
        out = self.share / "out"
        lines = []
        if not (out / "ready").exists():
            lines.append("guest never reached 'storage stack ready'")
        for idx, step in enumerate(self.steps):
            key = f"{idx:02d}"
            if (out / f"{key}.start").exists() and not (out / f"{key}.rc").exists():
                lines.append(f"step {step.name!r} was running; its output so far:")
                lines += ["  " + ln for ln in _tail(
                    _read(out / f"{key}.stdout") + _read(out / f"{key}.stderr"), 20
                ).splitlines()]
        return "\n".join(lines)

    def _collect(self) -> dict[str, StepResult]:
        out = self.share / "out"
        results: dict[str, StepResult] = {}
        for idx, step in enumerate(self.steps):
            key = f"{idx:02d}"
            rc_text = _read(out / f"{key}.rc").strip()
            seconds: float | None = None
            with contextlib.suppress(ValueError):
                seconds = round(float(_read(out / f"{key}.end")) -
                                float(_read(out / f"{key}.start")), 2)
            results[step.name] = StepResult(
                name=step.name,
                rc=int(rc_text) if rc_text.lstrip("-").isdigit() else None,
                stdout=_read(out / f"{key}.stdout"),
                stderr=_read(out / f"{key}.stderr"),
                seconds=seconds,
            )
        return results

    def wait(self, timeout: float = 300, *, results_dir: Path | str | None = None
             ) -> BootResult:
        """Wait up to `timeout` more seconds for the guest to power off; see
        `Guest.run_steps` for the failure modes."""
        proc = self.proc
        if proc is None:
            raise RuntimeError("boot was not started")
        try:
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise GuestTimeout(
                    f"guest did not finish within {timeout}s and was killed\n"
                    f"{self._progress()}\n"
                    f"--- console tail ({self.console_log}):\n{_tail(self.console())}"
                ) from None
            elapsed = time.monotonic() - self.started
            out = self.share / "out"
            if not (out / "done").exists():
                raise GuestError(
                    f"guest stopped before finishing (qemu rc={rc}, {elapsed:.1f}s)\n"
                    f"{self._progress()}\n"
                    f"--- qemu log:\n{_tail(_read(self.qemu_log), 20)}\n"
                    f"--- console tail ({self.console_log}):\n{_tail(self.console())}"
                )
            ready: float | None = None
            with contextlib.suppress(ValueError):
                ready = round(float(_read(out / "ready")), 2)
            phases: dict[str, float] = {}
            for line in _read(out / "phases").splitlines():
                name, _, value = line.partition(" ")
                with contextlib.suppress(ValueError):
                    phases[name] = float(value)
            result = BootResult(
                steps=self._collect(),
                console=self.console(),
                results_dir=self.share / "results",
                seconds=round(elapsed, 2),
                ready_seconds=ready,
                phases=phases,
            )
            if results_dir is not None:
                shutil.copytree(self.share / "results", results_dir, dirs_exist_ok=True)
                result.results_dir = Path(results_dir)
            return result
        finally:
            self.kill()


@contextlib.contextmanager
def guest(disks: Sequence[DiskSpec] = (), **kwargs: object) -> Iterator[Guest]:
    """`with guest([...]) as g:` — same as `with Guest(...)`, for symmetry with
    loop_devices_ctx."""
    g = Guest(disks, **kwargs)  # type: ignore[arg-type]
    try:
        yield g
    finally:
        g.close()


@dataclass
class Timing:
    """Measured figures of a boot, for reports and the speed test."""

    boot_to_ready: float | None
    total: float
    steps: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def of(cls, result: BootResult) -> Timing:
        return cls(result.ready_seconds, result.seconds,
                   {n: s.seconds for n, s in result.steps.items()})
