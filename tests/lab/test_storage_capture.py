"""Storage capture of every lab layout, checked against the guest's own tools.

One boot brings up all five layouts (laptop, server, legacy, btrfs, thin) side by
side from a copy of the session's built disks, builds a set of damaged devices and
extra kinds, records what lsblk, blkid, sfdisk, LVM,
cryptsetup, mdadm, findmnt and btrfs report (collect.sh), then captures each
layout with ``hostbook capture --only storage --record`` (the other layouts'
disks excluded through the capture configuration, the layout's fstab and
crypttab put in the guest's /etc), twice.  Here every value the tools reported
must be found in the layout's storage.yaml, the second capture must leave the
bytes unchanged, and the damaged devices must give warnings with the rest intact.
Then everything is taken down (arrays stopped, LUKS closed, VGs inactive) and the
laptop and server are captured again, as from a rescue system: what the member
superblocks and LUKS headers say must match the capture made with the stack up.

With HOSTBOOK_UPDATE_FIXTURES=1 the recordings are copied to
tests/fixtures/storage-<layout>/recording.json for the unit tests (or only those
named: HOSTBOOK_UPDATE_FIXTURES=cold-laptop,cold-server).
HOSTBOOK_STORAGE_LAB_RESULTS=DIR checks the results folder of an earlier run
(kept with HOSTBOOK_LAB_KEEP=1 or copied from pytest's tmp) instead of booting.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hostbook.manifest.merge import to_plain
from hostbook.manifest.sections.storage import StorageDocument, entry_references
from hostbook.manifest.yamlio import parse_text
from tests.lab.fixtures import BuiltLayouts, mount_steps
from tests.lab.layouts import (
    ALL_LAYOUTS,
    LAYOUTS,
    GuestState,
    capture_step,
    collect_step,
    parse_colon_fields,
    teardown_step,
)
from tests.lab.vm import DiskSpec, Guest, Step, check_lab
from tests.paths import FIXTURES
from tests.tiers import available

pytestmark = pytest.mark.lab

NAMES = ALL_LAYOUTS
# Captured again with the stack down, as from a rescue system: arrays not assembled,
# LUKS closed, VGs inactive, nothing mounted.
COLD = ("laptop", "server")
DAMAGED = (DiskSpec("1G", serial="damaged0"), DiskSpec("512M", serial="damaged1"),
           DiskSpec("512M", serial="damaged2"))
EXTRAS = tuple(DiskSpec("1G", serial=f"extra{i}") for i in range(3))
VGS = {"laptop": "laptopvg", "server": "servervg", "thin": "thinvg", "extras": "xvg"}

# Inside the guest: damaged0 gets an ambivalent partition (xfs with an ext2
# superblock written over it) and a LUKS2 header whose JSON areas are gone;
# damaged1+2 form VG dmgvg, then damaged2 loses its PV label.
DAMAGE_SCRIPT = r"""
set -euo pipefail
grep -qw hostbook.lab=1 /proc/cmdline
d0=/dev/disk/by-id/virtio-damaged0 d1=/dev/disk/by-id/virtio-damaged1
d2=/dev/disk/by-id/virtio-damaged2
sfdisk --quiet "$(readlink -f $d0)" <<'TABLE'
label: gpt
size=400MiB, type=L, name=ambivalent
size=64MiB, type=L, name=half
type=L, name=intact
TABLE
udevadm settle
p1=${d0}-part1 p2=${d0}-part2 p3=${d0}-part3
mkfs.xfs -q -f "$p1"
donor=$(mktemp)
truncate -s 8M "$donor"
mkfs.ext2 -q -F "$donor"
dd if="$donor" of="$p1" bs=1024 skip=1 seek=1 count=1 conv=notrunc status=none
rm -f "$donor"
printf 'pw' | cryptsetup luksFormat --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --batch-mode --key-file=- "$p2"
dd if=/dev/zero of="$p2" bs=4096 seek=1 count=3 conv=notrunc status=none
dd if=/dev/zero of="$p2" bs=4096 seek=5 count=3 conv=notrunc status=none
mkfs.ext4 -q -L intact "$p3"
pvcreate -q "$(readlink -f $d1)" "$(readlink -f $d2)"
vgcreate -q dmgvg "$(readlink -f $d1)" "$(readlink -f $d2)"
lvcreate -q -y -W y -L 128M -n keep dmgvg "$(readlink -f $d1)"
lvcreate -q -y -W y -L 128M -n gone dmgvg "$(readlink -f $d2)"
mkfs.ext4 -q -L keep /dev/dmgvg/keep
lvchange -q -an dmgvg/gone
udevadm settle
wipefs -q -a "$(readlink -f $d2)"
udevadm settle
blkid -p "$p1" > /dev/null 2>&1 && exit 1 || true   # blkid must see two filesystems
"""

# Inside the guest: what the five layouts do not have.  md raid5 (chunk, layout,
# bitmap); LVM striped, raid1, raid5, a snapshot, a thin snapshot and a cache;
# plain dm-crypt swap with a random key, as crypttab sets it up.
EXTRAS_SCRIPT = r"""
set -euo pipefail
grep -qw hostbook.lab=1 /proc/cmdline
ids=(/dev/disk/by-id/virtio-extra0 /dev/disk/by-id/virtio-extra1 /dev/disk/by-id/virtio-extra2)
for d in "${ids[@]}"; do
    sfdisk --quiet "$(readlink -f "$d")" <<'TABLE'
