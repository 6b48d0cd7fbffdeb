"""LUKS: the container made with the recorded parameters, opened under its name."""

from __future__ import annotations

from hostbook.manifest.sections.storage import LuksEntry, PvEntry
from tests.unit.restore.plan.lab_plans import argv_of, layout_doc, option, plan_for, step


def test_laptop_luks_is_made_with_the_recorded_parameters() -> None:
    doc = layout_doc("laptop")
    luks = next(e for e in doc.entries if isinstance(e, LuksEntry))
    plan = plan_for("laptop")
    fmt = step(plan, f"luks:{luks.uuid}").commands[0]
    assert fmt.secret == luks.id and fmt.stdin is None
    argv = list(fmt.argv)
    assert option(argv, "--cipher") == luks.cipher
    assert option(argv, "--key-size") == str(luks.key_size)
    assert option(argv, "--label") == luks.label
    assert option(argv, "--sector-size") == str(luks.sector_size)
    assert int(option(argv, "--offset")) * 512 == luks.data_offset
    slot = min(luks.keyslots, key=lambda k: k.slot)
    assert slot.kdf is not None
    assert option(argv, "--pbkdf") == slot.kdf.type
    assert option(argv, "--pbkdf-force-iterations") == str(slot.kdf.iterations)
    opened = step(plan, f"luks-open:{luks.uuid}")
    assert opened.commands[0].argv[-1] == luks.crypttab_name
    assert not opened.destructive
    pv = next(e for e in doc.entries if isinstance(e, PvEntry))
    assert argv_of(plan, f"pv:{pv.uuid}")[-1] == f"/dev/mapper/{luks.crypttab_name}"
