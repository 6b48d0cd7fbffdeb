"""Remove credentials from URLs before they reach a manifest.

Remote URLs of checkouts and package sources sometimes carry a user name and
password or a token (``https://user:ghp_x@host/repo``, ``?private_token=x``).
The manifest is kept in git and shared, so such parts are dropped: a restore
asks for credentials again instead of finding them in a file.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"
# Query parameters whose value is a secret (matched case-insensitively, as substrings).
_SECRET_PARAMS = ("token", "secret", "password", "passwd", "pwd", "key", "auth", "sig",
                  "signature", "credential", "session")
# Schemes where a user name alone is routine and not a secret (ssh://git@host).
_USER_OK_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git", "svn+ssh", "sftp"})
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def redact_url(url: str) -> tuple[str, bool]:
    """Return ``url`` without credentials, and whether anything was removed.

    Strings that are not ``scheme://`` URLs (scp-like ``git@host:path``, local
    paths) carry no password and are returned unchanged.
    """
    if not _SCHEME.match(url):
        return url, False
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, False
    changed = False
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        if parts.scheme.lower() in _USER_OK_SCHEMES and not has_password:
            pass  # ssh://git@host: a user name, no secret
        elif parts.scheme.lower() in _USER_OK_SCHEMES:
            netloc = f"{user}@{hostport}"
            changed = True
        else:
            # http(s) and friends: a lone "user" is often a token (https://TOKEN@host).
            netloc = hostport
            changed = True
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        secret = [
            bool(value) and any(word in key.lower() for word in _SECRET_PARAMS)
            for key, value in pairs
        ]
        if any(secret):
            cleaned = [
                (key, REDACTED if hidden else value)
                for (key, value), hidden in zip(pairs, secret, strict=True)
            ]
            query = urlencode(cleaned, safe="/:$")
            changed = True
    if not changed:
        return url, False
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), True


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")


def _mask_url(url: str) -> str:
    """Replace secret parts with REDACTED but keep the URL's shape.

    Keeping the shape means a capture replayed from a masked recording makes
    exactly the same redaction decisions as the live capture did.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        if has_password:
            netloc = f"{user}:{REDACTED}@{hostport}"
        elif parts.scheme.lower() not in _USER_OK_SCHEMES:
            netloc = f"{REDACTED}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(value and any(w in key.lower() for w in _SECRET_PARAMS) for key, value in pairs):
            query = urlencode(
                [
                    (key, REDACTED if value and any(w in key.lower() for w in _SECRET_PARAMS)
                     else value)
                    for key, value in pairs
                ],
                safe="/:$",
            )
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask_credentials(text: str) -> str:
    """Mask the credentials of every URL inside free text (command output, files)."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: _mask_url(m.group(0)), text)
