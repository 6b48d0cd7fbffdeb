"""Storage restore round trips on loop devices: build, capture, wipe, restore, verify.

Real partition tables (GPT with 512- and 4096-byte sectors, MBR with logical
partitions) and real ext2/3/4, xfs, btrfs (subvolumes, default subvolume),
vfat and swap, all on loop devices over files created here.  Each restore
goes through the `hostbook restore` commands and must verify with zero
differences; the filesystems are then mounted under the target root as the
captured fstab says.  This machine's kernel has no device-mapper: LUKS, LVM
and md round trips are the lab tier's (tests/lab/test_restore_layouts.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hostbook.cli import cli as hostbook_cli
from hostbook.commands.restore import restore
from tests.loopdev import LoopDevice, LoopDevices, check_loop_tier
from tests.paths import FIXTURES
from tests.tiers import available, require_tools

pytestmark = pytest.mark.loop

TOOLS = ("sfdisk", "partx", "blkid", "wipefs", "mkfs.ext4", "mkfs.xfs", "mkfs.btrfs",
         "mkfs.fat", "mkswap", "unshare", "findmnt")
ENV = {**os.environ, "LC_ALL": "C"}

# The captured hosts' fstab: logical mountpoints, filesystems by UUID/LABEL.
GPT_FSTAB = """\
# a host with everything on one GPT disk
UUID={root}  /           ext4   errors=remount-ro       0 1
{vfat}UUID={esp}   /boot/efi   vfat   umask=0077              0 1
LABEL=xdata  /srv/data   xfs    defaults,nofail         0 2
UUID={btrfs} /home       btrfs  subvol=@home,noatime    0 0
UUID={btrfs} /var/lib    btrfs  defaults,x-systemd.automount 0 0
UUID={swap}  none        swap   sw                      0 0
"""
MBR_FSTAB = """\
UUID={root}  /      ext4  defaults  0 1
UUID={home}  /home  ext3  defaults  0 2
UUID={swap}  none   swap  sw        0 0
"""
KN4_FSTAB = """\
UUID={data}  /      ext4  defaults   0 1
{vfat}UUID={esp}   /efi   vfat  umask=0077 0 1
"""


def kernel_has(fstype: str) -> bool:
    """Whether this kernel mounts ``fstype`` (this machine's has no vfat)."""
    return any(line.split()[-1] == fstype
               for line in Path("/proc/filesystems").read_text().splitlines() if line.strip())


# fstab lines for vfat are commented out where the kernel cannot mount vfat:
# the ESP is still restored and verified, just not mounted.
VFAT = "" if kernel_has("vfat") else "# "


def sh(*argv: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=ENV,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr}")
    return result.stdout


def uuid_of(device: str) -> str:
    return sh("blkid", "-p", "-s", "UUID", "-o", "value", device).strip()


def partition(dev: LoopDevice, table: str) -> list[str]:
    dev.assert_ours()
    sh("sfdisk", "--quiet", "--wipe", "always", dev.path, stdin=table)
    listed = sh("partx", "--show", "--noheadings", "-o", "NR", dev.path).split()
    sh("partx", "--update", "--nr", f"1:{max(int(n) for n in listed)}", dev.path)
    return dev.partitions()


def wipe(dev: LoopDevice) -> None:
    """What a dead disk's replacement looks like: every layer wiped, first and last MiB zero."""
    dev.assert_ours()
    for part in reversed(dev.partitions()):
        sh("wipefs", "--all", "--quiet", part)
    sh("wipefs", "--all", "--quiet", dev.path)
    with open(dev.path, "r+b") as handle:
        handle.write(bytes(1 << 20))
        handle.seek(dev.size - (1 << 20))
        handle.write(bytes(1 << 20))
        handle.flush()
        os.fsync(handle.fileno())
    dev.rescan()
    assert sh("wipefs", "--json", dev.path).count('"type"') == 0


@dataclass
class Host:
    """A host built on loop devices and captured into a manifest repository."""

    name: str
    devices: list[LoopDevice]
    repo: Path
    state: Path
    uuids: dict[str, str]
    copies: list[LoopDevice] = field(default_factory=list)


def capture_host(make: LoopDevices, name: str, devices: list[LoopDevice], fstab: str,
                 uuids: dict[str, str]) -> Host:
    """Capture with the host's own fstab bound over /etc/fstab in a private mount namespace."""
    repo = make.workdir / f"repo-{name}"
    fstab_file = make.workdir / f"fstab-{name}"
    fstab_file.write_text(fstab.format(vfat=VFAT, **uuids))
    record = os.environ.get("HOSTBOOK_RECORD_FIXTURES")
    code = (
        "import sys; from pathlib import Path\n"
        "from hostbook.capture.workflow import CaptureRequest, capture\n"
        "from hostbook.manifest.sections.config import ConfigDocument\n"
        "cfg = ConfigDocument.model_validate({'schema': 'hostbook/config/v1'})\n"
        "rec = Path(sys.argv[4]) if len(sys.argv) > 4 else None\n"
        "out = capture(CaptureRequest(repository=Path(sys.argv[1]), sections=['storage'],\n"
        "    config=cfg, host=sys.argv[2], record=rec,\n"
        "    options={'storage_devices': sys.argv[3].split(',')}))\n"
        "sys.exit(1 if out.partial else 0)\n"
    )
    argv = [sys.executable, "-c", code, str(repo), name, ",".join(d.path for d in devices)]
    if record:
        argv.append(str(FIXTURES / f"restore-loop-{name}"))
    script = 'mount --bind "$0" /etc/fstab && exec "$@"'
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                             script, str(fstab_file), *argv],
                            capture_output=True, text=True, env=ENV, check=False)
    assert result.returncode == 0, result.stderr
    return Host(name, devices, repo, make.workdir / f"state-{name}", uuids)


