"""git without the programs a repository's configuration names.

Reading a repository with git is only safe when git cannot be told by that
repository to run something.  Every git process of the checkouts probe runs
with (see confine.py for the identity and process side):

- ``GIT_CONFIG_NOSYSTEM`` and ``GIT_CONFIG_GLOBAL=/dev/null`` (and a HOME
  that does not exist): neither /etc/gitconfig nor anyone's ~/.gitconfig,
  attributes or excludes file is read;
- command-line configuration (``GIT_CONFIG_COUNT``/``KEY_n``/``VALUE_n``,
  which git ranks above every file, includes too, and hands on to the git
  processes it starts in submodules) that switches off each key that can
  start a program: ``core.fsmonitor``, ``core.hooksPath``, ``core.sshCommand``,
  ``credential.helper``, pagers, editors, gpg, ``diff.external``, ...;
- the same for keys whose name the repository chooses (``filter.<x>.clean``,
  ``diff.<x>.textconv``, ``credential.<url>.helper``, ...): the first command
  (``git config``, which only reads configuration) lists them, in the
  repository and, through ``git submodule foreach``, in its submodules, and
  every later command gets each one emptied.  An empty command is a
  command git refuses to run, not a default;
- ``GIT_ALLOW_PROTOCOL`` empty: no transport at all, so a partial clone's
  lazy fetch cannot reach ``ext::`` URLs, remote helpers or ssh.

Left as a known limit: a nested repository committed as a gitlink without a
``.gitmodules`` entry is looked into by ``git status`` with only the fixed
overrides (its own filter names are not listed); it runs as the owner of the
outer repository all the same.

:func:`mask_config` is the structure-aware masker for the config output in
recordings: URLs are masked in place, every program-running value is
replaced, since a credential helper's command line may carry a password.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from hostbook.capture.redact import REDACTED, mask_url
from hostbook.process.confine import Confinement

# Keys git runs a program from, with the value that runs nothing.
FIXED_OVERRIDES: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("core.sshCommand", "false"),
    ("core.askPass", "false"),
    ("core.gitProxy", "false"),
    ("core.alternateRefsCommand", "false"),
    ("core.pager", "cat"),
    ("core.editor", "false"),
    ("sequence.editor", "false"),
    ("credential.helper", ""),  # an empty value resets the list of helpers
    ("diff.external", ""),
    ("gpg.program", "false"),
    ("gpg.openpgp.program", "false"),
    ("gpg.x509.program", "false"),
    ("gpg.ssh.program", "false"),
    ("gpg.ssh.defaultKeyCommand", "false"),
    ("protocol.allow", "never"),
    ("status.submoduleSummary", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
)
ENVIRONMENT = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_ATTR_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "false",
    "SSH_ASKPASS": "false",
    "GIT_SSH_COMMAND": "false",
    "GIT_PAGER": "cat",
    "GIT_EDITOR": "false",
    "GIT_SEQUENCE_EDITOR": "false",
    "GIT_ALLOW_PROTOCOL": "",
    "GIT_PROTOCOL_FROM_USER": "0",
    "GIT_OPTIONAL_LOCKS": "0",
}
# Keys with a user-chosen middle part that name a program.
PROGRAM_KEYS = (
    r"filter\..+\.(clean|smudge|process|required)"
    r"|diff\..+\.(command|textconv)"
    r"|merge\..+\.driver"
    r"|credential\..+\.helper"
)
_PROGRAM_KEY = re.compile(rf"^({PROGRAM_KEYS})$", re.IGNORECASE)
_URL_KEY = re.compile(r"^(remote\..+\.(url|pushurl)|submodule\..+\.url)$", re.IGNORECASE)
# `git submodule foreach` runs this with sh in every populated submodule.
SUBMODULE_KEYS_COMMAND = f"git config --name-only --get-regexp '^({PROGRAM_KEYS})$' || :"


def checkout_paths(found: dict[str, Any], own_dir: str, common_dir: str) -> tuple[str, ...]:
    """The paths whose owners decide whom git runs as: tree, .git, git dirs, config."""
    path = str(found["path"])
    return (path, f"{path}/.git", own_dir, common_dir, f"{common_dir}/config",
            f"{own_dir}/config.worktree")


def program_key_names(lines: Iterable[str]) -> list[str]:
    """Names of program-running keys in ``config --get-regexp`` output (names or
    ``[scope\\t]key value`` lines); git's own command-line entries are skipped."""
    names: set[str] = set()
    for line in lines:
        scope, tab, entry = line.partition("\t")
        if tab and scope == "command":
            continue
        key = (entry if tab else line).partition(" ")[0].strip()
        if _PROGRAM_KEY.match(key):
            names.add(key)
    return sorted(names)


def _neutral(key: str) -> list[tuple[str, str]]:
    """Overrides that disarm one program-running key (a filter: all of its parts)."""
    section, _, rest = key.partition(".")
    middle = rest.rpartition(".")[0]
    if section.lower() == "filter":
        base = f"filter.{middle}"
        return [(f"{base}.clean", ""), (f"{base}.smudge", ""), (f"{base}.process", ""),
                (f"{base}.required", "false")]
    return [(key, "")]


def confinement(owner_of: tuple[str, ...], program_keys: Iterable[str] = ()) -> Confinement:
    """The environment of a git process: fixed overrides plus the listed keys emptied."""
    overrides = list(FIXED_OVERRIDES)
    seen = {key for key, _ in overrides}
    for key in program_keys:
        for item in _neutral(key):
            if item[0] not in seen:
                seen.add(item[0])
                overrides.append(item)
    env = dict(ENVIRONMENT)
    env["GIT_CONFIG_COUNT"] = str(len(overrides))
    for index, (key, value) in enumerate(overrides):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return Confinement(owner_of=owner_of, env=env)


def mask_config(text: str) -> str:
    """``config --get-regexp`` output as it may be recorded: URLs masked in place,
    program-running values replaced, other values (booleans) kept."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        scope, tab, entry = body.partition("\t")
        if not tab:
            scope, entry = "", body
        key, space, value = entry.partition(" ")
        if space and _URL_KEY.match(key):
            value = mask_url(value)
        elif space and _PROGRAM_KEY.match(key):
            value = REDACTED
        rebuilt = f"{key}{space}{value}"
        out.append((f"{scope}\t{rebuilt}" if tab else rebuilt) + line[len(body):])
    return "".join(out)
