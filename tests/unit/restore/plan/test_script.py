"""The rendered restore script: valid bash, and safe to run again after a create."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hostbook.restore.plan.script import render_script
from tests.unit.restore.plan.lab_plans import LAYOUT_NAMES, plan_for


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_script_is_valid_bash(name: str, tmp_path: Path) -> None:
    script = tmp_path / "restore.sh"
    script.write_text(render_script(plan_for(name)))
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr


def test_script_guards_activations_so_it_runs_after_create_and_again() -> None:
    text = render_script(plan_for("server"))
    assert "if mdadm --detail --export /dev/md/server-root 2>/dev/null | grep -qx" in text
    assert "if findmnt --mountpoint /mnt/target >/dev/null; then" in text
    laptop = render_script(plan_for("laptop"))
    assert "if cryptsetup status laptop_crypt >/dev/null 2>&1; then" in laptop
    assert "if test -s /mnt/target/etc/keys/laptop.key" not in laptop  # no key file here
    # destructive steps are never guarded: the script is for blank disks
    assert "then\n    echo '    already done'\nelse\n    mkfs" not in text


def test_the_next_command_names_the_repository_and_parses_as_printed(tmp_path: Path) -> None:
    """The verify command the script (and apply) prints runs from anywhere as printed."""
    import shlex

    import click

    from hostbook.cli import cli
    from hostbook.restore.session import verify_argv

    repo = tmp_path / "manifests with space"
    argv = verify_argv(repo, "server", ["auto", "sda=/dev/vdb"], "/mnt/new root")
    text = render_script(plan_for("server"), argv)
    last = next(line for line in text.splitlines() if "restore steps finished" in line)
    printed = shlex.split(shlex.split(last)[1].split("run: ", 1)[1])
    assert printed == argv
    context = cli.make_context("hostbook", printed[1:3])
    verify = context.command.get_command(context, "restore")
    assert isinstance(verify, click.Group)
    command = verify.get_command(context, "verify")
    assert command is not None
    parsed = command.make_context("verify", printed[3:]).params
    assert parsed["repo"] == repo.resolve() and parsed["host"] == "server"
    assert parsed["maps"] == ("auto", "sda=/dev/vdb") and parsed["target"] == "/mnt/new root"