def cli(host: Host, *args: str, input: str | None = None) -> Result:
    env = {"HOSTBOOK_STATE_DIR": str(host.state), "LC_ALL": "C"}
    return CliRunner().invoke(restore, [args[0], "--repo", str(host.repo), host.name, *args[1:]],
                              env=env, input=input, catch_exceptions=False)


def maps(host: Host, targets: list[LoopDevice]) -> list[str]:
    out = []
    for old, new in zip(host.devices, targets, strict=True):
        out += ["--map", f"{old.name}={new.path}"]
    return out


def storage_doc(host: Host) -> dict:
    from hostbook.manifest.yamlio import read_document

    return json.loads(json.dumps(read_document(host.repo / "hosts" / host.name /
                                               "storage.yaml")))


@pytest.fixture(scope="module")
def make() -> Iterator[LoopDevices]:
    available(check_loop_tier)
    require_tools("loop restore tests", TOOLS)
    devices = LoopDevices()
    try:
        yield devices
    finally:
        devices.close()


@pytest.fixture(scope="module")
def gpt_host(make: LoopDevices) -> Host:
    """One GPT disk: ESP, ext4 root with non-default options, xfs, swap, btrfs subvolumes."""
    dev = make("1G")
    esp, root, xdata, swap, pool = partition(dev, (
        "label: gpt\n"
        "size=64MiB, type=U, name=esp\n"
        'size=200MiB, type=L, name="root fs", attrs="LegacyBIOSBootable"\n'
        "size=340MiB, type=L, name=data\n"
        "size=64MiB, type=S, name=swap\n"
        "type=L, name=pool\n"))
    sh("mkfs.fat", "-F", "32", "-n", "ESP", esp)
    sh("mkfs.ext4", "-q", "-L", "root", "-m", "2", "-i", "8192", "-I", "512",
       "-O", "^metadata_csum,^huge_file", "-E", "stride=4,stripe_width=8", root)
    sh("tune2fs", "-c", "30", "-i", "2w", "-e", "remount-ro", root)
    sh("mkfs.xfs", "-q", "-f", "-L", "xdata", "-m", "reflink=0", "-i", "maxpct=10", xdata)
    sh("mkswap", "-L", "swap0", swap)
    sh("mkfs.btrfs", "-q", "-f", "-L", "pool", "-m", "dup", "-d", "single", pool)
    top = make.workdir / "gpt-top"
    top.mkdir()
    sh("mount", pool, str(top))
    try:
        for sub in ("@", "@home", "@/nested"):
            sh("btrfs", "-q", "subvolume", "create", str(top / sub))
        sh("btrfs", "subvolume", "set-default", str(top / "@"))
    finally:
        sh("umount", str(top))
    uuids = {"root": uuid_of(root), "esp": uuid_of(esp), "btrfs": uuid_of(pool),
             "swap": uuid_of(swap)}
    return capture_host(make, "gpthost", [dev], GPT_FSTAB, uuids)


