"""What is restored: restore.yaml's skip, by entry id or mountpoint."""

from __future__ import annotations

import pytest

from hostbook.manifest.errors import BadInputError
from tests.unit.restore.plan.lab_plans import plan_for, policy


def test_skip_removes_an_entry_and_what_is_built_on_it() -> None:
    plan = plan_for("laptop", rules=policy(skip=["lv:laptopvg/home"]))
    assert plan.refusals == []
    ids = {s.id for s in plan.steps}
    assert "lv:laptopvg/home" not in ids and "fs:lv:laptopvg/home" not in ids
    assert "mount:/home" not in ids
    assert "lv:laptopvg/root" in ids
    by_mountpoint = plan_for("laptop", rules=policy(skip=["/home"]))
    assert "lv:laptopvg/home" in {s.id for s in by_mountpoint.steps}
    assert "mount:/home" not in {s.id for s in by_mountpoint.steps}
    with pytest.raises(BadInputError, match="neither an entry id nor a mountpoint"):
        plan_for("laptop", rules=policy(skip=["lv:nope/none"]))
