"""The broker's Prometheus metrics (prometheus_client): one registry per app, and the /metrics text.

Every family is declared in ``FAMILIES`` (the README's "Metrics and traces" table is checked against it).
Under ``serve --workers N`` ``PROMETHEUS_MULTIPROC_DIR`` is set before prometheus_client is imported: each
worker then writes its values to files there and ``render`` sums every worker's (prometheus_client's
multiprocess mode), so a scrape answered by any worker reports the whole server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from service.domain.circuit_breaker import BreakerState

MULTIPROCESS_DIR_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4

# Warm answers take well under a millisecond, cold ones three AWS round trips, a stuck one the 10 s cap.
REQUEST_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
# One AWS call: a few ms on a warm connection, up to botocore's 2 s connect + 5 s read per attempt.
UPSTREAM_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A method no route serves would otherwise become a label value of the client's choosing.
KNOWN_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Family:
    """One exported metric family: what the README documents and the dashboard may query."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    labels: tuple[str, ...]
    help: str


FAMILIES: Final = (
    Family(
        "tipb_http_request_duration_seconds",
        "histogram",
        ("route", "method", "status", "status_class"),
        "Time from a request's arrival to its answer, by route template, method and status",
    ),
    Family(
        "tipb_upstream_request_duration_seconds",
        "histogram",
        ("service", "operation", "outcome"),
        "Time of one call to AWS (retries included) or to an issuer's JWKS, by operation and outcome",
    ),
    Family(
        "tipb_cache_lookups_total",
        "counter",
        ("layer", "kind", "result"),
        "Cache lookups by layer (process, memory, redis, mirror), kind of entry and hit or miss",
    ),
    Family(
        "tipb_single_flight_waits_total",
        "counter",
        ("kind", "layer"),
        "Requests that waited for an identical call already in flight instead of calling AWS",
    ),
    Family(
        "tipb_rate_limited_total",
        "counter",
        ("budget",),
        "Requests refused with 429 rate_limited, by the per-user budget that ran out",
    ),
    Family(
        "tipb_jwks_refreshes_total",
        "counter",
        ("issuer", "outcome"),
        "Fetches of an issuer's JWKS, by outcome (ok or error)",
    ),
    Family(
        "tipb_sessions_opened_total",
        "counter",
        ("via",),
        "Identity-enhanced sessions opened (AssumeRole with the identity context), by how",
    ),
    Family(
        "tipb_credentials_issued_total",
        "counter",
        ("layer",),
        "Credentials handed out by POST /v1/credentials, by the layer that answered",
    ),
    Family(
        "tipb_presigned_urls_total",
        "counter",
        ("kind",),
        "Presigned URLs (single or batch items) and presigned POST forms handed out",
    ),
    Family(
        "tipb_upstream_misconfigured_total",
        "counter",
        ("reason",),
        "Requests AWS refused for the broker's own configuration, by reason",
    ),
    Family(
        "tipb_upstream_breaker_state",
        "gauge",
        ("operation",),
        "State of an AWS operation's circuit breaker: 0 closed, 1 half open, 2 open (highest of the workers)",
    ),
    Family(
        "tipb_upstream_breaker_opens_total",
        "counter",
        ("operation",),
        "Times an AWS operation's circuit breaker opened after throttles, server errors or timeouts",
    ),
    Family(
        "tipb_upstream_breaker_refusals_total",
        "counter",
        ("operation",),
        "Attempts refused without calling AWS because the operation's circuit breaker was open",
    ),
)
_BY_NAME: Final = {family.name: family for family in FAMILIES}


class CacheCounter:
    """The hit and miss series of one (layer, kind) of cache, bound once so a lookup costs one ``inc``."""

    __slots__ = ("hit", "miss")

    def __init__(self, lookups: Counter, layer: str, kind: str) -> None:
        self.hit = lookups.labels(layer=layer, kind=kind, result="hit")
        self.miss = lookups.labels(layer=layer, kind=kind, result="miss")

    def record(self, found: bool) -> None:
        """Count one lookup."""
        (self.hit if found else self.miss).inc()


def multiprocess_mode() -> bool:
    """Return whether values go to per-process files (``PROMETHEUS_MULTIPROC_DIR`` is set)."""
    return bool(os.environ.get(MULTIPROCESS_DIR_VARIABLE))


