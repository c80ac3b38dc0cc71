"""OpenTelemetry traces over OTLP/HTTP: a span per request, AWS call (botocore), JWKS fetch (httpx) and
Redis command, and the trace and span ids in every log line written inside one.

Imported by the composition root (``service.app.tracing_requested``) only when an OTLP endpoint is set; the
exporter reads the standard ``OTEL_*`` variables itself. Needs the ``otel`` extra.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Final

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Status
from opentelemetry.util.types import Attributes

from service import logs

DEFAULT_SERVICE_NAME: Final = "tip-broker"
# Probes and scrapes every few seconds would bury the requests worth reading.
DEFAULT_EXCLUDED_URLS: Final = "/healthz,/readyz,/metrics"

_provider: TracerProvider | None = None


def instrument(app: FastAPI) -> None:
    """Trace ``app``'s requests and, once per process, the AWS, JWKS and Redis calls made under them."""
    provider = _process_provider()
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=os.environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", DEFAULT_EXCLUDED_URLS),
        exclude_spans=["receive", "send"],
    )


def _process_provider() -> TracerProvider:
    global _provider  # noqa: PLW0603 - one provider and one set of library patches per process
    if _provider is None:
        name = os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        provider.add_span_processor(BatchSpanProcessor(RedactingExporter(OTLPSpanExporter())))
        trace.set_tracer_provider(provider)
        BotocoreInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
        HTTPXClientInstrumentor().instrument(tracer_provider=provider)
        RedisInstrumentor().instrument(tracer_provider=provider)
        logs.use_trace_ids(current_trace_ids)
        _provider = provider
    return _provider


def current_trace_ids() -> tuple[str, str] | None:
    """Return the (trace id, span id) of the span in progress, in W3C hex, or None outside any."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class RedactingExporter(SpanExporter):
    """Passes spans on with the log redaction applied: an AWS error message or an exception recorded on a
    span leaves the process under the same rules as a log line (docs/security.md)."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Export redacted copies of ``spans``."""
        return self._inner.export([_redacted(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Flush the wrapped exporter."""
        return self._inner.force_flush(timeout_millis)


def _redacted_attributes(attributes: Attributes) -> Attributes:
    if not attributes:
        return attributes
    return {name: logs.redact_value(name, value) for name, value in attributes.items()}  # type: ignore[misc]


def _redacted(span: ReadableSpan) -> ReadableSpan:
    status = span.status
    if status.description:
        status = Status(status.status_code, logs.redact_text(status.description))
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=_redacted_attributes(span.attributes),
        events=[Event(e.name, _redacted_attributes(e.attributes), e.timestamp) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