label: gpt
size=128MiB, type=R, name=md-r5
size=768MiB, type=V, name=lvm
type=L, name=plain
TABLE
done
udevadm settle
p() { echo "${ids[$1]}-part$2"; }
mdadm --create /dev/md/extras-r5 --run --quiet --level=5 --raid-devices=3 --chunk=64 \
    --layout=left-symmetric --bitmap=internal --assume-clean --name=extras-r5 \
    "$(p 0 1)" "$(p 1 1)" "$(p 2 1)" < /dev/null
udevadm settle
mkfs.ext4 -q -L r5 /dev/md/extras-r5
pvcreate -q "$(p 0 2)" "$(p 1 2)" "$(p 2 2)"
vgcreate -q -s 4M xvg "$(p 0 2)" "$(p 1 2)" "$(p 2 2)"
lvcreate -q -y -W y -n striped -i 2 -I 64k -L 96M xvg
lvcreate -q -y -W y --type raid1 -m 1 --nosync -n mirror -L 64M xvg
lvcreate -q -y -W y --type raid5 -i 2 --nosync -n parity -L 64M xvg
lvcreate -q -y -s -n striped-snap -L 32M xvg/striped
lvcreate -q -y --type thin-pool -L 128M -n tpool xvg
lvcreate -q -y -W y -V 256M --thin -n thinvol xvg/tpool 2> >(grep -v WARNING >&2)
lvcreate -q -y -s -n thinsnap xvg/thinvol
lvcreate -q -y -W y -n cached -L 96M xvg "$(readlink -f "$(p 0 2)")"
lvcreate -q -y --type cache-pool -n fast -L 32M xvg "$(readlink -f "$(p 1 2)")"
lvconvert -q -y --type cache --cachepool xvg/fast --cachemode writethrough xvg/cached
udevadm settle
for lv in striped mirror thinvol cached; do mkfs.ext4 -q -L "x$lv" "/dev/xvg/$lv"; done
cryptsetup open --type plain --cipher aes-xts-plain64 --key-size 256 --key-file /dev/urandom \
    "$(p 0 3)" xswap