class Metrics:
    """Every family of ``FAMILIES`` in one registry, with the label sets the hot path uses bound once.

    Hot-path updates take no lock of the broker's: a bound series' ``inc``/``observe`` (prometheus_client's
    own per-value lock, uncontended on the event loop) after a plain dict lookup.
    """

    def __init__(self) -> None:
        # *_created series double the exposition, and multiprocess mode has none.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self.requests = self._histogram("tipb_http_request_duration_seconds", REQUEST_BUCKETS)
        self.upstream = self._histogram("tipb_upstream_request_duration_seconds", UPSTREAM_BUCKETS)
        self.cache_lookups = self._counter("tipb_cache_lookups_total")
        self.single_flight_waits = self._counter("tipb_single_flight_waits_total")
        self.rate_limited = self._counter("tipb_rate_limited_total")
        self.jwks_refreshes = self._counter("tipb_jwks_refreshes_total")
        self.sessions_opened = self._counter("tipb_sessions_opened_total")
        self.credentials_issued = self._counter("tipb_credentials_issued_total")
        self.presigned = self._counter("tipb_presigned_urls_total")
        self.misconfigured = self._counter("tipb_upstream_misconfigured_total")
        family = _BY_NAME["tipb_upstream_breaker_state"]
        # livemax: under several workers the scrape shows the most open breaker of the live ones.
        self.breaker_state = Gauge(
            family.name, family.help, family.labels, registry=self.registry, multiprocess_mode="livemax"
        )
        self.breaker_opens = self._counter("tipb_upstream_breaker_opens_total")
        self.breaker_refusals = self._counter("tipb_upstream_breaker_refusals_total")
        self._request_series: dict[tuple[str, str, int], Histogram] = {}
        self._upstream_series: dict[tuple[str, str, str], Histogram] = {}
        # Series that exist from the start, so rate() and the dashboard see zeros before the first event.
        self._issued = {layer: self.credentials_issued.labels(layer=layer) for layer in ("cache", "upstream")}
        self._urls = {kind: self.presigned.labels(kind=kind) for kind in ("url", "post")}
        for budget in ("requests", "upstream"):
            self.rate_limited.labels(budget=budget)

    def _counter(self, name: str) -> Counter:
        family = _BY_NAME[name]
        return Counter(family.name, family.help, family.labels, registry=self.registry)

    def _histogram(self, name: str, buckets: tuple[float, ...]) -> Histogram:
        family = _BY_NAME[name]
        return Histogram(family.name, family.help, family.labels, registry=self.registry, buckets=buckets)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one answered request under its route template."""
        if method not in KNOWN_METHODS:
            method = "other"
        key = (route, method, status)
        series = self._request_series.get(key)
        if series is None:
            series = self.requests.labels(route, method, str(status), f"{status // 100}xx")
            self._request_series[key] = series
        series.observe(seconds)

    def observe_upstream(self, service: str, operation: str, outcome: str, seconds: float) -> None:
        """Record one upstream call (called from the AWS thread pool too: the dict is only a memo)."""
        key = (service, operation, outcome)
        series = self._upstream_series.get(key)
        if series is None:
            series = self._upstream_series[key] = self.upstream.labels(service, operation, outcome)
        series.observe(seconds)

    def breaker_changed(self, operation: str, state: BreakerState) -> None:
        """Record a circuit breaker's new state (called from the AWS thread pool)."""
        self.breaker_state.labels(operation=operation).set(int(state))
        series = self.breaker_opens.labels(operation=operation)  # exists from the breaker's creation on
        if state is BreakerState.OPEN:
            series.inc()

    def breaker_refused(self, operation: str) -> None:
        """Count an attempt a circuit breaker refused."""
        self.breaker_refusals.labels(operation=operation).inc()

    def cache(self, layer: str, kind: str) -> CacheCounter:
        """Return the bound hit/miss series of one cache layer and kind of entry."""
        return CacheCounter(self.cache_lookups, layer, kind)

    def count_issued(self, layer: str) -> None:
        """Count credentials handed out, answered by ``layer`` (``cache`` or ``upstream``)."""
        series = self._issued.get(layer)
        (series if series is not None else self.credentials_issued.labels(layer=layer)).inc()

    def count_presigned(self, kind: Literal["url", "post"], amount: int = 1) -> None:
        """Count presigned URLs or POST forms handed out."""
        if amount:
            self._urls[kind].inc(amount)

    def render(self) -> bytes:
        """Return the exposition in the Prometheus text format, every worker's values summed."""
        if multiprocess_mode():
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)
