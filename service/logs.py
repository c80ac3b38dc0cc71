"""Structured logging: JSON or console lines, a request id on every line, secrets redacted."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

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


def redact_text(text: str) -> str:
    """Return ``text`` with JWTs and bearer credentials replaced."""
    return _BEARER.sub(r"\1" + REDACTED, _JWT.sub(REDACTED, text))


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
    """One JSON object per line: time, level, logger, event, request_id and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        line.update(_fields(record))
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str)


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for development."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        request_id = request_id_var.get()
        prefix = f"{record.levelname:<7} {record.name} {record.getMessage()}"
        text = f"{prefix} rid={request_id} {fields}" if request_id else f"{prefix} {fields}"
        return f"{text}\n{record.exc_text}" if record.exc_text else text


def configure_logging(fmt: str, level: str) -> None:
    """Send every log record through redaction to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_tipb", False):
            root.removeHandler(existing)
    handler._tipb = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