mkswap -q /dev/mapper/xswap
swapon /dev/mapper/xswap
root=/mnt/lab/extras
mkdir -p "$root"
mount -t tmpfs -o size=1m tmpfs "$root"
mkdir -p "$root/etc" "$root/r5" "$root/striped"
mount /dev/md/extras-r5 "$root/r5"
mount /dev/xvg/striped "$root/striped"
printf 'xswap\t%s\t/dev/urandom\tswap,cipher=aes-xts-plain64,size=256\n' "$(p 0 3)" \
    > "$root/etc/crypttab"
{
    printf 'LABEL=r5\t/srv/r5\text4\tdefaults\t0\t2\n'
    printf '/dev/xvg/striped\t/srv/striped\text4\tdefaults\t0\t2\n'
    printf '/dev/mapper/xswap\tnone\tswap\tsw\t0\t0\n'
} > "$root/etc/fstab"
"""

@dataclass
class Captured:
    """One layout's two captures and what the guest's tools said."""

    name: str
    state: GuestState
    first: dict[str, Any]
    again: dict[str, Any]
    first_bytes: bytes
    again_bytes: bytes
    out: Path

    @property
    def recording(self) -> Path:
        return self.out / "rec" / "recording.json"

    @property
    def doc(self) -> dict[str, Any]:
        return to_plain(parse_text(self.first_bytes.decode(), "storage.yaml"))

    @property
    def outcome(self) -> dict[str, Any]:
        return json.loads(self.first["stdout"])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
        ) -> Iterator[dict[str, Captured]]:
    groups = {name: LAYOUTS[name].serials for name in NAMES}
    groups["damaged"] = [d.serial or "" for d in DAMAGED]
    groups["extras"] = [d.serial or "" for d in EXTRAS]
    earlier = os.environ.get("HOSTBOOK_STORAGE_LAB_RESULTS")
    if earlier:
        results = Path(earlier)
    else:
        available(check_lab)
        built: BuiltLayouts = request.getfixturevalue("built_layouts")
        built.check()
        results = tmp_path_factory.mktemp("storage-lab")
        copies = built.copies(tmp_path_factory.mktemp("storage-lab-disks"))
        steps = [*mount_steps()]
        steps += [Step("damage", DAMAGE_SCRIPT, timeout=300),
                  Step("extras", EXTRAS_SCRIPT, timeout=300), collect_step(timeout=300),
                  capture_step(groups), teardown_step(),
                  capture_step({n: LAYOUTS[n].serials for n in COLD}, repo="/tmp/cold-{name}",
                               attempts=("first",), step="capture-cold", subdir="cold",
                               exclude=tuple(s for n, ss in groups.items() if n not in COLD
                                             for s in ss))]
        try:
            with Guest([*copies.values(), *DAMAGED, *EXTRAS]) as guest:
                run = guest.run_steps(steps, timeout=2400, stop_on_error=True,
                                      results_dir=results)
        finally:
            for spec in copies.values():
                Path(str(spec.path)).unlink(missing_ok=True)
        run.check()
    state = GuestState.load(results / "state")
    captured = {}
    for name in groups:
        out = results / "storage" / name
        captured[name] = Captured(
            name, state,
            json.loads((out / "first.json").read_text()),
            json.loads((out / "again.json").read_text()),
            (out / "first.yaml").read_bytes(), (out / "again.yaml").read_bytes(), out,
        )
    for name in COLD:  # captured once, with the stack down
        out = results / "cold" / name
        first = json.loads((out / "first.json").read_text())
        captured[f"cold-{name}"] = Captured(f"cold-{name}", state, first, first,
                                            (out / "first.yaml").read_bytes(),
                                            (out / "first.yaml").read_bytes(), out)
    update = os.environ.get("HOSTBOOK_UPDATE_FIXTURES", "")
    if update:
        every = (*NAMES, "damaged", "extras", *(f"cold-{n}" for n in COLD))
        for name in every if update == "1" else update.split(","):
            target = FIXTURES / f"storage-{name}"
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(captured[name].recording, target / "recording.json")
            config = json.loads((captured[name].out / "config.json").read_text())
            (target / "capture.json").write_text(json.dumps({"config": config}, indent=1) + "\n")
    yield captured


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def norm(value: Any) -> str:
    """One spelling for comparisons: lower case, no 0x, UUIDs without - or :."""
    text = str(value).strip().lower()
    if re.fullmatch(r"[0-9a-f]{8}([-:][0-9a-f]{4,8}){3,4}([-:][0-9a-f]{12})?", text):
        return text.replace("-", "").replace(":", "")
    return text.removeprefix("0x")


def scalars(node: Any) -> set[str]:
    """Every scalar anywhere in the document, normalised."""
    if isinstance(node, dict):
        return {v for value in node.values() for v in scalars(value)}
    if isinstance(node, list):
        return {v for value in node for v in scalars(value)}
    return set() if node is None else {norm(node)}


def entries(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in doc["entries"] if e["type"] == kind]


def entry(doc: dict[str, Any], ident: str) -> dict[str, Any]:
    return next(e for e in doc["entries"] if e["id"] == ident)


def lsblk_all(state: GuestState) -> list[dict[str, Any]]:
    """Every lsblk node, children included."""
    out: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        out.append(node)
        for child in node.get("children", []):
            walk(child)

    for node in state.lsblk:
        walk(node)
    return out


def serials_of(name: str) -> list[str]:
    if name == "extras":
        return [d.serial or "" for d in EXTRAS]
    return LAYOUTS[name].serials


def layout_nodes(cap: Captured) -> list[dict[str, Any]]:
    """lsblk nodes of the layout's disks and everything stacked on them."""
    nodes = [n for serial in serials_of(cap.name) for n in cap.state.lsblk_tree(serial)]
    return list({n["path"]: n for n in nodes}.values())


