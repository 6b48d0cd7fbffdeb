"""The lab's host shapes (layouts) and what the guest's tools said about them.

Why: capture and restore tests need the same realistic layouts again and again. Each
layout is a shell builder in tests/lab/builders/ (run inside the guest) plus its
disks here; the files a builder writes are declared once, in the builder's FILES
table, and this module derives their checksums from it, so a restore test knows what
must come back without trusting the guest that wrote it.

    disks = disks_for("laptop", "server")          # DiskSpecs with fixed serials
    steps = [build_step("laptop"), build_step("server"), collect_step()]
    with Guest(disks, keep_images=True) as g:
        r = g.run_steps(steps, timeout=300).check()
        state = GuestState.load(r.results_dir / "state")
        assert state.lsblk_device("laptop0")["pttype"] == "gpt"
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.lab.vm import BUILDERS_DIR, DiskSpec, Step


@dataclass(frozen=True)
class Layout:
    """A host shape: its builder script and the disks it needs (by serial)."""

    name: str
    description: str
    disks: tuple[DiskSpec, ...]

    @property
    def builder(self) -> Path:
        """The builder script, tests/lab/builders/<name>.sh."""
        return BUILDERS_DIR / f"{self.name}.sh"

    @property
    def serials(self) -> list[str]:
        """Serial of each disk, in the order the builder takes them."""
        return [d.serial or "" for d in self.disks]

    @property
    def disk_paths(self) -> list[str]:
        """The guest paths of the disks: /dev/disk/by-id/virtio-<serial>."""
        return [f"/dev/disk/by-id/virtio-{s}" for s in self.serials]

    @property
    def mountpoint(self) -> str:
        """Where the builder mounts the layout's root in the guest."""
        return f"/mnt/lab/{self.name}"

    def command(self, action: str) -> str:
        """Shell command running the builder's `action` (build, mount, verify)."""
        args = " ".join(shlex.quote(p) for p in self.disk_paths)
        return f'bash "$LAB_BUILDERS/{self.name}.sh" {action} {args}'

    def files(self) -> list[tuple[str, int, str]]:
        """(relative path, size, seed) of each file the builder writes, from FILES."""
        text = self.builder.read_text()
        m = re.search(r"^FILES='\n(.*?)^'", text, re.MULTILINE | re.DOTALL)
        if not m:
            raise ValueError(f"{self.builder}: no FILES='...' table")
        out = []
        for line in m.group(1).splitlines():
            parts = line.split()
            if parts:
                out.append((parts[0], int(parts[1]), parts[2]))
        return out

    def expected_checksums(self) -> dict[str, str]:
        """sha256 of each file the builder writes, computed here, not in the guest."""
        return {rel: hashlib.sha256(content(size, seed)).hexdigest()
                for rel, size, seed in self.files()}


def content(size: int, seed: str) -> bytes:
    """The bytes lab_content in common.sh writes: `yes SEED | head -c SIZE`."""
    line = (seed + "\n").encode()
    return (line * (size // len(line) + 1))[:size]


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("laptop", "GPT, ESP vfat, /boot ext4, LUKS2 -> LVM (root ext4, swap, home xfs)",
               (DiskSpec("4G", serial="laptop0"),)),
        Layout("server", "2 disks: md raid1 /boot, md raid1 -> LVM root/var ext4, data xfs",
               (DiskSpec("3G", serial="server0"), DiskSpec("3G", serial="server1"))),
        Layout("legacy", "MBR: primary ext4 /, extended with logical swap and ext4 /home",
               (DiskSpec("2G", serial="legacy0"),)),
        Layout("btrfs", "4Kn disk, GPT: ESP vfat, btrfs with @ (default), @home, @snapshots",
               (DiskSpec("3G", serial="btrfs0", sector_size=4096),)),
        Layout("thin", "LVM thin pool with two thin volumes (ext4, xfs)",
               (DiskSpec("2G", serial="thin0"),)),
    )
}
ALL_LAYOUTS: tuple[str, ...] = tuple(LAYOUTS)


def disks_for(*names: str) -> list[DiskSpec]:
    """The disks of the named layouts, for one guest that builds them all."""
    return [d for name in names for d in LAYOUTS[name].disks]


def build_step(name: str, timeout: float | None = 180) -> Step:
    """Step that builds layout `name` (and leaves it mounted, like a running host)."""
    return Step(f"build-{name}", LAYOUTS[name].command("build"), timeout=timeout)


def mount_step(name: str, timeout: float | None = 120) -> Step:
    """Step that activates and mounts layout `name` on a later boot."""
    return Step(f"mount-{name}", LAYOUTS[name].command("mount"), timeout=timeout)


def verify_step(name: str, timeout: float | None = 120) -> Step:
    """Step that activates, mounts and checks layout `name`'s files on a later boot."""
    return Step(f"verify-{name}", LAYOUTS[name].command("verify"), timeout=timeout)


