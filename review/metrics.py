"""Prometheus text format for node_exporter's textfile collector.

People already scrape node_exporter; its textfile collector reads every
``*.prom`` file in one directory.  ``hostbook metrics --textfile DIR`` writes
``DIR/hostbook.prom`` through a temporary file renamed into place (the
collector never reads half a file, and ignores the temporary name, which does
not end in ``.prom``).  Per host: capture time and age, the readiness verdict
and each check; per volume and target (archiver): the last successful archive
time, its duration and size, and the last run's status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hostbook.jobs.run.history import Outcome
from hostbook.manifest.yamlio import atomic_write_text
from hostbook.review.readiness import CHECKS, Readiness

TEXTFILE_NAME = "hostbook.prom"
STATUSES = ("ok", "warning", "failed")


@dataclass
class Family:
    """One metric family: its help, type and samples."""

    name: str
    help: str
    kind: str = "gauge"
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((labels, value))

    def render(self) -> str:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        for labels, value in self.samples:
            text = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
            lines.append(f"{self.name}{{{text}}} {format_value(value)}")
        return "\n".join(lines) + "\n"


def escape(value: str) -> str:
    """A label value as the text format writes it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def latest_per_target(records: Iterable[Outcome]) -> dict[tuple[str, str], dict[str, Outcome]]:
    """Per (volume, archiver): the last attempt and the last success."""
    found: dict[tuple[str, str], dict[str, Outcome]] = {}
    for record in records:
        if record.archiver is None:
            continue
        slot = found.setdefault((record.volume, record.archiver), {})
        if "attempt" not in slot or record.finished >= slot["attempt"].finished:
            slot["attempt"] = record
        if record.status in ("ok", "warning") and (
                "success" not in slot or record.finished >= slot["success"].finished):
            slot["success"] = record
    return found


def render_metrics(rows: list[Readiness]) -> str:
    """The whole textfile for these hosts (each with the run history it was judged on)."""
    families = {name: Family(name, text) for name, text in (
        ("hostbook_capture_timestamp_seconds", "Time of the host's last capture commit."),
        ("hostbook_capture_age_seconds", "Seconds since the host's last capture commit."),
        ("hostbook_ready", "1 when the host could be rebuilt from the repository now."),
        ("hostbook_readiness_check", "1 when this readiness check passes, 0 when it fails."),
        ("hostbook_archive_last_success_timestamp_seconds",
         "Time the last successful archive of this volume to this target finished."),
        ("hostbook_archive_last_success_duration_seconds",
         "How long the last successful archive of this volume to this target took."),
        ("hostbook_archive_last_success_size_bytes",
         "Bytes the last successful archive of this volume to this target read."),
        ("hostbook_archive_last_run_status",
         "1 for the status of the last archive run of this volume to this target."),
    )}
    for row in rows:
        host = row.host
        if row.last_capture is not None:
            families["hostbook_capture_timestamp_seconds"].add(row.last_capture, host=host)
            families["hostbook_capture_age_seconds"].add(round(row.now - row.last_capture),
                                                         host=host)
        families["hostbook_ready"].add(1 if row.verdict == "ready" else 0, host=host)
        for check in CHECKS:
            families["hostbook_readiness_check"].add(int(row.passed(check)), host=host,
                                                     check=check)
        for (volume, target), slot in sorted(latest_per_target(row.outcomes).items()):
            labels = {"host": host, "volume": volume, "target": target}
            success = slot.get("success")
            if success is not None:
                families["hostbook_archive_last_success_timestamp_seconds"].add(
                    success.finished, **labels)
                families["hostbook_archive_last_success_duration_seconds"].add(
                    success.duration, **labels)
                if success.bytes is not None:
                    families["hostbook_archive_last_success_size_bytes"].add(
                        success.bytes, **labels)
            for status in STATUSES:
                families["hostbook_archive_last_run_status"].add(
                    int(slot["attempt"].status == status), **labels, status=status)
    return "".join(f.render() for f in families.values() if f.samples)


def write_textfile(directory: Path, text: str) -> Path:
    """Put ``text`` at ``directory/hostbook.prom`` atomically; return the path."""
    path = directory / TEXTFILE_NAME
    atomic_write_text(path, text)
    return path
