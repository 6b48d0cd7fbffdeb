"""Remove credentials from URLs before they reach a manifest or a recording.

Remote URLs of checkouts and package sources sometimes carry a user name and
password or a token (``https://user:ghp_x@host/repo``, ``?private_token=x``,
``user:pw@host:repo.git``).  The manifest is kept in git and shared, so such
parts are dropped: a restore asks for credentials again instead of finding
them in a file.

URLs are taken apart by structure, the way the tools that use them do, not
matched with one pattern:

- ``scheme://userinfo@host/path?query#fragment``: the user information ends
  at the last ``@`` of the authority.  A password holding an unencoded
  ``/``, ``?`` or ``#`` (``https://u:pa/ss@host/x``) cuts the authority
  short at a "port" that is not a number; the ``@`` that follows, before
  something shaped like a host, then ends the user information.
- scp-like git remotes (``[user[:password]@]host:path``): everything before
  the last ``@`` that is followed by ``host:`` is user information.
- query parameters whose name says secret (``token``, ``key``, ...).

A token used as a bare user name that itself contains ``/``
(``https://to/ken@host``) cannot be told from a path holding ``@`` and is
left alone.

Two outputs: :func:`redact_url` drops the secret parts (for the manifest);
:func:`mask_url` replaces them with ``REDACTED`` but keeps the URL's shape
(for recordings, so a replay makes the same decisions as the live capture).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REDACTED = "REDACTED"
# Query parameters whose value is a secret (matched case-insensitively, as substrings).
_SECRET_PARAMS = ("token", "secret", "password", "passwd", "pwd", "key", "auth", "sig",
                  "signature", "credential", "session")
# Schemes where a user name alone is routine and not a secret (ssh://git@host).
_USER_OK_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git", "svn+ssh", "sftp"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_HOST_AFTER_AT = re.compile(r"(?:[A-Za-z0-9._~%-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?(?=[/?#]|$)")
_SCP_LIKE = re.compile(
    r"^(?P<userinfo>[^/\s][^\s]*)@(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\]):(?P<path>.*)$",
    re.DOTALL,
)


@dataclass(frozen=True)
class _Parts:
    """A URL cut at the places that may hold secrets."""

    head: str  # "scheme://" or "" for scp-like
    userinfo: str | None
    rest: str  # host[:port][/path]  or  host:path
    query: str | None
    fragment: str | None
    scheme: str


def _authority_end(rest: str) -> int:
    for index, char in enumerate(rest):
        if char in "/?#":
            return index
    return len(rest)


def _bad_port(authority: str) -> bool:
    """True when ``host:port`` has a "port" that is not a number (a cut-off password)."""
    bare = re.sub(r"\[[^\]]*\]", "", authority)
    if ":" not in bare:
        return False
    port = bare.rsplit(":", 1)[1]
    return bool(port) and not port.isdigit()


def _userinfo_end(rest: str) -> int:
    """Index of the ``@`` ending the user information of ``rest`` (after ``://``), or -1."""
    end = _authority_end(rest)
    authority = rest[:end]
    if "@" in authority:
        return authority.rindex("@")
    if not _bad_port(authority):
        return -1
    at = rest.find("@", end)
    while at >= 0:
        if _HOST_AFTER_AT.match(rest, at + 1):
            return at
        at = rest.find("@", at + 1)
    return -1


def _split_query(rest: str) -> tuple[str, str | None, str | None]:
    base, hash_sign, fragment = rest.partition("#")
    base, question, query = base.partition("?")
    return base, (query if question else None), (fragment if hash_sign else None)


def _parse(url: str) -> _Parts | None:
    """Cut ``url`` into its parts; None for strings that hold no URL credentials."""
    match = _SCHEME.match(url)
    if match:
        head = url[: match.end()]
        rest = url[match.end():]
        at = _userinfo_end(rest)
        userinfo = rest[:at] if at >= 0 else None
        rest = rest[at + 1:] if at >= 0 else rest
        base, query, fragment = _split_query(rest)
        return _Parts(head, userinfo, base, query, fragment, head[:-3].lower())
    scp = _SCP_LIKE.match(url)
    if scp and ":" in scp.group("userinfo"):
        return _Parts("", scp.group("userinfo"), f"{scp.group('host')}:{scp.group('path')}",
                      None, None, "ssh")
    return None


def _secret_param(pair: str) -> bool:
    key, sep, value = pair.partition("=")
    return bool(sep and value) and any(word in key.lower() for word in _SECRET_PARAMS)


def _clean(parts: _Parts, replacement: str | None) -> tuple[str, bool]:
    """Rebuild ``parts`` with secrets replaced by ``replacement`` (None: removed)."""
    changed = False
    userinfo = parts.userinfo
    if userinfo is not None:
        user, has_password, _ = userinfo.partition(":")
        if has_password:
            changed = True
            if replacement is None:
                userinfo = user if parts.scheme in _USER_OK_SCHEMES else None
            else:
                userinfo = f"{user}:{replacement}"
        elif parts.scheme not in _USER_OK_SCHEMES:
            # http(s) and friends: a lone "user" is often a token (https://TOKEN@host).
            changed = True
            userinfo = replacement
    query = parts.query
    if query:
        pairs = query.split("&")
        hidden = [_secret_param(pair) for pair in pairs]
        if any(hidden):
            changed = True
            query = "&".join(
                f"{pair.partition('=')[0]}={replacement or REDACTED}" if secret else pair
                for pair, secret in zip(pairs, hidden, strict=True)
            )
    text = parts.head + (f"{userinfo}@" if userinfo is not None else "") + parts.rest
    if query is not None:
        text += "?" + query
    if parts.fragment is not None:
        text += "#" + parts.fragment
    return text, changed


def redact_url(url: str) -> tuple[str, bool]:
    """Return ``url`` without credentials, and whether anything was removed.

    Strings that are neither ``scheme://`` URLs nor scp-like remotes with a
    password (``git@host:path``, local paths) are returned unchanged.
    """
    parts = _parse(url)
    if parts is None:
        return url, False
    clean, changed = _clean(parts, None)
    return (clean, True) if changed else (url, False)


def mask_url(url: str) -> str:
    """``url`` with secret parts replaced by REDACTED, its shape kept.

    Keeping the shape means a capture replayed from a masked recording makes
    exactly the same redaction decisions as the live capture did.
    """
    parts = _parse(url)
    if parts is None:
        return url
    masked, changed = _clean(parts, REDACTED)
    return masked if changed else url


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_SCP_IN_TEXT = re.compile(
    r"(?<![\w.+-])(?P<user>[A-Za-z0-9._~-]+):(?P<password>[^\s@'\"<>`]+)"
    r"@(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\]):(?=\S)"
)


def mask_credentials(text: str) -> str:
    """Mask the credentials of every URL inside free text (command output, files).

    This is the last line of defence for text whose structure capture does
    not know; outputs it does know are masked field by field first (see
    the ``mask_*`` functions of the VCS and apt modules).
    """
    if "@" not in text and "?" not in text:
        return text
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
    return _SCP_IN_TEXT.sub(
        lambda m: f"{m.group('user')}:{REDACTED}@{m.group('host')}:", text
    )
