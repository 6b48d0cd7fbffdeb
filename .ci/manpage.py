#!/usr/bin/env python3
"""Write hostbook(1), generated from the click commands, to standard output.

Run by ``.ci/install`` (``python .ci/manpage.py > .../man1/hostbook.1``) with
the installed hostbook, so the page lists exactly the commands, arguments and
options of that install: one section per command, in the order ``hostbook
--help`` lists them, each with its help text, usage and options.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import click

from hostbook import __version__
from hostbook.cli import cli


def roff(text: str) -> str:
    """Text safe in a roff body: backslashes doubled, no line starting with . or '."""
    lines = []
    for line in text.replace("\\", "\\e").splitlines():
        lines.append("\\&" + line if line[:1] in (".", "'") else line)
    return "\n".join(lines)


def paragraphs(text: str) -> list[str]:
    """A docstring as roff paragraphs: dedented, each paragraph one filled line."""
    out: list[str] = []
    for block in inspect.cleandoc(text).split("\n\n"):
        if block.strip():
            out += [".PP", roff(" ".join(block.split()))]
    return out


def leaves(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()
           ) -> Iterator[tuple[tuple[str, ...], click.Command, click.Context]]:
    """Every command below ``group`` with its names and a context to format it in."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        sub = click.Context(command, info_name=name, parent=ctx)
        if isinstance(command, click.Group):
            yield (*path, name), command, sub
            yield from leaves(command, sub, (*path, name))
        else:
            yield (*path, name), command, sub


def options_of(command: click.Command, ctx: click.Context) -> list[str]:
    out = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        flags, help_text = record
        out += [".TP", f"\\fB{roff(flags)}\\fR", roff(help_text or "")]
    return out


def page() -> str:
    root = click.Context(cli, info_name="hostbook")
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    out = [f'.TH HOSTBOOK 1 "{date}" "hostbook {__version__}" "User Commands"',
           ".SH NAME", "hostbook \\- " + roff(cli.get_short_help_str(200)),
           ".SH SYNOPSIS", "\\fBhostbook\\fR \\fICOMMAND\\fR [\\fIARGS\\fR]...",
           ".SH DESCRIPTION", *paragraphs(cli.help or ""),
           ".SH COMMANDS"]
    for path, command, ctx in leaves(cli, root):
        name = " ".join(path)
        usage = " ".join(["hostbook", *path, *command.collect_usage_pieces(ctx)])
        out += [f".SS hostbook {roff(name)}", ".nf", f"\\fB{roff(usage)}\\fR", ".fi"]
        out += paragraphs(command.help or command.short_help or "")
        out += options_of(command, ctx)
    out += [".SH EXIT STATUS",
            "0 ok, 1 partial (some part incomplete, or a stale or failing archive target for "
            "\\fBstatus\\fR), 2 usage or bad input, 3 runtime failure, 4 nothing configured "
            "(\\fBstatus\\fR).",
            ".SH SHELL COMPLETION",
            "bash: \\fBeval \"$(_HOSTBOOK_COMPLETE=bash_source hostbook)\"\\fR; zsh: "
            "\\fBzsh_source\\fR; fish: \\fBfish_source\\fR (installed by \\fB.ci/install\\fR "
            "for bash).",
            ".SH FILES",
            "/var/lib/hostbook/manifests (the manifest repository), /var/lib/hostbook/state "
            "(run journals, locks, history), /etc/hostbook/config.yaml."]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(page())
