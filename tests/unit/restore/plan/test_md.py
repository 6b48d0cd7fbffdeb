"""md arrays: the recorded identity, members in slot order, resync by policy."""

from __future__ import annotations

from hostbook.manifest.sections.storage import MdEntry, PartitionEntry
from tests.unit.restore.plan.lab_plans import argv_of, layout_doc, option, plan_for, policy


def test_server_md_arrays_are_made_with_members_in_slot_order() -> None:
    doc = layout_doc("server")
    plan = plan_for("server")
    targets = {m.recorded.key: m.target.path for m in plan.mapping}
    for md in (e for e in doc.entries if isinstance(e, MdEntry)):
        argv = argv_of(plan, f"md:{md.uuid}")
        assert option(argv, "--uuid") == md.uuid
        assert option(argv, "--metadata") == md.metadata
        assert option(argv, "--level") == md.level
        assert option(argv, "--name") == md.array_name
        members = sorted(md.members, key=lambda m: int(m.role))
        expected = []
        for member in members:
            part = next(e for e in doc.entries if e.id == member.device)
            assert isinstance(part, PartitionEntry)
            expected.append(f"{targets[part.disk]}{part.number}")
        assert argv[-len(expected):] == expected
        assert "--assume-clean" not in argv
    quiet = plan_for("server", rules=policy(md_resync=False))
    assert all("--assume-clean" in c.argv for s in quiet.steps if s.layer == "md"
               and s.destructive for c in s.commands)
