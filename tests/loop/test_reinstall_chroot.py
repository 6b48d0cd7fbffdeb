"""A reinstall onto a real fresh Debian 12 tree, offline, and its re-capture.

The old host is a Debian 12 tree made by mmdebstrap and personalised
(tests/fixtures/reinstall-tools/personalise.sh); it is captured through the
probes' root option into a manifest repository.  The new system is a fresh
minimal Debian 12 tree whose apt reads only a local mirror of Debian's
packages and the third-party repository, both signed by a test key and
cached under /var/cache/hostbook/reinstall (tests/reinstall_trees.py), so no
network is needed once the cache exists.  ``hostbook reinstall --root``
applies into it (commands under chroot), is run again to show it resumes
from its journal, and the tree is captured again and compared.

No jobs.yaml here: the content of changed configuration, crontabs and data
volumes comes from archives, and this test checks that each is reported as
not mappable for that reason.  About 1 minute once the cache exists.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hostbook.capture.workflow import CaptureRequest, capture
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.store import ManifestRepository
from tests import reinstall_trees
from tests.tiers import require_root, require_tools

pytestmark = pytest.mark.loop
SECTIONS = ["system", "packages", "accounts", "etc", "services"]
CONFIG = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})


def _capture(repo: Path, host: str, root: Path) -> dict[str, Any]:
    capture(CaptureRequest(repo, SECTIONS, CONFIG, host=host, options={"root": str(root)}))
    store = ManifestRepository.open(repo)
    return {s: store.load(host, s).to_plain() for s in SECTIONS}


def _reinstall(repo: Path, root: Path, state: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hostbook", "reinstall", "old", "--repo", str(repo),
         "--root", str(root), "--state-dir", str(state), *extra],
        capture_output=True, text=True, timeout=900)


@pytest.fixture
def trees() -> Iterator[Path]:
    """A folder apt's unprivileged _apt user can enter (pytest's tmp_path is root's 0700)."""
    where = Path(tempfile.mkdtemp(prefix="hostbook-reinstall-", dir="/var/tmp"))
    where.chmod(0o755)
    try:
        yield where
    finally:
        shutil.rmtree(where)


def test_reinstall_onto_a_fresh_debian_12(trees: Path) -> None:
    require_root("the reinstall chroot test")
    require_tools("the reinstall chroot test", ["mmdebstrap", "chroot", "gpg", "dpkg-deb"])
    tmp_path = trees
    cached = reinstall_trees.ensure()
    old = reinstall_trees.extract(cached["old"], tmp_path / "old")
    fresh = reinstall_trees.extract(cached["fresh"], tmp_path / "fresh")
    reinstall_trees.point_at_local_repositories(fresh)
    repo, state = tmp_path / "repo", tmp_path / "state"
    before = _capture(repo, "old", old)

    dry = _reinstall(repo, fresh, state, "--dry-run", "--json")
    assert dry.returncode == 1, dry.stderr  # something could not map: the exit says so
    planned = json.loads(dry.stdout)
    assert not (state / "restore" / "old@reinstall.journal").exists()  # nothing changed

    first = _reinstall(repo, fresh, state, "--json", "--report", str(tmp_path / "r.md"))
    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    assert report["failure"] is None
    unmapped = {(i["section"], i["subject"]): i for i in report["unmapped"]}
    assert unmapped[("accounts", "password of alice")]["todo"] == "passwd alice"
    for path in ("/etc/sudoers", "/etc/myapp/app.conf", "/etc/sudoers.d/alice"):
        assert unmapped[("etc", path)]["detail"] == "no archive holds its content"
    carried = {(i["section"], i["subject"]) for i in planned["carried"]}
    assert {("packages", n) for n in ("sudo", "hostbook-hello")} <= carried, planned
    assert "## Could not map" in (tmp_path / "r.md").read_text()

    # resumed: every step is done already, nothing runs again
    second = _reinstall(repo, fresh, state)
    assert second.returncode == 1 and "started" not in second.stderr, second.stderr

    after = _capture(repo, "new", fresh)
    old_apt, new_apt = before["packages"]["apt"], after["packages"]["apt"]
    assert set(old_apt["manual"]) <= set(new_apt["manual"])
    assert "hostbook-hello" in new_apt["versions"]
    keys = {k["path"]: k for k in new_apt["keys"]}
    assert keys["/etc/apt/keyrings/hostbook-test.asc"]["fingerprints"] == next(
        k["fingerprints"] for k in old_apt["keys"]
        if k["path"] == "/etc/apt/keyrings/hostbook-test.asc")
    # accounts: the same users and groups, ids, groups and lock state except alice's
    # password (reported: never captured, so locked)
    old_users = {u["name"]: u for u in before["accounts"]["users"]}
    new_users = {u["name"]: u for u in after["accounts"]["users"]}
    assert set(old_users) == set(new_users)
    for name, user in old_users.items():
        changed = {k for k in user if user[k] != new_users[name][k]}
        assert changed <= ({"password"} if name == "alice" else set()), (name, changed)
    assert before["accounts"]["groups"] == after["accounts"]["groups"]
    units_before = {u["unit"]: u["state"] for u in before["services"]["units"]}
    units_after = {u["unit"]: u["state"] for u in after["services"]["units"]}
    assert after["services"]["default_target"] == "multi-user.target"
    assert units_after["cron.service"] == "disabled"
    differing = {u for u in units_before if units_after.get(u) != units_before[u]}
    assert differing == {"hello.service"}  # its unit file is configuration: no archive
