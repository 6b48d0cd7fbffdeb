"""The systemd units: rendered from templates/, accepted by systemd-analyze verify, installed.

systemd-analyze (systemd 252 here) checks every unit file offline: keys,
calendar specifications, that ExecStart's program exists.  It is shown to
refuse a unit with a bad calendar first, so its silence means something.
This machine runs no systemd as PID 1, so systemctl fails here: the install
is checked through the process layer's dry-run runner (the commands it would
run) and, for real, as a one-line runtime failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostbook.cli import cli
from hostbook.fleet.units import UnitSettings, install_units, render_units, write_units
from hostbook.manifest.errors import BadInputError
from hostbook.process.runner import DryRunRunner
from tests.tiers import require_tools

HOSTBOOK = str(Path(sys.executable).parent / "hostbook")


def verify(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, paths)],
                          capture_output=True, text=True, check=False)


def test_systemd_analyze_accepts_the_rendered_units(tmp_path: Path) -> None:
    require_tools("unit check", ["systemd-analyze"])
    written = write_units(UnitSettings(HOSTBOOK, tmp_path / "repo"), tmp_path)
    assert sorted(p.name for p in written) == [
        "hostbook-capture.service", "hostbook-capture.timer", "hostbook-run@.service",
        "hostbook-run@.timer", "hostbook-serve.service"]
    instances = [tmp_path / "hostbook-run@home.service", tmp_path / "hostbook-run@home.timer"]
    checked = verify([tmp_path / "hostbook-capture.service", tmp_path / "hostbook-capture.timer",
                      tmp_path / "hostbook-serve.service", *instances])
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")
    # The check is real: a calendar systemd cannot parse is refused.
    broken = tmp_path / "broken" / "hostbook-capture.timer"
    broken.parent.mkdir()
    broken.write_text((tmp_path / "hostbook-capture.timer").read_text().replace(
        "OnCalendar=daily", "OnCalendar=dayly"))
    refused = verify([broken])
    assert refused.returncode != 0 and "calendar" in refused.stderr


def test_the_timers_and_the_hardening() -> None:
    units = render_units(UnitSettings(HOSTBOOK, Path("/var/lib/hostbook/manifests"),
                                      randomized_delay="30m"))
    for timer in ("hostbook-capture.timer", "hostbook-run@.timer"):
        lines = units[timer].splitlines()
        assert {"OnCalendar=daily", "Persistent=true", "RandomizedDelaySec=30m",
                "WantedBy=timers.target"} <= set(lines)
    capture = units["hostbook-capture.service"].splitlines()
    assert (f"ExecStart={HOSTBOOK} capture --repo /var/lib/hostbook/manifests "
            "--push-if-remote") in capture
    run = units["hostbook-run@.service"].splitlines()
    assert f"ExecStart={HOSTBOOK} run --repo /var/lib/hostbook/manifests %i" in run
    for text in units.values():  # what breaks LVM, ZFS and btrfs snapshots
        settings = {line.split("=")[0] for line in text.splitlines() if "=" in line
                    and not line.startswith("#")}
        assert not settings & {"PrivateDevices", "ProtectKernelModules", "PrivateMounts"}
    assert not any(line.startswith("ProtectSystem=")
                   for line in units["hostbook-run@.service"].splitlines())
    serve = units["hostbook-serve.service"].splitlines()
    assert (f"ExecStart={HOSTBOOK} serve --repo /var/lib/hostbook/manifests "
            "--listen 127.0.0.1:8765") in serve
    assert "WantedBy=multi-user.target" in serve


def test_the_dashboard_unit_is_enabled_only_when_asked(tmp_path: Path) -> None:
    lines: list[str] = []
    runner = DryRunRunner(lines.append)
    settings = UnitSettings(HOSTBOOK, tmp_path / "repo", serve_listen="[::1]:9000")
    done = install_units(runner, settings, [], unit_dir=tmp_path, serve=True)
    assert runner.printed[-1] == ("systemctl enable hostbook-capture.timer "
                                  "hostbook-serve.service")
    assert "--listen [::1]:9000" in (tmp_path / "hostbook-serve.service").read_text()
    assert done.enabled[-1] == "hostbook-serve.service"
    install_units(runner, UnitSettings(HOSTBOOK, tmp_path / "repo"), [], unit_dir=tmp_path)
    assert runner.printed[-1] == "systemctl enable hostbook-capture.timer"


@pytest.mark.parametrize("settings, message", [
    (UnitSettings("hostbook", Path("/r")), "absolute path"),
    (UnitSettings("/usr/bin/hostbook", Path("/my repo")), "no spaces"),
    (UnitSettings("/usr/bin/hostbook", Path("/r"), randomized_delay="soon"),
     "--randomized-delay"),
])
def test_bad_settings_are_refused(settings: UnitSettings, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        render_units(settings)


def test_install_enables_the_capture_timer_and_one_per_job(tmp_path: Path) -> None:
    lines: list[str] = []
    runner = DryRunRunner(lines.append)
    done = install_units(runner, UnitSettings(HOSTBOOK, tmp_path / "repo"), ["home", "srv.db"],
                         unit_dir=tmp_path, now=True)
    assert runner.printed == [
        "systemctl daemon-reload",
        "systemctl enable --now hostbook-capture.timer hostbook-run@home.timer "
        "hostbook-run@srv.db.timer"]
    assert done.started and len(done.written) == 5
    with pytest.raises(BadInputError, match="not a job name"):
        install_units(runner, UnitSettings(HOSTBOOK, tmp_path), ["../x"], unit_dir=tmp_path)


def test_install_units_without_systemd_is_one_line_exit_3(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["install-units", "--repo", str(tmp_path / "repo"),
                                      "--host", "web1", "--hostbook", HOSTBOOK,
                                      "--unit-dir", str(tmp_path / "units")])
    assert result.exit_code == 3, result.output
    assert result.output.startswith("hostbook: systemctl daemon-reload failed: ")
    assert result.output.count("\n") == 1
    assert (tmp_path / "units" / "hostbook-capture.timer").exists()