def teardown_step(timeout: float | None = 120) -> Step:
    """Step that unmounts and deactivates everything (LVM, LUKS, md)."""
    return Step("teardown", 'bash "$LAB_BUILDERS/teardown.sh"', timeout=timeout)


def wipe_step(*names: str, timeout: float | None = 120) -> Step:
    """Step that tears everything down and wipes the disks of the named layouts."""
    paths = " ".join(p for n in names for p in LAYOUTS[n].disk_paths)
    return Step(f"wipe-{'-'.join(names)}", f'bash "$LAB_BUILDERS/wipe.sh" {paths}',
                timeout=timeout)


def collect_step(dirname: str = "state", timeout: float | None = 120) -> Step:
    """Step that records the guest tools' view into $LAB_RESULTS/<dirname>/."""
    return Step(f"collect-{dirname}", f'bash "$LAB_BUILDERS/collect.sh" {dirname}',
                timeout=timeout)


def udev_refresh_step(*names: str, timeout: float | None = 120) -> Step:
    """Step that has udev read every node under the named layouts' disks again: udevd
    can drop the event of a tool's last write, leaving lsblk without what is there."""
    paths = " ".join(shlex.quote(p) for n in names for p in LAYOUTS[n].disk_paths)
    return Step("udev-refresh", f'bash "$LAB_BUILDERS/udev-refresh.sh" {paths}',
                timeout=timeout)


def wipe_layers_step(*names: str, step: str = "wipe", timeout: float | None = 300) -> Step:
    """Step that wipes the named layouts' disks layer by layer, stack still up
    (wipefs -a on every layer, first and last MiB zeroed): a restore's blank start."""
    paths = " ".join(shlex.quote(p) for n in names for p in LAYOUTS[n].disk_paths)
    return Step(step, f'bash "$LAB_BUILDERS/wipe-layers.sh" {paths}', timeout=timeout)


# Inside the guest (the project's python): capture each group of disks through the
# CLI, as the host they make up. The other groups' disks are excluded through the
# capture configuration; the group's fstab and crypttab (its builder writes them under
# /mnt/lab/<name>/etc) go to the guest's /etc, a tmpfs overlay. Each attempt's outcome
# and storage.yaml land in $LAB_RESULTS/<subdir>/<name>/, the first attempt's
# recording in .../rec/.
CAPTURE_SCRIPT = r"""
import json, os, shutil, time
from pathlib import Path
from click.testing import CliRunner
from hostbook.cli import cli

groups = json.loads(os.environ.get("STORAGE_GROUPS") or %(groups)r)
attempts, spare = %(attempts)r, %(exclude)r
results = Path(os.environ["LAB_RESULTS"]) / %(subdir)r
kname = lambda serial: os.path.realpath(f"/dev/disk/by-id/virtio-{serial}").rsplit("/", 1)[1]
for name, serials in groups.items():
    others = [kname(s) for n, ss in groups.items() if n != name for s in ss]
    others += [kname(s) for s in spare]
    out = results / name
    out.mkdir(parents=True)
    repo = %(repo)r.format(name=name)
    config = out / "config.json"  # JSON is YAML: load_config reads it
    config.write_text(json.dumps({"schema": "hostbook/config/v1",
                                  "storage": {"exclude_devices": others}}))
    for tab in ("fstab", "crypttab"):
        source, target = Path(f"/mnt/lab/{name}/etc/{tab}"), Path(f"/etc/{tab}")
        if source.exists():
            shutil.copyfile(source, target)
            shutil.copyfile(source, out / tab)
        elif target.exists():
            target.unlink()
    for attempt in attempts:
        args = ["capture", "--only", "storage", "--repo", repo, "--host", name,
                "--config", str(config), "--json"]
        if attempt == attempts[0]:
            args += ["--record", str(out / "rec")]
        started = time.monotonic()
        result = CliRunner().invoke(cli, args, catch_exceptions=False)
        seconds = time.monotonic() - started
        (out / f"{attempt}.json").write_text(json.dumps(
            {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
             "seconds": seconds}))
        shutil.copyfile(f"{repo}/hosts/{name}/storage.yaml", out / f"{attempt}.yaml")
"""


def capture_step(groups: dict[str, list[str]], *, repo: str = "/tmp/repo-{name}",
                 attempts: tuple[str, ...] = ("first", "again"), exclude: tuple[str, ...] = (),
                 step: str = "capture", subdir: str = "storage",
                 timeout: float | None = 1200) -> Step:
    """Step that captures each group of disks (layout name -> serials) as host <name>
    into `repo` ({name} is filled in), once per attempt, the first one recorded. The
    disks of the other groups, and those with a serial in `exclude`, are left out."""
    script = CAPTURE_SCRIPT % {"groups": json.dumps(groups), "attempts": attempts,
                               "exclude": exclude, "repo": repo, "subdir": subdir}
    return Step(step, script, "python", timeout=timeout)


