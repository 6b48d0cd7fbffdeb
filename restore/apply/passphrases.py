"""Passphrases for LUKS containers: asked for at apply time, never stored.

Sources, in order of preference: ``--passphrase-file FILE`` (one passphrase for
every container, or a directory holding one file per container, named by its
crypttab name, its LUKS UUID or its entry id ``luks:<uuid>``),
``--passphrase-command CMD`` (run with HOSTBOOK_CONTAINER set to the container id
and its recorded name; prints the passphrase), else an interactive prompt per
container.
"""

from __future__ import annotations

import getpass
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from hostbook.manifest.errors import BadInputError, RuntimeFailure
from hostbook.process.environment import tool_environment
from hostbook.process.spawn import execute

PASSPHRASE_TIMEOUT = 300.0
"""A passphrase command may ask a person (a hardware token, a vault login)."""


@dataclass
class PassphraseSource:
    """Where passphrases come from; each is fetched at most once per run."""

    file: Path | None = None
    command: str | None = None
    interactive: bool = True
    _cache: dict[str, str] = field(default_factory=dict, repr=False)

    def get(self, container: str, label: str = "") -> str:
        if container in self._cache:
            return self._cache[container]
        value = self._fetch(container, label)
        if not value:
            raise BadInputError(f"empty passphrase for LUKS container {label or container}")
        self._cache[container] = value
        return value

    def _fetch(self, container: str, label: str) -> str:
        if self.file is not None:
            path = self.file
            if self.file.is_dir():
                names = [n for n in (label, container.removeprefix("luks:"), container)
                         if n and "/" not in n]
                path = next((self.file / n for n in names if (self.file / n).is_file()),
                            self.file / container)
            try:
                return path.read_text(encoding="utf-8").rstrip("\n")
            except OSError as exc:
                raise BadInputError(f"{path}: cannot read passphrase: {exc.strerror}") from None
        if self.command is not None:
            # Run directly, never through a runner: its output is the secret, and a
            # recording or an echo must not see it.
            env = tool_environment({"HOSTBOOK_CONTAINER": container,
                                    "HOSTBOOK_CONTAINER_NAME": label})
            result = execute(shlex.split(self.command), env, timeout=PASSPHRASE_TIMEOUT)
            if not result.ok:
                why = "not found" if result.missing else f"exit {result.returncode}"
                raise RuntimeFailure(
                    f"--passphrase-command failed for {label or container}: {why}"
                )
            return result.stdout.rstrip("\n")
        if not self.interactive:
            raise BadInputError(
                f"LUKS container {label or container} needs a passphrase: give "
                "--passphrase-file or --passphrase-command"
            )
        first = getpass.getpass(f"New passphrase for {label or container}: ")
        second = getpass.getpass("Again: ")
        if first != second:
            raise BadInputError("passphrases differ")
        return first
