"""The accounts probe over recordings of a personalised Debian 12 tree and this machine."""

from __future__ import annotations

import json

from hostbook.capture.parsers.passwd import parse_status, sysusers_names
from tests.reinstall_fixtures import BUILDHOST, OLD_TREE, replay_section


def test_human_users_with_groups_and_lock_state() -> None:
    doc, ctx = replay_section(OLD_TREE, "accounts")
    assert not ctx.incomplete
    users = {u["name"]: u for u in doc["users"]}
    assert users["alice"] == {
        "name": "alice", "uid": 1000, "gid": 1000, "group": "alice",
        "gecos": "Alice Example", "home": "/home/alice", "shell": "/bin/bash",
        "groups": ["staff2", "sudo"], "password": "set", "kind": "human",
    }
    assert users["bob"]["password"] == "locked"
    # the hand-made service account is kept; package-made ones (root, _apt, sshd,
    # systemd-*) and nobody are not
    assert users["svc"]["kind"] == "system"
    assert set(users) == {"alice", "bob", "svc"}
    groups = {g["name"]: g for g in doc["groups"]}
    assert groups["staff2"] == {"name": "staff2", "gid": 1500, "members": ["alice"],
                                "kind": "human"}
    assert "sudo" not in groups and "crontab" not in groups


def test_no_password_hash_anywhere_in_the_recording_or_the_section() -> None:
    doc, _ = replay_section(OLD_TREE, "accounts")
    recording = (OLD_TREE / "recording.json").read_text()
    for text in (recording, json.dumps(doc)):
        assert "$y$" not in text and "$6$" not in text
    assert "/etc/shadow" not in recording


def test_this_machine_is_described_deterministically() -> None:
    first, ctx = replay_section(BUILDHOST, "accounts")
    second, _ = replay_section(BUILDHOST, "accounts")
    assert first == second and not ctx.incomplete
    assert [u["name"] for u in first["users"]] == sorted(u["name"] for u in first["users"])
    assert all(u["name"] != "root" for u in first["users"])


def test_status_and_sysusers_parsers() -> None:
    assert parse_status("alice P 12/04/2026 0 99999 7 -1\nbob L 12/04/2026 0 99999 7 -1\n"
                        "x NP 12/04/2026 0 99999 7 -1\n") == {
        "alice": "set", "bob": "locked", "x": "none"}
    assert sysusers_names("u systemd-network 998 -\ng input - -\n# c\nm alice adm\n") == {
        "systemd-network", "input", "alice", "adm"}
