"""Resource tags of what the emulator itself serves (Identity Center applications and token issuers,
Access Grants instances, locations and grants), kept by ARN in the emulator's state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.state import EmulatorState
from emulator.wire import AwsError

Refusal = Callable[[str], AwsError]


def parse_tags(items: Any, invalid: Refusal, limit: int) -> dict[str, str]:
    """Return `[{Key, Value}]` as a mapping; refuse malformed tags, `aws:` keys and more than `limit`."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise invalid("Tags must be a list of {Key, Value}")
    tags: dict[str, str] = {}
    for item in items:
        key = item.get("Key") if isinstance(item, dict) else None
        value = item.get("Value", "") if isinstance(item, dict) else None
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or not isinstance(value, str):
            raise invalid("A tag needs a Key of 1 to 128 characters and a Value")
        if len(value) > 256:
            raise invalid(f"The value of tag {key} is longer than 256 characters")
        if key.lower().startswith("aws:"):
            raise invalid("Tag keys starting with aws: are reserved for use by AWS")
        tags[key] = value
    if len(tags) > limit:
        raise invalid(f"A resource can have at most {limit} tags")
    return tags


def tag_resource(state: EmulatorState, arn: str, tags: dict[str, str], invalid: Refusal, limit: int) -> None:
    """Add or overwrite tags on a resource, keeping it within `limit` tags."""
    with state.lock:
        merged = {**state.tags.get(arn, {}), **tags}
        if len(merged) > limit:
            raise invalid(f"A resource can have at most {limit} tags")
        state.tags[arn] = merged


def untag_resource(state: EmulatorState, arn: str, keys: list[str]) -> None:
    """Remove tags by key (absent keys are ignored, as AWS does)."""
    with state.lock:
        current = state.tags.get(arn, {})
        state.tags[arn] = {k: v for k, v in current.items() if k not in keys}


def tags_of(state: EmulatorState, arn: str) -> list[dict[str, str]]:
    """Return a resource's tags as `[{Key, Value}]`."""
    with state.lock:
        return [{"Key": k, "Value": v} for k, v in state.tags.get(arn, {}).items()]


def forget(state: EmulatorState, arn: str) -> None:
    """Drop the tags of a deleted resource."""
    with state.lock:
        state.tags.pop(arn, None)