def public_lv_names(doc: dict[str, Any]) -> set[str]:
    """device-mapper names of the LVs storage.yaml lists (vg-lv, dashes doubled)."""
    return {f"{e['vg'][3:].replace('-', '--')}-{e['lv_name'].replace('-', '--')}"
            for e in entries(doc, "lv")}


# Signatures that storage.yaml models as entries of their own, not as a type string.
SIGNATURE_ENTRIES = {"LVM2_member": "pv", "crypto_LUKS": "luks", "linux_raid_member": "md"}


def assert_found(values: set[str], value: Any, what: str, doc: dict[str, Any]) -> None:
    if value in (None, ""):
        return
    if value in SIGNATURE_ENTRIES:
        assert entries(doc, SIGNATURE_ENTRIES[value]), f"{what}: no {value} entry"
        return
    assert norm(value) in values, f"{what}: {value!r} not in storage.yaml"


def kernel_path(state: GuestState, path: str) -> str:
    """/dev/mapper/x -> /dev/dm-N, as /proc/swaps names devices."""
    for node in lsblk_all(state):
        if node["path"] == path:
            return f"/dev/{node['kname']}"
    return path


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", (*NAMES, "extras"))
def test_capture_is_complete_and_valid(lab: dict[str, Captured], name: str) -> None:
    cap = lab[name]
    assert cap.first["exit_code"] == 0, cap.first["stderr"]
    assert not cap.outcome["warnings"] and not cap.outcome["partial"]
    model = StorageDocument.model_validate(cap.doc)
    ids = {e.id for e in model.entries}
    assert len(ids) == len(model.entries)
    for item in model.entries:
        for ref in entry_references(item):
            assert ref in ids, f"{item.id} refers to {ref}, which is not captured"


@pytest.mark.parametrize("name", (*NAMES, "extras"))
def test_recapture_leaves_the_bytes_alone(lab: dict[str, Captured], name: str) -> None:
    cap = lab[name]
    again = json.loads(cap.again["stdout"])
    assert cap.again_bytes == cap.first_bytes
    assert again["commit"] is None and again["written"] == []


@pytest.mark.parametrize("name", (*NAMES, "extras"))
def test_every_lsblk_and_blkid_value_is_in_storage_yaml(
    lab: dict[str, Captured], name: str
) -> None:
    """Each UUID, label, type, size and offset lsblk/blkid give for the layout."""
    cap = lab[name]
    values = scalars(cap.doc)
    doc = cap.doc
    sizes = {e.get("size") for e in doc["entries"]} | {
        e.get("pool_metadata_size") for e in entries(doc, "lv")}
    checked = 0
    partitions = {p["name"]: p for p in entries(doc, "partition")}
    public = public_lv_names(doc)
    plain = {e["name"] for e in entries(doc, "crypt")}
    for node in layout_nodes(cap):
        what = f"{name}: {node['path']}"
        if node["name"] in plain:
            # made anew at each boot with a random key: its content is not recorded
            continue
        for key in ("uuid", "label", "fstype", "fsver", "partuuid", "parttype", "partlabel",
                    "ptuuid", "pttype", "serial", "wwn"):
            assert_found(values, node.get(key), f"{what} {key}", doc)
            checked += node.get(key) is not None
        extended = node.get("parttype") in ("0x5", "0xf", "0x85")
        hidden = node["type"] == "lvm" and node["name"] not in public
        # the kernel shows an extended partition as 1 KiB; the hidden parts of an LV
        # (raid images and metadata, pool data, cow, real) are LVM's to size
        if not extended and not hidden:
            assert node["size"] in sizes, f"{what}: size {node['size']} not recorded"
        if node["type"] == "part":
            part = partitions[node["kname"]]
            assert part["start"] == node["start"] * 512  # lsblk: 512-byte sectors
            flags = int(node.get("partflags") or "0", 16)
            if part["disk"] and entry(doc, part["disk"])["table"]["type"] == "dos":
                assert part["bootable"] == bool(flags & 0x80), what
            else:
                assert bool(flags) == bool(part.get("attributes")), what
        assert node["log-sec"] in {d.get("logical_sector_size") for d in entries(doc, "disk")}
        blk = cap.state.blkid.get(node["path"], {})
        for key, value in blk.items():
            if key not in ("DEVNAME", "USAGE"):
                assert_found(values, value, f"{what} blkid {key}", doc)
                checked += 1
    assert checked > 10


