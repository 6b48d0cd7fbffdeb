"""The import graph follows the layers, and the command line holds no logic.

``manifest <- process <- capture, jobs <- restore, review, fleet <- serve <- hostbook (CLI)``:
a layer imports only itself and the layers to its left, so the model never depends on
how a host is read, capture and jobs never on each other, and nothing in the
library on the command line.  Every module's imports are read from its syntax
tree, those inside functions included (a lazy import is still a dependency),
and so are ``importlib.import_module`` calls with a constant name.

Two more rules keep the layers honest: only ``process/`` starts a program (no
``subprocess``, ``Popen``, ``os.system`` or ``os.popen`` anywhere else in the
product), and the command modules (hostbook/cli.py, hostbook/commands/) only
parse options, call one library function and print: no file or process calls,
no standard modules beyond a short list, no process internals or private
names, and small function bodies.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

LIBRARY_LAYERS = ("manifest", "process", "capture", "jobs", "restore", "review", "fleet",
                  "serve", "templates")
"""Top-level folders installed as ``hostbook.<folder>``."""
CLI = "hostbook"
"""The command line: hostbook/ (``hostbook``, ``hostbook.cli``, ``hostbook.commands``)."""
ALLOWED: dict[str, frozenset[str]] = {
    "manifest": frozenset({"manifest"}),
    "process": frozenset({"manifest", "process"}),
    "capture": frozenset({"manifest", "process", "capture"}),
    "jobs": frozenset({"manifest", "process", "jobs"}),
    "restore": frozenset({"manifest", "process", "capture", "jobs", "restore", "templates"}),
    "review": frozenset({"manifest", "process", "jobs", "review", "templates"}),
    "fleet": frozenset({"manifest", "process", "jobs", "fleet", "templates"}),
    "serve": frozenset({"manifest", "process", "jobs", "review", "serve", "templates"}),
    "templates": frozenset(),
    CLI: frozenset({*LIBRARY_LAYERS, CLI}),
}
"""What each layer may import of ours."""

CLI_STDLIB = frozenset(
    {"__future__", "collections", "datetime", "functools", "importlib", "json", "pathlib", "sys",
     "time", "typing", "click"}
)
"""Everything else the command modules may import: options, JSON, exit codes and
loading a command's module when it runs.  A command that needs ``os``, ``re``,
``shutil`` or ``subprocess`` is doing library work."""
CLI_PROCESS_MODULES = frozenset({"hostbook.process.runner"})
"""The CLI may make a LiveRunner to hand to the library; nothing else of process/."""
CLI_FILE_CALLS = frozenset(
    {"read_text", "write_text", "read_bytes", "write_bytes", "mkdir", "unlink",
     "rmdir", "rename", "touch", "iterdir", "glob", "rglob", "chmod", "chown", "symlink_to"}
)
"""Methods that read or change files (and the builtin ``open``): the library does
those, behind its checks."""
CLI_MAX_STATEMENTS = 40
"""Statements in one function of a command module (the largest, ``restore apply``,
has 38: confirm, apply, print)."""
SPAWNING_NAMES = frozenset({"Popen", "system", "popen", "spawnl", "spawnv", "spawnvp",
                            "execv", "execvp", "execve", "posix_spawn", "posix_spawnp"})
"""``subprocess.Popen`` and the ``os`` functions that start a program."""


@dataclass(frozen=True)
class Import:
    """One import statement (or ``import_module`` call) in one module."""

    path: str
    line: int
    module: str
    """The absolute module name imported (``hostbook.manifest.store``)."""
    names: tuple[str, ...] = ()
    """The names taken from it by ``from module import a, b``."""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.module}"


def module_name(relative: Path) -> str:
    """The import name of a source file under the repository root."""
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] != CLI:
        parts.insert(0, CLI)
    return ".".join(parts)


def imports_of(source: str, path: str, module: str) -> list[Import]:
    """Every import in `source`, at any depth, relative ones made absolute."""
    found: list[Import] = []
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = tuple(alias.name for alias in node.names)
            found.append(Import(path, node.lineno, base, names))
        elif (
            isinstance(node, ast.Call)
            and _called_name(node) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(path, node.lineno, node.args[0].value))
    return sorted(found, key=lambda item: item.line)


def _called_name(call: ast.Call) -> str | None:
    """``f`` for ``f(...)`` and ``a.b.f(...)``."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def layer_of(module: str) -> str | None:
    """The layer a module of ours belongs to; None for third-party and stdlib."""
    parts = module.split(".")
    if parts[0] != CLI:
        return None
    if len(parts) > 1 and parts[1] in LIBRARY_LAYERS:
        return parts[1]
    return CLI


