"""The changed-configuration probe over recordings of a personalised tree and this machine."""

from __future__ import annotations

from hostbook.capture.parsers.dpkg_conffiles import parse_conffiles, parse_md5sum
from hostbook.capture.probes.etc.changed import IGNORED, ignored
from tests.reinstall_fixtures import BUILDHOST, OLD_TREE, replay_section


def test_changed_conffiles_with_package_and_shipped_md5() -> None:
    doc, ctx = replay_section(OLD_TREE, "etc")
    assert not ctx.incomplete
    files = {f["path"]: f for f in doc["files"]}
    for path, package in (("/etc/logrotate.conf", "logrotate"), ("/etc/sudoers", "sudo"),
                          ("/etc/ssh/sshd_config", "openssh-server")):  # the last is ucf's
        record = files[path]
        assert (record["kind"], record["state"], record["package"]) == (
            "conffile", "modified", package)
        assert record["md5"] != record["shipped_md5"]
    assert files["/etc/sudoers"]["mode"] == "0440"
    # an unchanged conffile is not there
    assert "/etc/adduser.conf" not in files


def test_files_no_package_owns() -> None:
    doc, _ = replay_section(OLD_TREE, "etc")
    files = {f["path"]: f for f in doc["files"]}
    assert files["/etc/myapp/app.conf"]["state"] == "added"
    assert files["/etc/sudoers.d/alice"] == {
        "path": "/etc/sudoers.d/alice", "kind": "unowned", "state": "added",
        "md5": "df519ea91785369b6aef1da9becf57f4", "mode": "0440", "owner": "root",
        "group": "root"}
    assert files["/etc/systemd/system/hello.service"]["kind"] == "unowned"


def test_identity_secrets_and_other_sections_files_are_left_out() -> None:
    for folder in (OLD_TREE, BUILDHOST):
        doc, _ = replay_section(folder, "etc")
        paths = [f["path"] for f in doc["files"]]
        assert paths == sorted(paths)
        assert not [p for p in paths if ignored(p)]
        for path in ("/etc/machine-id", "/etc/passwd", "/etc/shadow", "/etc/fstab",
                     "/etc/security/opasswd"):
            assert path not in paths
        assert not [p for p in paths if p.startswith(("/etc/ssh/ssh_host_", "/etc/apt/"))]
        assert doc["ignored"] == list(IGNORED)


def test_conffiles_and_md5sum_parsers() -> None:
    text = ("ii \tadduser\t /etc/adduser.conf cc34\n /etc/deluser.conf 11a0\n"
            "rc \tgone\t /etc/gone.conf ab12\nii \tx\t /etc/old.conf ff00 obsolete\n")
    parsed = parse_conffiles(text)
    assert [(c.path, c.package, c.obsolete) for c in parsed] == [
        ("/etc/adduser.conf", "adduser", False), ("/etc/deluser.conf", "adduser", False),
        ("/etc/old.conf", "x", True)]
    assert parse_md5sum("abc  /r/etc/a\n\\def  /r/etc/b\\nc\n", "/r") == {
        "/etc/a": "abc", "/etc/b\nc": "def"}
