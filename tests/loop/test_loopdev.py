"""Proves the loop-device fixture: real devices, and nothing left behind, ever.

Each cleanup test checks the kernel's own record (sysfs backing_file) and the file
system, not the fixture's bookkeeping, so a bug in the bookkeeping cannot hide a leak.
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

from tests.loopdev import (
    LoopDevice,
    LoopDevices,
    NotOurDevice,
    detach_loops_in,
    loop_backing_files,
    loops_backed_by,
    parse_size,
)
from tests.paths import REPO_ROOT

pytestmark = pytest.mark.loop


def _run(*cmd: str, stdin: str | None = None) -> str:
    res = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"{' '.join(cmd)}: {res.stderr}"
    return res.stdout


def _mounted_sources() -> set[str]:
    return {line.split()[0] for line in Path("/proc/self/mounts").read_text().splitlines()}


def _wait_until(pred: object, timeout: float = 20.0) -> bool:
    assert callable(pred)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return bool(pred())


def _assert_gone(devs: list[str], images: list[str], workdir: str) -> None:
    """Nothing of what a LoopDevices made is left: no device, no file, no dir."""
    attached = loop_backing_files()
    for dev, image in zip(devs, images, strict=True):
        assert attached.get(dev, "").removesuffix(" (deleted)") != image, f"{dev} leaked"
    assert not loops_backed_by(Path(workdir)), "a loop device over our files is left"
    for image in images:
        assert not os.path.exists(image), f"{image} leaked"
    assert not os.path.exists(workdir), f"{workdir} leaked"


def _child_script(body: str) -> str:
    """A Python child that makes two devices, reports them as JSON, then runs `body`."""
    return textwrap.dedent(
        f"""
        import json, os, sys, time
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from tests.loopdev import LoopDevices
        devs = LoopDevices()
        try:
            a = devs("32M")
            b = devs("32M", sector_size=4096)
            print(json.dumps({{"devs": [a.path, b.path],
                               "images": [str(a.image), str(b.image)],
                               "workdir": str(devs.workdir),
                               "guardian": devs.guardian.pid}}), flush=True)
        """
    ) + textwrap.indent(textwrap.dedent(body), "    ") + textwrap.dedent(
        """
        finally:
            devs.close()
        """
    )


# ------------------------------------------------------------------ the devices themselves


def test_image_is_sparse_and_device_has_its_size(loop_devices: LoopDevices) -> None:
    dev = loop_devices("1G")
    st = dev.image.stat()
    assert st.st_size == 1 << 30
    assert st.st_blocks * 512 < 1 << 20, "image file is not sparse"
    assert _run("blockdev", "--getsize64", dev.path).strip() == str(1 << 30)
    assert dev.is_ours()
    assert loop_backing_files()[dev.path] == str(dev.image)


def test_partscan_gpt_partitions_and_filesystem(
    loop_devices: LoopDevices, tmp_path: Path
) -> None:
    dev = loop_devices("256M")
    assert Path(f"/sys/block/{dev.name}/partscan").read_text().strip() == "1"
    dev.assert_ours()
    _run("sfdisk", "-q", dev.path, stdin="label: gpt\n,64M,U\n,,L\n")
    parts = dev.rescan()
    assert parts == [dev.partition(1), dev.partition(2)]
    table = json.loads(_run("sfdisk", "--json", dev.path))["partitiontable"]
    assert table["label"] == "gpt" and len(table["partitions"]) == 2

    _run("mkfs.ext4", "-q", "-L", "looptest", dev.partition(2))
    blkid = _run("blkid", "-p", "-o", "export", dev.partition(2))
    assert "TYPE=ext4" in blkid and "LABEL=looptest" in blkid
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    _run("mount", dev.partition(2), str(mnt))
    try:
        (mnt / "hello").write_text("hi\n")
    finally:
        _run("umount", str(mnt))


def test_sector_size_4096(loop_devices: LoopDevices) -> None:
    dev = loop_devices("512M", sector_size=4096)
    assert dev.sector_size == 4096
    assert Path(f"/sys/block/{dev.name}/queue/logical_block_size").read_text().strip() == "4096"
    assert _run("blockdev", "--getss", dev.path).strip() == "4096"
    _run("sfdisk", "-q", dev.path, stdin="label: gpt\n,32M\n,,L\n")
    dev.rescan()
    table = json.loads(_run("sfdisk", "--json", dev.path))["partitiontable"]
    assert table["sectorsize"] == 4096
    # 32 MiB in 4096-byte sectors, not 512-byte ones.
    assert table["partitions"][0]["size"] == 32 * 256
    _run("mkfs.xfs", "-q", "-f", dev.partition(2))  # xfs needs >= 300 MiB
    assert "TYPE=xfs" in _run("blkid", "-p", "-o", "export", dev.partition(2))


def test_mixed_devices_and_unattached_partscan(loop_devices: LoopDevices) -> None:
    a = loop_devices("64M", partscan=False)
    b = loop_devices("64M")
    assert a.path != b.path
    assert Path(f"/sys/block/{a.name}/partscan").read_text().strip() == "0"
    assert {a.path, b.path} <= set(loop_backing_files())


def test_parse_size() -> None:
    assert parse_size("64M") == 64 << 20
    assert parse_size("2G") == 2 << 30
    assert parse_size("1GiB") == 1 << 30
    assert parse_size(4096) == 4096
    for bad in ("", "12X", "-1M", 0):
        with pytest.raises(ValueError):
            parse_size(bad)


# ------------------------------------------------------------------ cleanup, always


def test_cleanup_after_exception_with_mounted_filesystem(loop_tier: None, tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    made: list[LoopDevice] = []
    with pytest.raises(RuntimeError, match="boom"), LoopDevices() as devs:
        workdir = str(devs.workdir)
        dev = devs("64M")
        made.append(dev)
        _run("mkfs.ext4", "-q", dev.path)
        _run("mount", dev.path, str(mnt))
        raise RuntimeError("boom")
    assert not os.path.ismount(mnt), "cleanup left the filesystem mounted"
    assert made[0].path not in _mounted_sources()
    _assert_gone([made[0].path], [str(made[0].image)], workdir)


def test_cleanup_after_keyboard_interrupt(loop_tier: None) -> None:
    made: list[LoopDevice] = []
    with pytest.raises(KeyboardInterrupt), LoopDevices() as devs:
        workdir = str(devs.workdir)
        made += [devs("32M"), devs("32M", sector_size=4096)]
        raise KeyboardInterrupt
    _assert_gone([d.path for d in made], [str(d.image) for d in made], workdir)


def test_cleanup_when_a_test_using_the_fixture_fails(loop_tier: None, tmp_path: Path) -> None:
    """Runs a failing test in a child pytest and checks its devices are gone."""
    out = tmp_path / "made.json"
    (tmp_path / "conftest.py").write_text(
        f"import sys\nsys.path.insert(0, {str(REPO_ROOT)!r})\n"
        "from tests.loopdev import loop_devices, loop_tier  # noqa\n"
    )
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent(
            f"""
            import json
            def test_fails(loop_devices):
                d = loop_devices("16M")
                json.dump({{"dev": d.path, "image": str(d.image),
                           "workdir": str(loop_devices.workdir)}}, open({str(out)!r}, "w"))
                assert False, "deliberate failure"
            """
        )
    )
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert res.returncode == 1, res.stdout + res.stderr
    assert "deliberate failure" in res.stdout
    made = json.loads(out.read_text())
    _assert_gone([made["dev"]], [made["image"]], made["workdir"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_cleanup_when_owner_process_is_killed(loop_tier: None, sig: signal.Signals) -> None:
    """SIGINT runs the owner's `finally`; SIGTERM and SIGKILL do not, and the
    guardian has to do the work. Either way nothing may be left."""
    child = subprocess.Popen(
        [sys.executable, "-c", _child_script("time.sleep(600)")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.stderr.read() if child.stderr else "child said nothing"
        made = json.loads(line)
        assert all(loop_backing_files().get(d) == i
                   for d, i in zip(made["devs"], made["images"], strict=True))
        child.send_signal(sig)
        # the owner's cleanup (umount, losetup -d, rm) waits on the disk: once, right
        # after a lab guest with 8 GiB of disk images was stopped, it took over 30 s
        child.wait(timeout=120)
        assert _wait_until(lambda: not os.path.exists(f"/proc/{made['guardian']}")
                           or not os.path.exists(made["workdir"])), "guardian did not act"
        assert _wait_until(lambda: not os.path.exists(made["workdir"]))
        _assert_gone(made["devs"], made["images"], made["workdir"])
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


# ------------------------------------------------------------------ never touch others


def test_never_touches_a_device_it_did_not_create(loop_tier: None, tmp_path: Path) -> None:
    """A loop device made outside the fixture (over a file in a directory whose name
    shares the fixture's prefix) survives the fixture's cleanup and its guardian."""
    foreign_img = tmp_path / "foreign.img"
    foreign_img.write_bytes(b"")
    os.truncate(foreign_img, 16 << 20)
    foreign = _run("losetup", "--find", "--show", str(foreign_img)).strip()
    try:
        with LoopDevices() as devs:
            ours = devs("16M")
            # A sibling directory whose name starts with our workdir's name must not
            # count as "inside" it.
            lookalike = Path(str(devs.workdir) + "x")
            assert detach_loops_in(lookalike) == []
            impostor = LoopDevice(path=foreign, image=ours.image, size=ours.size,
                                  sector_size=512)
            with pytest.raises(NotOurDevice):
                impostor.assert_ours()
            with pytest.raises(NotOurDevice):
                LoopDevice(path="/dev/vda", image=ours.image, size=1,
                           sector_size=512).assert_ours()
            assert foreign not in loops_backed_by(devs.workdir)
        assert loop_backing_files().get(foreign) == str(foreign_img)
    finally:
        subprocess.run(["losetup", "-d", foreign], check=False)