def layer_violations(imports: list[Import], layer: str) -> list[str]:
    """The imports a module of `layer` may not make."""
    bad = []
    for item in imports:
        target = layer_of(item.module)
        if target is not None and target not in ALLOWED[layer]:
            bad.append(f"{item} ({layer} may import only {sorted(ALLOWED[layer])})")
    return bad


def spawn_violations(source: str, path: str) -> list[str]:
    """Places that start a program without the process layer."""
    bad = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""]
            if any(m.split(".")[0] == "subprocess" for m in modules):
                bad.append(f"{path}:{node.lineno}: imports subprocess")
            if isinstance(node, ast.ImportFrom) and node.module == "os" and any(
                    a.name in SPAWNING_NAMES for a in node.names):
                bad.append(f"{path}:{node.lineno}: imports a spawning os function")
        elif isinstance(node, ast.Attribute) and node.attr in SPAWNING_NAMES and (
            node.attr == "Popen"
            or (isinstance(node.value, ast.Name) and node.value.id == "os")
        ):
            bad.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Name) and node.id == "Popen":
            bad.append(f"{path}:{node.lineno}: Popen")
    return sorted(bad, key=_line_number)


def cli_violations(source: str, path: str, module: str) -> list[str]:
    """What makes a command module more than wiring."""
    bad = []
    for item in imports_of(source, path, module):
        top = item.module.split(".")[0]
        if layer_of(item.module) is None and top not in CLI_STDLIB:
            bad.append(f"{item}: not needed to parse options and print")
        if item.module.startswith("hostbook.process.") and item.module not in CLI_PROCESS_MODULES:
            bad.append(f"{item}: a process internal")
        if layer_of(item.module) not in (None, CLI) and any(n.startswith("_") for n in item.names):
            bad.append(f"{item}: takes a private name {[n for n in item.names if n[0] == '_']}")
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Call) and (
            _called_name(node) in CLI_FILE_CALLS
            or (isinstance(node.func, ast.Name) and node.func.id == "open")
        ):
            bad.append(f"{path}:{node.lineno}: {ast.unparse(node.func)}(): file I/O")
        elif isinstance(node, ast.While):
            bad.append(f"{path}:{node.lineno}: a while loop (waiting or retrying is library work)")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            statements = sum(isinstance(n, ast.stmt) for n in ast.walk(node)) - 1
            if statements > CLI_MAX_STATEMENTS:
                bad.append(f"{path}:{node.lineno}: {node.name} has {statements} statements "
                           f"(at most {CLI_MAX_STATEMENTS})")
    return sorted(bad, key=_line_number)


def _line_number(message: str) -> int:
    """The LINE of a ``PATH:LINE: ...`` message."""
    return int(message.split(":", 2)[1])


def product_modules() -> list[tuple[str, str, str, str]]:
    """(layer, path, module name, source) of every product source file."""
    found = []
    for layer in (*LIBRARY_LAYERS, CLI):
        for file in sorted((REPO_ROOT / layer).rglob("*.py")):
            relative = file.relative_to(REPO_ROOT)
            found.append((layer, str(relative), module_name(relative), file.read_text()))
    return found


MODULES = product_modules()
CLI_MODULES = [m for m in MODULES if m[0] == CLI]


def test_every_layer_and_the_cli_are_read() -> None:
    layers = {layer for layer, *_ in MODULES}
    assert layers == {*LIBRARY_LAYERS, CLI}
    assert len(MODULES) > 150
    names = {name for _, _, name, _ in MODULES}
    assert {"hostbook.cli", "hostbook.commands.capture", "hostbook.manifest.store",
            "hostbook.process.spawn", "hostbook.restore.session"} <= names