# --------------------------------------------------------------------------------------
# Parsing what collect.sh recorded
# --------------------------------------------------------------------------------------


def parse_export(text: str) -> list[dict[str, str]]:
    """KEY=value blocks separated by blank lines (blkid -o export)."""
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
            cur = {}
            continue
        key, _, value = line.partition("=")
        cur[key] = value
    if cur:
        blocks.append(cur)
    return blocks


def parse_colon_fields(text: str) -> dict[str, str]:
    """`key: value` lines (cryptsetup status, mdadm --detail), keys stripped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


@dataclass
class GuestState:
    """collect.sh's output, parsed. Every field is what a guest tool reported."""

    dir: Path
    lsblk: list[dict[str, Any]]
    blkid: dict[str, dict[str, str]]
    serials: dict[str, str]
    pvs: list[dict[str, str]]
    vgs: list[dict[str, str]]
    lvs: list[dict[str, str]]
    crypt_status: dict[str, dict[str, str]]
    md_detail: dict[str, str]
    md_export: dict[str, dict[str, str]]
    mounts: list[dict[str, Any]]
    swaps: list[str]
    btrfs_subvolumes: dict[str, str] = field(default_factory=dict)
    btrfs_default: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> GuestState:
        """Parse a collect.sh output directory."""
        def text(name: str) -> str:
            p = directory / name
            return p.read_text() if p.exists() else ""

        def report(name: str, key: str) -> list[dict[str, str]]:
            """Rows of one section of an LVM JSON report. fullreport has one report
            per VG and its pv/lv rows lack vg_name, so it is added from the report."""
            data = json.loads(text(name) or "{}")
            rows = []
            for r in data.get("report", []):
                vg_name = (r.get("vg") or [{}])[0].get("vg_name", "")
                for row in r.get(key, []):
                    rows.append({"vg_name": vg_name, **row})
            return rows

        blkid = {b["DEVNAME"]: b for b in parse_export(text("blkid.txt")) if "DEVNAME" in b}
        serials = dict(line.split() for line in text("byid.txt").splitlines() if line.strip())

        def flat_mounts(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
            out = []
            for n in nodes:
                out.append(n)
                out += flat_mounts(n.get("children", []))
            return out

        return cls(
            dir=directory,
            lsblk=json.loads(text("lsblk.json") or '{"blockdevices": []}')["blockdevices"],
            blkid=blkid,
            serials=serials,
            pvs=report("fullreport.json", "pv"),
            vgs=report("fullreport.json", "vg"),
            lvs=report("lvs.json", "lv"),
            crypt_status={p.name.removeprefix("crypt-").removesuffix(".status"):
                          parse_colon_fields(p.read_text())
                          for p in directory.glob("crypt-*.status")},
            md_detail={p.name.removeprefix("md-").removesuffix(".detail"): p.read_text()
                       for p in directory.glob("md-*.detail")},
            md_export={p.name.removeprefix("md-").removesuffix(".export"):
                       (parse_export(p.read_text()) or [{}])[0]
                       for p in directory.glob("md-*.export")},
            mounts=flat_mounts(json.loads(text("findmnt.json") or '{"filesystems": []}')
                               ["filesystems"]),
            swaps=[line.split()[0] for line in text("swaps.txt").splitlines()[1:] if line],
            btrfs_subvolumes={p.name.removeprefix("btrfs-").removesuffix(".subvolumes"):
                              p.read_text() for p in directory.glob("btrfs-*.subvolumes")},
            btrfs_default={p.name.removeprefix("btrfs-").removesuffix(".default"):
                           p.read_text() for p in directory.glob("btrfs-*.default")},
        )

    def lsblk_device(self, serial: str) -> dict[str, Any]:
        """lsblk's entry (with children) for the disk with this serial."""
        name = self.serials[serial]
        for dev in self.lsblk:
            if dev["name"] == name:
                return dev
        raise KeyError(f"no lsblk entry for {serial} ({name})")

    def lsblk_tree(self, serial: str) -> list[dict[str, Any]]:
        """Every lsblk node under the disk with this serial, disk first, depth first."""
        out: list[dict[str, Any]] = []

        def walk(node: dict[str, Any]) -> None:
            out.append(node)
            for child in node.get("children", []):
                walk(child)

        walk(self.lsblk_device(serial))
        return out

    def lv(self, vg: str, name: str) -> dict[str, str]:
        """lvs' row for vg/name (the first segment's row when an LV has several)."""
        for row in self.lvs:
            if row.get("vg_name") == vg and row.get("lv_name") == name:
                return row
        raise KeyError(f"no LV {vg}/{name}")

    def mount(self, target: str) -> dict[str, Any]:
        """findmnt's entry for the mount point `target`."""
        for m in self.mounts:
            if m.get("target") == target:
                return m
        raise KeyError(f"{target} is not mounted")
