"""md arrays: ``mdadm --create`` with the recorded UUID, name, level and layout.

Members are given in their recorded slot order (spares after them), so the
array is the recorded one and not merely one like it; an array whose
members were not all recorded is created degraded.  Creating resyncs by
default (``restore.yaml`` ``md_resync: false`` gives ``--assume-clean``).
The array is assembled again in a second, non-destructive step, so a
re-run after a reboot finds it running.
"""

from __future__ import annotations

from hostbook.manifest.sections.storage import MdEntry
from hostbook.restore.plan.context import Built, Planning
from hostbook.restore.plan.signatures import md_blkid_uuid
from hostbook.restore.plan.steps import Command, DoneCheck, Step
from hostbook.restore.target.devices import md_path


def md_members(md: MdEntry) -> tuple[list[str], list[str]]:
    """(active member ids in slot order, spare member ids)."""
    active = sorted((m for m in md.members if m.role.isdigit()), key=lambda m: int(m.role))
    spares = [m for m in md.members if m.role == "spare"]
    return [m.device for m in active], [m.device for m in spares]


def md_create(md: MdEntry, path: str, members: list[str], spares: list[str],
              resync: bool) -> Built:
    built = Built()
    if md.table is not None:
        built.problems.append(f"md {path}: partitioned arrays are not restored")
    argv = ["mdadm", "--create", path, "--run", "--level", md.level,
            "--raid-devices", str(md.raid_devices or len(members))]
    if md.metadata:
        argv += ["--metadata", md.metadata]
    argv += ["--uuid", md.uuid]
    if md.array_name:
        argv += ["--name", md.array_name]
    if md.chunk_size:
        argv += ["--chunk", f"{md.chunk_size // 1024}K"]
    if md.layout:
        argv += ["--layout", md.layout]
    if md.bitmap in ("internal", "none"):
        argv += ["--bitmap", md.bitmap]
    elif md.bitmap:
        built.notes.append(f"md {path}: external bitmap {md.bitmap} not recreated")
    if not resync and md.level not in ("raid0", "linear"):
        argv.append("--assume-clean")
    if spares:
        argv += ["--spare-devices", str(len(spares))]
    if len(members) < (md.raid_devices or len(members)):
        missing = (md.raid_devices or 0) - len(members)
        built.notes.append(f"md {path}: created degraded, {missing} member(s) were not recorded")
        members = members + ["missing"] * missing
    built.commands.append(Command((*argv, *members, *spares)))
    return built


def md_assemble(md: MdEntry, path: str, members: list[str]) -> Command:
    return Command(("mdadm", "--assemble", path, "--uuid", md.uuid, *members))


def plan_md(ctx: Planning, md: MdEntry) -> None:
    """Create the array, then make sure it runs."""
    path = md_path(md)
    active, spares = md_members(md)
    members = [ctx.path(m) for m in active]
    spare_paths = [ctx.path(m) for m in spares]
    commands = ctx.take(md_create(md, path, members, spare_paths, ctx.policy.md_resync))
    ctx.add(Step(
        id=f"md:{md.uuid}", layer="md",
        summary=f"create md {md.level} {path} from {', '.join(members)}",
        commands=commands, devices=(path, *members, *spare_paths),
        done=DoneCheck("md-members", "", {"uuid": md_blkid_uuid(md.uuid),
                                          "members": " ".join(members + spare_paths)}),
        wait_for=(path,),
    ))
    ctx.add(Step(
        id=f"md-run:{md.uuid}", layer="md", summary=f"make sure {path} is running",
        commands=(md_assemble(md, path, members + spare_paths),),
        devices=(path, *members), destructive=False,
        done=DoneCheck("md", path, {"uuid": md.uuid}), wait_for=(path,),
    ))
