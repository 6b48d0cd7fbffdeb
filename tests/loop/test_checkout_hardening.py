"""Hostile checkouts: an unprivileged user's git, hg and svn trees that try to make a root
capture run their programs.  Every planted vector writes a marker file when it runs; a
root capture must leave no marker and still record each checkout correctly."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.process.confine import Confinement, identity_for
from hostbook.process.runner import LiveRunner
from tests.tiers import require_root, require_tools

pytestmark = pytest.mark.loop

CONFIG = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
USER = "hbhostile"
CLEAN = "clean; every commit is on a remote"


@dataclass
class Hostile:
    base: Path
    markers: Path
    user: pwd.struct_passwd
    root: Path
    cases: dict[str, Path]


def run(*argv: str | Path, user: pwd.struct_passwd | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Build commands: as root, or as ``user`` (to arm the vectors the way they would run)."""
    prefix = [] if user is None else ["setpriv", f"--reuid={user.pw_uid}",
                                      f"--regid={user.pw_gid}", "--clear-groups", "--"]
    full_env = {"PATH": os.environ["PATH"], "LC_ALL": "C", "HOME": "/root",
                "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
                "GIT_AUTHOR_NAME": "t",
                "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
                "GIT_COMMITTER_EMAIL": "t@example.org", "HGUSER": "t <t@example.org>",
                **(env or {})}
    return subprocess.run([*prefix, *map(str, argv)], env=full_env, capture_output=True,
                          text=True, check=False, cwd="/")


def sh(*argv: str | Path) -> str:
    result = run(*argv)
    assert result.returncode == 0, result.stderr
    return result.stdout


def evil(base: Path, name: str) -> str:
    """A program that records that it ran (and as whom), then behaves like ``cat``."""
    script = base / "bin" / name
    script.parent.mkdir(exist_ok=True)
    script.write_text(f'#!/bin/sh\nid -u >> {base}/markers/{name}\nexec cat 2>/dev/null\n')
    script.chmod(0o755)
    return str(script)


def published(upstream: Path, seed: Path, files: dict[str, str]) -> Path:
    """A bare ``upstream`` holding one commit of ``files`` on main."""
    sh("git", "init", "-q", "--bare", "-b", "main", upstream)
    sh("git", "init", "-q", "-b", "main", seed)
    for name, text in files.items():
        (seed / name).write_text(text)
    sh("git", "-C", seed, "add", ".")
    sh("git", "-C", seed, "commit", "-q", "-m", "first")
    sh("git", "-C", seed, "push", "-q", upstream, "main")
    return upstream