@pytest.fixture(scope="module")
def mbr_host(make: LoopDevices) -> Host:
    """One MBR disk: bootable primary ext4, extended with logical swap and ext3."""
    dev = make("512M")
    p1, _ext, p5, p6 = partition(dev, (
        "label: dos\nlabel-id: 0x5eed1234\n"
        "size=100MiB, type=83, bootable\ntype=5\nsize=64MiB, type=82\ntype=83\n"))
    sh("mkfs.ext4", "-q", "-L", "mbr-root", p1)
    sh("mkswap", "-L", "mbr-swap", p5)
    sh("mkfs.ext3", "-q", "-L", "mbr-home", p6)
    uuids = {"root": uuid_of(p1), "home": uuid_of(p6), "swap": uuid_of(p5)}
    return capture_host(make, "mbrhost", [dev], MBR_FSTAB, uuids)


@pytest.fixture(scope="module")
def kn4_host(make: LoopDevices) -> Host:
    """A 4096-byte-sector disk: GPT, vfat with 4 KiB sectors, ext4."""
    dev = make("600M", sector_size=4096)
    esp, data = partition(dev, "label: gpt\nsize=300MiB, type=U\ntype=L, name=kn\n")
    sh("mkfs.fat", "-F", "32", "-S", "4096", "-n", "KNESP", esp)
    sh("mkfs.ext4", "-q", "-b", "4096", "-L", "kn-data", data)
    uuids = {"data": uuid_of(data), "esp": uuid_of(esp)}
    return capture_host(make, "kn4host", [dev], KN4_FSTAB, uuids)


def restore_and_verify(host: Host, targets: list[LoopDevice], target_root: Path) -> str:
    """apply (with --yes) then verify; return verify's output."""
    for dev in targets:
        dev.assert_ours()
    args = maps(host, targets)
    host.copies += [t for t in targets if t not in host.devices]
    result = cli(host, "apply", *args, "--target", str(target_root), "--yes")
    assert result.exit_code == 0, result.output
    for dev in targets:
        dev.rescan()
    # verify exactly as apply printed it (the repository included), from another directory
    printed = shlex.split(result.output.split("\nnext: ", 1)[1].splitlines()[0])
    assert printed[:4] == ["hostbook", "restore", "verify", host.name], printed
    with contextlib.chdir("/"):
        result = CliRunner().invoke(
            hostbook_cli, printed[1:], catch_exceptions=False,
            env={"HOSTBOOK_STATE_DIR": str(host.state), "LC_ALL": "C", "HOSTBOOK_REPO": None})
    assert result.exit_code == 0, result.output
    assert "matches the manifest" in result.output
    return result.output


