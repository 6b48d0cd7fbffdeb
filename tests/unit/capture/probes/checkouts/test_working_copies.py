"""Checkout capture on real git/svn/hg trees built in tmp: verdicts, reasons, replay."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.capture.probes.checkouts.scan import ScanRules, network_mounts, scan
from hostbook.capture.probes.checkouts.working_copies import ROOTS_ENV, choose_roots
from hostbook.capture.redact import redact_url
from hostbook.capture.workflow import CaptureRequest, capture
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.process.recording import ReplayRunner
from hostbook.process.runner import LiveRunner
from tests.tiers import skip_or_fail

CONFIG = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})
TOKEN = "ghp_s3cretTOKENvalue123"
OTHER_USER = "hbcheckout"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("git", "svn", "svnadmin", "hg")),
    reason="needs git, subversion and mercurial",
)


def sh(*argv: str | Path, cwd: Path | None = None) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org",
               GIT_CONFIG_NOSYSTEM="1", HGUSER="t <t@example.org>", LC_ALL="C")
    env["GIT_CONFIG_GLOBAL"] = "/dev/null"
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def git_commit(repo: Path, name: str, text: str = "x") -> None:
    (repo / name).write_text(text)
    sh("git", "-C", repo, "add", name)
    sh("git", "-C", repo, "commit", "-q", "-m", f"add {name}")


def clone_pushed(upstream: Path, dest: Path) -> Path:
    """A clone of ``upstream`` whose commits are all pushed."""
    sh("git", "clone", "-q", upstream, dest)
    return dest


def build_tree(base: Path) -> dict[str, Path]:
    """Every case the verdict must get right, as real repositories."""
    root = base / "root"
    root.mkdir()
    servers = base / "servers"
    servers.mkdir()
    upstream = servers / "project.git"
    sh("git", "init", "-q", "--bare", "-b", "main", upstream)
    seed = base / "seed"
    sh("git", "init", "-q", "-b", "main", seed)
    git_commit(seed, "README")
    sh("git", "-C", seed, "remote", "add", "origin", upstream)
    sh("git", "-C", seed, "push", "-q", "origin", "main")

    cases: dict[str, Path] = {}
    cases["clean"] = clone_pushed(upstream, root / "clean")
    cases["dirty"] = clone_pushed(upstream, root / "dirty")
    (cases["dirty"] / "README").write_text("changed\n")
    cases["untracked"] = clone_pushed(upstream, root / "untracked")
    (cases["untracked"] / "notes.txt").write_text("mine\n")
    cases["ahead"] = clone_pushed(upstream, root / "ahead")
    git_commit(cases["ahead"], "local.txt")
    cases["detached"] = clone_pushed(upstream, root / "detached")
    sh("git", "-C", cases["detached"], "checkout", "-q", "--detach", "HEAD")
    cases["detached-new"] = clone_pushed(upstream, root / "detached-new")
    sh("git", "-C", cases["detached-new"], "checkout", "-q", "--detach", "HEAD")
    git_commit(cases["detached-new"], "experiment.txt")
    cases["no-remote"] = root / "no-remote"
    sh("git", "init", "-q", cases["no-remote"])
    git_commit(cases["no-remote"], "a.txt")
    cases["stash"] = clone_pushed(upstream, root / "stash")
    (cases["stash"] / "README").write_text("wip\n")
    sh("git", "-C", cases["stash"], "stash", "-q")
    cases["token"] = clone_pushed(upstream, root / "token")
    sh("git", "-C", cases["token"], "remote", "add", "mirror",
       f"https://deploy:{TOKEN}@git.example.org/team/project.git")
    # submodules: a superproject recording a pushed commit of a library
    lib_up = servers / "lib.git"
    sh("git", "init", "-q", "--bare", "-b", "main", lib_up)
    lib_seed = base / "lib-seed"
    sh("git", "init", "-q", "-b", "main", lib_seed)
    git_commit(lib_seed, "lib.c")
    sh("git", "-C", lib_seed, "push", "-q", lib_up, "main")
    cases["super"] = clone_pushed(upstream, root / "super")
    sh("git", "-C", cases["super"], "-c", "protocol.file.allow=always", "submodule", "add",
       "-q", lib_up, "vendor/lib")
    sh("git", "-C", cases["super"], "commit", "-q", "-m", "add submodule")
    sh("git", "-C", cases["super"], "push", "-q", "origin", "HEAD:with-submodule")
    # a linked worktree of the clean clone
    cases["worktree"] = root / "clean-wt"
    sh("git", "-C", cases["clean"], "worktree", "add", "-q", "-b", "topic", cases["worktree"],
       "origin/main")
    # a bare repository with no remote of its own
    cases["bare"] = root / "srv" / "mirror.git"
    sh("git", "clone", "-q", "--bare", upstream, cases["bare"])
    sh("git", "-C", cases["bare"], "remote", "remove", "origin")
    # a checkout nested inside another one (ignored by the outer one)
    cases["outer"] = clone_pushed(upstream, root / "outer")
    (cases["outer"] / ".git" / "info" / "exclude").write_text("third_party/\n")
    cases["nested"] = clone_pushed(upstream, root / "outer" / "third_party" / "inner")
    # sparse checkout
    cases["sparse"] = clone_pushed(upstream, root / "sparse")
    sh("git", "-C", cases["sparse"], "sparse-checkout", "set", "--no-cone", "/README")
    # places the walk must not enter
    hidden = root / "app" / "node_modules" / "pkg"
    hidden.parent.mkdir(parents=True)
    clone_pushed(upstream, hidden)
    venv = root / "venv-like"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    clone_pushed(upstream, venv / "src" / "editable")
    # Subversion: a clean and a modified working copy
    svn_repo = servers / "svnrepo"
    sh("svnadmin", "create", svn_repo)
    cases["svn-clean"] = root / "svn-clean"
    sh("svn", "checkout", "-q", f"file://{svn_repo}", cases["svn-clean"])
    (cases["svn-clean"] / "a.txt").write_text("a\n")
    sh("svn", "add", "-q", cases["svn-clean"] / "a.txt")
    sh("svn", "commit", "-q", "-m", "first", cases["svn-clean"])
    sh("svn", "update", "-q", cases["svn-clean"])
    cases["svn-dirty"] = root / "svn-dirty"
    sh("svn", "checkout", "-q", f"file://{svn_repo}", cases["svn-dirty"])
    (cases["svn-dirty"] / "a.txt").write_text("b\n")
    (cases["svn-dirty"] / "new.txt").write_text("new\n")
    # Mercurial: a clean clone and one with an unpushed (draft) changeset
    hg_up = servers / "hgrepo"
    sh("hg", "init", hg_up)
    (hg_up / "f").write_text("f\n")
    sh("hg", "-R", hg_up, "commit", "-q", "-A", "-m", "first")
    cases["hg-clean"] = root / "hg-clean"
    sh("hg", "clone", "-q", hg_up, cases["hg-clean"])
    cases["hg-draft"] = root / "hg-draft"
    sh("hg", "clone", "-q", hg_up, cases["hg-draft"])
    (cases["hg-draft"] / "g").write_text("g\n")
    sh("hg", "-R", cases["hg-draft"], "commit", "-q", "-A", "-m", "local")
    # A repository owned by another user (git would refuse it without safe.directory).
    if os.geteuid() == 0:
        cases["foreign"] = clone_pushed(upstream, root / "foreign")
        try:
            pwd.getpwnam(OTHER_USER)
        except KeyError:
            sh("useradd", "--system", "--no-create-home", OTHER_USER)
            cases["created-user"] = Path(OTHER_USER)
        sh("chown", "-R", f"{OTHER_USER}:", cases["foreign"])
    return cases


@pytest.fixture(scope="module")
def tree() -> Iterator[dict[str, Path]]:
    # Not pytest's private tmp: git runs as the owner of the foreign repository,
    # so that user must be able to reach it, as on a real host.
    base = Path(tempfile.mkdtemp(prefix="hostbook-checkouts-"))
    base.chmod(0o755)
    try:
        cases = build_tree(base)
        created = cases.pop("created-user", None)
        yield cases
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if created is not None:
        subprocess.run(["userdel", OTHER_USER], check=False, capture_output=True)


@pytest.fixture(scope="module")
def captured(tree: dict[str, Path]) -> dict[str, dict[str, Any]]:
    root = tree["clean"].parent
    collected = collect_sections(
        LiveRunner(), CONFIG, ["checkouts"], {"checkout_roots": [str(root)]}
    )
    doc = collected.documents["checkouts"]
    assert "incomplete" not in doc, doc.get("incomplete")
    unsafe = [c for c in doc["checkouts"] if not c["restorable"]]
    assert unsafe and not collected.partial
    assert collected.warnings == [
        f"checkouts: {c['path']} is not restorable: {c['reason']}" for c in unsafe
    ]
    return {c["path"]: c for c in doc["checkouts"]}


VERDICTS = [
    ("clean", True, "clean; every commit is on a remote"),
    ("dirty", False, "1 uncommitted change"),
    ("untracked", False, "1 untracked path"),
    ("ahead", False, "1 commit not on any remote"),
    ("detached", True, "clean; every commit is on a remote"),
    ("detached-new", False, "1 commit not on any remote"),
    ("no-remote", False, "no remote; 1 commit not on any remote"),
    ("stash", False, "1 stash"),
    ("token", True, "clean; every commit is on a remote"),
    ("super", True, "clean; every commit is on a remote"),
    ("worktree", True, "clean; every commit is on a remote"),
    ("bare", False, "no remote; 2 commits not on any remote"),  # main + with-submodule
    ("outer", True, "clean; every commit is on a remote"),
    ("nested", True, "clean; every commit is on a remote"),
    ("sparse", True, "clean; every commit is on a remote"),
    ("svn-clean", True, "no local modifications"),
    ("svn-dirty", False, "1 uncommitted change; 1 unversioned path"),
    ("hg-clean", True, "clean; every changeset is public (pushed)"),
    ("hg-draft", False, "1 changeset not pushed (draft)"),
]


@pytest.mark.parametrize(("case", "restorable", "reason"), VERDICTS)
def test_verdict_and_reason(
    tree: dict[str, Path], captured: dict[str, dict[str, Any]], case: str, restorable: bool,
    reason: str,
) -> None:
    record = captured[str(tree[case])]
    assert (record["restorable"], record["reason"]) == (restorable, reason)


def test_repository_owned_by_another_user(
    tree: dict[str, Path], captured: dict[str, dict[str, Any]]
) -> None:
    if "foreign" not in tree:
        skip_or_fail("creating another user's repository needs root")
    record = captured[str(tree["foreign"])]
    assert record["owner"] == OTHER_USER
    assert record["head"] and record["branch"] == "main"
    assert (record["restorable"], record["reason"]) == (True, "clean; every commit is on a remote")


def test_git_details(tree: dict[str, Path], captured: dict[str, dict[str, Any]]) -> None:
    clean = captured[str(tree["clean"])]
    assert clean["vcs"] == "git" and clean["branch"] == "main"
    assert clean["upstream"] == "origin/main" and (clean["ahead"], clean["behind"]) == (0, 0)
    assert clean["remotes"] == [{"name": "origin", "url": str(tree["clean"].parent.parent
                                                             / "servers" / "project.git")}]
    assert len(clean["head"]) == 40 and clean["mode"] and clean["owner"]
    ahead = captured[str(tree["ahead"])]
    assert (ahead["ahead"], ahead["unpushed"]) == (1, 1)
    assert captured[str(tree["detached"])]["detached"] is True
    assert "branch" not in captured[str(tree["detached"])]
    assert captured[str(tree["stash"])]["stashes"] == 1
    worktree = captured[str(tree["worktree"])]
    assert worktree["worktree_of"] == str(tree["clean"]) and worktree["branch"] == "topic"
    assert captured[str(tree["bare"])]["bare"] is True
    assert captured[str(tree["sparse"])]["sparse"] == ["/README"]
    (submodule,) = captured[str(tree["super"])]["submodules"]
    assert submodule["path"] == "vendor/lib" and len(submodule["commit"]) == 40
    assert submodule["url"].endswith("lib.git")


def test_credentials_never_reach_the_document(
    tree: dict[str, Path], captured: dict[str, dict[str, Any]]
) -> None:
    record = captured[str(tree["token"])]
    mirror = {r["name"]: r for r in record["remotes"]}["mirror"]
    assert mirror == {"name": "mirror", "url": "https://git.example.org/team/project.git",
                      "credentials_redacted": True}
    assert TOKEN not in repr(captured)


def test_walk_skips_excludes_virtualenvs_submodules_and_vcs_internals(
    tree: dict[str, Path], captured: dict[str, dict[str, Any]]
) -> None:
    root = tree["clean"].parent
    paths = set(captured)
    assert not any("node_modules" in p for p in paths)
    assert not any("venv-like" in p for p in paths)
    assert str(tree["super"] / "vendor" / "lib") not in paths  # its superproject lists it
    assert not any("/.git/" in p or p.endswith("/.git") for p in paths)
    expected = {str(p) for p in tree.values()}
    assert paths == expected
    shallow = scan(str(root), ScanRules.build([], max_depth=1))
    assert str(tree["nested"]) not in {c["path"] for c in shallow["checkouts"]}


def test_svn_and_hg_details(tree: dict[str, Path], captured: dict[str, dict[str, Any]]) -> None:
    svn = captured[str(tree["svn-clean"])]
    assert svn["url"].startswith("file://") and svn["head"] == "1"
    dirty = captured[str(tree["svn-dirty"])]
    assert (dirty["modified"], dirty["untracked"]) == (1, 1)
    hg_clean = captured[str(tree["hg-clean"])]
    assert hg_clean["remotes"][0]["name"] == "default" and len(hg_clean["head"]) == 40
    assert hg_clean["branch"] == "default"
    assert captured[str(tree["hg-draft"])]["unpushed"] == 1


def test_record_then_replay_gives_identical_files(tree: dict[str, Path], tmp_path: Path) -> None:
    root = str(tree["clean"].parent)
    recording = tmp_path / "rec"
    live = capture(CaptureRequest(
        repository=tmp_path / "live", sections=["checkouts"], config=CONFIG, host="h",
        commit=False, record=recording, options={"checkout_roots": [root]},
    ))
    assert not live.partial
    replayed = capture(CaptureRequest(
        repository=tmp_path / "replayed", sections=["checkouts"], config=CONFIG, host="h",
        commit=False, replay=recording, options={"checkout_roots": ["/elsewhere"]},
    ))
    assert not replayed.partial
    first = (tmp_path / "live" / "hosts" / "h" / "checkouts.yaml").read_text()
    second = (tmp_path / "replayed" / "hosts" / "h" / "checkouts.yaml").read_text()
    assert first == second and root in first
    assert TOKEN not in first
    # The walk is one recorded value per root, not a listing per directory.
    runner = ReplayRunner(recording)
    assert runner.value(f"checkouts.scan:{root}", lambda: None)["checkouts"]
    assert runner.value("checkouts.roots", lambda: None)["roots"] == [root]


def test_root_precedence_option_environment_config(tmp_path: Path) -> None:
    env = {ROOTS_ENV: f"{tmp_path}/a:{tmp_path}/b/:{tmp_path}/a/inner"}
    assert choose_roots({}, ["/srv"], env) == {
        "roots": [f"{tmp_path}/a", f"{tmp_path}/b"], "source": "environment"
    }
    assert choose_roots({"checkout_roots": ["/opt"]}, ["/srv"], env)["roots"] == ["/opt"]
    assert choose_roots({"checkout_roots": []}, ["/srv", "/srv/x"], {}) == {
        "roots": ["/srv"], "source": "config"
    }


def test_environment_variable_is_read_by_capture(
    tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ROOTS_ENV, str(tree["hg-clean"]))
    collected = collect_sections(LiveRunner(), CONFIG, ["checkouts"], {"checkout_roots": []})
    doc = collected.documents["checkouts"]
    assert doc["roots"] == [str(tree["hg-clean"])]
    assert [c["path"] for c in doc["checkouts"]] == [str(tree["hg-clean"])]


def test_network_mounts_from_mountinfo() -> None:
    text = (
        "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
        "40 22 0:35 / /mnt/nas rw,relatime shared:20 - nfs4 nas:/export rw,vers=4.2\n"
        "41 22 0:36 / /home/a/remote\\040box rw - fuse.sshfs a@b: rw\n"
        "42 22 0:37 / /srv/share rw - cifs //srv/share rw\n"
        "43 22 0:38 / /tmp rw - tmpfs tmpfs rw\n"
    )
    assert network_mounts(text) == ["/home/a/remote box", "/mnt/nas", "/srv/share"]


def test_scan_does_not_enter_network_mounts(tree: dict[str, Path]) -> None:
    root = tree["clean"].parent
    rules = ScanRules.build([], 12, skip_paths=[str(root / "outer")])
    found = {c["path"] for c in scan(str(root), rules)["checkouts"]}
    assert str(tree["outer"]) not in found and str(tree["nested"]) not in found
    assert str(tree["clean"]) in found
    assert scan(str(root / "does-not-exist"), rules) == {"checkouts": [], "unreadable": []}


@pytest.mark.parametrize(
    ("url", "clean", "hidden"),
    [
        (f"https://user:{TOKEN}@github.com/a/b.git", "https://github.com/a/b.git", True),
        (f"https://{TOKEN}@github.com/a/b.git", "https://github.com/a/b.git", True),
        ("ssh://git@host/a.git", "ssh://git@host/a.git", False),
        ("ssh://git:pw@host/a.git", "ssh://git@host/a.git", True),
        ("git@github.com:a/b.git", "git@github.com:a/b.git", False),
        ("https://h/x.git?private_token=abc&ref=main", "https://h/x.git?private_token=REDACTED&ref=main",
         True),
        ("/srv/git/x.git", "/srv/git/x.git", False),
    ],
)
def test_redact_url(url: str, clean: str, hidden: bool) -> None:
    assert redact_url(url) == (clean, hidden)
