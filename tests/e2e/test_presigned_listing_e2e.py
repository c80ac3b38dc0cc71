"""A presigned listing from the broker lists the granted prefix at the emulator's S3, and nothing else."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def test_presigned_listing_lists_keys_under_the_granted_prefix(stack: Stack) -> None:
    with stack.broker(stack.sign_in("alice")) as client:
        presigned = client.post("/v1/presign/list", json={"bucket": "demo-data", "prefix": "users/alice/"})
    assert presigned.status_code == 200, presigned.text

    listing = httpx.get(presigned.json()["url"], timeout=30)

    assert listing.status_code == 200, listing.text
    assert "<Key>users/alice/notes.txt</Key>" in listing.text
    assert "<Prefix>users/alice/reports/</Prefix>" in listing.text
    assert "users/bob/" not in listing.text


def test_presigned_listing_of_a_wider_prefix_is_refused_by_the_broker(stack: Stack) -> None:
    with stack.broker(stack.sign_in("bob")) as client:
        presigned = client.post("/v1/presign/list", json={"bucket": "demo-data", "prefix": "users/"})

    assert presigned.status_code == 403
    assert presigned.json()["code"] == "access_denied"