def plant_git(base: Path, root: Path, servers: Path) -> dict[str, Path]:
    upstream = published(servers / "app.git", base / "seed", {
        "README": "readme\n", ".gitattributes": "* filter=evil diff=evil merge=evil\n"})
    repo = root / "git-hostile"
    sh("git", "clone", "-q", upstream, repo)
    hooks = base / "hooks"
    hooks.mkdir()
    for hook in ("pre-commit", "post-checkout", "post-index-change", "reference-transaction",
                 "fsmonitor-watchman", "pre-auto-gc", "post-rewrite"):
        shutil.copy(evil(base, f"hook-{hook}"), hooks / hook)
        shutil.copy(evil(base, f"dothook-{hook}"), repo / ".git" / "hooks" / hook)
    included = base / "included.gitconfig"
    included.write_text(f"[core]\n\tfsmonitor = {evil(base, 'include-fsmonitor')}\n"
                        f"[filter \"inc\"]\n\tclean = {evil(base, 'include-filter')}\n")
    settings = {
        "core.fsmonitor": evil(base, "fsmonitor"),
        "core.hooksPath": str(hooks),
        "filter.evil.clean": evil(base, "filter-clean"),
        "filter.evil.smudge": evil(base, "filter-smudge"),
        "filter.evil.process": evil(base, "filter-process"),
        "filter.evil.required": "true",
        "diff.external": evil(base, "diff-external"),
        "diff.evil.textconv": evil(base, "diff-textconv"),
        "diff.evil.command": evil(base, "diff-command"),
        "merge.evil.driver": evil(base, "merge-driver"),
        "core.sshCommand": evil(base, "ssh-command"),
        "credential.helper": "!" + evil(base, "credential-helper"),
        "credential.https://example.org.helper": evil(base, "credential-url-helper"),
        "core.pager": evil(base, "pager"),
        "pager.status": evil(base, "pager-status"),
        "core.editor": evil(base, "editor"),
        "sequence.editor": evil(base, "sequence-editor"),
        "core.askPass": evil(base, "askpass"),
        "gpg.program": evil(base, "gpg"),
        "log.showSignature": "true",
        "core.alternateRefsCommand": evil(base, "alternate-refs"),
        "include.path": str(included),
        "protocol.ext.allow": "always",
    }
    for key, value in settings.items():
        sh("git", "-C", repo, "config", key, value)
    sh("git", "-C", repo, "remote", "add", "ext",
       f"ext::sh -c {evil(base, 'ext-transport')}% >&2")
    (repo / "README").touch()  # stat differs from the index: status would run the clean filter

    # A submodule whose own configuration names programs.
    lib_up = published(servers / "lib.git", base / "lib-seed", {
        "lib.c": "int x;\n", ".gitattributes": "* filter=subevil\n"})
    superproject = root / "git-super"
    sh("git", "clone", "-q", upstream, superproject)
    sh("git", "-C", superproject, "-c", "protocol.file.allow=always", "submodule", "add", "-q",
       lib_up, "vendor/lib")
    sh("git", "-C", superproject, "commit", "-q", "-m", "submodule")
    sh("git", "-C", superproject, "push", "-q", "origin", "HEAD:main")
    sub = superproject / "vendor" / "lib"
    sh("git", "-C", sub, "config", "core.fsmonitor", evil(base, "submodule-fsmonitor"))
    sh("git", "-C", sub, "config", "filter.subevil.clean", evil(base, "submodule-filter"))
    (sub / "lib.c").touch()

    # A root-owned worktree whose .git/config belongs to the user.
    mixed = root / "git-mixed"
    sh("git", "clone", "-q", upstream, mixed)
    sh("git", "-C", mixed, "config", "core.fsmonitor", evil(base, "mixed-fsmonitor"))
    (mixed / "README").touch()
    return {"git": repo, "super": superproject, "mixed": mixed}


def plant_hg(base: Path, root: Path, servers: Path) -> Path:
    upstream = servers / "hgrepo"
    sh("hg", "init", upstream)
    (upstream / "f").write_text("f\n")
    sh("hg", "-R", upstream, "commit", "-q", "-A", "-m", "first")
    repo = root / "hg-hostile"
    sh("hg", "clone", "-q", upstream, repo)
    extension = base / "evilext.py"
    extension.write_text(
        "import os\n"
        "def uisetup(ui):\n"
        f"    open({str(base / 'markers' / 'hg-extension')!r}, 'a').write(str(os.getuid()))\n"
    )
    (base / "included.hgrc").write_text(f"[hooks]\npre-status = {evil(base, 'hg-include')}\n")
    with (repo / ".hg" / "hgrc").open("a") as handle:
        handle.write(
            "[hooks]\n"
            + "".join(f"{hook} = {evil(base, 'hg-' + hook)}\n" for hook in (
                "pre-status", "post-status", "pre-paths", "pre-log", "post-log", "pre-config",
                "pre-identify", "preupdate"))
            + f"pre-status.named = {evil(base, 'hg-pre-status-named')}\n"
            + f"[extensions]\nevil = {extension}\n"
            + f"[alias]\nstatus = !{evil(base, 'hg-alias-status')}\n"
            + f"log = !{evil(base, 'hg-alias-log')}\n"
            + f"[ui]\nmerge = {evil(base, 'hg-merge')}\n"
            + f"%include {base / 'included.hgrc'}\n"
        )
    return repo


