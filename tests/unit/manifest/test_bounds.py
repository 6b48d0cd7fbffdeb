"""Hostile or broken manifest files are refused at FILE:LINE:COL, cheaply, before use.

The documents changed here are real ones (tests/fixtures/adversarial/base:
the lab server's storage.yaml replayed from its recording, the debian12
system.yaml, the server's restore.yaml, examples/jobs/server.yaml).  Each
test changes one thing in such a file and runs the code that reads it: the
loader, the schema, or the command line as a separate process.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hostbook.manifest.bounds import MAX_DOCUMENT_BYTES, MAX_NODES
from hostbook.manifest.errors import ManifestError, RuntimeFailure
from hostbook.manifest.merge import to_plain
from hostbook.manifest.validate import validate_document
from hostbook.manifest.yamlio import dump_text, parse_text, read_document
from tests.paths import EXAMPLES, FIXTURES

BASE = FIXTURES / "adversarial" / "base"
JOBS = EXAMPLES / "jobs" / "server.yaml"
POSITION = re.compile(r"^(?P<file>/[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$")
MIB = 1 << 20


def base(name: str) -> str:
    return (BASE / name).read_text(encoding="utf-8")


def errors(text: str, name: str = "f.yaml") -> list[str]:
    """The errors loading and validating ``text`` gives (it must give some)."""
    with pytest.raises(ManifestError) as info:
        validate_document(parse_text(text, name), name)
    return info.value.errors


def after_schema(text: str, extra: str) -> str:
    lines = text.split("\n")
    index = next(i for i, line in enumerate(lines) if line.startswith("schema:"))
    return "\n".join([*lines[: index + 1], extra.rstrip("\n"), *lines[index + 1:]])


def hostbook(*argv: str, limit_memory: int = 1 << 30) -> tuple[int, str, str, float, int]:
    """Run the hostbook CLI as a process: (code, stdout, stderr, seconds, peak RSS bytes).

    The address-space limit keeps a regression from taking the machine's
    memory; the peak is the process's own ru_maxrss, read with wait4.
    """
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_memory, limit_memory))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "hostbook", *argv], stdout=out,
                                stderr=err, preexec_fn=limit)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (proc.returncode, out.read().decode(errors="replace"),
                err.read().decode(errors="replace"), seconds, usage.ru_maxrss * 1024)


def host_repo(tmp_path: Path, **files: str | bytes) -> Path:
    """A manifest repository with host ``h`` holding ``files`` (section name -> content)."""
    repo = tmp_path / "repo"
    host = repo / "hosts" / "h"
    host.mkdir(parents=True)
    (repo / ".git").mkdir()
    for section, content in files.items():
        path = host / f"{section}.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return repo


def positioned(stderr: str, path: Path) -> list[tuple[int, int, str]]:
    """(line, column, message) of every stderr line; each must name ``path``."""
    found = []
    lines = stderr.splitlines()
    assert lines, "no error printed"
    for line in lines:
        match = POSITION.match(line)
        assert match, f"not FILE:LINE:COL: {line!r}"
        assert match["file"] == str(path), line
        found.append((int(match["line"]), int(match["col"]), match["message"]))
    return found


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.split("\n"), 1) if needle in line)


# ---------------------------------------------------------------------------
# Item 3: aliases, size, nesting, integers
# ---------------------------------------------------------------------------


def test_alias_bomb_is_refused_in_seconds_and_megabytes(tmp_path: Path) -> None:
    """The issue's bomb: one 1 MiB anchor referenced 2,000 times (2.1 GB before)."""
    bomb = after_schema(base("storage-server.yaml"),
                        f"zz: &a '{'x' * MIB}'\nzy:\n" + "  - *a\n" * 2000)
    repo = host_repo(tmp_path, storage=bomb)
    for argv in (["show", "h", "--json"], ["restore", "plan", "h"]):
        code, out, err, seconds, peak = hostbook(*argv, "--repo", str(repo))
        assert code == 2, err[-500:]
        ((line, _col, message),) = positioned(err, repo / "hosts" / "h" / "storage.yaml")
        assert "more than 2 MiB of text" in message
        assert line == line_of(bomb, "zy:") + 1  # the first alias: 2 MiB with the anchor
        assert out == ""
        assert seconds < 5 and peak < 200 * MIB, (seconds, peak)


