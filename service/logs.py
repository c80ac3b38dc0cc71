"""Structured logging: JSON or console lines, a request id on every line, secrets redacted."""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from service.redaction import REDACTED, redact_text

__all__ = [
    "FIXED",
    "REDACTED",
    "ConsoleFormatter",
    "JsonFormatter",
    "RedactingFilter",
    "configure_logging",
    "json_line",
    "redact_text",
    "redact_value",
    "request_id_var",
    "use_trace_ids",
]

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


# The ``extra=`` key of a record whose message is a constant event name and which lists the fields whose
# values come from the code's own closed vocabulary (route templates, methods, statuses, enum values,
# numbers): those are not scanned for secrets (names still are). Free-form fields are never listed.
FIXED = "fixed_fields"

# Attributes every LogRecord has; anything else was passed through ``extra=`` and is logged as a field.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn duplicates its message with ANSI colours
    FIXED,
}

# A log field whose name says it holds a secret is hidden whatever its value.
_SECRET_FIELD = re.compile(r"(?i)(secret|token|password|authorization|assertion|credential|cookie|key$)")


@functools.lru_cache(maxsize=4096)
def _secret_field(name: str) -> bool:
    """Whether a field of this name holds a secret (field names come from code: a bounded set)."""
    return bool(_SECRET_FIELD.search(name)) and name not in {"token_id", "cache_key"}


# Free-text values lately found clean (issuers, subjects, targets repeat on every line of a user): a repeat
# is not scanned again. Only values redaction left unchanged are kept, so this holds no secret.
_CLEAN_TEXT_KEPT = 4096
_CLEAN_TEXT_LONGEST = 512
_clean_text: dict[str, None] = {}


def _redacted_text(value: str) -> str:
    if value in _clean_text:
        return value
    redacted = redact_text(value)
    if redacted == value and len(value) <= _CLEAN_TEXT_LONGEST:
        if len(_clean_text) >= _CLEAN_TEXT_KEPT:
            _clean_text.clear()  # a full set starts over: cheaper than tracking the oldest
        _clean_text[value] = None
    return redacted


# Values written as they are; anything else is scanned (containers member by member, other objects as the
# text the line will show: bytes and objects would otherwise reach it through str()).
_PLAIN_VALUES = (int, float, bool, type(None))
# Deeper than this a field's value is hidden whole: a log field is never legitimately nested so far.
_NESTING_LIMIT = 16


def redact_value(name: str, value: object, depth: int = 0) -> object:
    """Return a log field's value, hidden when its name says it is secret, scanned all the way down."""
    if _secret_field(name):
        return REDACTED
    if isinstance(value, str):
        return _redacted_text(value)
    if isinstance(value, _PLAIN_VALUES):
        return value
    if depth >= _NESTING_LIMIT:
        return REDACTED
    if isinstance(value, dict):
        return {
            _redacted_text(key) if isinstance(key, str) else key: redact_value(str(key), member, depth + 1)
            for key, member in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(name, member, depth + 1) for member in value]
    if isinstance(value, bytes | bytearray):
        return _redacted_text(value.decode("utf-8", "backslashreplace"))
    return _redacted_text(str(value))


class RedactingFilter(logging.Filter):
    """Rewrites every record so no token, secret key or session token is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = vars(record)
        fixed = fields.get(FIXED) or ()
        if record.args or not fixed:
            record.msg = redact_text(record.getMessage())
            record.args = None
        for name in fields.keys() - _STANDARD_ATTRS:  # the fields passed with ``extra=``
            if name not in fixed or _secret_field(name):
                fields[name] = redact_value(name, fields[name])
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {name: value for name, value in vars(record).items() if name not in _STANDARD_ATTRS}


# datetime and dataclass values are written as str() gives them, as json.dumps(default=str) did.
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_line(line: dict[str, Any]) -> str:
    """Return ``line`` as one line of JSON (orjson; json for what orjson refuses: huge ints, surrogates)."""
    try:
        return orjson.dumps(line, default=str, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(line, default=str)


class _UtcTimes:
    """ISO 8601 UTC times to the millisecond; the date and time of the current second formatted once."""

    __slots__ = ("_second",)

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")

    def format(self, created: float) -> str:
        second = int(created)
        cached, prefix = self._second
        if cached != second:
            prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, prefix)  # one assignment: threads never see a torn pair
        return f"{prefix}.{int((created - second) * 1000):03d}+00:00"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, event, request_id, trace_id, span_id, the fields."""

    def __init__(self) -> None:
        super().__init__()
        self._times = _UtcTimes()

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._times.format(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(_context_fields())
        line.update(_fields(record))
        if record.exc_text:
            line["exception"] = record.exc_text
        return json_line(line)


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
    # The formatters write no thread, process or source location: records need not look them up
    # (a third of an access line's cost).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
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
