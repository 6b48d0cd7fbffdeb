"""A step's fingerprint: what the journal matches a finished step by."""

from __future__ import annotations

from hostbook.restore.plan.steps import Command, Step


def shell(ident: str, script: str, **extra: object) -> Step:
    return Step(ident, "filesystem", f"step {ident}", (Command(("sh", "-c", script)),),
                **extra)  # type: ignore[arg-type]


def test_fingerprint_ignores_notes_and_follows_stable_keys() -> None:
    base = shell("x", "true", notes=("found: a",))
    assert base.fingerprint() == shell("x", "true", notes=("found: b",)).fingerprint()
    assert base.fingerprint() != shell("x", "false").fingerprint()
    wipe_a = Step("wipe:d", "wipe", "w", (Command(("wipefs", "-a", "/dev/sdb1")),),
                  stable_key="/dev/sdb")
    wipe_b = Step("wipe:d", "wipe", "w", (Command(("wipefs", "-a", "/dev/sdb")),),
                  stable_key="/dev/sdb")
    assert wipe_a.fingerprint() == wipe_b.fingerprint()
