"""Storage capture on real partition tables and filesystems, on loop devices.

Builds GPT (512-byte and 4096-byte sectors) and MBR tables, ext2/3/4, xfs,
btrfs (subvolumes, a read-only snapshot, quotas), vfat, swap, LUKS1/LUKS2
headers and an LVM VG on loop devices created here, captures them, and checks
the result against what blkid and sfdisk themselves report.  This machine's
kernel has no device-mapper, so LVs, open LUKS and md are the lab tier's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.capture.workflow import CaptureRequest, capture
from hostbook.manifest.merge import to_commented
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.sections.storage import StorageDocument, sfdisk_script
from hostbook.manifest.yamlio import dump_text
from hostbook.process.recording import RecordingRunner, ReplayRunner
from hostbook.process.runner import LiveRunner
from tests.loopdev import LoopDevice, LoopDevices, check_loop_tier
from tests.paths import FIXTURES
from tests.tiers import available, require_tools

pytestmark = pytest.mark.loop

TOOLS = ("sfdisk", "partx", "blkid", "mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "mkfs.vfat",
         "mkswap", "cryptsetup", "pvcreate", "vgcreate", "wipefs")
PASSPHRASE = "loop-test-passphrase"
LUKS_FAST = ("--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--batch-mode")
ENV = {**os.environ, "LC_ALL": "C", "LVM_SUPPRESS_FD_WARNINGS": "1"}
# blkid keys that are not facts about the device's content: the kernel's
# major:minor of the disk (volatile by design) and blkid's own category word.
NOT_RECORDED = {"PART_ENTRY_DISK", "USAGE"}


def sh(*argv: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=ENV,
                            check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr}")
    return result.stdout


def partition(dev: LoopDevice, table: str, count: int) -> list[str]:
    dev.assert_ours()
    sh("sfdisk", "--quiet", "--wipe", "always", dev.path, stdin=table)
    parts = dev.rescan()
    # partx --update stops at the first gap in the numbering (no #4 on an MBR disk
    # with logical partitions): add the ones after it by number.
    listed = sh("partx", "--show", "--noheadings", "-o", "NR", dev.path).split()
    for number in sorted(int(n) for n in listed):
        if dev.partition(number) not in parts:
            sh("partx", "--add", "--nr", str(number), dev.path)
    parts = dev.partitions()
    assert len(parts) >= count, f"{dev.path}: kernel sees {parts}"
    return parts


def luks_format(dev: LoopDevice, *extra: str) -> None:
    dev.assert_ours()
    sh("cryptsetup", "luksFormat", *LUKS_FAST, *extra, "--key-file=-", dev.path,
       stdin=PASSPHRASE)


@dataclass
class Layout:
    make: LoopDevices
    gpt: LoopDevice
    mbr: LoopDevice
    kn4: LoopDevice
    luks2: LoopDevice
    luks1: LoopDevice
    pv1: LoopDevice
    pv2: LoopDevice
    mounts: dict[str, Path] = field(default_factory=dict)

    @property
    def devices(self) -> list[LoopDevice]:
        return [self.gpt, self.mbr, self.kn4, self.luks2, self.luks1, self.pv1, self.pv2]

    @property
    def paths(self) -> list[str]:
        return [d.path for d in self.devices]

    def all_block_devices(self) -> list[str]:
        return [p for d in self.devices for p in [d.path, *d.partitions()]]


def build(make: LoopDevices) -> Layout:
    """Every shape this machine's kernel can hold."""
    lay = Layout(make, make("1G"), make("256M"), make("256M", sector_size=4096),
                 make("32M"), make("32M"), make("64M"), make("64M"))
    esp, root, xfs, swap, btr = partition(lay.gpt, (
        "label: gpt\n"
        "size=64MiB, type=U, name=esp\n"
        'size=128MiB, type=L, name="we\\x22ird, na\\x5cme", attrs="LegacyBIOSBootable GUID:63"\n'
        "size=320MiB, type=L, name=data\n"
        "size=64MiB, type=S\n"
        "type=L, name=pool\n"), 5)
    sh("mkfs.vfat", "-F", "32", "-n", "ESP", esp)
    sh("mkfs.ext4", "-q", "-L", "root", "-E", "stride=4,stripe_width=8", "-m", "2",
       "-i", "8192", "-O", "^metadata_csum", root)
    sh("mkfs.xfs", "-q", "-f", "-L", "xdata", "-m", "reflink=0", xfs)
    sh("mkswap", "-L", "swap0", swap)
    sh("mkfs.btrfs", "-q", "-f", "-L", "pool", "-m", "dup", "-d", "single", btr)
    top = make.workdir / "btrfs-top"
    top.mkdir()
    lay.mounts["top"] = top  # unmounted below; listed for the cleanup on failure
    sh("mount", btr, str(top))
    try:
        for sub in ("@", "@home", "@/nested"):
            sh("btrfs", "-q", "subvolume", "create", str(top / sub))
        sh("btrfs", "-q", "subvolume", "snapshot", "-r", str(top / "@home"),
           str(top / "@home-snap"))
        sh("btrfs", "subvolume", "set-default", str(top / "@"))
        sh("btrfs", "quota", "enable", str(top))
    finally:
        sh("umount", str(top))

    p1, _p2, _ext, p5, p6 = partition(lay.mbr, (
        "label: dos\nlabel-id: 0x5eed1234\n"
        "size=48MiB, type=83, bootable\nsize=32MiB, type=82\ntype=5\n"
        "size=64MiB, type=83\ntype=83\n"), 5)
    sh("mkfs.ext2", "-q", "-L", "old-boot", p1)
    sh("mkfs.ext3", "-q", "-L", "old-data", p5)
    sh("mkfs.ext4", "-q", "-N", "1000", p6)

    k1, k2 = partition(lay.kn4, "label: gpt\nsize=64MiB, type=U\ntype=L, name=kn\n", 2)
    sh("mkfs.vfat", "-S", "4096", k1)
    sh("mkfs.ext4", "-q", "-b", "4096", "-L", "kn-data", k2)

    luks_format(lay.luks2, "--type", "luks2", "--label", "vault", "--subsystem", "backup",
                "--sector-size", "4096", "--luks2-metadata-size", "32k")
    token = make.workdir / "token.json"
    token.write_text(json.dumps({"type": "hostbook-test", "keyslots": ["0"], "blob": "AAAA"}))
    sh("cryptsetup", "token", "import", "--json-file", str(token), lay.luks2.path)
    luks_format(lay.luks1, "--type", "luks1")

    sh("pvcreate", "-q", lay.pv1.path, lay.pv2.path)
    sh("vgcreate", "-q", "-s", "8M", "--addtag", "looptest", "loopvg", lay.pv1.path,
       lay.pv2.path)

    for name, source, options in (("root", root, None), ("btrfs", btr, "subvol=@home")):
        target = make.workdir / f"mnt-{name}"
        target.mkdir()
        sh("mount", *(["-o", options] if options else []), source, str(target))
        lay.mounts[name] = target
    return lay


