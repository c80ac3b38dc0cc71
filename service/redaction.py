"""Redaction of free text: tokens, secret keys, signatures and credential headers, wherever they appear."""

from __future__ import annotations

import re

# A JWT (three base64url segments starting with a JSON header), an AWS secret-looking value after a
# key name, or a bearer header: none may reach a log line whatever path it took.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"']+")
REDACTED = "[redacted]"

# How the name of a member, element, parameter or header ends when its value is a secret: tokens of
# every kind, secret keys, passwords, context assertions, signatures, authorization and cookie headers.
_SECRET_ENDINGS = (
    "token",
    "secret",
    "secretaccesskey",
    "secret_access_key",
    "secretkey",
    "secret_key",
    "password",
    "passwd",
    "assertion",
    "identitycontext",
    "identity_context",
    "signature",
    "authorization",
    "cookie",
)
# Each pattern takes a whole name possessively (one pass over a long word) and leaves the check of its
# ending to _is_secret_name: far cheaper than making the regex engine try every ending everywhere.
# "name": "value", 'name': b'value' (dict reprs) and (b'name', b'value') (header tuples).
_QUOTED_MEMBER = re.compile(r"""(["'])([\w.:-]++)\1(\s*[:,]\s*b?)(["'])((?:\\.|(?!\4)[^\\])*)\4""")
# <SessionToken>value</SessionToken>, with or without a namespace prefix.
_XML_ELEMENT = re.compile(r"<([\w.:-]++)((?:\s[^>]*)?>)([^<]*)(</\1>)")
# name=value in a query string, a form body or an AWS4-HMAC-SHA256 authorization header.
_PARAMETER = re.compile(r"""(?<![\w.:-])([\w.:-]++)=([^&\s"',;)\][]+)""")
# name: value at the start of a line (raw HTTP headers, botocore's canonical request and signature).
_HEADER_LINE = re.compile(r"(?m)^([\w.-]++)(:[ \t]*(?:\r?\n)?)(\S[^\r\n]*)")
# Bare STS session tokens and context assertions (real AWS, moto and emulator formats) and
# Identity Center access and refresh tokens.
_OPAQUE_TOKEN = re.compile(
    r"(?<![A-Za-z0-9+/_-])(?:(?:IQoJ|FwoG|FQoG|AQoD|AQoJ|AQoE)[A-Za-z0-9+/=_%-]{20,}"
    r"|ao[ar][A-Za-z0-9+/=_:.-]{40,})"
)
# Substrings (lower-cased) without which none of the patterns above can match: most lines skip them.
_TRIGGERS = (
    "eyj",
    "bearer",
    "token",
    "secret",
    "passw",
    "assertion",
    "context",
    "signature",
    "authorization",
    "cookie",
    "iqoj",
    "fwog",
    "fqog",
    "aqo",
    "aoa",
    "aor",
)


def _might_hold_secret(text: str) -> bool:
    lowered = text.lower()
    for trigger in _TRIGGERS:  # noqa: SIM110 - a generator in any() costs as much as the searches
        if trigger in lowered:
            return True
    return False


def _is_secret_name(name: str) -> bool:
    return name.lower().endswith(_SECRET_ENDINGS)


def _hidden(value: str) -> str:
    """A secret value's replacement; a SigV4 authorization header keeps its credential scope."""
    if value.startswith("AWS4-HMAC-SHA256 "):
        return _PARAMETER.sub(_hide_parameter, value)
    return REDACTED


def _hide_member(match: re.Match[str]) -> str:
    quote, name, separator, value_quote, value = match.groups()
    # A member that is not secret may hold a document with secret members: look inside it.
    inner = _hidden(value) if _is_secret_name(name) else _QUOTED_MEMBER.sub(_hide_member, value)
    return f"{quote}{name}{quote}{separator}{value_quote}{inner}{value_quote}"


def _hide_element(match: re.Match[str]) -> str:
    return f"<{match[1]}{match[2]}{REDACTED}{match[4]}" if _is_secret_name(match[1]) else match[0]


def _hide_parameter(match: re.Match[str]) -> str:
    return f"{match[1]}={REDACTED}" if _is_secret_name(match[1]) else match[0]


def _hide_header(match: re.Match[str]) -> str:
    return f"{match[1]}{match[2]}{_hidden(match[3])}" if _is_secret_name(match[1]) else match[0]


def redact_text(text: str) -> str:
    """Return ``text`` with tokens, secret keys, signatures and credential headers replaced."""
    if not _might_hold_secret(text):
        return text
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(r"\1" + REDACTED, text)
    text = _QUOTED_MEMBER.sub(_hide_member, text)
    text = _XML_ELEMENT.sub(_hide_element, text)
    text = _HEADER_LINE.sub(_hide_header, text)
    text = _PARAMETER.sub(_hide_parameter, text)
    return _OPAQUE_TOKEN.sub(REDACTED, text)