@pytest.mark.parametrize("name", (*NAMES, "extras"))
def test_every_partition_table_value_is_in_storage_yaml(
    lab: dict[str, Captured], name: str
) -> None:
    cap = lab[name]
    doc = cap.doc
    for serial in serials_of(name):
        kname = cap.state.serials[serial]
        table = json.loads((cap.state.dir / f"sfdisk-{kname}.json").read_text())
        table = table["partitiontable"]
        disk = next(e for e in entries(doc, "disk") if e["name"] == kname)
        assert disk["serial"] == serial and disk["table"]["type"] == table["label"]
        assert disk["table"]["id"] == table["id"]
        assert disk["table"].get("first_lba") == table.get("firstlba")
        assert disk["table"].get("last_lba") == table.get("lastlba")
        sector = table["sectorsize"]
        assert disk["table"]["sector_size"] == sector == disk["logical_sector_size"]
        parts = {p["number"]: p for p in entries(doc, "partition") if p["disk"] == disk["id"]}
        assert len(parts) == len(table["partitions"])
        for want in table["partitions"]:
            number = re.search(r"(\d+)$", want["node"])
            assert number is not None
            got = parts[int(number.group(1))]
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


@pytest.mark.parametrize("name", sorted(VGS))
def test_every_lvm_value_is_in_storage_yaml(lab: dict[str, Captured], name: str) -> None:
    """PV, VG and visible LV facts from pvs/vgs/lvs (hidden sub-LVs are folded in)."""
    cap = lab[name]
    doc = cap.doc
    vg_names = {e["name"] for e in entries(doc, "vg")}
    assert vg_names == {VGS[name]}
    for vg in cap.state.vgs:
        if vg["vg_name"] not in vg_names:
            continue
        got = entry(doc, f"vg:{vg['vg_name']}")
        assert got["uuid"] == vg["vg_uuid"]
        assert got["extent_size"] == int(vg["vg_extent_size"])
        assert got["size"] == int(vg["vg_size"])
    for pv in cap.state.pvs:
        if pv.get("vg_name") not in vg_names:
            continue
        got = entry(doc, f"pv:{pv['pv_uuid']}")
        assert got["size"] == int(pv["pv_size"]) and got["pe_start"] == int(pv["pe_start"])
        device = entry(doc, got["device"])
        assert device.get("size") == int(pv["dev_size"])
    pool_parts = set()
    for lv in cap.state.lvs:
        vg_name = lv["lv_full_name"].split("/")[0]
        if vg_name not in vg_names:
            continue
        if lv["lv_name"].startswith("["):
            if "pool" in lv["lv_role"] and "spare" not in lv["lv_role"]:
                pool_parts.add(int(lv["lv_size"]))
            continue
        got = entry(doc, f"lv:{lv['lv_full_name']}")
        assert got["uuid"] == lv["lv_uuid"] and got["size"] == int(lv["lv_size"])
        assert got["segment_type"] == lv["segtype"]
        assert got["snapshot"] == ("snapshot" in lv["lv_role"].split(","))
        if got["snapshot"]:
            assert got["origin"] == f"lv:{vg_name}/{lv['origin']}"
            assert got.get("chunk_size") == (int(lv["chunk_size"]) or None)
        if lv["segtype"] == "thin":
            assert got["pool"] == f"lv:{vg_name}/{lv['pool_lv']}"
        if lv["segtype"].startswith(("striped", "raid")):
            assert got["stripes"] == int(lv["stripes"])
            assert got.get("stripe_size") == (int(lv["stripe_size"]) or None)
            assert got.get("region_size") == (int(lv["region_size"]) or None)
        if lv["segtype"] == "cache":
            assert got["cache_pool"] == lv["pool_lv"].strip("[]")
            assert got["cache_mode"] == lv["cache_mode"]
            assert got["cache_policy"] == lv["cache_policy"]
            assert got["chunk_size"] == int(lv["chunk_size"])
        if lv["segtype"] == "thin-pool":
            assert got["chunk_size"] == int(lv["chunk_size"])
            assert got["pool_metadata_size"] == int(lv["lv_metadata_size"])
            assert got["zero"] == (lv["zero"] == "zero")
            assert got["discards"] == lv["discards"]
    recorded = {e.get("pool_metadata_size") for e in entries(doc, "lv")} | {
        e["size"] for e in entries(doc, "lv")} | {e.get("cache_size") for e in entries(doc, "lv")}
    # a pool's hidden data and metadata LVs are recorded on the pool (or the cached
    # LV); the metadata spare is lvcreate's own business
    assert pool_parts <= recorded