def test_nested_aliases_are_counted_as_expanded() -> None:
    laughs = "lol0: &l0 [a, b, c, d, e, f, g, h, i, j]\n" + "".join(
        f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9))
    started = time.perf_counter()
    (message,) = errors(after_schema(base("system.yaml"), laughs))
    assert time.perf_counter() - started < 1
    assert f"more than {MAX_NODES:,} values" in message
    assert message.startswith("f.yaml:6:17: ")  # lol4's third alias: past 30,000 values


def test_recursive_and_redefined_anchors_are_refused() -> None:
    (message,) = errors(after_schema(base("system.yaml"), "zz: &r {a: [*r]}"))
    assert message == ("f.yaml:2:13: alias *r refers to a node that contains it "
                       "(a recursive document)")
    (message,) = errors(after_schema(base("system.yaml"), "za: &d 1\nzb: &d 2"))
    assert message == "f.yaml:3:5: anchor &d is defined again (first at line 2)"


def test_an_alias_of_a_small_anchor_still_loads() -> None:
    """Aliases as people use them (one archive setting shared by two jobs) are fine."""
    text = base("system.yaml").replace("os:", "os: &os", 1) + "zz: *os\n"
    with pytest.raises(ManifestError) as info:
        validate_document(parse_text(text, "f.yaml"), "f.yaml")
    assert info.value.errors == ["f.yaml:13:1: unknown key 'zz' (at zz)"]


@pytest.mark.parametrize("nesting", ["[" * 5000 + "]" * 5000, "{a: " * 5000 + "1" + "}" * 5000,
                                     "[{a: " * 2500 + "1" + "}]" * 2500])
def test_deep_nesting_is_an_error_not_a_recursion_error(nesting: str) -> None:
    (message,) = errors(after_schema(base("system.yaml"), f"zz: {nesting}"))
    assert re.fullmatch(r"f\.yaml:2:\d+: nested more than 32 levels deep", message), message


@pytest.mark.parametrize("number", ["9" * 5000, "1" * 21, "-" + "9" * 30, "0x" + "f" * 17,
                                    str(2**64), str(-(2**63) - 1)])
def test_integers_beyond_64_bits_are_refused_where_written(number: str) -> None:
    text = base("storage-server.yaml").replace("size: 3221225472", f"size: {number}", 1)
    (message,) = errors(text)
    assert message == f"f.yaml:{line_of(text, number)}:11: integer too large (at most 64 bits)"


def test_the_largest_64_bit_integers_still_load() -> None:
    for number in (2**64 - 1, -(2**63)):
        data = parse_text(f"a: {number}\n", "f.yaml")
        assert data["a"] == number


@pytest.mark.parametrize(("value", "phrase"), [
    ("!!int junk", "cannot read this value: invalid literal"),
    ("2024-13-45", "cannot read this value: month must be in 1..12"),
    ("!!binary 'AAAA'", "tag tag:yaml.org,2002:binary is not used"),
    ("!!python/object/apply:os.system [true]", "is not used in manifest files"),
    ('"a\\0b"', "a NUL character cannot be passed"),
])
def test_values_the_loader_cannot_build_are_errors_at_the_value(value: str, phrase: str) -> None:
    (message,) = errors(after_schema(base("system.yaml"), f"hostname2: {value}"))
    assert message.startswith("f.yaml:2:12: ") and phrase in message, message


