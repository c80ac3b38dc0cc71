"""Traces of a real broker process (OTEL_EXPORTER_OTLP_ENDPOINT set) received by a real OTLP/HTTP endpoint.

The receiver is a loopback HTTP server taking ``POST /v1/traces`` protobuf (decoded by opentelemetry-proto);
one cold credentials request must arrive as one trace: the route's server span, the three AWS calls and the
Redis commands, with the trace and span ids the broker's JSON log line names.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from bench import stack as processes

pytestmark = pytest.mark.e2e
USER = "alice"
TARGET, PERMISSION = processes.GRANTED[USER]
ARRIVAL_SECONDS = 20.0
AWS_OPERATIONS = {"CreateTokenWithIAM", "AssumeRole", "GetDataAccess"}


@dataclass(frozen=True)
class ReceivedSpan:
    trace_id: str
    span_id: str
    name: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return (
        getattr(value, kind) if kind in {"string_value", "int_value", "bool_value", "double_value"} else None
    )


class OtlpReceiver:
    """A loopback OTLP/HTTP trace endpoint keeping every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                receiver.receive(self.path, body)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def receive(self, path: str, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self._lock:
            self.paths.append(path)
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            ReceivedSpan(
                                span.trace_id.hex(),
                                span.span_id.hex(),
                                span.name,
                                {a.key: _value(a.value) for a in span.attributes},
                                resource,
                            )
                        )

    def received(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    running = OtlpReceiver()
    yield running
    running.stop()


def _route_span(spans: list[ReceivedSpan]) -> ReceivedSpan | None:
    return next((s for s in spans if s.attributes.get("http.route") == "/v1/credentials"), None)


def _wait_for_trace(receiver: OtlpReceiver) -> list[ReceivedSpan]:
    """Return the spans of the credentials request's trace once the route and AWS spans have all arrived."""
    deadline = time.monotonic() + ARRIVAL_SECONDS
    while True:
        spans = receiver.received()
        route = _route_span(spans)
        trace = [s for s in spans if route is not None and s.trace_id == route.trace_id]
        if {s.attributes.get("rpc.method") for s in trace} >= AWS_OPERATIONS or time.monotonic() > deadline:
            return trace
        time.sleep(0.1)


def _log_lines(log: Path, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def test_traced_broker_sends_request_aws_and_redis_spans_under_the_log_lines_trace_id(
    receiver: OtlpReceiver, redis_url: str, tmp_path: Path
) -> None:
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: export within the test, not after the default 5 s
    }
    with (
        processes.emulator(log_dir=tmp_path) as emulator,
        processes.broker(
            emulator, redis_url=redis_url, log_level="INFO", log_dir=tmp_path, extra_env=otel
        ) as broker,
    ):
        with broker.client(emulator.sign_in(USER)) as client:
            answer = client.post("/v1/credentials", json={"target": TARGET, "permission": PERMISSION})
        trace = _wait_for_trace(receiver)
        log = broker.log

    assert answer.status_code == 200, answer.text
    route = _route_span(trace)
    assert route is not None, f"no span of the route among {[s.name for s in trace]}"
    assert route.name == "POST /v1/credentials"
    assert route.resource["service.name"] == "tip-broker"
    by_operation = {s.attributes.get("rpc.method"): s for s in trace}
    assert set(by_operation) >= AWS_OPERATIONS, sorted(map(str, by_operation))
    assert {by_operation[op].attributes["rpc.system"] for op in AWS_OPERATIONS} == {"aws-api"}
    assert any("redis" in (s.attributes.get("db.system"), s.attributes.get("db.system.name")) for s in trace)
    assert set(receiver.paths) == {"/v1/traces"}
    (access,) = [line for line in _log_lines(log, "http.request") if line["route"] == "/v1/credentials"]
    (issued,) = _log_lines(log, "credentials.issued")
    assert access["trace_id"] == issued["trace_id"] == route.trace_id
    assert access["span_id"] == route.span_id  # written by the middleware inside the route's span
    assert not [
        line for line in _log_lines(log, "http.request") if line["route"] == "/readyz" and "trace_id" in line
    ]