@pytest.mark.parametrize("layer", [*LIBRARY_LAYERS, CLI])
def test_each_layer_imports_only_itself_and_the_layers_to_its_left(layer: str) -> None:
    bad = [
        line
        for own, path, name, source in MODULES
        if own == layer
        for line in layer_violations(imports_of(source, path, name), layer)
    ]
    assert bad == []


def test_only_the_process_layer_starts_programs() -> None:
    bad = [
        line
        for layer, path, _, source in MODULES
        if layer != "process"
        for line in spawn_violations(source, path)
    ]
    assert bad == []
    spawn = next(source for _, path, _, source in MODULES if path == "process/spawn.py")
    assert spawn_violations(spawn, "process/spawn.py")  # the rule sees the real thing


@pytest.mark.parametrize("path", [path for _, path, _, _ in CLI_MODULES])
def test_the_command_line_holds_no_logic(path: str) -> None:
    _, _, name, source = next(m for m in CLI_MODULES if m[1] == path)
    assert cli_violations(source, path, name) == []


# The rules themselves, on modules with a planted fault: each must be caught.

PLANTED_LAZY = '''\
def recapture(runner):
    from hostbook.restore.session import prepare  # capture may not reach restore
    return prepare
'''


def test_a_planted_import_inside_a_function_is_caught() -> None:
    found = imports_of(PLANTED_LAZY, "capture/probes/storage/md.py",
                       "hostbook.capture.probes.storage.md")
    assert layer_violations(found, "capture") == [
        "capture/probes/storage/md.py:2: imports hostbook.restore.session "
        "(capture may import only ['capture', 'manifest', 'process'])"
    ]


def test_planted_relative_and_dynamic_imports_are_caught() -> None:
    source = ("from ..restore import session\n"
              "import importlib\n"
              "m = importlib.import_module('hostbook.jobs.run.orchestrator')\n"
              "from hostbook.commands.common import resolve_repo\n")
    found = imports_of(source, "manifest/store.py", "hostbook.manifest.store")
    assert [i.module for i in found] == [
        "hostbook.restore", "importlib", "hostbook.jobs.run.orchestrator",
        "hostbook.commands.common"]
    assert len(layer_violations(found, "manifest")) == 3
    assert len(layer_violations(found, "jobs")) == 2  # restore and the CLI, not jobs
    assert layer_violations(
        imports_of("from hostbook.capture.probe import Probe\n", "jobs/x.py", "hostbook.jobs.x"),
        "jobs")  # capture and jobs sit side by side


def test_planted_program_starts_are_caught() -> None:
    source = ("import os\nimport subprocess as sp\nfrom subprocess import run\n"
              "os.system('ls')\nos.popen('ls')\nsp.Popen(['ls'])\n")
    assert [line.split(": ", 1)[0] for line in spawn_violations(source, "jobs/x.py")] == [
        "jobs/x.py:2", "jobs/x.py:3", "jobs/x.py:4", "jobs/x.py:5", "jobs/x.py:6"]


def test_planted_logic_in_a_command_is_caught() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(CLI_MAX_STATEMENTS + 1))
    source = (
        "import re\n"
        "from hostbook.process.spawn import execute\n"
        "from hostbook.capture.collect import _canonical\n"
        "def cmd(path):\n"
        "    text = path.read_text()\n"
        "    while not text:\n"
        "        text = open(path).read()\n"
        f"def big():\n{body}\n"
    )
    bad = cli_violations(source, "hostbook/commands/x.py", "hostbook.commands.x")
    assert [line.split(": ", 1)[0] for line in bad] == [
        "hostbook/commands/x.py:1", "hostbook/commands/x.py:2", "hostbook/commands/x.py:3",
        "hostbook/commands/x.py:5", "hostbook/commands/x.py:6", "hostbook/commands/x.py:7",
        "hostbook/commands/x.py:8",
    ]
