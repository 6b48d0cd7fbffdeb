"""hostbook(1) is generated from the click commands and names every one of them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import click
import pytest

from hostbook.cli import cli
from tests.paths import REPO_ROOT


def every_command() -> list[str]:
    names = []
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        if isinstance(command, click.Group):
            sub = click.Context(command, parent=ctx)
            names += [f"{name} {n}" for n in command.list_commands(sub)]
        names.append(name)
    return names


def test_the_man_page_documents_every_command_and_renders(tmp_path: object) -> None:
    page = subprocess.run([sys.executable, str(REPO_ROOT / ".ci" / "manpage.py")],
                          capture_output=True, text=True, check=True).stdout
    assert page.startswith(".TH HOSTBOOK 1 ")
    for name in every_command():
        assert f".SS hostbook {name}\n" in page, name
    assert "\\fB\\-\\-allow\\-incomplete\\fR" in page or "--allow-incomplete" in page
    assert "_HOSTBOOK_COMPLETE=bash_source" in page
    if shutil.which("man") is None:
        pytest.skip("no man to render the page")
    rendered = subprocess.run(["man", "--warnings", "-l", "-"], input=page,
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "MANWIDTH": "100", "LC_ALL": "C"})
    assert rendered.stderr == "", rendered.stderr
    assert "hostbook restore plan [OPTIONS] HOST" in rendered.stdout


def test_bash_completion_is_offered() -> None:
    result = subprocess.run([sys.executable, "-m", "hostbook"], capture_output=True, text=True,
                            env={**os.environ, "_HOSTBOOK_COMPLETE": "bash_source"},
                            check=False)
    assert "complete " in result.stdout and "_hostbook_completion" in result.stdout
