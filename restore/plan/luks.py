"""LUKS containers: ``cryptsetup luksFormat`` with the recorded identity and parameters.

The container gets the recorded UUID, version, label and subsystem,
cipher, key size, sector size, metadata and keyslot areas and data offset,
and its first keyslot the recorded key derivation (exact iterations and
memory, so no benchmark on the restoring machine decides them).  The
passphrase is read at run time, never from the manifest.  Opening it is a
second, non-destructive step with the recorded persistent flags.  Key files
crypttab names are made again last (:mod:`hostbook.restore.plan.keyfiles`).
"""

from __future__ import annotations

from hostbook.manifest.sections.storage import CrypttabLine, LuksEntry, LuksKeyslot
from hostbook.restore.plan.context import Built, Planning, options
from hostbook.restore.plan.signatures import signature_check
from hostbook.restore.plan.steps import Command, DoneCheck, Step
from hostbook.restore.target.devices import luks_name

# LUKS2 persistent activation flags -> cryptsetup open options.
LUKS_FLAGS = {
    "allow-discards": "--allow-discards",
    "same-cpu-crypt": "--perf-same_cpu_crypt",
    "submit-from-crypt-cpus": "--perf-submit_from_crypt_cpus",
    "no-read-workqueue": "--perf-no_read_workqueue",
    "no-write-workqueue": "--perf-no_write_workqueue",
}


def first_keyslot(luks: LuksEntry) -> LuksKeyslot | None:
    usable = [k for k in luks.keyslots if k.type in (None, "luks2")]
    return min(usable, key=lambda k: k.slot) if usable else None


def pbkdf_args(luks: LuksEntry, slot: LuksKeyslot | None) -> tuple[list[str], list[str]]:
    """Options that make a keyslot with the recorded key derivation, and notes."""
    notes: list[str] = []
    if slot is None or slot.kdf is None:
        notes.append(f"LUKS {luks.uuid}: no keyslot recorded; key derivation left to cryptsetup")
        return [], notes
    kdf = slot.kdf
    args = ["--pbkdf", kdf.type]
    if kdf.type == "pbkdf2":
        if kdf.hash:
            args += ["--hash", kdf.hash]
        if kdf.iterations:
            args += ["--pbkdf-force-iterations", str(kdf.iterations)]
    else:
        args += options(("--pbkdf-force-iterations", kdf.time), ("--pbkdf-memory", kdf.memory),
                        ("--pbkdf-parallel", kdf.cpus), ("--hash", slot.af_hash))
    return args, notes


def luks_format(luks: LuksEntry, device: str, name: str) -> Built:
    built = Built()
    argv = ["cryptsetup", "luksFormat", "--batch-mode", "--type", f"luks{luks.version}",
            "--uuid", luks.uuid]
    if luks.version == 2:
        argv += options(("--label", luks.label), ("--subsystem", luks.subsystem))
    argv += options(("--cipher", luks.cipher), ("--key-size", luks.key_size))
    slot = first_keyslot(luks)
    kdf, notes = pbkdf_args(luks, slot)
    built.notes += notes
    if "--hash" not in kdf and luks.hash:
        argv += ["--hash", luks.hash]
    argv += kdf
    if luks.version == 2:
        argv += options(("--sector-size", luks.sector_size),
                        ("--luks2-metadata-size", luks.metadata_size),
                        ("--luks2-keyslots-size", luks.keyslots_size),
                        ("--integrity", luks.integrity))
    if luks.data_offset is not None:
        argv += ["--offset", str(luks.data_offset // 512)]
    if slot is not None:
        argv += ["--key-slot", str(slot.slot)]
    if luks.requirements:
        built.problems.append(
            f"LUKS {luks.uuid}: header requirements {', '.join(luks.requirements)} "
            "(an unfinished reencryption?) are not recreated"
        )
    if luks.tokens:
        built.notes.append(
            f"LUKS {luks.uuid}: tokens ({', '.join(luks.tokens)}) are not restored; enroll "
            "them again (e.g. systemd-cryptenroll)"
        )
    argv += ["--key-file=-", device]
    built.commands.append(Command(tuple(argv), secret=luks.id, secret_name=name))
    return built


def luks_open(luks: LuksEntry, device: str, name: str) -> Command:
    argv = ["cryptsetup", "open", "--type", f"luks{luks.version}", "--key-file=-"]
    flags = [LUKS_FLAGS[f] for f in luks.flags if f in LUKS_FLAGS]
    if flags:
        argv += ["--persistent", *flags]
    return Command((*argv, device, name), secret=luks.id, secret_name=name)


def keyfile_lines(ctx: Planning, luks: LuksEntry) -> list[CrypttabLine]:
    """crypttab lines that open ``luks`` with a key file (not a passphrase or a device)."""
    lines = []
    for line in ctx.view.document.crypttab.entries:
        key = line.key_file or ""
        if line.target != luks.id or key in ("", "none", "-") or key.startswith("/dev/"):
            continue
        lines.append(line)
    return lines


def plan_luks(ctx: Planning, luks: LuksEntry) -> None:
    """Format the container, then open it under its mapping name."""
    device = ctx.path(luks.device)
    name = luks_name(luks)
    mapped = ctx.path(luks.id)
    commands = ctx.take(luks_format(luks, device, name))
    extra = max(luks.keyslots_in_use - 1 - len(keyfile_lines(ctx, luks)), 0)
    if extra:
        ctx.notes.append(
            f"LUKS {luks.uuid}: {extra} more keyslot(s) were in use (other passphrases or "
            "keys); only the passphrase given now and crypttab keyfiles are enrolled"
        )
    ctx.add(Step(
        id=f"luks:{luks.uuid}", layer="luks",
        summary=f"create LUKS{luks.version} {luks.uuid} on {device}",
        commands=commands, devices=(device,),
        done=signature_check(device, luks),
    ))
    ctx.add(Step(
        id=f"luks-open:{luks.uuid}", layer="crypt", summary=f"open {device} as {mapped}",
        commands=(luks_open(luks, device, name),), devices=(device, mapped),
        destructive=False,
        done=DoneCheck("mapper", mapped, {"name": name, "backing": device}),
        wait_for=(mapped,),
    ))
