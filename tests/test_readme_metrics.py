"""The README's "Metrics and traces" table documents every metric /metrics exposes: name, type and labels."""

from __future__ import annotations

import re
from pathlib import Path

from service.metrics import FAMILIES
from tests.scrape import scrape_exercised_app

README = Path(__file__).resolve().parents[1] / "README.md"
_ROW = re.compile(r"^\| `(tipb_[a-z0-9_]+)` \| (counter|gauge|histogram) \| ([^|]*) \| .+ \|$", re.MULTILINE)


def _documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    text = README.read_text()
    section = text[text.index("## Metrics and traces") :]
    section = section[: section.index("\n## ", 1)]
    return {
        name: (kind, tuple(re.findall(r"`([a-z_]+)`", labels)))
        for name, kind, labels in _ROW.findall(section)
    }


async def test_readme_documents_every_metric_the_app_exposes_with_its_type() -> None:
    seen = await scrape_exercised_app()
    documented = _documented()
    exposed = {
        (family.name + "_total" if family.type == "counter" else family.name): family.type
        for family in seen.families.values()
    }
    assert set(exposed) == set(documented)
    assert {name: kind for name, (kind, _) in documented.items()} == exposed


async def test_readme_documents_each_metrics_labels_in_order() -> None:
    seen = await scrape_exercised_app()
    documented = _documented()
    for family in FAMILIES:
        assert documented[family.name][1] == family.labels, family.name
        exposed_labels = {name for labels in seen.series(_sample(family.name)) for name in labels} - {"le"}
        assert exposed_labels <= set(family.labels), family.name


def _sample(name: str) -> str:
    return name if name.endswith("_total") else f"{name}_count"
