"""The `hostbook` command line, driven as a person would, on this machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hostbook.cli import cli
from tests.paths import FIXTURES

SYSTEM_RECORDING = FIXTURES / "system-debian12"


def SYSTEM_ONLY(repo: Path) -> list[str]:
    return ["capture", "--repo", str(repo), "--replay", str(SYSTEM_RECORDING), "--only", "system"]


def hostbook(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real entry point in a child process (exit codes included)."""
    return subprocess.run(
        [sys.executable, "-m", "hostbook", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def commits(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "log", "--format=%s"], capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


def test_capture_twice_commits_once(tmp_path: Path) -> None:
    repo = tmp_path / "m"
    first = hostbook("capture", "--repo", str(repo), "--only", "system")
    assert first.returncode == 0, first.stderr
    second = hostbook("capture", "--repo", str(repo), "--only", "system")
    assert second.returncode == 0, second.stderr
    assert "no change" in second.stdout
    assert commits(repo) == ["system: +system file", "init hostbook manifest repository"]


def test_hand_edits_are_corrected_and_comments_kept(tmp_path: Path) -> None:
    repo = tmp_path / "m"
    args = ["capture", "--repo", str(repo), "--replay", str(SYSTEM_RECORDING), "--only", "system"]
    assert hostbook(*args).returncode == 0
    path = repo / "hosts" / "vm" / "system.yaml"
    text = path.read_text()
    real_kernel = next(line for line in text.splitlines() if line.startswith("kernel:"))
    edited = "# kept: top\n" + text.replace(
        real_kernel, "# kept: above kernel\nkernel: 0.0-bogus  # kept: inline"
    ).replace("  id: debian", "  # kept: inside os\n  id: debian")
    path.write_text(edited)
    subprocess.run(["git", "-C", str(repo), "commit", "-qam", "hand edit"], check=True)
    result = hostbook(*args)
    assert result.returncode == 0, result.stderr
    after = path.read_text()
    for comment in ("# kept: top", "# kept: above kernel", "# kept: inline", "# kept: inside os"):
        assert comment in after
    assert any(
        line.startswith(real_kernel) and line.endswith("# kept: inline")
        for line in after.splitlines()
    )
    assert commits(repo)[0] == "system: kernel changed"
    assert len(commits(repo)) == 4


def test_record_then_replay_gives_identical_files(tmp_path: Path) -> None:
    live, replayed, recording = tmp_path / "live", tmp_path / "replayed", tmp_path / "rec"
    result = hostbook("capture", "--repo", str(live), "--record", str(recording))
    assert result.returncode in (0, 1), result.stderr
    again = hostbook("capture", "--repo", str(replayed), "--replay", str(recording))
    assert again.returncode == result.returncode, again.stderr
    host = next((live / "hosts").iterdir()).name
    live_files = sorted((live / "hosts" / host).iterdir())
    assert live_files
    for path in live_files:
        assert (replayed / "hosts" / host / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (("boot_mode: bios", "boot_mode: 7"), "boot_mode: 7|:1: boot_mode:"),
        (("  id: debian", "  id: debian\n  colour: red"), "  colour: red|:3: unknown key 'colour'"),
        (("os:\n", "os: [\n"), "os: [|"),
    ],
    ids=["wrong-type", "unknown-key", "broken-yaml"],
)
def test_bad_manifest_exits_2_and_writes_nothing(
    tmp_path: Path, edit: tuple[str, str], where: str
) -> None:
    repo = tmp_path / "m"
    assert hostbook(*SYSTEM_ONLY(repo)).returncode == 0
    path = repo / "hosts" / "vm" / "system.yaml"
    broken = path.read_text().replace(*edit, 1)
    assert broken != path.read_text()
    marker, expected = where.split("|")
    line_no = broken.splitlines().index(marker) + 1
    path.write_text(broken)
    before = {p: p.read_bytes() for p in path.parent.iterdir()}
    for args in (
        SYSTEM_ONLY(repo),
        ["show", "vm", "--repo", str(repo)],
    ):
        result = hostbook(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        first = result.stderr.splitlines()[0]
        position = first.removeprefix(f"{path}:")
        if expected:  # errors in a value point at its line
            assert position.startswith(f"{line_no}{expected}"), first
        else:  # a syntax error is found at or after the opening bracket
            assert int(position.split(":")[0]) >= line_no, first
    assert {p: p.read_bytes() for p in path.parent.iterdir()} == before
    assert len(commits(repo)) == 2


def test_show_log_and_schema(tmp_path: Path) -> None:
    repo = tmp_path / "m"
    runner = CliRunner()
    result = runner.invoke(cli, [*SYSTEM_ONLY(repo),
                                 "--json"])
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.output)
    assert outcome["host"] == "vm" and outcome["written"] == ["system.yaml"]
    shown = runner.invoke(cli, ["show", "vm", "--repo", str(repo), "--json"])
    assert json.loads(shown.output)["system"]["os"]["codename"] == "bookworm"
    text = runner.invoke(cli, ["show", "vm", "--repo", str(repo)])
    assert "# ==> hosts/vm/system.yaml <==" in text.output
    logged = runner.invoke(cli, ["log", "vm", "--repo", str(repo)])
    assert logged.output.strip().endswith("system: +system file")
    schema = json.loads(runner.invoke(cli, ["schema", "system"]).output)
    assert "boot_mode" in schema["properties"] and schema["additionalProperties"] is False
    every = json.loads(runner.invoke(cli, ["schema"]).output)
    assert {"system", "storage", "packages", "checkouts", "jobs", "restore"} <= set(every)


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert hostbook("capture", "--repo", str(tmp_path), "--only", "nonsense").returncode == 2
    assert hostbook("capture", "--bogus-flag").returncode == 2
    assert hostbook("show", "nohost", "--repo", str(tmp_path / "none")).returncode == 2
    result = hostbook("schema", "nope")
    assert result.returncode == 2 and "unknown section 'nope'" in result.stderr


def test_default_repository_comes_from_environment(tmp_path: Path) -> None:
    import os

    env = dict(os.environ, HOSTBOOK_REPO=str(tmp_path / "envrepo"))
    result = hostbook("capture", "--replay", str(SYSTEM_RECORDING), "--only", "system", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "envrepo" / "hosts" / "vm" / "system.yaml").exists()
    shown = hostbook("show", "vm", "--json", env=env)
    assert json.loads(shown.stdout)["system"]["hostname"] == "vm"


def test_help_everywhere() -> None:
    runner = CliRunner()
    for command in ([], ["init"], ["capture"], ["show"], ["log"], ["schema"]):
        result = runner.invoke(cli, [*command, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output
    assert "Exit codes: 0 ok, 1 partial" in runner.invoke(cli, ["--help"]).output


def test_a_partial_capture_says_what_was_captured_and_what_was_not(tmp_path: Path) -> None:
    """Recorded on a build host where blkid may not read /dev/vda: exit 1, said plainly."""
    result = CliRunner().invoke(cli, ["capture", "--repo", str(tmp_path / "m"), "--host", "b",
                                      "--only", "storage", "--replay",
                                      str(FIXTURES / "storage-buildhost")])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert "captured: storage" in lines
    assert "not captured: storage: device vda (blkid: Operation not permitted)" in lines
    assert any(line.startswith("exit 1: the capture is partial") for line in lines)
