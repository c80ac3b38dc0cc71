"""Structured logging: JSON or console lines, a request id on every line, secrets redacted."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Returns the (trace id, span id) of the span in progress; set by service.tracing when traces are on.
_trace_ids: Callable[[], tuple[str, str] | None] | None = None


def use_trace_ids(provider: Callable[[], tuple[str, str] | None] | None) -> None:
    """Put ``provider``'s trace and span ids in every line written inside a span (None: stop)."""
    global _trace_ids  # noqa: PLW0603 - one logging configuration per process
    _trace_ids = provider


def _context_fields() -> dict[str, str]:
    """Return the request id and the trace and span ids of the line being written, when there are any."""
    fields: dict[str, str] = {}
    request_id = request_id_var.get()
    if request_id:
        fields["request_id"] = request_id
    ids = _trace_ids() if _trace_ids is not None else None
    if ids is not None:
        fields["trace_id"], fields["span_id"] = ids
    return fields


# Attributes every LogRecord has; anything else was passed through ``extra=`` and is logged as a field.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn duplicates its message with ANSI colours
}

# A JWT (three base64url segments starting with a JSON header), an AWS secret-looking value after a
# key name, or a bearer header: none may reach a log line whatever path it took.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"']+")
_SECRET_FIELD = re.compile(r"(?i)(secret|token|password|authorization|assertion|credential|cookie|key$)")
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
    return any(trigger in lowered for trigger in _TRIGGERS)


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


def redact_value(name: str, value: object) -> object:
    """Return a log field's value, hidden when its name says it is secret."""
    if _SECRET_FIELD.search(name) and name not in {"token_id", "cache_key"}:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactingFilter(logging.Filter):
    """Rewrites every record so no token, secret key or session token is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS:
                setattr(record, name, redact_value(name, value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name, value in vars(record).items() if name not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, request_id, trace_id, span_id, the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(_context_fields())
        line.update(_fields(record))
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str)


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for development."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        context = _context_fields()
        prefix = f"{record.levelname:<7} {record.name} {record.getMessage()}"
        request_id = context.get("request_id")
        text = f"{prefix} rid={request_id} {fields}" if request_id else f"{prefix} {fields}"
        if "trace_id" in context:
            text = f"{text} trace_id={context['trace_id']} span_id={context['span_id']}"
        return f"{text}\n{record.exc_text}" if record.exc_text else text


# Libraries whose records must reach the root handler: any handler of their own (uvicorn's, a
# ``set_stream_logger`` call, redis's lazily added push-response handler) would bypass redaction.
_LIBRARY_LOGGERS = (
    "botocore",
    "boto3",
    "s3transfer",
    "urllib3",
    "httpx",
    "httpcore",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "redis",
    "push_response",
    "asyncio",
)


def _is_ours(handler: logging.Handler) -> bool:
    return bool(getattr(handler, "_tipb", False))


def _route_to_root(logger: logging.Logger) -> None:
    """Drop the logger's own emitting handlers so its records reach only the root handlers."""
    for handler in list(logger.handlers):
        if not isinstance(handler, logging.NullHandler):
            logger.removeHandler(handler)
    logger.propagate = True


def _existing_loggers() -> list[logging.Logger]:
    named = [logging.getLogger(name) for name in _LIBRARY_LOGGERS]
    known = logging.Logger.manager.loggerDict.values()
    return named + [logger for logger in list(known) if isinstance(logger, logging.Logger)]


def _guard_root_handlers(root: logging.Logger) -> None:
    """Give every other root handler the redacting filter too: no handler sees a raw record."""
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def configure_logging(fmt: str, level: str) -> None:
    """Send every log record, the libraries' included, through redaction to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if _is_ours(existing):
            root.removeHandler(existing)
    handler._tipb = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    _guard_root_handlers(root)
    for logger in _existing_loggers():
        _route_to_root(logger)
