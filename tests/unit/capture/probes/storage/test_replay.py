"""storage.yaml from recorded real captures, checked against the recorded tool output.

Each tests/fixtures/storage-*/ holds a recording made by ``hostbook capture
--only storage --record`` on a real host: the VM-lab layouts (laptop, server,
legacy, btrfs, thin, damaged devices), loop devices on the build machine, and
the build machine itself (no udevd, an unreadable root disk).  A
``capture.json`` beside it gives the configuration/options the capture ran
with.  The checks compare the replayed document with the outputs inside the
recording (sfdisk dumps, blkid, lvm, cryptsetup, mdadm), so nothing here is a
hand-written expectation of what a tool prints.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.manifest.merge import to_commented
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.sections.storage import StorageDocument, entry_references, sfdisk_script
from hostbook.manifest.yamlio import dump_text
from hostbook.process.recording import ReplayRunner
from tests.paths import FIXTURES

RECORDINGS = sorted(p.parent.name for p in FIXTURES.glob("storage-*/recording.json"))
LAB = ("laptop", "server", "legacy", "btrfs", "thin")


def settings(name: str) -> tuple[ConfigDocument, dict[str, Any]]:
    extra = FIXTURES / name / "capture.json"
    data = json.loads(extra.read_text()) if extra.exists() else {}
    config = ConfigDocument.model_validate(
        data.get("config") or {"schema": ConfigDocument.schema_string()}
    )
    return config, data.get("options", {})


def replay(name: str, directory: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    config, options = settings(name)
    runner = ReplayRunner(directory or FIXTURES / name)
    collected = collect_sections(runner, config, ["storage"], options)
    assert runner.unanswered == [], f"{name}: the recording lacks {runner.unanswered}"
    return collected.documents["storage"], collected.warnings


def recorded(name: str, tool: str) -> list[dict[str, Any]]:
    data = json.loads((FIXTURES / name / "recording.json").read_text())
    return [c for c in data["commands"] if c["argv"][0] == tool]


def entries(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in doc["entries"] if e["type"] == kind]


def entry(doc: dict[str, Any], ident: str) -> dict[str, Any]:
    return next(e for e in doc["entries"] if e["id"] == ident)


def norm(value: Any) -> str:
    text = str(value).strip().lower()
    if re.fullmatch(r"[0-9a-f]{8}([-:][0-9a-f]{4,8}){3,4}([-:][0-9a-f]{12})?", text):
        return text.replace("-", "").replace(":", "")
    return text.removeprefix("0x")


def scalars(node: Any) -> set[str]:
    if isinstance(node, dict):
        return {v for value in node.values() for v in scalars(value)}
    if isinstance(node, list):
        return {v for value in node for v in scalars(value)}
    return set() if node is None else {norm(node)}


def export_blocks(text: str) -> dict[str, dict[str, str]]:
    """blkid -o export, read independently of the capture's own parser."""
    blocks: dict[str, dict[str, str]] = {}
    for chunk in text.strip().split("\n\n"):
        values = dict(line.split("=", 1) for line in chunk.splitlines() if "=" in line)
        if "DEVNAME" in values:
            device = values.pop("DEVNAME")
            blocks[device] = {k: re.sub(r"\\(.)", r"\1", v) for k, v in values.items()}
    return blocks


def flag_bits(part: dict[str, Any]) -> int:
    """The partition's flags as blkid's PART_ENTRY_FLAGS mask."""
    if part.get("kind"):  # MBR
        return 0x80 if part["bootable"] else 0
    names = {"RequiredPartition": 0, "NoBlockIOProtocol": 1, "LegacyBIOSBootable": 2}
    mask = 0
    for word in (part.get("attributes") or "").split():
        mask |= 1 << (int(word.split(":")[1]) if word.startswith("GUID:") else names[word])
    return mask


def test_there_are_recordings_of_every_lab_layout_and_of_this_machine() -> None:
    assert {f"storage-{n}" for n in LAB} <= set(RECORDINGS)
    assert {"storage-buildhost", "storage-damaged", "storage-extras"} <= set(RECORDINGS)


