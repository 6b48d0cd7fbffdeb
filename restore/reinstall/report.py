"""The reinstall report: carried over, adapted (with how), could not map (with why and what to do).

One list of items, each with its section, its subject and its outcome; the
three renderings (terminal lines, JSON, Markdown) are views of the same list,
so ``--dry-run``, ``--json`` and ``--report FILE`` never disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Outcome = Literal["carried", "adapted", "unmapped"]
PENDING = "once installed"
"""In an item's detail: decided when the apply has installed the packages (re-planned)."""
OUTCOMES: tuple[Outcome, ...] = ("carried", "adapted", "unmapped")
TITLES = {"carried": "Carried over", "adapted": "Adapted", "unmapped": "Could not map"}


@dataclass(frozen=True)
class Item:
    """One thing of the old host and what the reinstall does with it."""

    section: str
    subject: str
    outcome: Outcome
    detail: str = ""
    """carried: what is done; adapted: how; unmapped: why."""
    todo: str = ""
    """unmapped: what a person should do."""


def by_outcome(items: list[Item]) -> dict[str, list[Item]]:
    """Items per outcome, each list sorted by section then subject (deterministic)."""
    return {o: sorted((i for i in items if i.outcome == o), key=lambda i: (i.section, i.subject))
            for o in OUTCOMES}


def to_json(items: list[Item]) -> dict[str, Any]:
    grouped = by_outcome(items)
    return {o: [asdict(i) for i in grouped[o]] for o in OUTCOMES} | {
        "counts": {o: len(grouped[o]) for o in OUTCOMES}}


def terminal_lines(items: list[Item], limit: int = 20) -> list[str]:
    """Counts per outcome and section; every adapted and unmapped item in full.

    Carried-over items are many (a host's packages) and say nothing surprising:
    they are summarised per section beyond ``limit``.
    """
    lines: list[str] = []
    for outcome, chosen in by_outcome(items).items():
        lines.append(f"{TITLES[outcome]}: {len(chosen)}")
        sections: dict[str, list[Item]] = {}
        for item in chosen:
            sections.setdefault(item.section, []).append(item)
        for section, some in sections.items():
            if outcome == "carried" and len(some) > limit:
                names = ", ".join(i.subject for i in some[:limit])
                lines.append(f"  {section}: {len(some)}: {names}, ...")
                continue
            for item in some:
                text = f"  {section}: {item.subject}"
                if item.detail:
                    text += f": {item.detail}"
                if item.todo:
                    text += f" (to do: {item.todo})"
                lines.append(text)
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(items: list[Item], host: str, target: str) -> str:
    """The report as a Markdown document (``--report FILE``)."""
    grouped = by_outcome(items)
    out = [f"# Reinstall of {host} onto {target}", ""]
    out.append(" | ".join(f"{TITLES[o]}: {len(grouped[o])}" for o in OUTCOMES))
    for outcome in OUTCOMES:
        out += ["", f"## {TITLES[outcome]}", ""]
        if not grouped[outcome]:
            out.append("(none)")
            continue
        if outcome == "unmapped":
            out += ["| section | what | why | what to do |", "| --- | --- | --- | --- |"]
            out += [f"| {i.section} | {_cell(i.subject)} | {_cell(i.detail)} | {_cell(i.todo)} |"
                    for i in grouped[outcome]]
        else:
            out += ["| section | what | how |", "| --- | --- | --- |"]
            out += [f"| {i.section} | {_cell(i.subject)} | {_cell(i.detail)} |"
                    for i in grouped[outcome]]
    return "\n".join(out) + "\n"