def test_luks_values_are_in_storage_yaml(lab: dict[str, Captured]) -> None:
    cap = lab["laptop"]
    luks = entries(cap.doc, "luks")
    assert len(luks) == 1
    got = luks[0]
    status = cap.state.crypt_status["laptop_crypt"]
    dump = (cap.state.dir / "crypt-laptop_crypt.luksDump").read_text()
    fields: dict[str, str] = {}
    for line in dump.splitlines():  # the first of each key: segment before keyslots
        key, _, value = line.partition(":")
        if value.strip():
            fields.setdefault(key.strip(), value.strip())
    assert f"LUKS{got['version']}" == status["type"]
    assert got["uuid"] == fields["UUID"] and got["label"] == fields["Label"]
    assert got["cipher"] == status["cipher"] == fields["cipher"]
    assert f"{got['key_size']} bits" == status["keysize"]
    assert got["sector_size"] == int(status["sector size"])
    assert got["data_offset"] == int(status["offset"].split()[0]) * 512
    assert got["size"] == int(status["size"].split()[0]) * 512
    assert f"{got['metadata_size']} [bytes]" == fields["Metadata area"]
    assert f"{got['keyslots_size']} [bytes]" == fields["Keyslots area"]
    assert got["keyslots"][0]["kdf"]["iterations"] == int(fields["Iterations"])
    assert got["name"] == "laptop_crypt" and got["open"]
    assert got["crypttab_name"] == "laptop_crypt" and got["crypttab_options"] == "luks,discard"
    assert [c["target"] for c in cap.doc["crypttab"]["entries"]] == [got["id"]]
    text = cap.first_bytes.decode()
    assert "salt" not in text and "digest" not in text


@pytest.mark.parametrize("name", ("server", "extras"))
def test_md_values_are_in_storage_yaml(lab: dict[str, Captured], name: str) -> None:
    cap = lab[name]
    arrays = {e["array_name"].split(":")[-1]: e for e in entries(cap.doc, "md")}
    assert set(arrays) == {n for n in cap.state.md_export if n.startswith(name)}
    for array, export in cap.state.md_export.items():
        if array not in arrays:
            continue
        got = arrays[array]
        assert got["uuid"] == export["MD_UUID"] and got["level"] == export["MD_LEVEL"]
        assert got["metadata"] == export["MD_METADATA"]
        assert got["raid_devices"] == int(export["MD_DEVICES"])
        assert got["array_name"] == export["MD_NAME"]
        detail = parse_colon_fields(cap.state.md_detail[array])
        assert detail["Consistency Policy"] == got["consistency_policy"]
        assert detail["Raid Level"] == got["level"]
        if "Chunk Size" in detail:
            assert detail["Chunk Size"] == f"{got['chunk_size'] // 1024}K"
            assert detail["Layout"] == got["layout"]
        assert (detail.get("Intent Bitmap") == "Internal") == (got["bitmap"] == "internal")
        roles = sorted(m["role"] for m in got["members"])
        assert roles == [str(i) for i in range(int(export["MD_DEVICES"]))]
        for member in got["members"]:
            part = entry(cap.doc, member["device"])
            blk = cap.state.blkid[f"/dev/{part['name']}"]
            assert norm(blk["UUID"]) == norm(got["uuid"])
            assert member["device_uuid"] == blk["UUID_SUB"]
    if name == "server":
        bios = cap.doc["boot"]["bios_boot"]
        assert len(bios) == 2 and all(entry(cap.doc, b)["type_name"] == "BIOS boot" for b in bios)


