"""Render a plan as a shell script a person can read, edit and run by hand.

The script is the same step list `apply` runs, printed through
templates/restore.sh.j2; every argument is shell-quoted here, so a label or
a path with spaces or quotes cannot change what a line does.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING

import jinja2

from hostbook.restore.plan.steps import Command, Step

if TYPE_CHECKING:
    from hostbook.restore.plan.planner import Plan

HEREDOC_END = "HOSTBOOK_EOF"


def _ok_codes(command: Command) -> str:
    if command.ok_codes == (0,):
        return ""
    codes = "|".join(str(c) for c in command.ok_codes if c != 0)
    return f" || case $? in {codes}) true ;; *) exit 1 ;; esac"


def _environment() -> jinja2.Environment:
    source = resources.files("hostbook.templates")
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda name: source.joinpath(name).read_text("utf-8")),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # a shell script, not HTML: quoting is done by shquote/shjoin
    )
    env.filters["shquote"] = lambda value: shlex.quote(str(value))
    env.filters["shjoin"] = lambda argv: shlex.join(list(argv))
    env.filters["comment"] = _comment
    env.globals["okcodes"] = _ok_codes
    env.globals["already"] = already
    return env


def already(step: Step) -> str | None:
    """A shell test that is true when an activation step's result is there already.

    Activations (assemble, open, mount) are written as ``if TEST; then ...``
    so the script can run after a step that already did them (mdadm --create
    starts its array) and can be run again after a reboot.  Destructive steps
    are not guarded: the script is for blank disks; `apply` is the resumable way.
    """
    done = step.done
    if step.destructive or done is None:
        return None
    q = shlex.quote
    expect = done.expect
    if done.kind == "md":
        return (f"mdadm --detail --export {q(done.device)} 2>/dev/null "
                f"| grep -qx {q('MD_UUID=' + expect.get('uuid', ''))}")
    if done.kind == "mapper":
        return f"cryptsetup status {q(expect.get('name', ''))} >/dev/null 2>&1"
    if done.kind == "mounted":
        return f"findmnt --mountpoint {q(expect.get('path', ''))} >/dev/null"
    if done.kind == "unmounted":
        return f"! findmnt --mountpoint {q(expect.get('path', ''))} >/dev/null"
    if done.kind == "file":
        return f"test -s {q(expect.get('path', ''))}"
    return None


def _comment(line: str) -> str:
    """One line, safe inside a # comment."""
    return " ".join(line.splitlines())


def render_script(plan: Plan, verify: Sequence[str] = ()) -> str:
    """The restore script for ``plan``; ``verify`` is the command it names at the end."""
    return render_steps(
        plan.host, plan.target_root, plan.steps, map_lines=plan.map_lines(),
        arithmetic=plan.sizing.lines,
        notes=plan.notes + plan.keyfiles
        + [f"not known (the capture was incomplete): {u}" for u in plan.unknown],
        refusals=plan.refusals,
        verify=shlex.join(verify) if verify else f"hostbook restore verify {plan.host}")


def render_steps(host: str, target: str, steps: Sequence[Step], *,
                 map_lines: Sequence[str] = (), arithmetic: Sequence[str] = (),
                 notes: Sequence[str] = (), refusals: Sequence[str] = (),
                 verify: str = "") -> str:
    """Any step list (a layout plan's, the boot phase's, a whole rebuild's) as one script."""
    for step in steps:
        for command in step.commands:
            # Only a line that is exactly the marker ends the heredoc early; the
            # storage schema keeps line breaks out of every field sfdisk's input
            # carries, so a manifest cannot produce one.
            if command.stdin is not None and HEREDOC_END in command.stdin.splitlines():
                raise ValueError(f"step {step.id}: a line of its input is {HEREDOC_END}")
    template = _environment().get_template("restore.sh.j2")
    return template.render(
        host=_comment(host),
        target=_comment(target),
        steps=list(steps),
        map_lines=[_comment(x) for x in map_lines],
        arithmetic=[_comment(x) for x in arithmetic],
        notes=[_comment(x) for x in notes],
        refusals=[_comment(x) for x in refusals],
        verify=verify or f"hostbook restore verify {host}",
    )
