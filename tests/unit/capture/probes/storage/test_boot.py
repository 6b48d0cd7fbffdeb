"""Bootloader facts in storage.yaml, from captures recorded under real firmware.

tests/fixtures/storage-uefi/ was recorded in a lab guest booted with OVMF (UEFI):
the ``laptop`` layout, two boot entries made with ``efibootmgr -c`` (``debian``,
active and first in BootOrder; ``hostbook spare``, inactive) and a boot menu
timeout.  tests/fixtures/storage-grubpc/ was recorded in a SeaBIOS guest with
Debian's grub-pc installed on the ``legacy`` layout's disk.  Each fixture's
``outputs.json`` holds other real outputs the guest recorded afterwards (the
listing without -v; debconf with no install device and with a disk that is gone;
efibootmgr under BIOS firmware); the tests put them in place of the recorded
command to see how the capture takes each.  Expectations are read from the
recorded tool output, never written by hand (see tests/lab/test_boot_capture.py).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.capture.parsers.boot import (
    efi_hard_drive,
    efi_loader,
    parse_debconf_show,
    parse_efibootmgr,
    split_multiselect,
)
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.sections.storage import StorageDocument
from hostbook.process.recording import ReplayRunner
from tests.paths import FIXTURES

UEFI, GRUBPC = "storage-uefi", "storage-grubpc"


def recording(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name / "recording.json").read_text())
    return data


def recorded(name: str, *argv: str) -> dict[str, Any]:
    """The recorded run of ``argv``."""
    return next(c for c in recording(name)["commands"] if c["argv"] == list(argv))


def output(name: str, key: str) -> dict[str, Any]:
    """One of the extra outputs the guest recorded after the capture."""
    outputs: dict[str, Any] = json.loads((FIXTURES / name / "outputs.json").read_text())
    return dict(outputs[key])


def capture(directory: Path, name: str) -> tuple[dict[str, Any], list[str]]:
    """storage.yaml's document and the warnings, replayed from ``directory``."""
    extra = json.loads((FIXTURES / name / "capture.json").read_text())
    config = ConfigDocument.model_validate(extra["config"])
    runner = ReplayRunner(directory)
    collected = collect_sections(runner, config, ["storage"], {})
    doc: dict[str, Any] = collected.documents["storage"]
    StorageDocument.model_validate(doc)
    return doc, collected.warnings


def replay(name: str) -> tuple[dict[str, Any], list[str]]:
    return capture(FIXTURES / name, name)


def variant(name: str, tmp_path: Path, argv: list[str], result: dict[str, Any] | None
            ) -> Path:
    """A copy of the recording where ``argv`` gave ``result`` (None: not installed)."""
    data = recording(name)
    commands = [c for c in data["commands"] if c["argv"] != argv]
    if result is not None:
        commands.append({"argv": argv, "returncode": result["returncode"],
                         "stdout": result["stdout"], "stderr": result["stderr"],
                         "missing": False, "timed_out": False})
    data["commands"] = commands
    target = tmp_path / name
    target.mkdir()
    (target / "recording.json").write_text(json.dumps(data))
    shutil.copyfile(FIXTURES / name / "capture.json", target / "capture.json")
    return target


def entry(doc: dict[str, Any], ident: str) -> dict[str, Any]:
    return next(e for e in doc["entries"] if e["id"] == ident)


def blkid_values(name: str, device: str) -> dict[str, str]:
    """The recorded ``blkid -p -o export`` block of ``device``."""
    blocks: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for command in recording(name)["commands"]:
        if command["argv"][0] != "blkid":
            continue
        for line in [*command["stdout"].splitlines(), ""]:
            if not line.strip():
                if "DEVNAME" in current:
                    blocks[current["DEVNAME"]] = current
                current = {}
                continue
            key, _, value = line.partition("=")
            current[key] = value
    return blocks[device]


def listed_entries(text: str) -> dict[str, tuple[str, bool, str | None]]:
    """efibootmgr's Boot#### lines read by position: number -> (label, active, path)."""
    found = {}
    for line in text.splitlines():
        if re.match(r"Boot[0-9A-F]{4}[* ] ", line):
            label, tab, path = line[10:].partition("\t")
            found[line[4:8]] = (label, line[8] == "*", path if tab else None)
    return found


# -- UEFI: efibootmgr -v as OVMF's variables gave it ---------------------------------


def test_uefi_entries_are_efibootmgrs_own() -> None:
    doc, warnings = replay(UEFI)
    assert not warnings
    boot = doc["boot"]
    text = recorded(UEFI, "efibootmgr", "-v")["stdout"]
    assert boot["firmware"] == "uefi"
    order = re.search(r"^BootOrder: (.*)$", text, re.MULTILINE)
    assert order and boot["efi_boot_order"] == order.group(1).split(",")
    timeout = re.search(r"^Timeout: (\d+) seconds$", text, re.MULTILINE)
    assert timeout and boot["efi_timeout"] == int(timeout.group(1))
    listed = listed_entries(text)
    got = {e["number"]: e for e in boot["efi_entries"]}
    assert sorted(got) == sorted(listed) and len(listed) == 3
    for number, (label, active, path) in listed.items():
        assert got[number]["id"] == f"efi:Boot{number}"
        assert (got[number]["label"], got[number]["active"], got[number]["path"]) == (
            label, active, path)
    assert {e["label"]: e["active"] for e in got.values()} == {
        "UiApp": True, "hostbook spare": False, "debian": True}


