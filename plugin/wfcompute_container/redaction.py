"""Credential redaction for every text a tool (or the network) hands the plugin.

Tool stderr/stdout, gpgv lines, fetch errors and probe output may end up in an answer's
error message, a probe reason or a log line. Before they do, they pass through here.

What is replaced by ``<redacted>`` (the rest of the text is kept, so the message stays
useful):

* PEM private key blocks (``-----BEGIN ... PRIVATE KEY-----`` to its END line, or to the end
  of the text when the block is cut off).
* URL user-info: ``scheme://anything@host`` becomes ``scheme://<redacted>@host``. Every
  user-info is redacted, with or without a password: a bare user part is often the token
  itself (``https://<token>@github.com``), and a user name lost from an error costs little.
  A bare ``user@host`` without a scheme (``git@github.com``) is an address, not a secret,
  and is kept.
* ``KEY=VALUE``, ``KEY: VALUE`` and ``"KEY": "VALUE"`` where KEY contains a credential word
  (token, secret, password, passwd, pwd, credential, auth, api_key/apikey, access_key,
  private_key, cookie, session, bearer). The key is kept, the value goes; an
  authorization scheme word (``Authorization: Bearer x``) is kept before it.
* ``Bearer x`` anywhere, and ``Basic x`` when x looks like base64 rather than a word.
* Token shapes: GitHub (``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_`` + 36, ``github_pat_``),
  GitLab ``glpat-``, AWS key ids ``AKIA``/``ASIA`` + 16, Slack ``xox[abprs]-``, JWTs
  (``eyJ...``), OpenAI-style ``sk-`` keys.
* With ``redact_tool_text`` and ``redact_tool_detail``: also whole words naming unix
  sockets, named pipes or home directories (``unix://``, ``npipe:``, ``.sock``, ``/home/``,
  ``/Users/``, ``C:\\Users\\``).

``redact_tool_detail`` is the stricter form for the availability check's quoted detail: on
top of that it drops everything from the first word that merely mentions a credential
(``auth``, ``token``, ...), since such a line is about credentials even when no value shape
is recognisable. ``redact_secrets`` does only the credential part. Ordinary text
(``sha256:<hex>``, ``--timeout=5``, image references, paths outside home directories)
passes unchanged, and so do status words before a colon (``unauthorized: authentication
required``). This module imports nothing from ``operations`` so that ``runtime_io`` and
``rpc`` may use it.
"""

from __future__ import annotations

import re

from .goparity.text import go_lower

REDACTED = "<redacted>"

# Lower-case markers of words that name a local socket or a home directory.
SENSITIVE_WORD_MARKERS = ("unix://", "npipe:", ".sock", "/home/", "/users/", "\\users\\")

_CREDENTIAL_KEY_WORDS = (
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "credential",
    "auth",
    "api_key",
    "api-key",
    "apikey",
    "access_key",
    "access-key",
    "accesskey",
    "private_key",
    "private-key",
    "privatekey",
    "cookie",
    "session",
    "bearer",
)

_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY-----.*?"
    r"(?:-----END (?P=kind)PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# Greedy up to the last "@" of the authority: a password may itself hold a raw "@".
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s?#@]*(?:@[^/\s?#@]*)*@")
_KEY_CHARS = r"A-Za-z0-9_.\-"
_KEY_VALUE = re.compile(
    rf"(?<![{_KEY_CHARS}/@:])"
    rf"(?P<key>(?P<quote>[\"']?)[{_KEY_CHARS}]*?"
    rf"(?:{'|'.join(re.escape(word) for word in _CREDENTIAL_KEY_WORDS)})"
    rf"[{_KEY_CHARS}]*(?P=quote))"
    r"(?P<sep>\s*[=:]\s*)"
    r"(?P<scheme>(?:bearer|basic|digest|negotiate|token)\s+)?"
    r"(?P<value>\"[^\"]*\"|'[^']*'|(?!<redacted>)[^\s,;&\"'<>]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"\b(?P<scheme>bearer)\s+(?!<redacted>)(?P<value>[^\s,;\"'<>]+)", re.I)
_BASIC = re.compile(
    r"\b(?P<scheme>basic)\s+(?P<value>[A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])", re.I
)
_TOKEN_SHAPES = re.compile(
    "|".join(
        (
            r"\bgh[pousr]_[A-Za-z0-9]{36,}",
            r"\bgithub_pat_[A-Za-z0-9_]{20,}",
            r"\bglpat-[A-Za-z0-9_\-]{20,}",
            r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b",
            r"\bxox[abprs]-[A-Za-z0-9\-]{10,}",
            r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",
            r"\bsk-[A-Za-z0-9_\-]{20,}",
        )
    )
)


# Words that end a status, not name a field: "unauthorized: authentication required".
_STATUS_KEYS = frozenset(
    ("unauthorized", "unauthenticated", "authentication", "authenticated", "authenticating")
)


def _key_value(match: re.Match[str]) -> str:
    if match["key"].lower() in _STATUS_KEYS and "=" not in match["sep"]:
        return match[0]
    return f"{match['key']}{match['sep']}{match['scheme'] or ''}{REDACTED}"


def _scheme_value(match: re.Match[str]) -> str:
    return f"{match['scheme']} {REDACTED}"


def _basic_value(match: re.Match[str]) -> str:
    value = match["value"]
    # A word ("Basic authentication") is all lower-case letters; base64 credentials are not.
    if value.isalpha() and (value.islower() or value.isupper() or value.istitle()):
        return match[0]
    return _scheme_value(match)


def redact_secrets(text: str) -> str:
    """The text with every credential shape (see the module docstring) replaced."""
    text = _PEM_PRIVATE_KEY.sub(REDACTED, text)
    text = _TOKEN_SHAPES.sub(REDACTED, text)
    text = _KEY_VALUE.sub(_key_value, text)
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    text = _BEARER.sub(_scheme_value, text)
    return _BASIC.sub(_basic_value, text)


def contains_secret(text: str) -> bool:
    """Whether ``redact_secrets`` would change the text."""
    return redact_secrets(text) != text


def is_sensitive_word(word: str) -> bool:
    """A word naming a unix socket, a named pipe or a home directory (Go lower-casing)."""
    lowered = go_lower(word)
    return any(marker in lowered for marker in SENSITIVE_WORD_MARKERS)


def redact_sensitive_words(text: str) -> str:
    """Whole white-space-separated words naming sockets or home directories replaced."""
    parts = re.split(r"(\s+)", text)
    return "".join(
        REDACTED if index % 2 == 0 and part and is_sensitive_word(part) else part
        for index, part in enumerate(parts)
    )


def redact_tool_text(text: str) -> str:
    """Credentials, sockets and home directories out of a tool's text; the rest kept."""
    return redact_sensitive_words(redact_secrets(text))


# Words that introduce a credential in prose: what follows them is, or describes, the secret.
CREDENTIAL_WORD_MARKERS = (
    "token",
    "cookie",
    "secret",
    "password",
    "credential",
    "auth",
    "bearer",
)


def redact_tool_detail(text: str) -> str:
    """``redact_tool_text``, then everything from a word mentioning a credential dropped."""
    kept: list[str] = []
    for word in redact_secrets(text).split(" "):
        lowered = go_lower(word)
        if any(marker in lowered for marker in CREDENTIAL_WORD_MARKERS):
            kept.append(REDACTED)
            break
        kept.append(REDACTED if is_sensitive_word(word) else word)
    return " ".join(kept)
