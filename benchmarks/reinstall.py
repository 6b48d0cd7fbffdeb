"""Plan a reinstall of a host with 1,500 packages, 200 changed config files and 50 checkouts.

    .venv/bin/python benchmarks/reinstall.py [--tree DIR] [--runs 3]     (as root)

The new system is a fresh Debian 12 tree made by mmdebstrap (tests/reinstall_trees.py
caches one under /var/cache/hostbook/reinstall).  The old host is the recorded
personalised tree (tests/fixtures/reinstall-old-tree) with its manual set replaced
by 1,500 real library packages of Debian 12 (names the scratch lists know), its
changed configuration by 200 of this machine's conffiles (each with another
MD5, so each is planned), and 50 restorable git checkouts.  Timed: the whole
``plan`` (real apt-get update into the scratch lists, apt-cache, apt-get -s,
dpkg-query, md5sum, systemctl), the time it spent inside apt (update, cache,
simulation), and beside it the floor: one bare ``apt-get -s install`` of the set
the plan's simulation finally accepted (the names its ``apt-get install`` step
installs), with the same scratch lists.  The plan simulates in rounds (a round that
apt refuses takes the refused names out), so its simulation time is the rounds' sum;
their number is printed too.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hostbook.capture.parsers.dpkg_conffiles import parse_conffiles
from hostbook.manifest.sections.checkouts import CheckoutsDocument
from hostbook.manifest.sections.etc import EtcDocument
from hostbook.process.runner import LiveRunner
from hostbook.restore.reinstall.facts import CONFFILES_FORMAT, apt_options
from hostbook.restore.reinstall.plan import plan
from tests import reinstall_trees
from tests.reinstall_fixtures import old_host

APT = ("apt-get", "apt-cache")


class TimingRunner(LiveRunner):
    """A live runner that sums the time spent in apt's own programs."""

    def __init__(self) -> None:
        super().__init__()
        self.apt_seconds = {"update": 0.0, "simulation": 0.0, "apt-cache": 0.0}
        self.rounds = 0

    def query(self, argv: Sequence[str], **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = super().query(argv, **kwargs)
        if argv[0] in APT:
            kind = ("apt-cache" if argv[0] == "apt-cache" else
                    "simulation" if "-s" in argv else "update")
            self.apt_seconds[kind] += time.perf_counter() - started
            self.rounds += kind == "simulation"
        return result


def make_host(tree: str) -> Any:
    old = old_host()
    names = subprocess.run(["apt-cache", f"-oDir={tree}/", "pkgnames", "lib"], check=True,
                           capture_output=True, text=True).stdout.split()
    libraries = sorted(n for n in names if n[-1].isdigit() and "-" not in n)[:1500]
    assert old.packages is not None and old.packages.apt is not None
    old.packages.apt.manual = libraries
    # the third-party repository was signed on this machine (tests/reinstall_trees.py),
    # by a key the recorded host never had: its key file carries this machine's key
    local_key = (reinstall_trees.THIRDPARTY / "key.asc").read_text()
    for key in old.packages.apt.keys:
        if key.material is not None:
            key.material = local_key
    # this machine's conffiles (a fuller system than the minimal tree has 200 of)
    listing = subprocess.run(["dpkg-query", "-W", f"-f={CONFFILES_FORMAT}"],
                             check=True, capture_output=True, text=True).stdout
    conffiles = [c for c in parse_conffiles(listing) if c.path.startswith("/etc/")][:200]
    old.etc = EtcDocument.model_validate({"schema": "hostbook/etc/v1", "files": [
        {"path": c.path, "kind": "conffile", "state": "modified", "package": c.package,
         "shipped_md5": c.md5, "md5": "0" * 32, "mode": "0644", "owner": "root",
         "group": "root"} for c in conffiles]})
    old.checkouts = CheckoutsDocument.model_validate({"schema": "hostbook/checkouts/v1",
        "checkouts": [{"path": f"/srv/src/project{i}", "vcs": "git", "owner": "alice",
                       "group": "alice", "mode": "0755", "branch": "main",
                       "head": f"{i:040x}", "upstream": "origin/main",
                       "remotes": [{"name": "origin",
                                    "url": f"https://git.example/p{i}.git"}],
                       "restorable": True, "reason": "every commit is on a remote"}
                      for i in range(50)]})
    old.volumes["srv"] = "/srv"
    return old, libraries, len(conffiles)


def accepted(made: Any) -> list[str]:
    """The names the plan's ``apt-get install`` step installs: what apt finally accepted."""
    for step in made.steps:
        for command in step.commands:
            if command.argv[:4] == ("apt-get", "-q", "-y", "install"):
                return list(command.argv[4:])
    raise SystemExit("the plan installs no packages: nothing to compare with")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", help="a fresh Debian 12 tree (default: the cached one, "
                        "extracted into a temporary folder under /var/tmp)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cached = reinstall_trees.ensure()  # the old host's third-party repository lives there
    scratch_tree = None
    if args.tree is None:
        scratch_tree = Path(tempfile.mkdtemp(prefix="reinstall-bench-", dir="/var/tmp"))
        scratch_tree.chmod(0o755)  # apt's _apt user reads the tree's keys (mkdtemp: 0700)
        reinstall_trees.extract(cached["fresh"], scratch_tree / "fresh")
        args.tree = str(scratch_tree / "fresh")
    try:
        return measure(args.tree.rstrip("/"), args.runs)
    finally:
        if scratch_tree is not None:
            shutil.rmtree(scratch_tree)


def measure(tree: str, runs: int) -> int:
    # a scratch apt folder of its own: the floor's apt-get runs outside the plan's lock
    scratch = tempfile.mkdtemp(prefix="reinstall-bench-apt-", dir="/var/tmp")
    try:
        return measure_with(tree, runs, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure_with(tree: str, runs: int, scratch: str) -> int:
    old, libraries, nconf = make_host(tree)
    totals, update, simulation, cache, rest, bare = [], [], [], [], [], []
    rounds: list[int] = []
    for _ in range(runs):
        runner = TimingRunner()
        started = time.perf_counter()
        made = plan(runner, old, root=tree, scratch_dir=scratch)
        totals.append(time.perf_counter() - started)
        update.append(runner.apt_seconds["update"])
        simulation.append(runner.apt_seconds["simulation"])
        cache.append(runner.apt_seconds["apt-cache"])
        rest.append(totals[-1] - sum(runner.apt_seconds.values()))
        rounds.append(runner.rounds)
        names = accepted(made)
        started = time.perf_counter()
        floor = subprocess.run(["apt-get", *apt_options(tree, scratch), "-s", "-q", "install",
                                *names], capture_output=True, check=False)
        bare.append(time.perf_counter() - started)
        if floor.returncode != 0:
            raise SystemExit(f"the floor's apt-get -s failed (exit {floor.returncode}): "
                             f"{floor.stderr.decode()[-300:]}")
    sim = made.simulation
    print(f"old host: {len(libraries)} manual packages, {nconf} changed conffiles, "
          f"{len(old.checkouts.checkouts)} checkouts; simulation ok: {sim.ok if sim else None}, "
          f"{len(sim.installs) if sim else 0} packages it would install; "
          f"{len(made.items)} report items, {len(made.steps)} steps; "
          f"simulation rounds {sorted(set(rounds))}; accepted {len(accepted(made))} names")
    print("| case | median s | min s | max s |")
    print("|------|---------:|------:|------:|")
    for name, values in (("plan, whole", totals),
                         ("  apt-get update into the scratch lists", update),
                         ("  apt-get -s (the simulation, every round)", simulation),
                         ("  apt-cache (pkgnames, showpkg)", cache),
                         ("  the rest: hostbook's own planning and its queries", rest),
                         ("floor: one apt-get -s install of the accepted set", bare)):
        print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} | "
              f"{max(values):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
