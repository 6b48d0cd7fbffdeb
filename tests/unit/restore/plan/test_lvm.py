"""LVM: a thin pool before its thin volumes."""

from __future__ import annotations

from tests.unit.restore.plan.lab_plans import option, plan_for


def test_thin_pool_before_its_thin_volumes() -> None:
    plan = plan_for("thin")
    lvs = [s for s in plan.steps if s.id.startswith("lv:")]
    kinds = [option(list(s.commands[0].argv), "--type") if "--type" in s.commands[0].argv
             else "linear" for s in lvs]
    assert kinds[0] == "thin-pool"
    assert set(kinds[1:]) == {"thin"}
    for s in lvs[1:]:
        argv = list(s.commands[0].argv)
        assert option(argv, "--thinpool") == "pool"
        assert "--virtualsize" in argv
