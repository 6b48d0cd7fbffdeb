"""The reinstall plan of a personalised Debian 12 onto fresh Debian 13 and 12 trees (recorded).

The recordings hold what the planner asked the fresh trees (apt-get update
into scratch lists, apt-cache, the apt-get -s simulation, dpkg-query,
md5sum, systemctl --root); see tests/fixtures/README.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path
from typing import Any

from hostbook.process.recording import ReplayRunner
from hostbook.restore.reinstall.packages import FileToWrite
from hostbook.restore.reinstall.plan import SIMULATION_TIMEOUT, ReinstallPlan, plan
from hostbook.restore.reinstall.report import by_outcome, to_json, to_markdown
from tests.reinstall_fixtures import PLAN_BOOKWORM, PLAN_TRIXIE, old_host


def replay(folder: Path) -> tuple[ReinstallPlan, list[FileToWrite]]:
    root = json.loads((folder / "scenario.json").read_text())["root"]
    scratch: list[FileToWrite] = []
    made = plan(ReplayRunner(folder), old_host(), root=root,
                prepare=lambda files, _root, _dir: scratch.extend(files),
                lock=lambda _dir: contextlib.nullcontext())
    return made, scratch


def outcomes(made: ReinstallPlan) -> dict[tuple[str, str], Any]:
    return {(i.section, i.subject): i for i in made.items}


def test_onto_trixie_names_every_renamed_and_vanished_package() -> None:
    made, _ = replay(PLAN_TRIXIE)
    items = outcomes(made)
    for name in ("libssl3", "libgdbm6", "libdb5.3"):
        assert items[("packages", name)].outcome == "adapted"
        assert f"renamed to {name}t64 in trixie" in items[("packages", name)].detail
    for name in ("python3-distutils", "libperl5.36", "perl-modules-5.36"):
        assert items[("packages", name)].outcome == "unmapped"
        assert "gone from trixie" in items[("packages", name)].detail
    # the simulation succeeded with the mapped names, the third-party package among them
    assert made.simulation is not None and made.simulation.ok
    install = next(s for s in made.steps if s.key == "packages").commands[0].argv
    assert "libssl3t64" in install and "hostbook-hello" in install and "libssl3" not in install
    assert "python3-distutils" not in install
    assert items[("packages", "hostbook-hello")].outcome == "carried"


def test_the_third_party_source_comes_back_with_its_key() -> None:
    made, scratch = replay(PLAN_TRIXIE)
    sources = next(s for s in made.steps if s.key == "sources")
    files = {f.path: f.content for f in sources.files}
    assert "file:/var/cache/hostbook/reinstall/thirdparty/repo" in files[
        "/etc/apt/sources.list.d/hostbook-test.sources"]
    assert files["/etc/apt/keyrings/hostbook-test.asc"].startswith(
        "-----BEGIN PGP PUBLIC KEY BLOCK-----")
    # the distribution's own sources.list is the new system's business
    assert "/etc/apt/sources.list" not in files
    assert [f.path for f in scratch] == [f.path for f in sources.files]


def test_config_accounts_and_services() -> None:
    made, _ = replay(PLAN_TRIXIE)
    items = outcomes(made)
    # conffiles of packages not installed yet: decided after the packages step
    assert "once installed" in items[("etc", "/etc/sudoers")].detail
    assert items[("etc", "/etc/myapp/app.conf")].outcome == "carried"
    assert items[("etc", "/etc/nsswitch.conf")].detail == "already identical"
    assert items[("accounts", "user alice")].detail == "made with uid 1000"
    assert items[("accounts", "password of alice")].outcome == "unmapped"
    accounts = next(s for s in made.steps if s.key == "accounts")
    useradd = [c.argv for c in accounts.commands if c.argv[0] == "useradd"]
    # the homes come back with the data volume: not made with skeleton files
    assert all("-M" in argv for argv in useradd)
    assert not any("--password" in argv or "-p" in argv for argv in useradd)
    assert items[("services", "default target")].detail == "multi-user.target"
    services = next(s for s in made.steps if s.key == "services")
    assert ("systemctl", "enable", "hello.service") in [c.argv for c in services.commands]
    crontabs = next(s for s in made.steps if s.key == "crontabs")
    assert crontabs.place[0].owner == "alice" and crontabs.place[0].mode == "0600"


def test_onto_a_fresh_bookworm_almost_everything_carries_over() -> None:
    made, _ = replay(PLAN_BOOKWORM)
    grouped = by_outcome(made.items)
    assert not [i for i in grouped["adapted"] if i.section == "packages"]
    unmapped = {(i.section, i.subject) for i in grouped["unmapped"]}
    assert ("accounts", "password of alice") in unmapped
    assert not [u for u in unmapped if u[0] == "packages"]


def test_the_plan_and_its_report_are_deterministic() -> None:
    first, _ = replay(PLAN_TRIXIE)
    second, _ = replay(PLAN_TRIXIE)
    assert [s.fingerprint() for s in first.steps] == [s.fingerprint() for s in second.steps]
    assert to_markdown(first.items, "old", "t") == to_markdown(second.items, "old", "t")
    report = to_json(first.items)
    assert report["counts"]["unmapped"] == len(report["unmapped"]) > 0
    markdown = to_markdown(first.items, "old", "new")
    assert "## Could not map" in markdown and "| packages | python3-distutils |" in markdown


class SlowApt(ReplayRunner):
    """The recorded answers, but the simulation runs out of time as a busy machine's did.

    The process layer answers a command it killed at its timeout with exit -9,
    ``timed_out`` and the output read so far (process/spawn.py); the timeouts
    each query asked for are kept.
    """

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.timeouts: dict[str, float | None] = {}

    def query(self, argv: Any, **kwargs: Any) -> Any:
        result = super().query(argv, **kwargs)
        if argv[0] == "apt-get" and "-s" in argv:
            self.timeouts["simulation"] = kwargs.get("timeout")
            return dataclasses.replace(result, returncode=-9, timed_out=True)
        return result


def test_a_simulation_that_runs_out_of_time_says_so() -> None:
    root = json.loads((PLAN_BOOKWORM / "scenario.json").read_text())["root"]
    runner = SlowApt(PLAN_BOOKWORM)
    made = plan(runner, old_host(), root=root, prepare=lambda files, _root, _dir: None,
                lock=lambda _dir: contextlib.nullcontext())
    assert runner.timeouts["simulation"] == SIMULATION_TIMEOUT >= 600
    unmapped = [i for i in made.items if i.section == "packages" and i.outcome == "unmapped"]
    slow = [i for i in unmapped if "did not answer" in i.detail]
    assert len(slow) == 1 and "sudo" in slow[0].subject.split(", ")
    assert slow[0].todo.startswith("run the reinstall again")
    assert not any("apt refuses" in i.detail for i in unmapped)
    installs = [c for s in made.steps for c in s.commands if c.argv[:2] == ("apt-get", "-q")
                and "install" in c.argv]
    assert installs == []  # nothing installed blind