def test_uefi_entries_name_the_esp_and_their_loader() -> None:
    doc, _ = replay(UEFI)
    boot = doc["boot"]
    esp = entry(doc, boot["esp"][0])
    partuuid = blkid_values(UEFI, f"/dev/{esp['name']}")["PART_ENTRY_UUID"]
    by_label = {e["label"]: e for e in boot["efi_entries"]}
    for label, loader in (("debian", r"\EFI\debian\grubx64.efi"),
                          ("hostbook spare", r"\EFI\hostbook\spare.efi")):
        got = by_label[label]
        assert partuuid in got["path"] and f"File({loader})" in got["path"]
        assert got["partition"] == esp["id"] and got["loader"] == loader
    assert "partition" not in by_label["UiApp"] and "loader" not in by_label["UiApp"]
    assert boot["efi_boot_order"][0] == by_label["debian"]["number"]


def test_uefi_esp_is_mounted_with_its_loader_directories() -> None:
    doc, _ = replay(UEFI)
    boot = doc["boot"]
    esp = entry(doc, boot["esp"][0])
    assert esp["partition_type"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    assert boot["esp_mounted"] == f"fs:{esp['id']}"
    assert entry(doc, "mount:/boot/efi")["filesystem"] == boot["esp_mounted"]
    assert boot["efi_loaders"] == recording(UEFI)["dirs"]["/boot/efi/EFI"]
    assert boot["efi_loaders"] == ["debian", "hostbook"]
    assert boot["grub_install_devices"] == [] and boot["bios_boot"] == []


def test_efibootmgr_listing_without_paths(tmp_path: Path) -> None:
    """Without -v efibootmgr prints labels alone: the entries stay, with no path."""
    plain = output(UEFI, "efibootmgr")
    parsed = parse_efibootmgr(plain["stdout"])
    assert not parsed.unknown and all(e["path"] is None for e in parsed.entries)
    doc, warnings = capture(
        variant(UEFI, tmp_path, ["efibootmgr", "-v"], plain), UEFI)
    full, _ = replay(UEFI)
    assert not warnings
    assert [(e["label"], e["active"]) for e in doc["boot"]["efi_entries"]] == [
        (e["label"], e["active"]) for e in full["boot"]["efi_entries"]]
    assert all("path" not in e and "partition" not in e for e in doc["boot"]["efi_entries"])


def test_efibootmgr_failing_is_a_warning_and_the_rest_stays(tmp_path: Path) -> None:
    """efibootmgr's real failure (recorded under BIOS firmware) in a UEFI capture."""
    failed = output(GRUBPC, "efibootmgr-bios")
    doc, warnings = capture(
        variant(UEFI, tmp_path, ["efibootmgr", "-v"], failed), UEFI)
    reason = failed["stderr"].strip()
    assert warnings == [f"storage: efi boot entries incomplete: efibootmgr -v: exit "
                        f"{failed['returncode']}: {reason}"]
    full, _ = replay(UEFI)
    assert doc["boot"]["efi_entries"] == [] and doc["boot"]["efi_boot_order"] == []
    kept = ("firmware", "root", "boot", "esp", "esp_mounted", "efi_loaders")
    assert {k: doc["boot"][k] for k in kept} == {k: full["boot"][k] for k in kept}
    assert doc["entries"] == full["entries"]


def test_efibootmgr_missing_is_a_warning(tmp_path: Path) -> None:
    doc, warnings = capture(variant(UEFI, tmp_path, ["efibootmgr", "-v"], None), UEFI)
    assert warnings == ["storage: efi boot entries incomplete: efibootmgr: not installed"]
    assert doc["boot"]["firmware"] == "uefi" and doc["boot"]["esp_mounted"]


def test_output_that_is_not_efibootmgrs_is_a_warning(tmp_path: Path) -> None:
    """Another tool's real output where efibootmgr's belongs: nothing is made up."""
    other = recorded(GRUBPC, "debconf-show", "grub-pc")
    doc, warnings = capture(variant(UEFI, tmp_path, ["efibootmgr", "-v"], other), UEFI)
    assert len(warnings) == 1
    assert "efi boot entries incomplete: efibootmgr -v printed no BootOrder" in warnings[0]
    assert doc["boot"]["efi_entries"] == []


def test_parse_efibootmgr_never_raises_on_partial_output() -> None:
    """Every prefix of the real output parses; a cut line is kept or left out, never
    an error."""
    text = recorded(UEFI, "efibootmgr", "-v")["stdout"]
    full = parse_efibootmgr(text)
    for end in range(len(text) + 1):
        parsed = parse_efibootmgr(text[:end])
        assert len(parsed.entries) <= len(full.entries)
    assert parse_efibootmgr(text + text).entries == full.entries * 2


def test_device_path_nodes() -> None:
    text = recorded(UEFI, "efibootmgr", "-v")["stdout"]
    paths = {label: path for label, _, path in listed_entries(text).values()}
    hd = efi_hard_drive(paths["debian"])
    assert hd is not None and (hd.number, hd.scheme) == (1, "GPT")
    assert efi_loader(paths["debian"]) == r"\EFI\debian\grubx64.efi"
    assert efi_hard_drive(paths["UiApp"]) is None and efi_loader(paths["UiApp"]) is None
    assert efi_hard_drive(None) is None and efi_loader(None) is None


# -- BIOS: grub-pc installed by dpkg, install devices in debconf ---------------------


def test_grub_pc_install_devices_are_debconfs() -> None:
    doc, warnings = replay(GRUBPC)
    assert not warnings
    boot = doc["boot"]
    text = recorded(GRUBPC, "debconf-show", "grub-pc")["stdout"]
    line = re.search(r"^\* grub-pc/install_devices: (.*)$", text, re.MULTILINE)
    assert line and boot["grub_install_devices"] == line.group(1).split(", ")
    disk = next(e for e in doc["entries"] if e["type"] == "disk")
    assert boot["grub_install_devices"] == [f"/dev/disk/by-id/{disk['id'][5:]}"]
    assert boot["grub_install_device_ids"] == [disk["id"]]
    assert boot["firmware"] == "bios" and boot["efi_entries"] == []
    assert recording(GRUBPC)["dirs"]["/boot/grub/i386-pc"]  # GRUB's modules are there


def test_grub_pc_without_install_devices(tmp_path: Path) -> None:
    """An empty answer is an answer: no device, no warning."""
    empty = output(GRUBPC, "debconf-show-empty")
    doc, warnings = capture(variant(GRUBPC, tmp_path, ["debconf-show", "grub-pc"], empty),
                            GRUBPC)
    assert not warnings
    assert doc["boot"]["grub_install_devices"] == []
    assert doc["boot"]["grub_install_device_ids"] == []


def test_grub_pc_install_device_that_is_gone(tmp_path: Path) -> None:
    """A disk debconf still names but the host no longer has: kept, and warned about."""
    replaced = output(GRUBPC, "debconf-show-replaced")
    doc, warnings = capture(
        variant(GRUBPC, tmp_path, ["debconf-show", "grub-pc"], replaced), GRUBPC)
    devices = split_multiselect(parse_debconf_show(replaced["stdout"])[
        "grub-pc/install_devices"])
    gone, present = devices
    assert doc["boot"]["grub_install_devices"] == devices
    assert doc["boot"]["grub_install_device_ids"] == replay(GRUBPC)[0]["boot"][
        "grub_install_device_ids"]
    assert len(warnings) == 1 and gone in warnings[0] and present not in warnings[0]
    assert warnings[0].startswith("storage: grub install devices incomplete:")


def test_without_debconf_there_is_nothing_to_read(tmp_path: Path) -> None:
    """A host that is not Debian-based keeps no install devices: no warning, rest intact."""
    full, _ = replay(GRUBPC)
    doc, warnings = capture(
        variant(GRUBPC, tmp_path, ["debconf-show", "grub-pc"], None), GRUBPC)
    assert warnings == []
    assert doc["boot"]["grub_install_devices"] == []
    assert doc["boot"]["grub_install_device_ids"] == []
    kept = ("firmware", "root", "boot", "esp", "bios_boot")
    assert {k: doc["boot"][k] for k in kept} == {k: full["boot"][k] for k in kept}
    assert doc["entries"] == full["entries"]


def test_debconf_show_failing_is_a_warning(tmp_path: Path) -> None:
    """debconf there but its database unreadable (recorded in the guest): the gap is told."""
    failing = output(GRUBPC, "debconf-show-unreadable")
    doc, warnings = capture(
        variant(GRUBPC, tmp_path, ["debconf-show", "grub-pc"], failing), GRUBPC)
    reason = failing["stderr"].strip().splitlines()[-1]
    assert warnings == [f"storage: grub install devices incomplete: "
                        f"debconf-show grub-pc: exit {failing['returncode']}: {reason}"]
    assert doc["boot"]["grub_install_devices"] == [] and doc["boot"]["firmware"] == "bios"


def test_parse_debconf_show_reads_every_question() -> None:
    text = recorded(GRUBPC, "debconf-show", "grub-pc")["stdout"]
    values = parse_debconf_show(text)
    assert len(values) == len(text.splitlines())
    for line in text.splitlines():
        question, _, value = line[2:].partition(": ")
        assert values[question.rstrip(":")] == value.strip()
    assert values["grub-pc/install_devices_disks_changed"] == ""  # a neighbour, not ours


@pytest.mark.parametrize("name", [UEFI, GRUBPC])
def test_each_fixture_replays_without_unanswered_questions(name: str) -> None:
    runner = ReplayRunner(FIXTURES / name)
    extra = json.loads((FIXTURES / name / "capture.json").read_text())
    collect_sections(runner, ConfigDocument.model_validate(extra["config"]), ["storage"], {})
    assert runner.unanswered == []