@pytest.mark.parametrize("name", RECORDINGS)
def test_replay_is_valid_deterministic_and_self_consistent(name: str) -> None:
    doc, _ = replay(name)
    model = StorageDocument.model_validate(doc)
    ids = [e.id for e in model.entries]
    assert len(ids) == len(set(ids))
    for item in model.entries:
        for ref in entry_references(item):
            assert ref in ids, f"{item.id} refers to {ref}"
    again, _ = replay(name)
    assert dump_text(to_commented(again)) == dump_text(to_commented(doc))


@pytest.mark.parametrize("name", RECORDINGS)
def test_each_recorded_sfdisk_dump_is_rendered_back_exactly(name: str) -> None:
    model = StorageDocument.model_validate(replay(name)[0])
    dumps = [c for c in recorded(name, "sfdisk") if c["returncode"] == 0]
    for command in dumps:
        device = command["argv"][-1]
        owner = next(e for e in model.entries if getattr(e, "table", None) is not None
                     and getattr(e, "name", None) == device.removeprefix("/dev/"))
        assert sfdisk_script(model, owner.id, device) == command["stdout"]


@pytest.mark.parametrize("name", RECORDINGS)
def test_each_recorded_blkid_value_is_in_storage_yaml(name: str) -> None:
    doc, _ = replay(name)
    values = scalars(doc)
    captured = {e.get("name") for e in doc["entries"]}
    kinds = {"LVM2_member": "pv", "crypto_LUKS": "luks", "linux_raid_member": "md"}
    for command in recorded(name, "blkid"):
        for device, found in export_blocks(command["stdout"]).items():
            kname = device.removeprefix("/dev/")
            if kname not in captured and not any(e.get("device", "").endswith(kname)
                                                 for e in doc["entries"]):
                continue
            for key, value in found.items():
                if key in ("USAGE", "PART_ENTRY_DISK"):  # a category; a device number
                    continue
                if key in ("PART_ENTRY_OFFSET", "PART_ENTRY_SIZE"):
                    value = str(int(value) * 512)  # blkid counts 512-byte sectors
                if value in kinds:
                    assert entries(doc, kinds[value]), f"{name}: {device} {value}"
                    continue
                if key == "PART_ENTRY_FLAGS":  # a bit mask: GPT attributes or MBR active
                    part = next(e for e in entries(doc, "partition") if e["name"] == kname)
                    assert flag_bits(part) == int(value, 16), f"{name}: {device} flags"
                    continue
                assert norm(value) in values, f"{name}: {device} {key}={value!r} missing"


@pytest.mark.parametrize("name", RECORDINGS)
def test_each_recorded_lvm_object_is_in_storage_yaml(name: str) -> None:
    doc, _ = replay(name)
    captured_vgs = {e["name"] for e in entries(doc, "vg")}
    for command in recorded(name, "lvm"):
        report = json.loads(command["stdout"])["report"]
        for part in report:
            for vg in part["vg"]:
                if vg["vg_name"] not in captured_vgs:
                    continue
                got = entry(doc, f"vg:{vg['vg_name']}")
                assert got["uuid"] == vg["vg_uuid"] and got["size"] == int(vg["vg_size"])
                assert got["extent_size"] == int(vg["vg_extent_size"])
                for pv in part["pv"]:
                    assert entry(doc, f"pv:{pv['pv_uuid']}")["pe_start"] == int(pv["pe_start"])
                for lv in part["lv"]:
                    if lv["lv_name"].startswith("["):
                        continue
                    got = entry(doc, f"lv:{vg['vg_name']}/{lv['lv_name']}")
                    assert got["uuid"] == lv["lv_uuid"] and got["size"] == int(lv["lv_size"])


@pytest.mark.parametrize("name", RECORDINGS)
def test_luks_parameters_but_never_salts_or_digests(name: str) -> None:
    doc, _ = replay(name)
    text = dump_text(to_commented(doc))
    for command in recorded(name, "cryptsetup"):
        if command["returncode"] != 0 or "--dump-json-metadata" not in command["argv"]:
            continue
        meta = json.loads(command["stdout"])
        device = command["argv"][-1].removeprefix("/dev/")
        got = next(e for e in entries(doc, "luks") if entry(doc, e["device"])["name"] == device)
        segment = meta["segments"]["0"]
        assert got["cipher"] == segment["encryption"]
        assert got["data_offset"] == int(segment["offset"])
        assert got["sector_size"] == segment["sector_size"]
        assert got["keyslots_in_use"] == len(meta["keyslots"])
        secrets = [meta["digests"][d][k] for d in meta["digests"] for k in ("salt", "digest")]
        secrets += [s["kdf"]["salt"] for s in meta["keyslots"].values()]
        for secret in secrets:
            assert secret not in text
    assert "salt" not in text and "digest" not in text


