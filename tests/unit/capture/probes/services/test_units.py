"""The services probe over recordings of a personalised tree and this machine."""

from __future__ import annotations

from hostbook.capture.parsers.systemctl import cron_entries, parse_unit_files
from tests.reinstall_fixtures import BUILDHOST, OLD_TREE, replay_section


def test_departures_from_presets_timers_target_and_crontabs() -> None:
    doc, ctx = replay_section(OLD_TREE, "services")
    assert not ctx.incomplete
    units = {u["unit"]: u for u in doc["units"]}
    assert units["cron.service"] == {"unit": "cron.service", "state": "disabled",
                                     "preset": "enabled"}
    assert units["hello.service"]["state"] == "enabled"
    assert units["ssh.service"] == {"unit": "ssh.service", "state": "enabled",
                                    "preset": "enabled"}
    assert "systemd-tmpfiles-clean.timer" not in units  # static: a package's business
    assert doc["default_target"] == "multi-user.target"
    assert "logrotate.timer" in doc["timers"]
    tabs = {t["path"]: t for t in doc["crontabs"]}
    assert tabs["/var/spool/cron/crontabs/alice"]["user"] == "alice"
    assert tabs["/var/spool/cron/crontabs/alice"]["entries"] == 1
    assert tabs["/etc/crontab"]["entries"] > 0


def test_this_machine() -> None:
    doc, ctx = replay_section(BUILDHOST, "services")
    assert not ctx.incomplete
    assert doc["manager"] == "systemd" and doc["default_target"]
    assert [u["unit"] for u in doc["units"]] == sorted(u["unit"] for u in doc["units"])


def test_parsers() -> None:
    parsed = parse_unit_files("a.service enabled disabled\nb.service static -\nc.timer x\n")
    assert [(u.unit, u.state, u.preset) for u in parsed] == [
        ("a.service", "enabled", "disabled"), ("b.service", "static", None),
        ("c.timer", "x", None)]
    assert cron_entries("SHELL=/bin/sh\n# c\n\n@reboot x\n1 2 * * * y\n") == 2
