"""The capture timer fires on a real installed Debian and a commit appears, and is pushed.

The system is installed for BIOS (GPT with a BIOS boot partition, GRUB for
i386-pc) and its boot is checked as tests/lab/test_installed_boot.py checks
the UEFI one: SeaBIOS, the installed GRUB and kernel, multi-user reached.

An installed system (tests/lab/installed.py) gets hostbook from wheels into
/opt/hostbook, as `.ci/install` puts it on a host; in its chroot, `hostbook
init` makes the manifest repository with a bare remote beside it and
`hostbook install-units` writes and enables the rendered units offline (as an
installer would: systemctl in a chroot enables but does not reload).  A
drop-in moves the timer's calendar to 20 s after boot, nothing else of the
rendered units changes.  Booted from its disk with its own systemd, the timer
starts hostbook-capture.service under its hardening; the marker waits for the
commit and reports it, the pushed remote, and the service's result.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.fixtures import GuestFactory
from tests.lab.installed import (
    FACTS_SCRIPT,
    build_wheels,
    check_booted_from_disk,
    install_bios_step_script,
    install_hostbook_script,
    step_facts,
)
from tests.lab.vm import DiskSpec, Step

pytestmark = pytest.mark.lab

REPO = "/var/lib/hostbook/manifests"

SET_UP = rf"""
set -euo pipefail
target=/mnt/target
in_target() {{ chroot "$target" "$@"; }}
in_target hostbook init
in_target git init -q --bare -b main /srv/fleet.git
in_target git -C {REPO} remote add origin /srv/fleet.git
in_target hostbook install-units --hostbook /usr/local/bin/hostbook
test -L "$target/etc/systemd/system/timers.target.wants/hostbook-capture.timer"
mkdir -p "$target/etc/systemd/system/hostbook-capture.timer.d" "$target/etc/hostbook-lab"
cat > "$target/etc/systemd/system/hostbook-capture.timer.d/lab.conf" <<'EOF'
[Timer]
OnCalendar=
OnActiveSec=20s
RandomizedDelaySec=0
AccuracySec=1s
EOF
in_target git -C {REPO} rev-list --count HEAD > "$target/etc/hostbook-lab/commits-before"
cat > "$target/etc/hostbook-lab/extra.sh" <<'EOF'
repo={REPO}
before=$(cat /etc/hostbook-lab/commits-before)
for i in $(seq 1 400); do
    state=$(systemctl show -p ActiveState --value hostbook-capture.service)
    if [ "$(git -C "$repo" rev-list --count HEAD)" -gt "$before" ] \
        && [ "$state" != activating ]; then
        break
    fi
    sleep 1
done
say "commits-before $before"
say "commits $(git -C "$repo" rev-list --count HEAD)"
say "subject $(git -C "$repo" log -1 --format=%s)"
say "files $(git -C "$repo" ls-tree -r --name-only HEAD -- hosts | tr '\n' ' ')"
say "remote $(git --git-dir /srv/fleet.git rev-parse -q --verify main || echo none)"
say "head $(git -C "$repo" rev-parse HEAD)"
say "result $(systemctl show -p Result --value hostbook-capture.service)"
say "status $(systemctl show -p ExecMainStatus --value hostbook-capture.service)"
say "timer-last $(systemctl show -p LastTriggerUSecMonotonic --value hostbook-capture.timer)"
EOF
umount -R "$target"
"""


@pytest.fixture
def wheels() -> Iterator[Path]:
    """hostbook's wheels where the guest sees them (it has its own /tmp)."""
    folder = Path(tempfile.mkdtemp(prefix="hostbook-wheels-", dir="/var/tmp"))
    try:
        yield build_wheels(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_capture_timer_commits_and_pushes_on_an_installed_system(
    lab_guest: GuestFactory, debian_image: Path, wheels: Path, tmp_path: Path
) -> None:
    guest = lab_guest([DiskSpec("4G", serial="sys0")], keep_images=True)
    install = guest.run_steps(
        [Step("install", install_bios_step_script(debian_image, "sys0"), timeout=900),
         Step("hostbook", install_hostbook_script(wheels), timeout=900),
         Step("set-up", SET_UP, timeout=300),
         Step("facts", FACTS_SCRIPT, timeout=60)],
        timeout=2000, stop_on_error=True, results_dir=tmp_path / "install")
    assert install.ok, install.describe()

    # the installed system itself booted: SeaBIOS, its GRUB, its kernel (the BIOS
    # half of tests/lab/test_installed_boot.py)
    booted = guest.boot_disks(timeout=1200)
    facts = check_booted_from_disk(booted, step_facts(install["facts"].stdout), "bios")
    # the timer fired once, after the boot, and its capture made one commit
    assert facts["timer-last"] not in ("", "0"), facts
    assert int(facts["commits"]) == int(facts["commits-before"]) + 1, facts
    assert "hosts/hostbook-lab/storage.yaml" in facts["files"].split(), facts
    assert "hosts/hostbook-lab/system.yaml" in facts["files"].split(), facts
    # --push-if-remote: the remote's main is the commit the capture made
    assert facts["remote"] == facts["head"], facts
    assert facts["result"] == "success", (facts, booted.console[-6000:])
