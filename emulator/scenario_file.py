"""The scenario file: reading it, its `${name}` variables, and what seeding it produced."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_SCENARIO = Path(__file__).parent / "scenarios" / "demo.yaml"


class ScenarioError(Exception):
    """The scenario file is invalid."""


@dataclass
class SeededUser:
    """A scenario user as the admin API reports it."""

    username: str
    email: str
    password: str
    idc_user_id: str | None  # None until the user exists in the identity store (`--empty`)
    groups: list[str]


@dataclass
class Seeded:
    """What seeding produced: ids the admin config and tests need (None: not created, as with `--empty`)."""

    user_pool_id: str
    client_id: str
    issuer_url: str
    application_arn: str | None
    bearer_role_arn: str | None
    broker_access_key: str
    broker_secret_key: str
    admin_access_key: str
    admin_secret_key: str
    users: list[SeededUser] = field(default_factory=list)
    group_ids: dict[str, str] = field(default_factory=dict)
    empty: bool = False


def load(path: str | Path) -> dict[str, Any]:
    """Read a scenario file."""
    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: top level must be a mapping")
    return data


def substitute(value: Any, variables: dict[str, str]) -> Any:
    """Replace `${name}` in every string of a scenario value (unknown names are left as written)."""
    if isinstance(value, str):
        return string.Template(value).safe_substitute(variables)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value
