"""What of an apt sources file may be kept: by field, not by pattern.

A sources entry carries secrets in two places: the user information or query
of a URI (``https://user:pw@host``) and fields apt does not define, which
third-party tools add for their own use (``X-Auth-Token:`` in a deb822
stanza, ``[x-token=...]`` in a one-line entry).  apt's own options are
documented in sources.list(5) and none of them holds a secret, so they are
kept as written; any other option keeps its name and loses its value
(``REDACTED``), and the entry says ``credentials_redacted``.  URIs lose
their credentials through redact.redact_url.

The same rules, shape-preserving, give the recording's view of each file
(:func:`mask_one_line`, :func:`mask_deb822`): a replay of the masked file
produces the same manifest entry as the live capture did.  Credentials for
apt itself belong in /etc/apt/auth.conf(.d), which capture never reads.
"""

from __future__ import annotations

import re

from hostbook.capture.redact import REDACTED, mask_credentials, mask_url

# sources.list(5) options, deb822 spelling and one-line spelling.
KNOWN_OPTIONS = frozenset({
    "enabled", "architectures", "arch", "languages", "lang", "targets", "target",
    "pdiffs", "by-hash", "allow-insecure", "allow-weak", "allow-downgrade-to-insecure",
    "trusted", "signed-by", "check-valid-until", "valid-until-min", "valid-until-max",
    "check-date", "date-max-future", "inrelease-path", "snapshot",
    "architectures-add", "architectures-remove", "languages-add", "languages-remove",
    "targets-add", "targets-remove",
    "x-repolib-name",  # a label repolib (Pop!_OS, Ubuntu) shows in its UI
})
LIST_FIELDS = frozenset({"types", "uris", "suites", "components"})
_FIELD = re.compile(r"^([^\s:#][^:]*):(.*)$")


def known_option(key: str) -> bool:
    """True for an option apt defines (``arch+=``/``arch-=`` forms included)."""
    return key.lower().rstrip("+-") in KNOWN_OPTIONS


def clean_option(key: str, value: str) -> tuple[str, bool]:
    """The value to keep for an option, and whether it was withheld."""
    return (value, False) if known_option(key) else (REDACTED, True)


def split_one_line(line: str) -> tuple[str, list[str], list[str]] | None:
    """``deb [opt=val ...] uri suite [component ...]`` as (kind, options, words).

    ``line`` has its comment removed already; None for lines that are no entry.
    """
    kind, _, rest = line.strip().partition(" ")
    if kind not in ("deb", "deb-src"):
        return None
    options: list[str] = []
    rest = rest.strip()
    if rest.startswith("["):
        inside, _, rest = rest[1:].partition("]")
        options = inside.split()
    return kind, options, rest.split()


def mask_one_line(text: str) -> str:
    """A ``.list`` file as it may be recorded."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        code, hash_sign, comment = body.partition("#")
        parsed = split_one_line(code)
        if parsed is None:
            masked = mask_credentials(body)
        else:
            kind, options, words = parsed
            kept = []
            for item in options:
                key, equals, value = item.partition("=")
                kept.append(f"{key}{equals}{clean_option(key, value)[0] if equals else ''}")
            words = [mask_url(words[0]), *words[1:]] if words else words
            masked = " ".join([kind, *([f"[{' '.join(kept)}]"] if options else []), *words])
            if hash_sign:
                masked += " #" + mask_credentials(comment)
        out.append(masked + line[len(body):])
    return "".join(out)


def mask_deb822(text: str) -> str:
    """A ``.sources`` file as it may be recorded: URIs masked, unknown fields' values
    replaced (their continuation lines with them)."""
    out = []
    field: str | None = None
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\n")
        if body[:1] in (" ", "\t") and field is not None:
            if field == "uris":
                body = " ".join(mask_url(word) for word in body.split(" "))
            elif not (field in LIST_FIELDS or known_option(field)):
                continue  # part of a withheld value
            out.append(body + line[len(line.rstrip("\n")):])
            continue
        match = _FIELD.match(body)
        if body.startswith("#") or match is None:
            field = None
            out.append(mask_credentials(line))
            continue
        name, value = match.group(1), match.group(2)
        field = name.strip().lower()
        if field == "uris":
            value = " ".join(mask_url(word) for word in value.split(" "))
        elif not (field in LIST_FIELDS or known_option(field)):
            value = " " + REDACTED
        out.append(f"{name}:{value}" + line[len(body):])
    return "".join(out)