def detailed(name: str) -> list[dict[str, Any]]:
    return [c for c in recorded(name, "mdadm") if "--detail" in c["argv"]]


def examined(name: str) -> list[dict[str, Any]]:
    return [c for c in recorded(name, "mdadm") if "--examine" in c["argv"]]


@pytest.mark.parametrize("name", [n for n in RECORDINGS if detailed(n)])
def test_md_arrays_as_mdadm_reports_them(name: str) -> None:
    doc, _ = replay(name)
    for command in detailed(name):
        values = dict(line.split("=", 1) for line in command["stdout"].splitlines() if "=" in line)
        got = entry(doc, f"md:{values['MD_UUID']}")
        assert got["level"] == values["MD_LEVEL"] and got["metadata"] == values["MD_METADATA"]
        assert got["array_name"] == values["MD_NAME"]
        assert len(got["members"]) == int(values["MD_DEVICES"])


# -- the layouts' shapes, as their builders make them ---------------------------------


def test_laptop_chain_from_disk_to_mounts() -> None:
    doc, warnings = replay("storage-laptop")
    assert not warnings
    luks = entries(doc, "luks")[0]
    part = entry(doc, luks["device"])
    assert part["label"] == "cryptroot" and luks["version"] == 2 and luks["open"]
    assert luks["crypttab_name"] == luks["name"] == "laptop_crypt"
    pv = entries(doc, "pv")[0]
    assert pv["device"] == luks["id"]
    vg = entry(doc, "vg:laptopvg")
    assert vg["pvs"] == [pv["id"]]
    lvs = {e["lv_name"]: e for e in entries(doc, "lv")}
    assert set(lvs) == {"root", "swap", "home"}
    assert all(lv["vg"] == vg["id"] and lv["pvs"] == [pv["id"]] for lv in lvs.values())
    fs = {e["device"]: e for e in entries(doc, "filesystem")}
    assert fs[lvs["root"]["id"]]["fstype"] == "ext4"
    assert fs[lvs["home"]["id"]]["fstype"] == "xfs"
    assert entries(doc, "swap")[0]["device"] == lvs["swap"]["id"]
    assert doc["boot"]["root"] == fs[lvs["root"]["id"]]["id"]
    assert doc["boot"]["esp"] == [e["id"] for e in entries(doc, "partition") if e["number"] == 1]
    fstab = {line["mountpoint"]: line for line in doc["fstab"]["entries"]}
    assert fstab["/home"]["target"] == fs[lvs["home"]["id"]]["id"]
    assert doc["crypttab"]["entries"][0]["target"] == luks["id"]


def test_server_raid1_arrays_under_boot_and_lvm() -> None:
    doc, warnings = replay("storage-server")
    assert not warnings
    arrays = {e["array_name"].split(":")[-1]: e for e in entries(doc, "md")}
    assert arrays["server-boot"]["metadata"] == "1.0"
    assert arrays["server-root"]["metadata"] == "1.2"
    for array in arrays.values():
        assert array["level"] == "raid1" and array["raid_devices"] == 2
        disks = {entry(doc, m["device"])["disk"] for m in array["members"]}
        assert len(disks) == 2  # one half on each disk
    pv = entries(doc, "pv")[0]
    assert pv["device"] == arrays["server-root"]["id"]
    boot = next(e for e in entries(doc, "filesystem") if e["device"] == arrays["server-boot"]["id"])
    assert doc["boot"]["boot"] == boot["id"] and len(doc["boot"]["bios_boot"]) == 2


def test_legacy_mbr_with_extended_and_logical_partitions() -> None:
    doc, _ = replay("storage-legacy")
    disk = entries(doc, "disk")[0]
    assert disk["table"]["type"] == "dos" and "first_lba" not in disk["table"]
    kinds = {p["number"]: (p["kind"], p["bootable"]) for p in entries(doc, "partition")}
    assert kinds == {1: ("primary", True), 2: ("extended", False), 5: ("logical", False),
                     6: ("logical", False)}
    swap = entries(doc, "swap")[0]
    assert entry(doc, swap["device"])["number"] == 5 and swap["active"]


