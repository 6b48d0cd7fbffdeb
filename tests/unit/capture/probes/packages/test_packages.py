"""Package probes: replayed recordings of real package managers, and live dpkg/pip checks."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from hostbook.capture.collect import collect_sections
from hostbook.capture.probe import ProbeContext
from hostbook.capture.probes.packages import apt as packages_apt
from hostbook.capture.probes.packages import flatpak as packages_flatpak
from hostbook.capture.probes.packages import pacman as packages_pacman
from hostbook.capture.probes.packages import pip as packages_pip
from hostbook.capture.probes.packages import pipx as packages_pipx
from hostbook.capture.probes.packages import rpm as packages_rpm
from hostbook.capture.probes.packages import snap as packages_snap
from hostbook.capture.probes.packages.openpgp import file_fingerprints, fingerprints
from hostbook.manifest.diff import diff_sections
from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.sections.packages import PackagesDocument
from hostbook.process.recording import ReplayRunner
from hostbook.process.runner import LiveRunner, Runner
from tests.paths import FIXTURES

CONFIG = ConfigDocument.model_validate({"schema": "hostbook/config/v1"})


def run_probe(module: ModuleType, runner: Runner) -> tuple[dict[str, Any], ProbeContext]:
    ctx = ProbeContext(runner=runner, config=CONFIG, section="packages")
    doc: dict[str, Any] = {"schema": PackagesDocument.schema_string()}
    module.collect(ctx, doc)
    PackagesDocument.model_validate(doc)  # what the probe makes, the model accepts
    return doc, ctx


def replay(name: str) -> ReplayRunner:
    return ReplayRunner(FIXTURES / name)


def recorded_stdout(name: str, argv0: str, *more: str) -> str:
    data = json.loads((FIXTURES / name / "recording.json").read_text())
    for command in data["commands"]:
        if command["argv"][0] == argv0 and all(m in command["argv"] for m in more):
            return str(command["stdout"])
    raise AssertionError(f"{argv0} not in {name}")


# --- dpkg/apt ---------------------------------------------------------------


def test_apt_replay_matches_dpkg_and_apt_mark_output() -> None:
    doc, ctx = run_probe(packages_apt, replay("packages-apt"))
    apt = doc["apt"]
    assert ctx.incomplete == {}
    dpkg = recorded_stdout("packages-apt", "dpkg-query")
    installed = {line.split("\t")[1] for line in dpkg.splitlines() if line.split("\t")[0][1] == "i"}
    manual = set(recorded_stdout("packages-apt", "apt-mark").split())
    assert set(apt["versions"]) == installed
    assert set(apt["manual"]) == manual & installed
    assert set(apt["auto"]) == installed - manual
    assert apt["manual"] == sorted(apt["manual"]) and apt["auto"] == sorted(apt["auto"])
    assert list(apt["versions"]) == sorted(apt["versions"])
    assert apt["architecture"] == "amd64"
    assert apt["base_from"] == "priority"
    assert "bash" not in apt["beyond_base"]  # priority required: part of every base install
    assert set(apt["beyond_base"]) <= set(apt["manual"])
    sources = {s["path"]: s for s in apt["sources"]}
    debian = sources["/etc/apt/sources.list.d/debian.sources"]
    assert debian["format"] == "deb822"
    assert debian["entries"][0]["uris"] == ["http://deb.debian.org/debian"]
    assert debian["entries"][0]["suites"] == ["bookworm", "bookworm-updates"]
    keyring = {k["path"]: k for k in apt["keys"]}["/usr/share/keyrings/debian-archive-keyring.gpg"]
    assert "4D64FEC119C2029067D6E791F8D2585B8783D481" in keyring["fingerprints"]  # bookworm
    pins = {p["path"]: p for p in apt["pins"]}
    assert pins["/etc/apt/preferences.d/nodejs"]["stanzas"] == [
        {"packages": ["nodejs"], "pin": "origin deb.nodesource.com", "priority": 600}
    ]
    # The system python3 of that host has no pip-installed distributions.
    pip_doc, _ = run_probe(packages_pip, replay("packages-apt"))
    assert "pip" not in pip_doc


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs a dpkg host")
def test_apt_live_matches_dpkg_query_and_apt_mark() -> None:
    doc, ctx = run_probe(packages_apt, LiveRunner())
    assert ctx.incomplete == {}
    apt = doc["apt"]
    query = subprocess.run(
        ["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Architecture}\n"],
        capture_output=True, text=True, check=True,
    ).stdout
    native = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                            text=True, check=True).stdout.strip()
    installed = {
        packages_apt.package_key(name, arch, native)
        for abbrev, name, arch in (line.split("\t") for line in query.splitlines())
        if abbrev[1] == "i"
    }
    showmanual = subprocess.run(["apt-mark", "showmanual"], capture_output=True, text=True,
                                check=True).stdout.split()
    assert set(apt["versions"]) == installed
    assert set(apt["manual"]) == set(packages_apt.normalize_names(" ".join(showmanual), native))
    assert set(apt["auto"]).isdisjoint(apt["manual"])


def test_apt_source_parsing_redacts_and_keeps_options() -> None:
    one_line = (
        "deb [arch=amd64,arm64 signed-by=/usr/share/keyrings/x.gpg] "
        "https://user:s3cret@repo.example.org/apt stable main contrib\n"
        "# deb http://commented.example.org/ x main\n"
        "deb-src http://deb.debian.org/debian bookworm main\n"
    )
    entries = packages_apt.parse_one_line_sources(one_line)
    assert entries[0] == {
        "types": ["deb"],
        "uris": ["https://repo.example.org/apt"],
        "suites": ["stable"],
        "components": ["main", "contrib"],
        "signed_by": "/usr/share/keyrings/x.gpg",
        "architectures": ["amd64", "arm64"],
        "credentials_redacted": True,
    }
    assert entries[1]["types"] == ["deb-src"] and len(entries) == 2
    deb822 = (
        "Types: deb\nURIs: https://example.org/repo\nSuites: ./\nEnabled: no\n"
        "Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n"
        " -----END PGP PUBLIC KEY BLOCK-----\nTrusted: yes\n"
    )
    (entry,) = packages_apt.parse_deb822_sources(deb822)
    assert entry["signed_by"] == "inline"
    assert entry["enabled"] is False
    assert entry["options"] == {"trusted": "yes"}
    assert "secret" not in json.dumps(entries)


def test_apt_manual_beyond_installer_log() -> None:
    status = (
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\n\n"
        "Package: removed\nStatus: deinstall ok config-files\nArchitecture: amd64\n\n"
        "Package: libc6\nStatus: install ok installed\nArchitecture: i386\n"
    )
    assert packages_apt.parse_initial_status(status, "amd64") == {"bash", "libc6:i386"}


@pytest.mark.skipif(shutil.which("gpg") is None, reason="needs gpg to compare with")
def test_openpgp_fingerprints_match_gpg(tmp_path: Path) -> None:
    keyring = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    if not keyring.exists():
        pytest.skip("needs debian-archive-keyring")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    shown = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--with-colons", "--show-keys", str(keyring)],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    primary = []
    after_pub = False
    for line in shown:  # the first fpr record after each pub record is the primary's
        if line.startswith("pub:"):
            after_pub = True
        elif line.startswith("fpr:") and after_pub:
            primary.append(line.split(":")[9])
            after_pub = False
    assert file_fingerprints(str(keyring)) == {"fingerprints": primary}
    armored = subprocess.run(
        ["gpg", "--homedir", str(home), "--batch", "--armor", "--export"],
        capture_output=True, check=True,
    ).stdout
    assert fingerprints(armored) == []  # an empty keyring exports nothing
    assert file_fingerprints(str(tmp_path / "missing.gpg"))["error"]
    (tmp_path / "junk.gpg").write_bytes(b"not a key")
    assert "error" in file_fingerprints(str(tmp_path / "junk.gpg"))


# --- rpm/dnf ----------------------------------------------------------------


def test_rpm_replay_user_installed_versions_and_repositories() -> None:
    doc, ctx = run_probe(packages_rpm, replay("packages-rpm"))
    rpm = doc["rpm"]
    assert ctx.incomplete == {}
    assert rpm["manual"] == ["hbdemo-app", "hbdemo-tool"]
    assert rpm["auto"] == ["hbdemo-lib"]
    assert rpm["versions"] == {
        "hbdemo-app": "1.0-1.noarch",
        "hbdemo-lib": "2.1-3.noarch",
        "hbdemo-tool": "2:4.2.0-7.x86_64",
    }
    assert len(rpm["keys"]) == 1 and "-" in rpm["keys"][0]
    repos = {r["id"]: r for r in rpm["repositories"]}
    assert repos["hbdemo"]["enabled"] is True
    assert repos["hbdemo-updates"]["enabled"] is False
    assert repos["hbdemo-updates"]["baseurl"] == [
        "https://repo.example.org/updates/$releasever/$basearch/"
    ]
    assert "s3cret" not in json.dumps(doc)


def test_rpm_helpers() -> None:
    assert packages_rpm.nevra_name("kernel-core-0:6.5.6-300.fc39.x86_64") == "kernel-core"
    versions, keys = packages_rpm.parse_rpm(
        "kernel-core\t(none)\t6.5.6\t300.fc39\tx86_64\n"
        "kernel-core\t(none)\t6.4.1\t200.fc39\tx86_64\n"
        "gpg-pubkey\t(none)\t18b8e74c\t62f2920f\t(none)\n"
    )
    assert versions == {"kernel-core": "6.4.1-200.fc39.x86_64 6.5.6-300.fc39.x86_64"}
    assert keys == ["18b8e74c-62f2920f"]


def test_rpm_without_database_is_skipped_quietly() -> None:
    # Debian's rpm answers -qa with nothing: not an rpm host.
    doc, ctx = run_probe(packages_rpm, replay("packages-apt"))
    assert "rpm" not in doc and ctx.incomplete == {}


# --- pacman -----------------------------------------------------------------


def test_pacman_replay_explicit_dependency_foreign() -> None:
    doc, ctx = run_probe(packages_pacman, replay("packages-pacman"))
    pacman = doc["pacman"]
    assert ctx.incomplete == {}
    assert pacman["manual"] == ["hbdemo-aur", "hbdemo-base", "hbdemo-extra"]
    assert pacman["auto"] == ["hbdemo-lib"]
    assert pacman["foreign"] == ["hbdemo-aur"]
    assert pacman["versions"]["hbdemo-lib"] == "3.4.1-2"
    assert pacman["repositories"] == ["hbcore"]


# --- pip / pipx ---------------------------------------------------------------


def test_pip_replay_requested_vs_dependency() -> None:
    data = json.loads((FIXTURES / "packages-pip" / "recording.json").read_text())
    interpreter = data["commands"][0]["argv"][0]
    ctx = ProbeContext(runner=replay("packages-pip"), config=CONFIG, section="packages")
    doc: dict[str, Any] = {}
    packages_pip.collect_interpreter(ctx, doc, interpreter)
    pip = doc["pip"]
    assert {"hbdemo-app", "hbdemo-tools"} <= set(pip["manual"])
    assert pip["auto"] == ["hbdemo-lib"]
    assert pip["versions"]["hbdemo-tools"] == "0.5.1"  # Hbdemo_Tools, normalized


def _load_wheel_maker() -> ModuleType:
    path = FIXTURES / "packages-tools" / "make_wheel.py"
    spec = importlib.util.spec_from_file_location("make_wheel", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pip_live_in_a_virtualenv(tmp_path: Path) -> None:
    maker = _load_wheel_maker()
    wheels = tmp_path / "wheels"
    maker.make_wheel(wheels, "hbdemo-lib", "2.1.0", [])
    maker.make_wheel(wheels, "hbdemo-app", "1.0.0", ["hbdemo-lib>=2"])
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
         "--disable-pip-version-check", "--no-index", "--find-links", str(wheels), "hbdemo-app"],
        check=True,
    )
    ctx = ProbeContext(runner=LiveRunner(), config=CONFIG, section="packages")
    doc: dict[str, Any] = {}
    packages_pip.collect_interpreter(ctx, doc, str(python))
    assert doc["pip"] == {
        "interpreter": str(python),
        "manual": ["hbdemo-app"],
        "auto": ["hbdemo-lib"],
        "versions": {"hbdemo-app": "1.0.0", "hbdemo-lib": "2.1.0"},
    }


def test_pipx_replay() -> None:
    doc, ctx = run_probe(packages_pipx, replay("packages-pipx"))
    assert ctx.incomplete == {}
    apps = {a["name"]: a for a in doc["pipx"]["apps"]}
    assert apps["hbdemo-cli"]["version"] == "1.4.2"
    assert apps["hbdemo-cli"]["injected"] == {"hbdemo-plugin": "0.3.0"}
    assert "spec" not in apps["hbdemo-cli"]
    assert apps["hbdemo-report-old"]["spec"].endswith("hbdemo_report-5.0.0-py3-none-any.whl")


# --- flatpak / snap -----------------------------------------------------------


def test_flatpak_replay_apps_per_installation_and_branch() -> None:
    doc, ctx = run_probe(packages_flatpak, replay("packages-flatpak"))
    assert ctx.incomplete == {}
    apps = doc["flatpak"]["apps"]
    assert [a["id"] for a in apps] == [
        "system/org.hostbook.Viewer/x86_64/stable",
        "user/org.hostbook.Notes/x86_64/beta",
        "user/org.hostbook.Notes/x86_64/stable",
    ]
    assert apps[0]["origin"] == "hbrepo" and apps[0]["installation"] == "system"


def test_snap_replay_channel_revision_confinement() -> None:
    doc, ctx = run_probe(packages_snap, replay("packages-snap"))
    assert ctx.incomplete == {}
    snaps = {s["name"]: s for s in doc["snap"]["snaps"]}
    assert snaps["alacritty"] == {
        "name": "alacritty", "channel": "latest/stable", "revision": "46",
        "version": "0.8.0", "confinement": "classic",
    }
    assert snaps["chromium"]["confinement"] == "strict"
    assert snaps["blender"]["revision"] == "3486"


def test_absent_managers_are_skipped_quietly() -> None:
    # The snap recording knows nothing else: every other tool reads as missing.
    for module in (packages_apt, packages_pacman, packages_pipx, packages_flatpak):
        doc, ctx = run_probe(module, replay("packages-snap"))
        assert set(doc) == {"schema"} and ctx.incomplete == {}


# --- the section as a whole ----------------------------------------------------


def test_whole_section_validates_and_an_upgrade_is_a_small_diff() -> None:
    collected = collect_sections(replay("packages-apt"), CONFIG, ["packages"])
    before = collected.documents["packages"]
    assert "incomplete" not in before
    after = json.loads(json.dumps(before))
    name = after["apt"]["auto"][0]
    after["apt"]["versions"][name] += "+deb12u1"
    diff = diff_sections("packages", before, after)
    assert [c.describe() for c in diff.changes] == [f"apt.versions.{name} changed"]
    after["apt"]["manual"].append("zzz-new-tool")
    after["apt"]["versions"]["zzz-new-tool"] = "1.0"
    diff = diff_sections("packages", before, after)
    assert sorted(c.describe() for c in diff.changes) == sorted(
        [f"apt.versions.{name} changed", "+manual zzz-new-tool", "+apt.versions.zzz-new-tool"]
    )
