"""Fingerprints of the primary keys in an OpenPGP key file (binary or ASCII-armored).

apt names its trusted keys by file; the manifest records which keys those
were (fingerprints), never their bytes.  Reading the packet headers is a few
lines of code and needs no keyring, home directory or process per file, so the
probe asks for fingerprints through ``runner.value`` and records only them.
Fingerprints follow RFC 4880 (v4: SHA-1) and RFC 9580 (v6: SHA-256; v5 alike).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

_PUBLIC_KEY = 6
_ARMOR_BEGIN = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


class KeyFileError(ValueError):
    """The file is not an OpenPGP key file."""


def dearmor(data: bytes) -> bytes:
    """Binary packets from ASCII armor (all blocks concatenated), or ``data`` as is."""
    text = data.decode("ascii", errors="replace")
    if _ARMOR_BEGIN not in text:
        return data
    packets = b""
    for block in text.split(_ARMOR_BEGIN)[1:]:
        body = block.split("-----END PGP PUBLIC KEY BLOCK-----", 1)[0]
        lines = body.strip("\r\n").splitlines()
        # Armor headers (Version:, Comment:) end at the first blank line.
        if any(not line.strip() for line in lines):
            lines = lines[next(i for i, line in enumerate(lines) if not line.strip()) + 1 :]
        payload = "".join(
            line.strip() for line in lines if line.strip() and not line.startswith("=")
        )
        try:
            packets += base64.b64decode(payload)
        except (binascii.Error, ValueError) as exc:
            raise KeyFileError(f"bad armor: {exc}") from None
    return packets


def _packets(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, body) of every packet; partial lengths are joined."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    size = len(data)
    while pos < size:
        header = data[pos]
        if not header & 0x80:
            raise KeyFileError(f"not an OpenPGP packet at offset {pos}")
        pos += 1
        if header & 0x40:  # new format
            tag = header & 0x3F
            body = b""
            while True:
                first = data[pos]
                if first < 192:
                    length, pos = first, pos + 1
                elif first < 224:
                    length, pos = ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
                elif first == 255:
                    length, pos = int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
                else:  # partial body length: a chunk, then more length octets
                    chunk = 1 << (first & 0x1F)
                    body += data[pos + 1 : pos + 1 + chunk]
                    pos += 1 + chunk
                    continue
                body += data[pos : pos + length]
                pos += length
                break
        else:  # old format
            tag = (header >> 2) & 0x0F
            kind = header & 0x03
            if kind == 3:
                length = size - pos
            else:
                width = (1, 2, 4)[kind]
                length = int.from_bytes(data[pos : pos + width], "big")
                pos += width
            body = data[pos : pos + length]
            pos += length
        out.append((tag, body))
    return out


def fingerprint(body: bytes) -> str:
    """The fingerprint of a public-key packet body, upper-case hex."""
    version = body[0] if body else 0
    if version == 4:
        return hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body).hexdigest().upper()
    if version == 5:
        return hashlib.sha256(b"\x9a" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    if version == 6:
        return hashlib.sha256(b"\x9b" + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    raise KeyFileError(f"unsupported key version {version}")


def fingerprints(data: bytes) -> list[str]:
    """Primary-key fingerprints in file order."""
    try:
        return [fingerprint(body) for tag, body in _packets(dearmor(data)) if tag == _PUBLIC_KEY]
    except IndexError:
        raise KeyFileError("truncated packet") from None


def file_fingerprints(path: str) -> dict[str, object]:
    """``{"fingerprints": [...]}`` or ``{"error": "..."}`` for a key file (JSON-able)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return {"error": exc.strerror or str(exc)}
    try:
        return {"fingerprints": fingerprints(data)}
    except KeyFileError as exc:
        return {"error": str(exc)}


_SECRET_KEYS = frozenset({5, 7})
_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB


def _crc24(data: bytes) -> int:
    """The armor checksum of RFC 4880 section 6.1."""
    crc = _CRC24_INIT
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
    return crc & 0xFFFFFF


def armor(packets: bytes) -> str:
    """ASCII armor of public-key packets (64-column lines and the CRC-24 line)."""
    body = base64.b64encode(packets).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    crc = base64.b64encode(_crc24(packets).to_bytes(3, "big")).decode("ascii")
    return "\n".join([_ARMOR_BEGIN, "", *lines, f"={crc}",
                      "-----END PGP PUBLIC KEY BLOCK-----", ""])


def file_public_material(path: str) -> dict[str, object]:
    """``{"armored": ...}`` of a key file's public keys, or ``{"error": ...}``.

    A public key is not a secret, and a reinstall needs its bytes to trust a
    third-party repository again.  A file that holds a secret-key packet is
    refused whole: its bytes never reach a manifest.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return {"error": exc.strerror or str(exc)}
    try:
        packets = dearmor(data)
        tags = [tag for tag, _ in _packets(packets)]
    except (KeyFileError, IndexError) as exc:
        return {"error": str(exc) or "truncated packet"}
    if _SECRET_KEYS & set(tags):
        return {"error": "the file holds a secret key: not recorded"}
    if _PUBLIC_KEY not in tags:
        return {"error": "no public key in the file"}
    return {"armored": armor(packets)}


def key_owners(paths: list[str], info_dir: str = "/var/lib/dpkg/info") -> dict[str, str]:
    """Key file -> the package whose file list names it (dpkg's ``*.list`` files).

    Read in-process, like the key files: a key a package installs comes back
    with the package, so only the others need their material kept.
    """
    wanted = set(paths)
    owners: dict[str, str] = {}
    try:
        names = sorted(os.listdir(info_dir))
    except OSError:
        return owners
    for name in names:
        if not name.endswith(".list"):
            continue
        try:
            with open(os.path.join(info_dir, name), encoding="utf-8",
                      errors="surrogateescape") as handle:
                listed = wanted.intersection(line.rstrip("\n") for line in handle)
        except OSError:
            continue
        for path in listed:
            owners.setdefault(path, name[: -len(".list")].split(":", 1)[0])
    return owners