def test_btrfs_values_are_in_storage_yaml(lab: dict[str, Captured]) -> None:
    cap = lab["btrfs"]
    fs = next(e for e in entries(cap.doc, "filesystem") if e["fstype"] == "btrfs")
    listing = cap.state.btrfs_subvolumes["btrfsroot"]
    listed = {s["id"]: s for s in fs["btrfs"]["subvolumes"]}
    snapshots = 0
    for line in listing.splitlines():
        fields = line.split()
        ident, uuid = int(fields[1]), fields[fields.index("uuid") + 1]
        path = line.split(" path ", 1)[1].removeprefix("<FS_TREE>/")
        if fields[fields.index("parent_uuid") + 1] != "-" and ident not in listed:
            snapshots += 1  # a read-only snapshot: counted, not listed
            continue
        assert listed[ident]["uuid"] == uuid and listed[ident]["path"] == path
    assert snapshots == fs["btrfs"]["readonly_snapshots"] == 1
    default = cap.state.btrfs_default["btrfsroot"].split()
    assert fs["btrfs"]["default_subvolume"] == int(default[1])
    assert {s["path"] for s in listed.values()} == {"@", "@home", "@snapshots"}
    disk = entries(cap.doc, "disk")[0]
    assert disk["logical_sector_size"] == 4096 == disk["table"]["sector_size"]
    mounts = {m["mountpoint"]: m for m in entries(cap.doc, "mount")}
    assert mounts["/mnt/lab/btrfs/home"]["subvolume"] == "/@home"
    assert cap.doc["boot"]["root"] == fs["id"] and cap.doc["boot"]["esp"]


def test_mounts_and_fstab_are_in_storage_yaml(lab: dict[str, Captured]) -> None:
    for name in (*NAMES, "extras"):
        cap = lab[name]
        mounts = {m["mountpoint"]: m for m in entries(cap.doc, "mount")}
        for found in cap.state.mounts:
            if found["target"].startswith(f"/mnt/lab/{name}/") and found["fstype"] != "tmpfs":
                got = mounts[found["target"]]
                assert got["fstype"] == found["fstype"] and got["options"] == found["options"]
        fstab = cap.doc["fstab"]
        written = cap.out / "fstab"
        if not written.exists():
            assert fstab.get("raw") is None and not fstab["entries"]
            continue
        assert fstab["raw"] == written.read_text()
        assert len(fstab["entries"]) == len([ln for ln in fstab["raw"].splitlines() if ln])
        for line in fstab["entries"]:
            assert line["target"], f"{name}: fstab {line['spec']} does not resolve"
        for swap in entries(cap.doc, "swap"):
            device = entry(cap.doc, swap["device"])
            path = (f"/dev/mapper/{device['name']}" if device["type"] == "crypt" else
                    next(p for p, v in cap.state.blkid.items() if v.get("UUID") == swap["uuid"]))
            assert swap["active"] == (kernel_path(cap.state, path) in cap.state.swaps)
        roots = [ln for ln in fstab["entries"] if ln["mountpoint"] == "/"]
        assert cap.doc["boot"].get("root") == (roots[0]["target"] if roots else None)


def test_damaged_devices_warn_and_the_rest_is_intact(lab: dict[str, Captured]) -> None:
    cap = lab["damaged"]
    assert cap.first["exit_code"] == 1  # partial
    outcome = cap.outcome
    warnings = "\n".join(outcome["warnings"])
    assert "ambivalent" in warnings
    assert re.search(r"luks \S+2 incomplete: cryptsetup luksDump", warnings)
    assert "vg dmgvg incomplete: 1 PV(s) missing" in warnings
    doc = cap.doc
    assert {p["label"] for p in entries(doc, "partition")} == {"ambivalent", "half", "intact"}
    assert {f["label"] for f in entries(doc, "filesystem")} == {"intact", "keep"}
    keep = entry(doc, "lv:dmgvg/keep")
    assert keep["size"] == 128 << 20 and entry(doc, "fs:lv:dmgvg/keep")["ext"]
    assert [e["missing"] for e in entries(doc, "pv")].count(True) == 1
    half = entries(doc, "luks")
    assert len(half) == 1 and half[0]["version"] == 2 and "cipher" not in half[0]
    StorageDocument.model_validate(doc)


