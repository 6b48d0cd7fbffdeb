"""Archive streams through zstd and real age/gpg, and back: the bytes must survive.

Keys are made for each test in tmp (age-keygen; gpg in a throwaway GNUPGHOME
with an unprotected key) and thrown away with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostbook.jobs.archive.streams.chain_restore import (
    ChainRestoreError,
    Keys,
    decode_file,
    read_filters,
)
from hostbook.jobs.archive.streams.writer import stream_to_file
from hostbook.process.runner import LiveRunner
from tests.tiers import skip_or_fail

# 1.5 MB of bytes that compress, with a random tail that does not: a stream's shape.
WRITER = (
    "import os, sys\n"
    "sys.stdout.buffer.write(b'hostbook stream ' * 90000 + os.urandom(60000))\n"
)


def _need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        skip_or_fail(f"{', '.join(missing)} not installed (apt-get install age gnupg zstd)")


def _sent(tmp_path: Path) -> tuple[list[str], bytes]:
    """A sender command and the exact bytes it writes (written once, replayed by cat)."""
    data = subprocess.run([sys.executable, "-c", WRITER], capture_output=True,
                          check=True).stdout
    raw = tmp_path / "stream.raw"
    raw.write_bytes(data)
    return ["cat", str(raw)], data


@pytest.fixture
def age_identity(tmp_path: Path) -> tuple[str, str]:
    """(identity file, its recipient)."""
    _need("age", "age-keygen", "zstd")
    identity = tmp_path / "identity.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], capture_output=True, check=True)
    recipient = next(line.split(": ", 1)[1] for line in identity.read_text().splitlines()
                     if line.startswith("# public key: "))
    return str(identity), recipient


@pytest.fixture
def gnupg(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """({"GNUPGHOME": dir}, key fingerprint); the agent it starts is stopped afterwards."""
    _need("gpg", "gpgconf", "zstd")
    home = tmp_path / "gnupg"
    home.mkdir(mode=0o700)
    env = {"GNUPGHOME": str(home)}
    full = {**os.environ, **env}
    subprocess.run(["gpg", "--batch", "--passphrase", "", "--quick-gen-key",
                    "hostbook archive test <archive@example.invalid>", "future-default",
                    "default", "never"], env=full, capture_output=True, check=True)
    listing = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=full,
                             capture_output=True, text=True, check=True).stdout
    fingerprint = next(line.split(":")[9] for line in listing.splitlines()
                       if line.startswith("fpr:"))
    try:
        yield env, fingerprint
    finally:
        subprocess.run(["gpgconf", "--kill", "all"], env=full, capture_output=True, check=False)


def _read_back(path: Path, compression: str, encryption: str, keys: Keys) -> bytes:
    out = path.with_name(path.name + ".decoded")
    decode_file(LiveRunner(), path, read_filters(compression, encryption, keys), out,
                env=keys.env)
    return out.read_bytes()


def test_zstd_and_age_round_trip(tmp_path: Path, age_identity: tuple[str, str]) -> None:
    identity, recipient = age_identity
    send, data = _sent(tmp_path)
    out = tmp_path / "tank_www@daily-1.zfs.zst.age"
    raw, stored = stream_to_file(LiveRunner(), send, out, compress="zstd", encrypt="age",
                                 recipients=[recipient])
    assert raw == len(data) and 0 < stored < raw
    assert out.read_bytes().startswith(b"age-encryption.org/v1\n")
    assert data[:16] not in out.read_bytes()
    back = _read_back(out, "zstd", "age", Keys(age_identities=(identity,)))
    assert back == data


def test_zstd_and_gpg_round_trip(tmp_path: Path,
                                 gnupg: tuple[dict[str, str], str]) -> None:
    env, fingerprint = gnupg
    send, data = _sent(tmp_path)
    out = tmp_path / "tank_www@daily-1.zfs.zst.gpg"
    raw, stored = stream_to_file(LiveRunner(), send, out, compress="zstd", encrypt="gpg",
                                 recipients=[fingerprint], env=env)
    assert raw == len(data) and 0 < stored < raw
    packets = subprocess.run(["gpg", "--batch", "--list-packets", str(out)],
                             env={**os.environ, **env}, capture_output=True, text=True).stdout
    assert ":pubkey enc packet:" in packets  # encrypted to the key, not symmetric
    assert _read_back(out, "zstd", "gpg", Keys(env=env)) == data


def test_age_without_compression_round_trip(tmp_path: Path,
                                            age_identity: tuple[str, str]) -> None:
    identity, recipient = age_identity
    send, data = _sent(tmp_path)
    out = tmp_path / "plain.age"
    raw, stored = stream_to_file(LiveRunner(), send, out, compress="none", encrypt="age",
                                 recipients=[recipient])
    assert raw == len(data) and stored > raw  # age adds a header and per-chunk tags
    assert _read_back(out, "none", "age", Keys(age_identities=(identity,))) == data


def test_wrong_identity_is_a_clear_failure(tmp_path: Path,
                                           age_identity: tuple[str, str]) -> None:
    _identity, recipient = age_identity
    other = tmp_path / "other.txt"
    subprocess.run(["age-keygen", "-o", str(other)], capture_output=True, check=True)
    send, _ = _sent(tmp_path)
    out = tmp_path / "s.zst.age"
    stream_to_file(LiveRunner(), send, out, compress="zstd", encrypt="age", recipients=[recipient])
    with pytest.raises(ChainRestoreError, match=r"s\.zst\.age: age: exit 1: .*identity"):
        _read_back(out, "zstd", "age", Keys(age_identities=(str(other),)))
    with pytest.raises(ChainRestoreError, match="identity file is needed"):
        read_filters("zstd", "age", Keys())


def test_failed_encryption_leaves_no_file(tmp_path: Path,
                                          age_identity: tuple[str, str]) -> None:
    send, _ = _sent(tmp_path)
    out = tmp_path / "bad.age"
    with pytest.raises(RuntimeError, match="age: exit"):
        stream_to_file(LiveRunner(), send, out, compress="zstd", encrypt="age",
                       recipients=["age1notakey"])
    assert not out.exists() and not out.with_name("bad.age.partial").exists()
