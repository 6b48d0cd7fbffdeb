"""Passphrase sources: a file or folder of files, a command, never an empty answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostbook.manifest.errors import BadInputError, RuntimeFailure
from hostbook.restore.apply.passphrases import PassphraseSource


def test_passphrase_directory_by_name_uuid_or_id(tmp_path: Path) -> None:
    (tmp_path / "crypt1").write_text("by-name\n")
    (tmp_path / "1111-2222").write_text("by-uuid")
    (tmp_path / "luks:3333").write_text("by-id")
    source = PassphraseSource(file=tmp_path, interactive=False)
    assert source.get("luks:9999", "crypt1") == "by-name"
    assert source.get("luks:1111-2222", "other") == "by-uuid"
    assert source.get("luks:3333", "") == "by-id"
    with pytest.raises(BadInputError, match="cannot read passphrase"):
        source.get("luks:none", "none")


def test_passphrase_command_gets_the_container_in_its_environment(tmp_path: Path) -> None:
    source = PassphraseSource(
        command="sh -c 'printf \"%s-%s\" \"$HOSTBOOK_CONTAINER\" \"$HOSTBOOK_CONTAINER_NAME\"'",
        interactive=False)
    assert source.get("luks:42", "root_crypt") == "luks:42-root_crypt"
    failing = PassphraseSource(command="false", interactive=False)
    with pytest.raises(RuntimeFailure, match="--passphrase-command failed"):
        failing.get("luks:1", "x")


def test_passphrase_refusals(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="needs a passphrase"):
        PassphraseSource(interactive=False).get("luks:1", "crypt")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(BadInputError, match="empty passphrase"):
        PassphraseSource(file=empty, interactive=False).get("luks:1", "crypt")