def test_extras_plain_crypt_raid5_and_lvm_kinds(lab: dict[str, Captured]) -> None:
    cap = lab["extras"]
    doc = cap.doc
    crypt = entry(doc, "crypt:xswap")
    status = cap.state.crypt_status["xswap"]
    assert crypt["open"] and crypt["key_file"] == "/dev/urandom"
    assert status["type"] == "PLAIN" and crypt["cipher"] == status["cipher"]
    assert f"{crypt['key_size']} bits" == status["keysize"]
    assert crypt["options"] == "swap,cipher=aes-xts-plain64,size=256"
    swap = entry(doc, "swap:crypt:xswap")
    assert swap["active"] and "uuid" not in swap  # a fresh random UUID at every boot
    assert [c["target"] for c in doc["crypttab"]["entries"]] == ["crypt:xswap"]
    lvs = {e["lv_name"]: e for e in entries(doc, "lv")}
    assert lvs["striped"]["segment_type"] == "striped" and lvs["striped"]["stripes"] == 2
    assert lvs["mirror"]["segment_type"] == "raid1" and lvs["mirror"]["mirrors"] == 1
    assert lvs["parity"]["segment_type"] == "raid5" and len(lvs["parity"]["pvs"]) == 3
    assert lvs["striped-snap"]["snapshot"] and lvs["striped-snap"]["origin"] == lvs["striped"]["id"]
    assert lvs["thinsnap"]["snapshot"] and lvs["thinsnap"]["origin"] == lvs["thinvol"]["id"]
    assert lvs["cached"]["segment_type"] == "cache" and lvs["cached"]["cache_size"]
    assert len(lvs["cached"]["pvs"]) == 2  # the slow device and the cache's
    md = entries(doc, "md")[0]
    assert (md["level"], md["chunk_size"], md["layout"], md["bitmap"]) == (
        "raid5", 65536, "left-symmetric", "internal")


# --------------------------------------------------------------------------------------
# With the stack down
# --------------------------------------------------------------------------------------

# What a capture can know about each layer without assembling, opening or activating.
COLD_FIELDS = {
    "disk": ("serial", "size", "logical_sector_size", "table"),
    "partition": ("disk", "number", "start", "size", "partition_type", "uuid", "label"),
    "md": ("uuid", "level", "metadata", "array_name", "raid_devices", "chunk_size",
           "layout", "bitmap"),
    "luks": ("device", "uuid", "version", "label", "cipher", "key_size", "hash",
             "sector_size", "data_offset", "keyslots_in_use", "keyslots", "tokens"),
    "filesystem": ("device", "fstype", "uuid", "label"),
}


@pytest.mark.parametrize("name", COLD)
def test_stack_down_capture_reads_without_assembling(lab: dict[str, Captured],
                                                     name: str) -> None:
    """md from member superblocks, LUKS from its header: the same identities and
    settings as with the stack up, and the layers above them named as unreachable."""
    warm, cold = lab[name].doc, lab[f"cold-{name}"].doc
    assert lab[f"cold-{name}"].first["exit_code"] in (0, 1), lab[f"cold-{name}"].first
    compared = 0
    for kind, keys in COLD_FIELDS.items():
        cold_ids = {e["id"] for e in entries(cold, kind)}
        for entry_ in entries(warm, kind):
            if kind == "filesystem" and entry_.get("device", "").startswith(("lv:", "md:")):
                continue  # above an array or a VG that is down
            assert entry_["id"] in cold_ids, (kind, entry_["id"], sorted(cold_ids))
            other = entry(cold, entry_["id"])
            for key in keys:
                assert other.get(key) == entry_.get(key), (entry_["id"], key)
            compared += 1
    for md in entries(cold, "md"):
        assert md["assembled"] is False
        warm_md = entry(warm, md["id"])
        assert sorted(m["device"] for m in md["members"]) == \
            sorted(m["device"] for m in warm_md["members"])
        assert {m["device"]: m["role"] for m in md["members"]} == \
            {m["device"]: m["role"] for m in warm_md["members"]}
    assert compared >= 6
    assert not entries(cold, "mount")
