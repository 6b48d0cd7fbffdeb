"""A generated fleet: a manifest repository of many hosts made from recorded manifests.

Each host takes one of the captured storage layouts and one of the captured
package sets (tests/fixtures/golden-manifests: every capture recording's
output), so the fleet has hosts of every size (a 49-line and a 754-line
storage.yaml, 800 apt packages or a dozen pip ones), and the debian12
system.yaml with its own hostname.  A comment naming the host ends each file,
so every host's files are distinct blobs that a reader must parse, as in a
real fleet.  Everything is committed in one commit.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.paths import FIXTURES

GOLDEN = FIXTURES / "golden-manifests"
ROLES = ("web", "db", "build", "laptop", "cache", "edge", "nas", "ci")


def recorded(section: str) -> list[str]:
    """Every golden manifest of one section, as text, in a fixed order."""
    return [p.read_text() for p in sorted(GOLDEN.glob(f"*/{section}.yaml"))]


def host_names(count: int) -> list[str]:
    return [f"{ROLES[i % len(ROLES)]}-{i // len(ROLES):04d}.{('eu', 'us', 'ap')[i % 3]}"
            for i in range(count)]


def make_fleet(path: Path, count: int) -> list[str]:
    """Write ``count`` hosts into a new git repository at ``path``; return their names."""
    storage, packages, system = recorded("storage"), recorded("packages"), recorded("system")
    names = host_names(count)
    hosts = path / "hosts"
    for index, name in enumerate(names):
        folder = hosts / name
        folder.mkdir(parents=True)
        tag = f"# fleet host {name}\n"
        (folder / "storage.yaml").write_text(storage[index % len(storage)] + tag)
        (folder / "packages.yaml").write_text(
            packages[(index // len(storage)) % len(packages)] + tag)
        (folder / "system.yaml").write_text(
            system[0].replace("hostname: vm\n", f"hostname: {name}\n") + tag)
    env = {"GIT_AUTHOR_NAME": "fleet", "GIT_AUTHOR_EMAIL": "fleet@example.invalid",
           "GIT_COMMITTER_NAME": "fleet", "GIT_COMMITTER_EMAIL": "fleet@example.invalid",
           "PATH": "/usr/bin:/bin"}
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", f"fleet of {count} hosts"]):
        subprocess.run(argv, cwd=path, env=env, check=True)
    return names