def test_gpt_round_trip_same_disk(make: LoopDevices, gpt_host: Host) -> None:
    dev = gpt_host.devices[0]
    before = sh("sfdisk", "--dump", dev.path)
    blkid_before = {p: sh("blkid", "-p", "-o", "export", p) for p in dev.partitions()}
    wipe(dev)
    root = make.workdir / "target-gpt"
    out = restore_and_verify(gpt_host, [dev], root)
    assert f"{5 if not VFAT else 4} mounts checked" in out
    assert sh("sfdisk", "--dump", dev.path) == before
    for part, text in blkid_before.items():
        after = sh("blkid", "-p", "-o", "export", part)
        for key in ("TYPE", "UUID", "LABEL", "PART_ENTRY_UUID", "PART_ENTRY_NAME"):
            wanted = [ln for ln in text.splitlines() if ln.startswith(key + "=")]
            assert wanted == [ln for ln in after.splitlines() if ln.startswith(key + "=")]
    # fstab order and options: root first, ESP with umask, the btrfs subvolume and the
    # default subvolume (no subvol= option) where fstab puts them
    mounts = json.loads(sh("findmnt", "--json", "-R", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS",
                           str(root)))["filesystems"][0]
    assert mounts["fstype"] == "ext4"
    found = {m["target"]: m for m in mounts["children"]}
    if not VFAT:
        assert "umask=0077" in found[f"{root}/boot/efi"]["options"]
    assert found[f"{root}/home"]["source"].endswith("[/@home]")
    assert found[f"{root}/var/lib"]["source"].endswith("[/@]")
    assert found[f"{root}/srv/data"]["fstype"] == "xfs"
    # a file written into the target tree lands on the filesystem mounted there
    (root / "home" / "user").mkdir(parents=True)
    (root / "home" / "user" / "f").write_text("hello")
    assert sh("findmnt", "-n", "-o", "SOURCE", "-T", str(root / "home/user/f")).strip(
        ).endswith("[/@home]")
    # re-running apply on the finished restore repeats no destructive step: only the
    # btrfs top level is mounted and unmounted again to look at its subvolumes
    result = cli(gpt_host, "apply", *maps(gpt_host, [dev]), "--target", str(root), "--yes")
    assert result.exit_code == 0, result.output
    ran = [ln for ln in result.output.splitlines() if ln.startswith("[") and "skip:" not in ln]
    assert len(ran) == 2 and "top level" in ran[0] and "unmount" in ran[1], ran
    sh("umount", "-R", str(root))


def retire(host: Host) -> None:
    """Wipe the host's disks and earlier copies: a new copy must not meet them."""
    for dev in host.devices + host.copies:
        wipe(dev)
    host.copies.clear()


def test_identities_of_an_attached_disk_are_refused(make: LoopDevices, mbr_host: Host) -> None:
    other = make("512M")
    result = cli(mbr_host, "plan", *maps(mbr_host, [other]))
    assert result.exit_code == 2
    assert f"is already on {mbr_host.devices[0].path}" in result.output


def test_gpt_onto_larger_disk_grows_last_partition(make: LoopDevices, gpt_host: Host) -> None:
    retire(gpt_host)
    big = make("2G")
    root = make.workdir / "target-big"
    restore_and_verify(gpt_host, [big], root)
    doc = storage_doc(gpt_host)
    recorded = {e["number"]: e for e in doc["entries"] if e["type"] == "partition"}
    table = json.loads(sh("sfdisk", "--json", big.path))["partitiontable"]
    parts = {int(p["node"].rsplit("p", 1)[1]): p for p in table["partitions"]}
    for number in (1, 2, 3, 4):
        assert parts[number]["start"] * 512 == recorded[number]["start"]
        assert parts[number]["size"] * 512 == recorded[number]["size"]
    assert parts[5]["size"] * 512 == recorded[5]["size"] + (1 << 30)
    # the btrfs filesystem fills the grown partition
    superblock = sh("btrfs", "inspect-internal", "dump-super", big.partition(5))
    total = next(int(line.split()[1]) for line in superblock.splitlines()
                 if line.startswith("total_bytes"))
    assert total == parts[5]["size"] * 512
    sh("umount", "-R", str(root))


def test_mbr_onto_smaller_disk_that_fits(make: LoopDevices, mbr_host: Host) -> None:
    retire(mbr_host)
    small = make("320M")
    result = cli(mbr_host, "plan", *maps(mbr_host, [small]))
    assert result.exit_code == 0, result.output
    assert "partition 6 shrinks by 192 MiB" in result.output
    assert "fits" in result.output
    assert sh("wipefs", "--json", small.path).count('"type"') == 0  # plan wrote nothing
    root = make.workdir / "target-small"
    restore_and_verify(mbr_host, [small], root)
    assert int(sh("blockdev", "--getsize64", small.partition(6))) == (
        storage_doc_size(mbr_host, 6) - (192 << 20))
    sh("umount", "-R", str(root))


def storage_doc_size(host: Host, number: int) -> int:
    doc = storage_doc(host)
    return next(e["size"] for e in doc["entries"]
                if e["type"] == "partition" and e["number"] == number)


