"""OpenTelemetry wiring: off without an OTLP endpoint, trace ids in log lines, spans redacted on export."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from service import logs
from service.tracing import RedactingExporter, current_trace_ids
from tests.jwks import sign

ROOT = Path(__file__).resolve().parents[1]
# Builds the app as `serve` does, then names the OpenTelemetry pieces only tracing would load (FastAPI and
# redis-py import the OpenTelemetry API, and redis-py the SDK's metrics, on their own).
PROBE = """
import sys
from service.__main__ import openapi_document
from opentelemetry import trace
openapi_document()
loaded = sorted(
    name for name in sys.modules
    if name == "service.tracing"
    or name.startswith(("opentelemetry.instrumentation", "opentelemetry.exporter", "opentelemetry.sdk.trace"))
)
print(loaded, type(trace.get_tracer_provider()).__name__)
"""


def _probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(  # noqa: S603 - this interpreter and a fixed script
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.strip()


def test_tracing_loads_nothing_when_no_otlp_endpoint_is_set() -> None:
    assert _probe() == "[] ProxyTracerProvider"


def test_tracing_loads_nothing_when_the_sdk_is_disabled() -> None:
    assert _probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", OTEL_SDK_DISABLED="true") == (
        "[] ProxyTracerProvider"
    )


@pytest.fixture
def tracer() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingExporter(exported)))
    yield provider, exported
    provider.shutdown()


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logs.RedactingFilter())
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("tests.tracing")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logs.use_trace_ids(current_trace_ids)
    yield out
    logs.use_trace_ids(None)
    logger.removeHandler(handler)


def test_json_log_line_carries_the_trace_and_span_ids_inside_a_span(
    tracer: tuple[TracerProvider, InMemorySpanExporter], json_lines: io.StringIO
) -> None:
    provider, _ = tracer
    logger = logging.getLogger("tests.tracing")
    with provider.get_tracer("test").start_as_current_span("request") as span:
        logger.info("inside")
    logger.info("outside")

    inside, outside = (json.loads(line) for line in json_lines.getvalue().splitlines())
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in outside
    assert "span_id" not in outside


def test_redacting_exporter_hides_secrets_in_span_status_attributes_and_events(
    tracer: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exported = tracer
    token = sign()
    with provider.get_tracer("test").start_as_current_span("SSO OIDC.CreateTokenWithIAM") as span:
        span.set_attribute("http.request.header.x-amz-security-token", "IQoJb3JpZ2luX2VjEXAMPLETOKENVALUE")
        span.set_attribute("rpc.method", "CreateTokenWithIAM")
        span.add_event("exception", {"exception.message": f"assertion {token} refused"})
        span.set_status(StatusCode.ERROR, f"An error occurred: bad assertion {token}")

    (sent,) = exported.get_finished_spans()
    assert token not in (sent.status.description or "")
    assert logs.REDACTED in (sent.status.description or "")
    assert sent.attributes is not None
    assert sent.attributes["http.request.header.x-amz-security-token"] == logs.REDACTED
    assert sent.attributes["rpc.method"] == "CreateTokenWithIAM"
    assert token not in str(sent.events[0].attributes)
    assert (sent.name, sent.context, sent.status.status_code) == (
        span.name,
        span.get_span_context(),
        StatusCode.ERROR,
    )
