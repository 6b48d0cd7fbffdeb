"""Identity clashes with attached devices: refused, or made new with --new-identities."""

from __future__ import annotations

from hostbook.manifest.sections.storage import FilesystemEntry
from tests.unit.restore.plan.lab_plans import layout_doc, plan_for


def test_a_clashing_filesystem_uuid_is_refused_or_made_new_when_asked() -> None:
    fs = next(e for e in layout_doc("server").entries
              if isinstance(e, FilesystemEntry) and e.fstype == "xfs" and e.uuid)
    assert fs.uuid is not None
    foreign = {fs.uuid: "/dev/vdz1"}
    refused = plan_for("server", foreign=foreign)
    assert any(f"UUID {fs.uuid}" in r and "--new-identities" in r for r in refused.refusals)
    renamed = plan_for("server", foreign=foreign, new_identities=True)
    assert not renamed.refusals, renamed.refusals
    [note] = [n for n in renamed.notes if n.startswith(f"{fs.id}: new UUID ")]
    new = note.split()[3]
    assert new != fs.uuid and f"the recorded {fs.uuid} is on /dev/vdz1" in note
    made = next(s for s in renamed.steps if s.id == fs.id)
    assert any(f"uuid={new}" in arg for c in made.commands for arg in c.argv)
    # planning again gives the same UUID: an interrupted apply resumes the same steps
    again = plan_for("server", foreign=foreign, new_identities=True)
    assert next(s for s in again.steps if s.id == fs.id).fingerprint() == made.fingerprint()
