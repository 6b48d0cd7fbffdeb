"""The pure planners' rules: the conffile three-way view and uid/gid clashes.

The old host's records are the recorded tree's (tests/fixtures/reinstall-old-tree);
the new system's facts are varied here one at a time, which no single real
system shows at once.
"""

from __future__ import annotations

from hostbook.restore.reinstall.accounts import plan_accounts
from hostbook.restore.reinstall.config import plan_config
from hostbook.restore.reinstall.facts import NewSystem
from tests.reinstall_fixtures import old_host

SUDOERS = "/etc/sudoers"


def test_a_change_is_carried_over_only_when_the_new_default_is_the_old_one() -> None:
    etc = old_host().etc
    record = next(f for f in etc.files if f.path == SUDOERS)
    everything = {f.path for f in etc.files}
    same = NewSystem(shipped={SUDOERS: ("sudo", record.shipped_md5)},
                     present={SUDOERS: record.shipped_md5}, installed={"sudo": "1"})
    kept = plan_config(etc, same, everything, set())
    item = next(i for i in kept.items if i.subject == SUDOERS)
    assert item.outcome == "carried"
    assert [p.destination for p in kept.place if p.path == SUDOERS] == [SUDOERS]
    changed = NewSystem(shipped={SUDOERS: ("sudo", "0" * 32)}, present={SUDOERS: "0" * 32},
                        installed={"sudo": "1"})
    aside = plan_config(etc, changed, everything, set())
    item = next(i for i in aside.items if i.subject == SUDOERS)
    assert item.outcome == "unmapped" and "default changed" in item.detail
    assert [p.destination for p in aside.place if p.path == SUDOERS] == [SUDOERS + ".hostbook-old"]
    gone = plan_config(etc, NewSystem(), everything, set())
    assert next(i for i in gone.items if i.subject == SUDOERS).outcome == "unmapped"
    unarchived = plan_config(etc, same, set(), set())
    assert "no archive" in next(i for i in unarchived.items if i.subject == SUDOERS).detail


def test_a_taken_uid_gets_a_new_one_and_the_files_are_handed_over() -> None:
    accounts = old_host().accounts
    new = NewSystem(users={"root": 0, "ntp": 1000}, user_of_uid={0: "root", 1000: "ntp"},
                    groups={"alice": 1000}, group_of_gid={1000: "alice", 1500: "other"})
    made = plan_accounts(accounts, new, {"/home/alice"})
    alice = next(c.argv for c in made.commands if c.argv[0] == "useradd" and
                 c.argv[-1] == "alice")
    assert "-u" not in alice and "-M" in alice
    assert made.rehome == [("/home/alice", 1000, "alice")]
    items = {i.subject: i for i in made.items}
    assert items["user alice"].outcome == "adapted" and "ntp" in items["user alice"].detail
    assert items["group staff2"].outcome == "adapted"  # gid 1500 is taken
    assert ("groupadd", "staff2") in [c.argv for c in made.commands]
    bob = next(c.argv for c in made.commands if c.argv[0] == "useradd" and c.argv[-1] == "bob")
    assert bob[bob.index("-u") + 1] == "1001" and "-m" in bob


def test_a_present_user_is_added_only_to_the_groups_it_lacks() -> None:
    accounts = old_host().accounts
    alice = next(u for u in accounts.users if u.name == "alice")
    assert alice.groups  # the recorded tree's alice has supplementary groups
    ids = {"users": {"alice": alice.uid}, "user_of_uid": {alice.uid: "alice"},
           "groups": {g.name: g.gid for g in accounts.groups},
           "group_of_gid": {g.gid: g.name for g in accounts.groups}}
    members = {g: {"alice"} for g in alice.groups}
    in_all = plan_accounts(accounts, NewSystem(members=members, **ids), set())
    assert not [c for c in in_all.commands if c.argv[0] == "usermod"]
    lacking = NewSystem(members={**members, alice.groups[0]: set()}, **ids)
    usermod = [c.argv for c in plan_accounts(accounts, lacking, set()).commands
               if c.argv[0] == "usermod"]
    assert usermod == [("usermod", "-a", "-G", ",".join(alice.groups), "alice")]


def test_a_present_user_made_locked_is_still_reported_without_its_password() -> None:
    accounts = old_host().accounts
    alice = next(u for u in accounts.users if u.name == "alice")
    assert alice.password == "set"
    present = {"users": {"alice": alice.uid}, "user_of_uid": {alice.uid: "alice"}}
    locked = plan_accounts(accounts, NewSystem(passwords={"alice": "locked"}, **present), set())
    assert "password of alice" in {i.subject for i in locked.items if i.outcome == "unmapped"}
    given = plan_accounts(accounts, NewSystem(passwords={"alice": "set"}, **present), set())
    assert "password of alice" not in {i.subject for i in given.items}
