"""deploy/grafana/tip-broker.json: valid JSON whose queries name only metrics and labels /metrics exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from service.metrics import FAMILIES
from tests.scrape import Scrape, scrape_exercised_app

DASHBOARD = Path(__file__).resolve().parents[1] / "deploy" / "grafana" / "tip-broker.json"
# Labels Prometheus itself adds to every scraped series, and the histogram bucket bound.
TARGET_LABELS = frozenset({"job", "instance"})
_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^}]*)\}")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?![a-zA-Z0-9_:]*\s*\()")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
)


def _queries(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    variables = [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs + variables


def _metric_names(query: str) -> set[str]:
    bare = _GROUPING.sub(" ", _SELECTOR.sub(lambda m: f" {m[1] or ''} ", query))
    bare = re.sub(r"\[[^\]]*\]", " ", bare)  # range durations such as [$__rate_interval]
    bare = re.sub(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*\w+\s*\)", r" \1 ", bare)
    names = {m[0] for m in _IDENTIFIER.finditer(bare)}
    return {name for name in names if name not in _KEYWORDS and not re.fullmatch(r"[0-9.e]+", name)}


def _labels(query: str) -> set[str]:
    without_strings = _STRING.sub('""', query)
    found = {
        matcher.split("=")[0].rstrip("!~ ").strip()
        for _, inner in _SELECTOR.findall(without_strings)
        for matcher in inner.split(",")
        if matcher.strip()
    }
    found |= {
        label.strip() for group in _GROUPING.findall(query) for label in group.split(",") if label.strip()
    }
    return found


def test_dashboard_is_grafana_json_with_queries() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] == "tip-broker"
    assert dashboard["uid"] == "tip-broker"
    assert all(len(p.get("targets", [])) > 0 for p in dashboard["panels"] if p["type"] != "row")
    assert len(_queries(dashboard)) >= 15


async def test_dashboard_queries_only_metrics_and_labels_that_metrics_exposes() -> None:
    seen: Scrape = await scrape_exercised_app()
    labels = {family.name.removesuffix("_total"): set(family.labels) for family in FAMILIES}
    queried: set[str] = set()
    for query in _queries(json.loads(DASHBOARD.read_text())):
        names = _metric_names(query)
        assert names, query
        families = {name: seen.family_of(name) for name in names}
        assert None not in families.values(), f"not exposed by /metrics: {families} in {query}"
        allowed = TARGET_LABELS | {"le"} | set().union(*(labels[f] for f in families.values() if f))
        assert _labels(query) <= allowed, f"{_labels(query) - allowed} in {query}"
        queried |= {f for f in families.values() if f}
    # Every family has a panel: a metric nobody can see is one nobody will act on.
    assert queried == set(seen.families)