def test_gpt_onto_smaller_disk_that_does_not_fit(make: LoopDevices, gpt_host: Host) -> None:
    small = make("600M")
    pattern = bytes(range(256)) * 4096
    with open(small.path, "r+b") as handle:  # known bytes: "nothing written" is checkable
        handle.write(pattern)
        handle.seek(small.size - len(pattern))
        handle.write(pattern)
    result = cli(gpt_host, "plan", *maps(gpt_host, [small]))
    assert result.exit_code == 2
    assert "REFUSED" in result.output
    assert "btrfs 'pool'" in result.output or "shrink below nothing" in result.output
    result = cli(gpt_host, "apply", *maps(gpt_host, [small]), "--yes")
    assert result.exit_code == 2
    with open(small.path, "rb") as handle:
        assert handle.read(len(pattern)) == pattern
        handle.seek(small.size - len(pattern))
        assert handle.read(len(pattern)) == pattern


def test_the_script_run_by_hand_restores_too(make: LoopDevices, mbr_host: Host) -> None:
    retire(mbr_host)
    target = make("512M")
    script = make.workdir / "by-hand.sh"
    root = make.workdir / "target-by-hand"
    result = cli(mbr_host, "plan", *maps(mbr_host, [target]), "--target", str(root),
                 "--script", str(script))
    assert result.exit_code == 0, result.output
    target.assert_ours()
    run = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=ENV,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    host_copy = Host(mbr_host.name, mbr_host.devices, mbr_host.repo, make.workdir / "s2",
                     mbr_host.uuids)
    result = cli(host_copy, "verify", *maps(mbr_host, [target]), "--target", str(root))
    assert result.exit_code == 0, result.output
    mbr_host.copies.append(target)
    sh("umount", "-R", str(root))


def test_4k_sector_disk_onto_512_byte_disk(make: LoopDevices, kn4_host: Host) -> None:
    retire(kn4_host)
    target = make("600M")
    result = cli(kn4_host, "plan", *maps(kn4_host, [target]))
    assert result.exit_code == 0, result.output
    assert "4096-byte sectors recorded, 512-byte on the target" in result.output
    root = make.workdir / "target-kn4"
    restore_and_verify(kn4_host, [target], root)
    assert json.loads(sh("sfdisk", "--json", target.path))["partitiontable"]["sectorsize"] == 512
    sh("umount", "-R", str(root))


def test_512_byte_layout_onto_4k_disk_is_refused(make: LoopDevices, mbr_host: Host) -> None:
    target = make("512M", sector_size=4096)
    result = cli(mbr_host, "plan", *maps(mbr_host, [target]))
    assert result.exit_code == 2
    assert "block size 1024 is below the target device's 4096-byte logical sectors" in (
        result.output)


def test_busy_target_is_refused(make: LoopDevices, gpt_host: Host) -> None:
    dev = make("1G")
    sh("mkfs.ext4", "-q", dev.path)
    where = make.workdir / "busy"
    where.mkdir()
    sh("mount", dev.path, str(where))
    try:
        result = cli(gpt_host, "plan", *maps(gpt_host, [dev]))
        assert result.exit_code == 2
        assert f"{dev.path} is mounted on {where}" in result.output
    finally:
        sh("umount", str(where))


def test_apply_asks_once_and_stops_without_yes(make: LoopDevices, mbr_host: Host) -> None:
    retire(mbr_host)
    target = make("512M")
    sh("mkfs.ext4", "-q", "-L", "keepme", target.path)
    result = cli(mbr_host, "apply", *maps(mbr_host, [target]), input="no\n")
    assert result.exit_code == 2
    assert f"{target.path}: 512 MiB" in result.output
    assert "nothing was written" in result.output
    assert uuid_of(target.path)
    assert "keepme" in sh("blkid", "-p", target.path)


def test_script_is_valid_bash_and_names_only_mapped_disks(make: LoopDevices,
                                                          gpt_host: Host) -> None:
    retire(gpt_host)
    target = make("1G")
    script = make.workdir / "restore.sh"
    result = cli(gpt_host, "plan", *maps(gpt_host, [target]), "--script", str(script))
    assert result.exit_code == 0, result.output
    sh("bash", "-n", str(script))
    text = script.read_text()
    assert "sfdisk --quiet --wipe always --wipe-partitions always " + target.path in text
    named = {w.strip("'\",()") for w in text.split() if w.startswith(("/dev/", "'/dev/"))}
    assert named <= {target.path, *(f"{target.path}p{n}" for n in range(1, 6)),
                     "/dev/urandom", "/dev/tty"}


