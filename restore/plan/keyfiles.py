"""Key files crypttab names: made new and enrolled, once the filesystems are mounted.

A key file lives on a restored filesystem (under the target root) and its
content was never recorded, so it cannot come back: a new random key is
written where crypttab expects it and enrolled in a spare keyslot of its
LUKS container with the recorded key derivation.  The old key file then no
longer opens the container, which the plan says.
"""

from __future__ import annotations

import posixpath

from hostbook.manifest.sections.storage import LuksEntry
from hostbook.restore.plan.context import Planning
from hostbook.restore.plan.luks import first_keyslot, keyfile_lines, pbkdf_args
from hostbook.restore.plan.steps import Command, DoneCheck, Step
from hostbook.restore.target.devices import luks_name

KEYFILE_BYTES = 4096


def plan_keyfiles(ctx: Planning) -> list[str]:
    """Steps that make and enroll each key file; returns what the plan reports of them."""
    reports = []
    root = ctx.request.target_root
    for luks in ctx.view.of_type(LuksEntry):
        if luks.id not in ctx.restored:
            continue
        slots = sorted(luks.keyslots, key=lambda k: k.slot)
        spare = list(slots[1:])
        for line in keyfile_lines(ctx, luks):
            key = line.key_file or ""
            if ":" in key or not key.startswith("/"):
                ctx.notes.append(
                    f"crypttab {line.name}: key file {key} is not a plain path; not regenerated"
                )
                continue
            path = root + posixpath.normpath(key)
            device = ctx.path(luks.device)
            slot = spare.pop(0) if spare else None
            kdf, _ = pbkdf_args(luks, slot or first_keyslot(luks))
            slot_args = ["--key-slot", str(slot.slot)] if slot else []
            ctx.add(Step(
                id=f"keyfile:{line.name}", layer="keyfile",
                summary=f"generate a new key file {path} ({KEYFILE_BYTES} random bytes)",
                commands=(Command(("install", "-d", "-m", "0700", posixpath.dirname(path))),
                          Command(("dd", "if=/dev/urandom", f"of={path}",
                                   f"bs={KEYFILE_BYTES}", "count=1", "status=none")),
                          Command(("chmod", "0400", path))),
                destructive=False, done=DoneCheck("file", "", {"path": path}),
            ))
            ctx.add(Step(
                id=f"keyslot:{line.name}", layer="keyfile",
                summary=f"enroll {path} in LUKS {luks.uuid}"
                        + (f" keyslot {slot.slot}" if slot else ""),
                commands=(Command(("cryptsetup", "luksAddKey", "--batch-mode",
                                   "--key-file=-", *kdf, *slot_args, device, path),
                                  secret=luks.id, secret_name=luks_name(luks)),),
                devices=(device,),
                done=DoneCheck("key-opens", device, {"path": path}),
            ))
            reports.append(
                f"{key}: regenerated as {path} (new random key, enrolled in LUKS "
                f"{luks.uuid}); the old key file no longer opens it"
            )
    return reports
