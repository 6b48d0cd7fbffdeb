"""A reinstall onto a real fresh Debian 12 tree, offline, from the old host's own archives.

The old host is a Debian 12 tree made by mmdebstrap and personalised
(tests/fixtures/reinstall-tools/personalise.sh); it is captured through the
probes' root option into a manifest repository, whose jobs.yaml archives its
/etc and /var/spool/cron with tar and its /home with restic, and whose
restore.yaml brings /home back on a reinstall.  ``hostbook run`` runs as
the old host itself runs it: the single-file build inside the tree (chroot,
in a mount namespace of its own), with the manifest repository, the
archives and the run history in a folder bound at the same path inside and
out, so the reinstall reads them where jobs.yaml says.

The new system is a fresh minimal Debian 12 tree whose apt reads only a
local mirror of Debian's packages and the third-party repository, both
signed by a test key and cached under /var/cache/hostbook/reinstall
(tests/reinstall_trees.py), so no network is needed once the cache exists.
``hostbook reinstall --root`` applies into it (commands under chroot),
bringing the changed configuration, the crontab and the home data back from
the archives; it is run again to show it resumes from its journal, and the
tree is captured again and compared: files' bytes, modes and owners, and
the etc and services sections equal the old host's except what the report
lists.  About 2 minutes once the cache exists.
"""

from __future__ import annotations

import contextlib
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


def _old_host_jobs(shared: Path) -> str:
    """The old host's jobs.yaml: /etc and the crontabs to tar, /home to restic."""
    archives = shared / "archives"
    return f"""schema: hostbook/jobs/v1
settings:
  state_dir: {shared}/old-state
jobs:
  - name: etc
    volume: {{path: /etc}}
    snapshot: {{provider: none}}
    archive: [{{tool: tar, destination: {archives}/tar/etc}}]
  - name: crontabs
    volume: {{path: /var/spool/cron}}
    snapshot: {{provider: none}}
    archive: [{{tool: tar, destination: {archives}/tar/crontabs}}]
  - name: home
    volume: {{path: /home}}
    snapshot: {{provider: none}}
    archive:
      - {{tool: restic, repository: {archives}/restic, password_file: {shared}/restic.pass,
         init: true}}
"""


RESTORE = "schema: hostbook/restore/v1\nreinstall: {data: [home]}\n"


def _commit(repo: Path, host: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        (repo / "hosts" / host / name).write_text(text)
    git = ["git", "-C", str(repo), "-c", "user.name=old", "-c", "user.email=old@example.org"]
    subprocess.run([*git, "add", "--", *(f"hosts/{host}/{n}" for n in files)], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "old: jobs and restore policy"], check=True)