XFS_FSTAB = "UUID={data}  /srv  xfs  defaults  0 2\n"


@pytest.fixture(scope="module")
def xfs_host(make: LoopDevices) -> Host:
    """One GPT disk with one XFS filesystem (XFS refuses a second mount of one UUID)."""
    dev = make("512M")
    (data,) = partition(dev, "label: gpt\ntype=L, name=data\n")
    sh("mkfs.xfs", "-q", "-f", "-L", "xsrv", data)
    return capture_host(make, "xfshost", [dev], XFS_FSTAB, {"data": uuid_of(data)})


def test_an_xfs_restored_beside_its_mounted_original_is_refused_by_the_plan(
    make: LoopDevices, xfs_host: Host,
) -> None:
    original = xfs_host.devices[0].partitions()[0]
    where = make.workdir / "xfs-original"
    where.mkdir(exist_ok=True)
    sh("mount", original, str(where))
    try:
        other = make("512M")
        result = cli(xfs_host, "plan", *maps(xfs_host, [other]))
        assert result.exit_code == 2, result.output
        assert f"UUID {xfs_host.uuids['data']}" in result.output, result.output
        assert f"is already on {original}" in result.output, result.output
        assert "--new-identities" in result.output
        # asked for, the copy gets a new UUID, said in the plan, and mounts beside it
        result = cli(xfs_host, "plan", *maps(xfs_host, [other]), "--new-identities")
        assert result.exit_code == 0, result.output
        assert f"(the recorded {xfs_host.uuids['data']} is on {original})" in result.output
        root = make.workdir / "target-xfs-copy"
        result = cli(xfs_host, "apply", *maps(xfs_host, [other]), "--target", str(root),
                     "--yes", "--new-identities")
        assert result.exit_code == 0, result.output
        try:
            copy = other.partitions()[0]
            assert sh("findmnt", "-n", "-o", "SOURCE", str(root / "srv")).strip() == copy
            assert uuid_of(copy) != xfs_host.uuids["data"]
        finally:
            subprocess.run(["umount", "-R", str(root / "srv")], check=False)
            wipe(other)
    finally:
        sh("umount", str(where))


def test_a_failed_mount_shows_what_the_kernel_said(make: LoopDevices, xfs_host: Host,
                                                   tmp_path: Path) -> None:
    """mount says only "dmesg(1) may have more information": apply shows those lines."""
    from hostbook.manifest.errors import RuntimeFailure
    from hostbook.process.runner import LiveRunner
    from hostbook.restore.apply.apply_journal import Journal
    from hostbook.restore.apply.executor import apply_steps
    from hostbook.restore.apply.passphrases import PassphraseSource
    from hostbook.restore.plan.steps import Command, Step
    from hostbook.restore.target.guard import DeviceGuard

    original = xfs_host.devices[0].partitions()[0]
    twin = make("512M")
    (copy,) = partition(twin, "label: gpt\ntype=L, name=data\n")
    # the state a restore beside the mounted original leaves: the same XFS UUID twice
    sh("mkfs.xfs", "-q", "-f", "-m", f"uuid={xfs_host.uuids['data']}", copy)
    first, second = tmp_path / "original", tmp_path / "copy"
    first.mkdir()
    second.mkdir()
    sh("mount", original, str(first))
    try:
        step = Step(id="mount:/srv", layer="mount", summary=f"mount {copy}",
                    commands=(Command(("mount", "-t", "xfs", copy, str(second))),),
                    devices=(copy,), destructive=False)
        with pytest.raises(RuntimeFailure) as failed:
            apply_steps([step], DeviceGuard(frozenset({twin.path, copy})),
                        Journal(tmp_path / "journal"), LiveRunner(),
                        PassphraseSource(interactive=False))
        message = str(failed.value)
        assert "dmesg(1) may have more information" in message or "exit 32" in message
        assert "  kernel: XFS (" in message and "duplicate UUID" in message, message
    finally:
        sh("umount", str(first))
        subprocess.run(["umount", str(second)], check=False, capture_output=True)
        wipe(twin)