@pytest.fixture(scope="module")
def layout() -> Iterator[Layout]:
    available(check_loop_tier)
    require_tools("loop storage tests", TOOLS)
    make = LoopDevices()
    lay: Layout | None = None
    try:
        lay = build(make)
        yield lay
    finally:
        # btrfs mounts carry an anonymous device number, so unmount them by path
        # here rather than leave it to the fixture's device-number match
        for target in (lay.mounts.values() if lay else []):
            sh("umount", str(target), check=False)
        make.close()


def config() -> ConfigDocument:
    return ConfigDocument.model_validate({"schema": "hostbook/config/v1"})


def capture_doc(paths: list[str], runner: Any = None) -> dict[str, Any]:
    collected = collect_sections(runner or LiveRunner(), config(), ["storage"],
                                 {"storage_devices": paths})
    return collected.documents["storage"]


def entries(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in doc["entries"] if e["type"] == kind]


def by_name(doc: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    found = [e for e in entries(doc, kind) if e.get("name") == name]
    assert len(found) == 1, f"{kind} {name}: {found}"
    return found[0]


def blkid(path: str) -> dict[str, str]:
    out = sh("blkid", "-p", "-o", "export", path, check=False)
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        values[key] = re.sub(r"\\(.)", r"\1", value)  # blkid escapes with backslashes
    values.pop("DEVNAME", None)
    return values


def gpt_attr_bits(attrs: str | None) -> int:
    bits = {"RequiredPartition": 0, "NoBlockIOProtocol": 1, "LegacyBIOSBootable": 2}
    mask = 0
    for word in (attrs or "").split():
        mask |= 1 << (int(word.split(":")[1]) if word.startswith("GUID:") else bits[word])
    return mask


def test_every_blkid_value_is_recorded(layout: Layout) -> None:
    """Each value blkid reports for each of our devices is found in its entry."""
    doc = capture_doc(layout.paths)
    assert not doc.get("incomplete"), doc.get("incomplete")
    checked = 0
    for path in layout.all_block_devices():
        kname = path.removeprefix("/dev/")
        values = blkid(path)
        for key in NOT_RECORDED:
            values.pop(key, None)
        if "PTTYPE" in values:
            owner = next(e for e in doc["entries"] if e.get("name") == kname
                         and e["type"] in ("loop", "partition"))
            if owner["type"] == "loop":
                table = owner["table"]
                assert table["type"] == values.pop("PTTYPE")
                assert table["id"].lower().removeprefix("0x") == values.pop("PTUUID")
                checked += 2
            else:  # an extended partition: blkid sees the chain of logical ones
                assert owner["kind"] == "extended"
                assert values.pop("PTTYPE") == "dos"
                values.pop("PTUUID", None)
        if "PART_ENTRY_SCHEME" in values:
            part = by_name(doc, "partition", kname)
            disk = next(e for e in doc["entries"] if e["id"] == part["disk"])
            assert disk["table"]["type"] == values.pop("PART_ENTRY_SCHEME")
            assert part["number"] == int(values.pop("PART_ENTRY_NUMBER"))
            assert part["start"] == int(values.pop("PART_ENTRY_OFFSET")) * 512
            assert part["size"] == int(values.pop("PART_ENTRY_SIZE")) * 512
            ptype = values.pop("PART_ENTRY_TYPE")
            assert part["partition_type"].lower() == ptype.lower().removeprefix("0x")
            if disk["table"]["type"] == "gpt":
                assert part["uuid"].lower() == values.pop("PART_ENTRY_UUID")
                assert part.get("label") == values.pop("PART_ENTRY_NAME", None)
                flags = int(values.pop("PART_ENTRY_FLAGS", "0x0"), 16)
                assert gpt_attr_bits(part.get("attributes")) == flags
            else:
                sig = disk["table"]["id"].lower().removeprefix("0x")
                assert values.pop("PART_ENTRY_UUID") == f"{sig}-{part['number']:02x}"
                flags = int(values.pop("PART_ENTRY_FLAGS", "0x0"), 16)
                assert part["bootable"] == bool(flags & 0x80)
            checked += 8
        fstype = values.pop("TYPE", None)
        if fstype is None:
            assert not values, f"{path}: unchecked {values}"
            continue
        if fstype == "crypto_LUKS":
            entry = next(e for e in entries(doc, "luks") if e["uuid"] == values["UUID"])
            assert str(entry["version"]) == values.pop("VERSION")
            expected = {"UUID": "uuid", "LABEL": "label", "SUBSYSTEM": "subsystem"}
        elif fstype == "LVM2_member":
            entry = next(e for e in entries(doc, "pv") if e["name"] == kname)
            expected = {"UUID": "uuid", "VERSION": "format"}
        elif fstype == "swap":
            entry = by_name(doc, "swap", kname)
            expected = {"UUID": "uuid", "LABEL": "label", "VERSION": "version"}
        else:
            entry = by_name(doc, "filesystem", kname)
            assert entry["fstype"] == fstype
            expected = {"UUID": "uuid", "LABEL": "label", "VERSION": "version",
                        "UUID_SUB": "uuid_sub", "BLOCK_SIZE": "block_size"}
            if fstype == "btrfs":
                device = entry["btrfs"]["devices"][0]
                assert device["uuid"] == values.pop("UUID_SUB")
        for key, fieldname in expected.items():
            if key in values:
                assert str(entry[fieldname]) == values.pop(key), (path, key)
                checked += 1
        for key, value in list(values.items()):
            assert entry.get("properties", {}).get(key) == value, (path, key)
            values.pop(key)
        assert not values, f"{path}: unchecked {values}"
    assert checked > 60


def test_every_sfdisk_value_is_recorded(layout: Layout) -> None:
    """sfdisk --json of each table, field by field, against the captured entries."""
    doc = capture_doc(layout.paths)
    for dev in (layout.gpt, layout.mbr, layout.kn4):
        table = json.loads(sh("sfdisk", "--json", dev.path))["partitiontable"]
        owner = by_name(doc, "loop", dev.name)
        recorded = owner["table"]
        assert recorded["type"] == table["label"]
        assert recorded["id"] == table["id"]
        assert recorded["sector_size"] == table["sectorsize"] == dev.sector_size
        assert recorded.get("first_lba") == table.get("firstlba")
        assert recorded.get("last_lba") == table.get("lastlba")
        parts = [e for e in entries(doc, "partition") if e["disk"] == owner["id"]]
        assert len(parts) == len(table["partitions"])
        sector = table["sectorsize"]
        for want in table["partitions"]:
            number = int(want["node"].rsplit("p", 1)[1])
            got = next(p for p in parts if p["number"] == number)
            assert got["start"] == want["start"] * sector
            assert got["size"] == want["size"] * sector
            assert got["partition_type"] == want["type"]
            if table["label"] == "gpt":
                assert got.get("uuid") == want.get("uuid")
            else:  # MBR: the PARTUUID the kernel derives from the signature
                assert got["uuid"] == f"{table['id'][2:]}-{got['number']:02x}"
            assert got.get("label") == want.get("name")
            assert got.get("attributes") == want.get("attrs")
            assert got["bootable"] == want.get("bootable", False)


def test_sfdisk_script_recreates_each_table_exactly(layout: Layout) -> None:
    """The table rendered from storage.yaml is byte for byte sfdisk's own dump, and
    writing it to a blank device of the same size gives that dump back."""
    model = StorageDocument.model_validate(capture_doc(layout.paths))
    with LoopDevices() as make:
        for dev in (layout.gpt, layout.mbr, layout.kn4):
            owner = next(e for e in model.entries if getattr(e, "name", None) == dev.name)
            script = sfdisk_script(model, owner.id, dev.path)
            assert script == sh("sfdisk", "--dump", dev.path)
            blank = make(dev.size, sector_size=dev.sector_size)
            blank.assert_ours()
            sh("sfdisk", "--quiet", blank.path, stdin=sfdisk_script(model, owner.id, blank.path))
            assert sh("sfdisk", "--dump", blank.path) == sfdisk_script(model, owner.id,
                                                                        blank.path)


def test_details_of_each_filesystem_and_header(layout: Layout) -> None:
    """Spot checks against what the mkfs options above asked for."""
    doc = capture_doc(layout.paths)
    root = by_name(doc, "filesystem", layout.gpt.partition(2).removeprefix("/dev/"))
    ext = root["ext"]
    assert ext["reserved_percent"] == 2.0 and ext["bytes_per_inode"] == 8192
    assert ext["raid_stride"] == 4 and ext["raid_stripe_width"] == 8
    assert "metadata_csum" not in ext["features"] and "has_journal" in ext["features"]
    assert "needs_recovery" not in ext["features"]  # mounted: a state bit, not a feature
    assert root["used"] is not None and root["used"] >= 1 << 20
    xfs = by_name(doc, "filesystem", layout.gpt.partition(3).removeprefix("/dev/"))["xfs"]
    assert xfs["features"]["reflink"] == 0 and xfs["log_internal"]
    vfat = by_name(doc, "filesystem", layout.kn4.partition(1).removeprefix("/dev/"))
    assert vfat["vfat"]["sector_size"] == 4096
    legacy = by_name(doc, "filesystem", layout.mbr.partition(6).removeprefix("/dev/"))
    assert legacy["ext"]["inode_count"] >= 1000
    kinds = {p["number"]: p["kind"] for p in entries(doc, "partition")
             if p["disk"] == by_name(doc, "loop", layout.mbr.name)["id"]}
    assert kinds == {1: "primary", 2: "primary", 3: "extended", 5: "logical", 6: "logical"}

    luks2 = next(e for e in entries(doc, "luks") if e["version"] == 2)
    dump = sh("cryptsetup", "luksDump", layout.luks2.path)
    assert luks2["label"] == "vault" and luks2["subsystem"] == "backup"
    assert luks2["sector_size"] == 4096 and f"sector: {luks2['sector_size']} [bytes]" in dump
    assert f"offset: {luks2['data_offset']} [bytes]" in dump
    assert f"cipher: {luks2['cipher']}" in dump
    assert f"Metadata area: \t{luks2['metadata_size']} [bytes]" in dump
    assert luks2["tokens"] == ["hostbook-test"] and luks2["keyslots_in_use"] == 1
    assert luks2["keyslots"][0]["kdf"] == {"type": "pbkdf2", "hash": "sha256",
                                           "iterations": 1000}
    luks1 = next(e for e in entries(doc, "luks") if e["version"] == 1)
    dump1 = sh("cryptsetup", "luksDump", layout.luks1.path)
    assert f"Payload offset:\t{luks1['data_offset'] // 512}" in dump1
    text = dump_text(to_commented(doc))
    for secret in ("salt", "digest", "blob", "AAAA"):
        assert secret not in text
    vg = by_name(doc, "vg", "loopvg")
    assert vg["extent_size"] == 8 << 20 and vg["tags"] == ["looptest"]
    assert len(vg["pvs"]) == 2 and all(p in {e["id"] for e in entries(doc, "pv")}
                                       for p in vg["pvs"])


def test_btrfs_mounted_and_unmounted_read_the_same(layout: Layout) -> None:
    """Subvolumes, default, profiles and quota: through the mount and from the trees."""
    btr = layout.gpt.partition(5).removeprefix("/dev/")
    mounted = by_name(capture_doc(layout.paths), "filesystem", btr)["btrfs"]
    sh("umount", str(layout.mounts["btrfs"]))
    try:
        unmounted = by_name(capture_doc(layout.paths), "filesystem", btr)["btrfs"]
    finally:
        sh("mount", "-o", "subvol=@home", f"/dev/{btr}", str(layout.mounts["btrfs"]))
    assert mounted == unmounted
    paths = {s["path"]: s for s in mounted["subvolumes"]}
    assert set(paths) == {"@", "@home", "@/nested"}
    assert mounted["default_subvolume"] == paths["@"]["id"]
    assert mounted["readonly_snapshots"] == 1 and mounted["quota"] is True
    assert (mounted["data_profile"], mounted["metadata_profile"]) == ("single", "dup")


def test_recapture_writes_identical_bytes(layout: Layout, tmp_path: Path) -> None:
    """Two captures of an unchanged host: the same bytes, and no second commit."""
    def run() -> Any:
        return capture(CaptureRequest(repository=tmp_path / "repo", sections=["storage"],
                                      config=config(), host="looptest",
                                      options={"storage_devices": layout.paths}))

    first = run()
    assert first.commit and first.written == ["storage.yaml"] and not first.partial
    path = tmp_path / "repo" / "hosts" / "looptest" / "storage.yaml"
    before = path.read_bytes()
    second = run()
    assert second.commit is None and second.written == []
    assert path.read_bytes() == before
    StorageDocument.model_validate(to_plain_yaml(before))


def to_plain_yaml(data: bytes) -> dict[str, Any]:
    from hostbook.manifest.merge import to_plain
    from hostbook.manifest.yamlio import parse_text

    return to_plain(parse_text(data.decode(), "storage.yaml"))




def keep_recording(recording: Path, name: str, paths: list[str]) -> None:
    """With HOSTBOOK_UPDATE_FIXTURES=1: make this real run a unit-test fixture."""
    if os.environ.get("HOSTBOOK_UPDATE_FIXTURES") != "1":
        return
    target = FIXTURES / name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(recording, target / "recording.json")
    (target / "capture.json").write_text(
        json.dumps({"options": {"storage_devices": paths}}, indent=1) + "\n")


def test_replay_of_a_recording_equals_the_live_capture(layout: Layout, tmp_path: Path) -> None:
    recorder = RecordingRunner(LiveRunner(), tmp_path)
    live = capture_doc(layout.paths, recorder)
    recorder.save()
    replay = ReplayRunner(tmp_path)
    assert capture_doc(layout.paths, replay) == live
    assert replay.unanswered == []
    keep_recording(tmp_path / "recording.json", "storage-loop", layout.paths)


def test_subprocess_count_stays_small(layout: Layout) -> None:
    """One blkid for all devices, one sfdisk per table, one tool run per header."""
    runner = LiveRunner()
    capture_doc(layout.paths, runner)
    assert runner.stats.per_tool == {
        "blkid": 1, "sfdisk": 3, "cryptsetup": 2, "lvm": 1, "findmnt": 1,
        "dumpe2fs": 5, "xfs_db": 1, "btrfs": 4,  # dump-super, 2 subvolume lists, default
        "uname": 1,  # the host name, for the capture's file name
    }


def test_damaged_devices_warn_and_the_rest_is_intact(tmp_path: Path) -> None:
    """Ambivalent signatures, a half-written LUKS2 header, a VG missing a PV."""
    available(check_loop_tier)
    with LoopDevices() as make:
        good, ambivalent, half, pv_a, pv_b = (make("64M"), make("320M"), make("32M"),
                                              make("32M"), make("32M"))
        sh("mkfs.ext4", "-q", "-L", "intact", good.path)
        # xfs at offset 0, then an ext4 superblock at 1024: two filesystems claim it
        sh("mkfs.xfs", "-q", "-f", ambivalent.path)
        donor = make("8M")
        sh("mkfs.ext2", "-q", donor.path)
        with open(donor.path, "rb") as src, open(ambivalent.path, "r+b") as dst:
            src.seek(1024)
            dst.seek(1024)
            dst.write(src.read(1024))
        luks_format(half, "--type", "luks2")
        with open(half.path, "r+b") as dst:  # both JSON areas gone, binary headers kept
            for offset in (4096, 16384 + 4096):
                dst.seek(offset)
                dst.write(b"\0" * 12288)
        sh("pvcreate", "-q", pv_a.path, pv_b.path)
        sh("vgcreate", "-q", "brokenvg", pv_a.path, pv_b.path)
        pv_b_uuid = sh("pvs", "--noheadings", "-o", "pv_uuid", pv_b.path).strip()
        sh("wipefs", "-q", "-a", pv_b.path)
        paths = [d.path for d in (good, ambivalent, half, pv_a, pv_b)]
        recorder = RecordingRunner(LiveRunner(), tmp_path)
        collected = collect_sections(recorder, config(), ["storage"],
                                     {"storage_devices": paths})
        keep_recording(recorder.save(), "storage-loop-damaged", paths)
        doc = collected.documents["storage"]
        parts = {i["part"]: i["reason"] for i in doc["incomplete"]}
        assert "ambivalent" in parts.get(f"device {ambivalent.name}", ""), parts
        assert "cryptsetup luksDump" in parts[f"luks {half.name}"]
        assert parts[f"pv {pv_b_uuid}"] and parts["vg brokenvg"] == "1 PV(s) missing"
        assert len(collected.warnings) >= 4
        # the rest is intact
        assert by_name(doc, "filesystem", good.name)["label"] == "intact"
        luks = entries(doc, "luks")
        assert [e["uuid"] for e in luks] == [blkid(half.path)["UUID"]]
        vg = by_name(doc, "vg", "brokenvg")
        missing = next(e for e in entries(doc, "pv") if e["uuid"] == pv_b_uuid)
        assert missing["missing"] and missing.get("device") is None and missing["id"] in vg["pvs"]
        assert {e["name"] for e in entries(doc, "loop")} == {
            d.name for d in (good, ambivalent, half, pv_a, pv_b)}
        StorageDocument.model_validate(doc)
