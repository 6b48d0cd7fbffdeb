"""Write a send stream to a file: ``zfs send | zstd | age > FILE``.

Archive streams go through ``zstd`` and ``age`` or ``gpg`` on the way out and
are written to ``FILE.partial`` (0600: the stream holds the whole volume),
renamed only when every stage succeeded, so a catalogue never points at half
a stream.  :mod:`hostbook.jobs.archive.streams.chain_restore` takes them back through
decryption and decompression into ``zfs receive``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from hostbook.process.pipeline import Stage
from hostbook.process.runner import Runner


def filter_argv(compress: str, encrypt: str, recipients: Sequence[str]) -> list[list[str]]:
    """The commands an archive stream passes through on its way to a file."""
    stages: list[list[str]] = []
    if compress == "zstd":
        stages.append(["zstd", "-q", "-c", "-T0"])
    if encrypt == "age":
        stages.append(["age", *[a for r in recipients for a in ("-r", r)]])
    elif encrypt == "gpg":
        args = ["gpg", "--batch", "--yes", "--trust-model", "always", "--encrypt"]
        stages.append([*args, *[a for r in recipients for a in ("--recipient", r)]])
    return stages


def stream_to_file(
    runner: Runner,
    send: Sequence[str],
    path: Path,
    *,
    compress: str = "zstd",
    encrypt: str = "none",
    recipients: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Run ``send`` | filters > ``path``; returns (stream bytes, stored bytes).

    Raises RuntimeError naming the failing stages; nothing is left at ``path``.
    """
    stages = [Stage.of(send, env), *(Stage.of(f, env) for f in
                                     filter_argv(compress, encrypt, recipients))]
    result = runner.pipeline(stages, output=path, meter=0, on_bytes=on_bytes)
    if not result.ok:
        raise RuntimeError(result.failure())
    if runner.dry_run:
        return result.bytes, 0
    return result.bytes, path.stat().st_size
