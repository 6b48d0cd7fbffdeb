"""Render a plan as a shell script a person can read, edit and run by hand."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from importlib import resources

import jinja2

from hostbook.restore.steps import Command, Step


def _ok_codes(command: Command) -> str:
    if command.ok_codes == (0,):
        return ""
    codes = " ".join(str(c) for c in command.ok_codes if c != 0)
    return f' || case $? in {codes.replace(" ", "|")}) true ;; *) exit 1 ;; esac'


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
    env.filters["shquote"] = shlex.quote
    env.filters["shjoin"] = lambda argv: shlex.join(list(argv))
    env.globals["okcodes"] = _ok_codes
    return env


def render_script(
    host: str, steps: Sequence[Step], map_lines: Sequence[str], notes: Sequence[str] = ()
) -> str:
    """The restore script for ``steps``."""
    template = _environment().get_template("restore.sh.j2")
    return template.render(host=host, steps=steps, map_lines=map_lines, notes=notes)