def plant_svn(base: Path, root: Path, servers: Path) -> Path:
    repository = servers / "svnrepo"
    sh("svnadmin", "create", repository)
    wc = root / "svn-hostile"
    sh("svn", "checkout", "-q", f"file://{repository}", wc)
    (wc / "a.txt").write_text("a\n")
    sh("svn", "add", "-q", wc / "a.txt")
    sh("svn", "propset", "-q", "svn:externals", "svn+evil://host/x ext", wc)
    sh("svn", "commit", "-q", "-m", "first", wc)
    sh("svn", "update", "-q", "--ignore-externals", wc)
    return wc


def plant_home(base: Path, home: Path) -> None:
    """The owner's own configuration: never to be read by a capture."""
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".gitconfig").write_text(f"[core]\n\tfsmonitor = {evil(base, 'global-fsmonitor')}\n")
    (home / ".config" / "git" / "attributes").write_text("* filter=globalevil\n")
    (home / ".hgrc").write_text(f"[hooks]\npre-status = {evil(base, 'global-hg-hook')}\n")
    (home / ".subversion").mkdir()
    (home / ".subversion" / "config").write_text(
        "[helpers]\n"
        f"editor-cmd = {evil(base, 'svn-editor')}\n"
        f"diff-cmd = {evil(base, 'svn-diff')}\n"
        f"diff3-cmd = {evil(base, 'svn-diff3')}\n"
        f"merge-tool-cmd = {evil(base, 'svn-merge')}\n"
        f"[tunnels]\nevil = {evil(base, 'svn-tunnel')}\n"
        "[auth]\npassword-stores = gpg-agent\n"
    )


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    require_root("checkout hardening (a capture by root over a user's files)")
    require_tools("checkout hardening",
                  ("git", "hg", "svn", "svnadmin", "setpriv", "useradd", "userdel"))
    base = Path(tempfile.mkdtemp(prefix="hostbook-hostile-"))
    base.chmod(0o755)
    created = False
    try:
        (base / "markers").mkdir(mode=0o1777)
        (base / "markers").chmod(0o1777)
        home = base / "home"
        home.mkdir()
        try:
            pwd.getpwnam(USER)
        except KeyError:
            sh("useradd", "--system", "--no-create-home", "--home-dir", home,
               "--shell", "/bin/sh", USER)
            created = True
        user = pwd.getpwnam(USER)
        root = base / "root"
        servers = base / "servers"
        root.mkdir()
        servers.mkdir()
        cases = plant_git(base, root, servers)
        cases["hg"] = plant_hg(base, root, servers)
        cases["svn"] = plant_svn(base, root, servers)
        plant_home(base, home)
        # The same vectors in root's own checkouts: the configuration overrides alone
        # (no change of identity) must disarm them.
        for name in ("git", "hg"):
            cases[f"{name}-root"] = root / f"{name}-rootowned"
            shutil.copytree(cases[name], cases[f"{name}-root"], symlinks=True)
        owner = f"{user.pw_uid}:{user.pw_gid}"
        for name in ("git", "super", "hg", "svn"):
            sh("chown", "-R", owner, cases[name])
        sh("chown", "-R", owner, home, base / "included.gitconfig", base / "included.hgrc")
        sh("chown", owner, cases["mixed"] / ".git" / "config")
        for marker in (base / "markers").iterdir():
            marker.unlink()  # building ran some vectors as root: start from none
        yield Hostile(base, base / "markers", user, root, cases)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if created:
            subprocess.run(["userdel", USER], check=False, capture_output=True)


def test_the_vectors_are_armed(hostile: Hostile) -> None:
    """The owner's own git and hg do run them: the capture below is a real test."""
    home = {"HOME": hostile.user.pw_dir}
    run("git", "-C", hostile.cases["git"], "status", user=hostile.user, env=home)
    run("hg", "-R", hostile.cases["hg"], "status", user=hostile.user, env=home)
    ran = sorted(p.name for p in hostile.markers.iterdir())
    for marker in ran:
        (hostile.markers / marker).unlink()
    assert {"include-fsmonitor", "filter-process", "hg-extension", "hg-alias-status"} <= set(ran)