def test_size_limit_is_checked_before_reading_the_whole_file(tmp_path: Path) -> None:
    big = tmp_path / "storage.yaml"
    big.write_text(base("storage-server.yaml") + "#" * MAX_DOCUMENT_BYTES, encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        read_document(big)
    assert info.value.errors == [
        f"{big}:1:1: larger than 2 MiB, the most a manifest file may be"]


def test_too_many_values_are_refused_at_the_first_one_past_the_limit() -> None:
    text = "schema: hostbook/system/v1\nzz:\n" + "  - a\n" * (MAX_NODES + 10)
    (message,) = errors(text)
    # The mapping, schema and its value, zz and its list: 5 values before the items.
    assert message.startswith(f"f.yaml:{2 + MAX_NODES - 5 + 1}:5: more than 30,000 values")


def test_bad_bytes_and_characters_are_placed(tmp_path: Path) -> None:
    path = tmp_path / "system.yaml"
    text = base("system.yaml")
    path.write_bytes(text.encode()[:40] + b"\xff" + text.encode()[40:])
    with pytest.raises(ManifestError) as info:
        read_document(path)
    (message,) = info.value.errors
    assert message.startswith(f"{path}:3:") and "not UTF-8 text (byte 0xff" in message
    (message,) = errors(after_schema(text, "zz: a\x07b"))
    assert message == ("f.yaml:2:6: character #x0007 is not allowed in YAML (control "
                       "characters must be written as escapes in double quotes)")


def test_an_empty_section_file_is_an_error_not_a_missing_one(tmp_path: Path) -> None:
    repo = host_repo(tmp_path, system=base("system.yaml"), packages="")
    code, out, err, _, _ = hostbook("show", "h", "--repo", str(repo))
    assert code == 2 and out == ""
    ((line, col, message),) = positioned(err, repo / "hosts" / "h" / "packages.yaml")
    assert (line, col) == (1, 1) and "the file is empty or null" in message
    for content in ("\n  \n", "# only a comment\n", "~\n", "---\n...\n"):
        (tmp_path / "x.yaml").write_text(content)
        with pytest.raises(ManifestError, match=r"x\.yaml:1:1: the file is empty or null"):
            read_document(tmp_path / "x.yaml")


def test_a_directory_or_fifo_in_place_of_a_file_is_bad_input(tmp_path: Path) -> None:
    repo = host_repo(tmp_path, system=base("system.yaml"))
    (repo / "hosts" / "h" / "storage.yaml").mkdir()
    os.mkfifo(repo / "hosts" / "h" / "packages.yaml")  # nobody writes: reading it would wait
    done = subprocess.run([sys.executable, "-m", "hostbook", "show", "h", "--repo", str(repo)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr == f"{repo}/hosts/h/storage.yaml: is a directory, not a YAML file\n"
    (repo / "hosts" / "h" / "storage.yaml").rmdir()
    done = subprocess.run([sys.executable, "-m", "hostbook", "show", "h", "--repo", str(repo)],
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stderr) == (
        2, f"{repo}/hosts/h/packages.yaml: is not a regular file\n")


def test_a_document_past_the_limits_is_never_written() -> None:
    with pytest.raises(RuntimeFailure, match=r"has 30,005 values .* nothing was written"):
        dump_text({"schema": "hostbook/packages/v1", "x": ["a"] * MAX_NODES})


def test_long_keys_and_values_give_short_error_lines() -> None:
    text = after_schema(base("system.yaml"), f"{'k' * 1000}: 1")
    (message,) = errors(text)
    assert len(message) <= 260 and message.startswith("f.yaml:2:1: unknown key 'kkk")


def _parsed(text: str, bounded: bool) -> object:
    from ruamel.yaml import YAML

    from hostbook.manifest.yamlio import make_yaml

    yaml = make_yaml() if bounded else YAML(typ="rt")
    return to_plain(yaml.load(text))


def test_real_manifests_load_as_before() -> None:
    """Every real manifest loads within the limits, to what an unbounded parser reads.

    (What the limits cost in time is a matter for a benchmark, not a test.)
    """
    files = [*sorted(BASE.glob("*.yaml")), JOBS, *sorted(EXAMPLES.glob("*/*.yaml"))]
    for path in files:
        text = path.read_text(encoding="utf-8")
        data = read_document(path)
        assert to_plain(data)["schema"].startswith("hostbook/")
        if path.parent == BASE or path == JOBS:
            validate_document(data, str(path))
        assert _parsed(text, bounded=True) == _parsed(text, bounded=False), path


# ---------------------------------------------------------------------------
# Item 5: names matched whole; unsafe names and heredoc markers at FILE:LINE:COL
# ---------------------------------------------------------------------------


def jobs_errors(old: str, new: str) -> list[str]:
    text = JOBS.read_text(encoding="utf-8")
    assert old in text
    return errors(text.replace(old, new, 1), "jobs.yaml")


@pytest.mark.parametrize(("old", "new", "where"), [
    ("- name: home", '- name: "home\\n"', "jobs.0.name"),
    ("{lv: vg0/home}", '{lv: "vg0/home\\n"}', "jobs.0.volume"),
    ("{lv: vg0/home}", "{lv: ../etc}", "jobs.0.volume"),
    ("{dataset: tank/srv}", '{dataset: "tank/srv\\n"}', "jobs.1.volume"),
    ("prefix: hostbook,", 'prefix: "hostbook\\n",', "jobs.1.snapshot.zfs"),
    ("type: daily, prefix", 'type: "daily\\n", prefix', "jobs.1.snapshot.zfs"),
    ("schema: hostbook/jobs/v1", 'schema: "hostbook/jobs/v1\\n"', ""),
])
def test_a_trailing_newline_or_path_trick_is_not_a_name(old: str, new: str, where: str) -> None:
    found = jobs_errors(old, new)
    assert found, "accepted"
    assert all(e.startswith("jobs.yaml:") for e in found)
    assert any(where in e for e in found), found


def test_a_job_name_error_points_at_the_name() -> None:
    (message,) = jobs_errors("- name: home", '- name: "home\\n"')
    assert message.startswith(f"jobs.yaml:{line_of(JOBS.read_text(), '- name: home')}:5: ")


def storage_with(old: str, new: str) -> str:
    text = base("storage-server.yaml")
    assert old in text
    return text.replace(old, new, 1)


def plan_refusal(tmp_path: Path, storage: str, restore: str | None = None,
                 bad: str = "storage") -> list[tuple[int, int, str]]:
    """The errors loading host h for a restore gives (what ``restore plan`` prints
    before it looks at any disk), each placed in the ``bad`` file."""
    from hostbook.restore.session import load_host

    files = {"storage": storage} | ({"restore": restore} if restore is not None else {})
    repo = host_repo(tmp_path, **files)
    with pytest.raises(ManifestError) as info:
        load_host(repo, "h")
    return positioned("\n".join(info.value.errors), repo / "hosts" / "h" / f"{bad}.yaml")


def test_a_gpt_name_with_a_heredoc_marker_line_is_refused_at_its_line(tmp_path: Path) -> None:
    """``restore plan --script``: exit 2 at the label's line; no script, no traceback."""
    label = "x\\nHOSTBOOK_EOF\\nreboot\\nHOSTBOOK_EOF"
    text = storage_with("label: bios", f'label: "{label}"')
    repo = host_repo(tmp_path, storage=text, restore=base("restore.yaml"))
    script = tmp_path / "restore.sh"
    code, out, err, _, _ = hostbook("restore", "plan", "h", "--repo", str(repo),
                                    "--script", str(script))
    assert code == 2 and out == "" and not script.exists()
    ((line, col, message),) = positioned(err, repo / "hosts" / "h" / "storage.yaml")
    assert (line, col) == (line_of(text, "HOSTBOOK_EOF"), 5)
    assert message.endswith("a GPT partition name cannot hold control characters or line breaks")


@pytest.mark.parametrize(("old", "new", "field"), [
    ("name: servervg\n", "name: server/vg\n", "vg.name"),
    ("name: servervg\n", 'name: "servervg\\n"\n', "vg.name"),
    ("lv_name: data\n", 'lv_name: "../data"\n', "lv.lv_name"),
    ("name: servervg/data\n", "name: servervg/../data\n", "lv.name"),
    ("array_name: hostbook-lab:server-boot", "array_name: hostbook-lab:../boot", "md.array_name"),
    ("name: md/server-boot", "name: md/../../boot", "md.name"),
    ("partition_type: 21686148-6449-6E6F-744E-656564454649",
     'partition_type: "21686148-6449-6E6F-744E-656564454649\\nstart=0"',
     "partition.partition_type"),
    ("id: 49683BB8-A992-EA48-B1BA-05CD9FF151DC", 'id: "49683BB8\\nlabel: dos"', "table"),
])
def test_unsafe_names_in_storage_are_refused_at_their_line(tmp_path: Path, old: str, new: str,
                                                           field: str) -> None:
    text = storage_with(old, new)
    found = plan_refusal(tmp_path, text)
    assert any(field in message for _, _, message in found), found
    changed = line_of(text, new.split("\n")[0].strip())
    assert changed in [line for line, _, _ in found], (changed, found)


def test_a_gpt_name_equal_to_the_heredoc_marker_stays_inside_the_heredoc() -> None:
    """Only a whole line ends a heredoc; the schema keeps line breaks out of names."""
    from hostbook.manifest.sections.storage import PartitionEntry, StorageDocument
    from hostbook.restore.plan.planner import PlanInput, make_plan
    from hostbook.restore.plan.script import render_script
    from hostbook.restore.target.diskmap import DiskIdentity, MapEntry

    text = storage_with("label: bios", "label: HOSTBOOK_EOF")
    doc = validate_document(parse_text(text, "storage.yaml"), "storage.yaml")
    assert isinstance(doc, StorageDocument)
    mapping = [MapEntry(DiskIdentity(d.id, d.name, d.size), DiskIdentity(n, n, d.size), "given")
               for d, n in zip([e for e in doc.entries if e.type == "disk"], ("sdx", "sdy"),
                               strict=True)]
    from hostbook.manifest.sections.restore import RestoreDocument

    plan = make_plan(PlanInput(host="h", storage=doc, policy=RestoreDocument.model_validate(
        {"schema": "hostbook/restore/v1"}), mapping=mapping, target_root="/mnt/t"))
    script = render_script(plan)
    table = next(c.stdin for s in plan.steps for c in s.commands if c.stdin)
    assert 'name="HOSTBOOK_EOF"' in table
    body = script.split("<<'HOSTBOOK_EOF'", 1)[1].split("\n", 1)[1]
    assert body.split("\nHOSTBOOK_EOF\n", 1)[0] + "\n" == table
    assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
    labels = [e.label for e in doc.entries if isinstance(e, PartitionEntry)]
    assert "HOSTBOOK_EOF" in labels


# ---------------------------------------------------------------------------
# Item 6: values the restore computes with, references across entries and files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "phrase"), [
    ("size: 3221225472", "size: 0", "size: Input should be greater than 0"),
    ("size: 3221225472", "size: -3221225472", "size: Input should be greater than 0"),
    ("logical_sector_size: 512", "logical_sector_size: 0", "a sector size is a power of two"),
    ("logical_sector_size: 512", "logical_sector_size: 3", "a sector size is a power of two"),
    ("sector_size: 512", "sector_size: 3", "a sector size is a power of two"),
    ("start: 1048576", "start: -1048576", "start: Input should be greater than or equal to 0"),
    ("number: 1", "number: 0", "number: Input should be greater than or equal to 1"),
    ("extent_size: 4194304", "extent_size: 0", "extent_size: Input should be greater than 0"),
    ("disk: disk:virtio-server0\n", "disk: disk:virtio-gone\n",
     "'disk:virtio-gone' names no entry of this file"),
    ("      - pv:8a7l1i", "      - md:nothing\n      - pv:8a7l1i",
     "'md:nothing' names no entry of this file"),
])
def test_values_and_references_storage_yaml_cannot_hold(tmp_path: Path, old: str, new: str,
                                                        phrase: str) -> None:
    text = storage_with(old, new)
    found = plan_refusal(tmp_path, text)
    assert any(phrase in message for _, _, message in found), found


def test_a_dangling_reference_is_tolerated_where_the_capture_says_it_was_incomplete() -> None:
    text = storage_with("disk: disk:virtio-server0\n", "disk: disk:virtio-gone\n")
    assert errors(text)
    partial = text.replace("incomplete: []", "incomplete:\n  - part: table vdb\n"
                           "    reason: 'sfdisk: not installed'", 1)
    assert validate_document(parse_text(partial, "s.yaml"), "s.yaml").incomplete


@pytest.mark.parametrize(("old", "new", "phrase"), [
    ("grow: 3", "grow: 999", "disk:virtio-server0 grow: 999: no such partition (partitions: "
                             "1, 2, 3)"),
    ("grow: 3", "grow: -1", "grow.constrained-int: Input should be greater than or equal to 1"),
    ("grow: 3", "grow: true", "grow.constrained-int: Input should be a valid integer"),
    ("id: disk:virtio-server0", "id: disk:virtio-nothing",
     "'disk:virtio-nothing' names no disk of storage.yaml (recorded: disk:virtio-server0 "
     "(vdb), disk:virtio-server1 (vdc))"),
    ("id: vdc", "id: vdb", "'vdb': disk:virtio-server0 already has a rule (disks item 0)"),
    ("id: lv:servervg/var", "id: lv:servervg/nothing",
     "'lv:servervg/nothing' names no LV of storage.yaml"),
    ("md_resync: false", "md_resync: 0", "md_resync: Input should be a valid boolean"),
])
def test_restore_yaml_is_checked_against_storage_yaml(tmp_path: Path, old: str, new: str,
                                                      phrase: str) -> None:
    policy = base("restore.yaml")
    assert old in policy
    policy = policy.replace(old, new, 1)
    found = plan_refusal(tmp_path, base("storage-server.yaml"), policy, bad="restore")
    assert any(message.endswith(phrase) for _, _, message in found), found
    assert line_of(policy, new) in [line for line, _, _ in found]


@pytest.mark.parametrize(("old", "new", "field"), [
    ("exclude: [.cache]", "exclude: [.cache]\n      keep: true", "sure.keep"),
    ("keep: 10", "keep: true", "keep"),
    ("keep: 10", "keep: '10'", "keep"),
    ("init: true", "init: 'yes'", "init"),
    ("log_lines: 40", "log_lines: .inf", "log_lines"),
])
def test_booleans_are_not_numbers_and_strings_are_not_either(old: str, new: str,
                                                             field: str) -> None:
    (message,) = jobs_errors(old, new)
    assert field in message and "Input should be a valid" in message, message


def test_the_example_and_base_documents_are_valid(tmp_path: Path) -> None:
    from hostbook.restore.session import load_host

    repo = host_repo(tmp_path, storage=base("storage-server.yaml"),
                     restore=base("restore.yaml"))
    documents = load_host(repo, "h")
    assert [d.grow for d in documents.policy.disks] == [3, "last"]
    for name in ("system.yaml", "packages.yaml", "checkouts.yaml"):
        validate_document(parse_text(base(name), name), name)
    validate_document(read_document(JOBS), str(JOBS))
