"""The README's configuration table lists exactly the variables Settings reads, with its defaults."""

from __future__ import annotations

import re
from pathlib import Path

from service.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
ALIASES = {"aws_region": "AWS_REGION", "aws_endpoint_url": "AWS_ENDPOINT_URL"}


def _documented() -> dict[str, str]:
    rows = re.findall(r"^\| `([A-Z_]+)` \| .* \| (.*) \|$", README.read_text(), flags=re.MULTILINE)
    return dict(rows)


def test_readme_configuration_table_lists_every_setting() -> None:
    expected = {ALIASES.get(name, f"BROKER_{name.upper()}") for name in Settings.model_fields}
    assert set(_documented()) == expected


def test_readme_configuration_defaults_match_settings() -> None:
    documented = _documented()
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, int) and not isinstance(default, bool):
            assert documented[f"BROKER_{name.upper()}"] == f"`{default}`", name