@pytest.fixture(scope="module")
def document(hostile: Hostile) -> dict[str, Any]:
    for marker in hostile.markers.iterdir():
        marker.unlink()
    collected = collect_sections(
        LiveRunner(), CONFIG, ["checkouts"], {"checkout_roots": [str(hostile.root)]}
    )
    return collected.documents["checkouts"]


@pytest.fixture(scope="module")
def captured(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["path"]: c for c in document["checkouts"]}


def test_a_root_capture_runs_nothing_the_checkouts_configure(
    hostile: Hostile, document: dict[str, Any], captured: dict[str, dict[str, Any]]
) -> None:
    ran = {p.name: p.read_text().split() for p in hostile.markers.iterdir()}
    assert ran == {}  # marker name -> the uids it ran as
    assert "incomplete" not in document, document.get("incomplete")
    assert set(captured) == {str(p) for p in hostile.cases.values()}


def test_hostile_checkouts_are_still_recorded_correctly(
    hostile: Hostile, captured: dict[str, dict[str, Any]]
) -> None:
    git = captured[str(hostile.cases["git"])]
    assert git["owner"] == USER and git["branch"] == "main" and len(git["head"]) == 40
    remotes = {r["name"]: r["url"] for r in git["remotes"]}
    assert remotes["origin"] == str(hostile.base / "servers" / "app.git")
    assert (git["modified"], git["untracked"], git["unpushed"]) == (0, 0, 0)
    assert git["restorable"] and git["reason"] == CLEAN
    superproject = captured[str(hostile.cases["super"])]
    (sub,) = superproject["submodules"]
    assert sub["path"] == "vendor/lib" and superproject["reason"] == CLEAN
    for name in ("git", "hg"):
        copy = captured[str(hostile.cases[f"{name}-root"])]
        original = captured[str(hostile.cases[name])]
        assert copy["owner"] == "root"
        assert {k: v for k, v in copy.items() if k not in ("path", "owner", "group")} == \
            {k: v for k, v in original.items() if k not in ("path", "owner", "group")}
    mixed = captured[str(hostile.cases["mixed"])]
    assert mixed["owner"] == "root" and mixed["reason"] == CLEAN
    hg = captured[str(hostile.cases["hg"])]
    assert hg["remotes"] == [{"name": "default", "url": str(hostile.base / "servers" / "hgrepo")}]
    assert hg["branch"] == "default" and len(hg["head"]) == 40
    assert hg["reason"] == "clean; every changeset is public (pushed)"
    svn = captured[str(hostile.cases["svn"])]
    assert svn["url"] == f"file://{hostile.base}/servers/svnrepo" and svn["head"] == "1"
    assert svn["reason"] == "no local modifications"


def test_tools_run_as_the_owner_of_any_part_of_the_checkout(hostile: Hostile) -> None:
    user = hostile.user
    git, mixed = hostile.cases["git"], hostile.cases["mixed"]
    identity = identity_for([str(git), f"{git}/.git"])
    assert identity is not None and (identity.uid, identity.gid) == (user.pw_uid, user.pw_gid)
    # root-owned tree, user-owned config: the user's rights, not root's
    identity = identity_for([str(mixed), f"{mixed}/.git", f"{mixed}/.git/config"])
    assert identity is not None and identity.uid == user.pw_uid
    assert identity_for([str(mixed), f"{mixed}/.git"]) is None  # all root's: no switch
    # two users: neither one's rights
    nobody = hostile.base / "nobodys"
    nobody.mkdir()
    os.chown(nobody, 65534, 65534)
    identity = identity_for([str(git), str(nobody)])
    assert identity is not None and identity.uid == 65534 != user.pw_uid
    result = LiveRunner().query(
        ["sh", "-c", "id -u; id -G; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"],
        confine=Confinement(owner_of=(str(git),)),
    )
    lines = result.stdout.split()
    assert lines[:2] == [str(user.pw_uid), str(user.pw_gid)]
    assert lines[2:] == ["CapEff:", "0000000000000000", "CapBnd:", "0000000000000000",
                         "NoNewPrivs:", "1"]