def test_btrfs_on_a_4kn_disk() -> None:
    doc, _ = replay("storage-btrfs")
    disk = entries(doc, "disk")[0]
    assert disk["logical_sector_size"] == disk["table"]["sector_size"] == 4096
    fs = next(e for e in entries(doc, "filesystem") if e["fstype"] == "btrfs")
    subvolumes = {s["path"]: s for s in fs["btrfs"]["subvolumes"]}
    assert set(subvolumes) == {"@", "@home", "@snapshots"}
    assert fs["btrfs"]["default_subvolume"] == subvolumes["@"]["id"]
    assert fs["btrfs"]["readonly_snapshots"] == 1
    mounts = {m["subvolume"] for m in entries(doc, "mount") if m["filesystem"] == fs["id"]}
    assert mounts == {"/@", "/@home", "/@snapshots"}


def test_thin_pool_and_its_volumes() -> None:
    doc, _ = replay("storage-thin")
    lvs = {e["lv_name"]: e for e in entries(doc, "lv")}
    pool = lvs["pool"]
    assert pool["segment_type"] == "thin-pool" and pool["chunk_size"]
    assert pool["pool_metadata_size"] and pool["pvs"] == [entries(doc, "pv")[0]["id"]]
    for name in ("vol1", "vol2"):
        assert lvs[name]["segment_type"] == "thin" and lvs[name]["pool"] == pool["id"]
    assert lvs["vol1"]["size"] > pool["size"]  # over-provisioned


def test_damaged_devices_are_reported_and_the_rest_kept() -> None:
    doc, warnings = replay("storage-damaged")
    text = "\n".join(warnings)
    assert "ambivalent" in text and "luksDump" in text and "PV(s) missing" in text
    assert {f["label"] for f in entries(doc, "filesystem")} == {"intact", "keep"}
    assert [p["missing"] for p in entries(doc, "pv")].count(True) == 1


def test_this_machine_without_udev_still_completes() -> None:
    """No udevd and a root disk blkid may not open: recorded as incomplete, not fatal."""
    doc, warnings = replay("storage-buildhost")
    data = json.loads((FIXTURES / "storage-buildhost" / "recording.json").read_text())
    assert "storage.udev.block" not in data["values"]  # enumerated from sysfs
    root = entry(doc, doc["boot"]["root"])
    assert root["fstype"] == "ext4" and entry(doc, root["device"])["type"] == "disk"
    failed = [c for c in recorded("storage-buildhost", "blkid") if "error" in c["stderr"]]
    for command in failed:
        device = command["stderr"].split(": ")[2]
        assert any(device.removeprefix("/dev/") in w for w in warnings)


# -- a tool missing or failing, made from the real recordings --------------------------


def without(name: str, tool: str, tmp_path: Path) -> Path:
    """A copy of a recording in which ``tool`` was never installed."""
    data = json.loads((FIXTURES / name / "recording.json").read_text())
    data["commands"] = [c for c in data["commands"] if c["argv"][0] != tool]
    target = tmp_path / name
    target.mkdir()
    (target / "recording.json").write_text(json.dumps(data))
    if (FIXTURES / name / "capture.json").exists():
        shutil.copyfile(FIXTURES / name / "capture.json", target / "capture.json")
    return target


@pytest.mark.parametrize(
    ("name", "tool", "kind"),
    [("storage-laptop", "cryptsetup", "luks"), ("storage-laptop", "lvm", "lv"),
     ("storage-server", "mdadm", "md"), ("storage-btrfs", "btrfs", "filesystem"),
     ("storage-legacy", "sfdisk", "partition")],
)
def test_a_missing_tool_marks_its_layer_and_keeps_the_others(
    name: str, tool: str, kind: str, tmp_path: Path
) -> None:
    full, _ = replay(name)
    config, options = settings(name)
    runner = ReplayRunner(without(name, tool, tmp_path))
    collected = collect_sections(runner, config, ["storage"], options)
    doc = collected.documents["storage"]
    assert any(tool in i["reason"] for i in doc["incomplete"])
    StorageDocument.model_validate(doc)
    kept = {e["id"] for e in full["entries"] if e["type"] in ("disk", "mount")}
    assert kept <= {e["id"] for e in doc["entries"]}
    assert len(entries(doc, kind)) <= len(entries(full, kind))


