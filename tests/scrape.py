"""Reading a /metrics answer as Prometheus would: families, and sample values by name and labels."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


class Scrape:
    """One parsed exposition."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples: list[Sample] = [s for family in self.families.values() for s in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """Return the sum of the samples named ``name`` whose labels include ``labels`` (0 when none)."""
        return sum(s.value for s in self.samples if s.name == name and _includes(s.labels, labels))

    def series(self, name: str) -> list[dict[str, str]]:
        """Return the label sets of every sample named ``name``."""
        return [dict(s.labels) for s in self.samples if s.name == name]

    def sample_names(self) -> set[str]:
        """Return every sample name (``_bucket``, ``_count``, ``_sum``, ``_total`` included)."""
        return {s.name for s in self.samples}

    def family_of(self, metric: str) -> str | None:
        """Return the family a PromQL metric name belongs to, or None when none is exposed."""
        for suffix in ("", "_total", "_bucket", "_count", "_sum"):
            base = metric.removesuffix(suffix) if suffix else metric
            if (not suffix or metric.endswith(suffix)) and base in self.families:
                return base
        return None


def _includes(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(name) == value for name, value in wanted.items())


async def scrape_exercised_app() -> Scrape:
    """Return /metrics of an in-process app (fake AWS) after credentials, presign and refused requests."""
    from tests.api.conftest import build_world  # noqa: PLC0415 - the API fixtures import this module's users

    async with build_world(requests_per_minute=4) as world:
        body = {"target": "s3://data/users/alice/*", "permission": "READ"}
        for _ in range(2):
            await world.client.post("/v1/credentials", json=body, headers=world.auth())
        item = {"bucket": "data", "key": "users/alice/a.txt", "method": "GET"}
        await world.client.post("/v1/presign", json=item, headers=world.auth())
        await world.client.post("/v1/presign/batch", json={"items": [item]}, headers=world.auth())
        await world.client.post("/v1/credentials", json=body, headers=world.auth())  # refused: 429
        return Scrape((await world.client.get("/metrics")).text)
