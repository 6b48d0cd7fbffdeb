"""Decode a ZFS ``receive_resume_token`` without asking zfs.

The usual way to read a token is ``zfs send -nvP -t TOKEN`` on the *sending*
side, which also prints how many bytes remain.  When that side cannot be
asked (unreachable, or an older zfs), the token itself still says which
snapshot was being received and from which base: it is
``<version>-<checksum>-<packed length>-<zlib-compressed packed nvlist>`` in
hex, as libzfs writes it (``zfs_send_resume_token_to_nvlist`` reads it back).

The nvlist is packed in the kernel's *native* encoding: a 4-byte header
(encoding, endianness), the list header (version, flags), then one record
per pair — size, name length, element count, data type, the NUL-terminated
name padded to 8 bytes, the value — and a zero size at the end.  Only the
types a token uses are read (uint64, string, boolean); others are skipped by
their recorded size, so a newer zfs adding fields does not break decoding.

The checksum is the first word of fletcher-4 over the compressed bytes; a
token that fails it, or does not decompress to the stated length, is
rejected rather than half-read.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from hostbook.jobs.replication.zfs.inventory import ResumeState

_UINT64 = 8
_STRING = 9
_BOOLEAN = 1
_BOOLEAN_VALUE = 21
_MASK64 = (1 << 64) - 1


class ResumeTokenError(ValueError):
    """A token that is not a well-formed, intact ZFS resume token."""


@dataclass(frozen=True, slots=True)
class TokenContents:
    """What a resume token records (the fields ``zfs send -nvP -t`` prints)."""

    toname: str
    toguid: int
    fromguid: int | None
    object: int
    offset: int
    bytes: int
    flags: frozenset[str]


def fletcher4_first_word(data: bytes) -> int:
    """Sum of the little-endian 32-bit words (a trailing partial word is ignored).

    That is fletcher-4's first accumulator, the number a token carries as its
    checksum; the other accumulators are not stored in the token.
    """
    whole = len(data) - len(data) % 4
    total = 0
    for (word,) in struct.iter_unpack("<I", data[:whole]):
        total = (total + word) & _MASK64
    return total


def _unpack_nvlist(raw: bytes) -> dict[str, object]:
    if len(raw) < 12:
        raise ResumeTokenError("packed nvlist is too short")
    encoding, endian = raw[0], raw[1]
    if encoding != 0:
        raise ResumeTokenError(f"nvlist encoding {encoding} is not the native encoding")
    order = "<" if endian == 1 else ">"
    pos = 12  # 4-byte stream header, then nvl_version and nvl_nvflag
    values: dict[str, object] = {}
    while pos + 4 <= len(raw):
        (size,) = struct.unpack_from(order + "i", raw, pos)
        if size == 0:
            return values
        if size < 16 or pos + size > len(raw):
            raise ResumeTokenError(f"nvpair at byte {pos} has an impossible size {size}")
        name_len, _reserved, _count, dtype = struct.unpack_from(order + "hhii", raw, pos + 4)
        name_end = pos + 16 + name_len - 1
        name = raw[pos + 16 : name_end].decode("utf-8", errors="replace")
        value_at = pos + 16 + ((name_len + 7) // 8) * 8
        if dtype == _UINT64:
            (values[name],) = struct.unpack_from(order + "Q", raw, value_at)
        elif dtype == _STRING:
            end = raw.find(b"\0", value_at, pos + size)
            if end < 0:
                raise ResumeTokenError(f"string {name!r} is not terminated")
            values[name] = raw[value_at:end].decode("utf-8", errors="replace")
        elif dtype == _BOOLEAN:
            values[name] = True
        elif dtype == _BOOLEAN_VALUE:
            (flag,) = struct.unpack_from(order + "i", raw, value_at)
            values[name] = bool(flag)
        pos += size
    raise ResumeTokenError("packed nvlist has no end marker")


def decode_token(token: str) -> TokenContents:
    """Read a resume token's contents; :class:`ResumeTokenError` if it is not intact."""
    parts = token.strip().split("-", 3)
    if len(parts) != 4:
        raise ResumeTokenError("not <version>-<checksum>-<length>-<payload>")
    version, checksum, length, payload = parts
    if version != "1":
        raise ResumeTokenError(f"unknown token version {version!r}")
    try:
        compressed = bytes.fromhex(payload)
        want_sum, want_len = int(checksum, 16), int(length, 16)
    except ValueError:
        raise ResumeTokenError("token fields are not hexadecimal: the token is corrupt") from None
    if fletcher4_first_word(compressed) != want_sum:
        raise ResumeTokenError("checksum mismatch: the token is corrupt")
    try:
        raw = zlib.decompress(compressed)
    except zlib.error:
        raise ResumeTokenError("payload does not decompress") from None
    if len(raw) != want_len:
        raise ResumeTokenError(f"payload is {len(raw)} bytes, the token says {want_len}")
    values = _unpack_nvlist(raw)
    try:
        toname = str(values["toname"])
        toguid = int(values["toguid"])  # type: ignore[call-overload]
    except KeyError as exc:
        raise ResumeTokenError(f"token lacks {exc.args[0]!r}") from None
    numbers = {k: int(v) for k, v in values.items() if isinstance(v, int) and not
               isinstance(v, bool)}
    return TokenContents(
        toname=toname,
        toguid=toguid,
        fromguid=numbers.get("fromguid") or None,
        object=numbers.get("object", 0),
        offset=numbers.get("offset", 0),
        bytes=numbers.get("bytes", 0),
        flags=frozenset(k for k, v in values.items() if v is True),
    )


def resume_state(token: str) -> ResumeState:
    """A :class:`ResumeState` from the token alone (remaining bytes unknown)."""
    contents = decode_token(token)
    return ResumeState(
        token=token,
        toguid=contents.toguid,
        fromguid=contents.fromguid,
        toname=contents.toname,
    )