def test_extras_every_lvm_kind_raid5_and_plain_crypt() -> None:
    doc, warnings = replay("storage-extras")
    assert not warnings
    lvs = {e["lv_name"]: e for e in entries(doc, "lv")}
    assert (lvs["striped"]["stripes"], lvs["striped"]["stripe_size"]) == (2, 64 << 10)
    assert lvs["mirror"]["segment_type"] == "raid1" and lvs["mirror"]["region_size"]
    assert lvs["parity"]["segment_type"] == "raid5"
    for name, origin in (("striped-snap", "striped"), ("thinsnap", "thinvol")):
        assert lvs[name]["snapshot"] and lvs[name]["origin"] == lvs[origin]["id"]
    assert lvs["thinsnap"]["activation_skip"]
    cached = lvs["cached"]
    assert cached["segment_type"] == "cache" and cached["cache_mode"] == "writethrough"
    assert "origin" not in cached and cached["cache_size"] == 32 << 20
    md = entries(doc, "md")[0]
    assert (md["level"], md["layout"], md["bitmap"]) == ("raid5", "left-symmetric", "internal")
    assert [m["role"] for m in md["members"]] == ["0", "1", "2"]
    crypt = entry(doc, "crypt:xswap")
    assert crypt["cipher"] == "aes-xts-plain64" and crypt["key_size"] == 256
    swap = entry(doc, "swap:crypt:xswap")
    assert "uuid" not in swap and swap["active"]
    fstab = {line["spec"]: line["target"] for line in doc["fstab"]["entries"]}
    assert fstab["/dev/mapper/xswap"] == swap["id"]
    assert fstab["LABEL=r5"] == f"fs:{md['id']}"


# -- captured with the stack down (arrays stopped, LUKS closed, VGs inactive) ----------


@pytest.mark.parametrize("name", [n for n in RECORDINGS if examined(n)])
def test_arrays_nobody_assembled_come_from_their_superblocks(name: str) -> None:
    doc, _ = replay(name)
    (command,) = examined(name)  # one mdadm for every member of every array
    blocks = re.split(r"^(/dev/\S+):$", command["stdout"], flags=re.MULTILINE)[1:]
    supers = {path: dict(re.findall(r"^\s*([A-Za-z][\w ]*?) : (.*)$", text, re.MULTILINE))
              for path, text in zip(blocks[::2], blocks[1::2], strict=True)}
    assert len(supers) == len(command["argv"]) - 2
    arrays = entries(doc, "md")
    assert arrays and all(not a["assembled"] for a in arrays)
    for array in arrays:
        for member in array["members"]:
            device = entry(doc, member["device"])
            path = next(p for p in supers if p.endswith("/" + device["name"]))
            fields = supers[path]
            assert array["uuid"] == fields["Array UUID"]
            assert array["level"] == fields["Raid Level"]
            assert array["metadata"] == fields["Version"]
            assert array["raid_devices"] == int(fields["Raid Devices"])
            assert array["array_name"] == fields["Name"].split()[0]
            assert fields["Device Role"] == f"Active device {member['role']}"
        assert sorted(m["role"] for m in array["members"]) == \
            [str(i) for i in range(array["raid_devices"])]
    assert not entries(doc, "pv") and not entries(doc, "lv")  # above the arrays: unseen


@pytest.mark.parametrize("name", [n for n in RECORDINGS if n.startswith("storage-cold-")])
def test_stack_down_capture_keeps_what_the_headers_say(name: str) -> None:
    doc, _ = replay(name)
    assert not entries(doc, "mount")
    for luks in entries(doc, "luks"):
        assert luks["open"] is False and luks["uuid"] and luks["cipher"]
        assert not any(e.get("device") == luks["id"] for e in doc["entries"])
    # what sits right on the partitions is there: filesystems, LUKS headers, md members
    assert entries(doc, "partition")
    assert entries(doc, "filesystem") or entries(doc, "md")