def _entries(root: Path) -> dict[str, tuple[int, int, int, bytes | None]]:
    """Every entry below ``root``: (mode, uid, gid, content of a regular file)."""
    found: dict[str, tuple[int, int, int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        found[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid,
                                              path.read_bytes() if path.is_file() else None)
    return found


def _file(root: Path, path: str) -> tuple[int, int, int, bytes]:
    st = (root / path.lstrip("/")).lstat()
    return st.st_mode, st.st_uid, st.st_gid, (root / path.lstrip("/")).read_bytes()


def _listed(report: dict[str, Any]) -> set[tuple[str, str]]:
    """(section, subject) of what the report says is not carried as it was."""
    return {(i["section"], i["subject"]) for i in report["adapted"] + report["unmapped"]}


def test_reinstall_onto_a_fresh_debian_12(trees: Path) -> None:
    require_root("the reinstall chroot test")
    require_tools("the reinstall chroot test",
                  ["mmdebstrap", "chroot", "gpg", "dpkg-deb", "unshare", "zstd", "restic"])
    tmp_path = trees
    cached = reinstall_trees.ensure()
    with contextlib.ExitStack() as stack:
        old = stack.enter_context(reinstall_trees.layered(cached["old"], tmp_path / "old"))
        fresh = stack.enter_context(reinstall_trees.layered(cached["fresh"], tmp_path / "fresh"))
        _reinstall_and_compare(tmp_path, old, fresh)


def _reinstall_and_compare(tmp_path: Path, old: Path, fresh: Path) -> None:
    reinstall_trees.point_at_local_repositories(fresh)
    shared = tmp_path / "shared"  # the old host's repository, archives and history
    shared.mkdir()
    repo, state = shared / "repo", tmp_path / "state"
    before = _capture(repo, "old", old)

    # the old host archives itself: hostbook run inside the tree
    (shared / "restic.pass").write_text("old host's archive password\n")
    (shared / "restic.pass").chmod(0o600)
    _commit(repo, "old", {"jobs.yaml": _old_host_jobs(shared), "restore.yaml": RESTORE})
    reinstall_trees.install_hostbook(old, reinstall_trees.single_file())
    ran = reinstall_trees.run_in_tree(old, shared, [
        "hostbook", "run", "--repo", str(repo), "--host", "old", "--no-notify"])
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "3 job(s): 0 failed, 0 with warnings" in ran.stdout + ran.stderr

    dry = _reinstall(repo, fresh, state, "--dry-run", "--json")
    assert dry.returncode == 1, dry.stderr  # alice's password could not map: the exit says so
    planned = json.loads(dry.stdout)
    assert not (state / "restore" / "old@reinstall.journal").exists()  # nothing changed
    carried = {(i["section"], i["subject"]) for i in planned["carried"]}
    assert {("packages", n) for n in ("sudo", "hostbook-hello")} <= carried, planned
    assert {("data", "/home"), ("services", "/var/spool/cron/crontabs/alice"),
            ("etc", "/etc/myapp/app.conf"), ("etc", "/etc/sudoers.d/alice")} <= carried

    first = _reinstall(repo, fresh, state, "--json", "--report", str(tmp_path / "r.md"))
    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    assert report["failure"] is None
    unmapped = {(i["section"], i["subject"]): i for i in report["unmapped"]}
    assert unmapped[("accounts", "password of alice")]["todo"] == "passwd alice"
    # what could not map is only what no archive can hold; nothing needed adapting
    assert set(unmapped) == {("accounts", "password of alice")}, report["unmapped"]
    assert report["adapted"] == [], report["adapted"]
    details = {(i["section"], i["subject"]): i["detail"] for i in report["carried"]}
    for path, package in (("/etc/sudoers", "sudo"), ("/etc/logrotate.conf", "logrotate"),
                          ("/etc/ssh/sshd_config", "openssh-server")):
        assert details[("etc", path)] == f"{package}'s default is unchanged: old file restored"
    for path in ("/etc/myapp/app.conf", "/etc/sudoers.d/alice"):
        assert details[("etc", path)] == "restored from the archive"
    assert "## Could not map" in (tmp_path / "r.md").read_text()

    # the archived content is back: bytes, mode, owner
    for path in ("/etc/sudoers", "/etc/logrotate.conf", "/etc/ssh/sshd_config",
                 "/etc/myapp/app.conf", "/etc/sudoers.d/alice",
                 "/etc/systemd/system/hello.service", "/var/spool/cron/crontabs/alice"):
        assert _file(fresh, path) == _file(old, path), path
    assert _entries(fresh / "home") == _entries(old / "home")
    assert not (fresh / "var/lib/hostbook/reinstall/archive").exists()  # staged, then placed

    # resumed: every step is done already, nothing runs again
    second = _reinstall(repo, fresh, state, "--json")
    assert second.returncode == 1 and "started" not in second.stderr, second.stderr
    again = json.loads(second.stdout)
    assert again["failure"] is None and again["unmapped"] == report["unmapped"]

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
    # etc and services: the old host's, except what the report lists
    listed = _listed(report)
    old_etc = {f["path"]: f for f in before["etc"]["files"]}
    new_etc = {f["path"]: f for f in after["etc"]["files"]}
    differing = {p for p in old_etc.keys() | new_etc.keys() if old_etc.get(p) != new_etc.get(p)}
    assert {p for p in differing if ("etc", p) not in listed} == set(), (
        {p: (old_etc.get(p), new_etc.get(p)) for p in differing})
    assert after["services"]["default_target"] == before["services"]["default_target"]
    units_before = {u["unit"]: u["state"] for u in before["services"]["units"]}
    units_after = {u["unit"]: u["state"] for u in after["services"]["units"]}
    assert units_after["cron.service"] == "disabled"
    assert units_after["hello.service"] == "enabled"  # its unit file came from the archive
    assert {u for u in units_before if units_after.get(u) != units_before[u]} == set()
    assert after["services"]["crontabs"] == before["services"]["crontabs"]
    assert after["services"]["timers"] == before["services"]["timers"]
