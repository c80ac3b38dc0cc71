"""A bearer role without s3:GetDataAccess is the operator's problem: 502 with a reason, never a cached 403."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack, running_stack

pytestmark = pytest.mark.e2e

BEARER_ROLE = "tip-identity-bearer"
POLICY = "access-grants-caller"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A broker of its own: on the shared one, bob's access may be cached by other tests, served unasked."""
    with running_stack(None, tmp_path_factory.mktemp("misconfiguration")) as running:
        yield running


@pytest.fixture
def bearer_policy(stack: Stack) -> Iterator[tuple[Any, str]]:
    """The demo bearer role's inline policy, put back after the test whatever it did to it."""
    iam = stack.admin_client("iam")
    document = iam.get_role_policy(RoleName=BEARER_ROLE, PolicyName=POLICY)["PolicyDocument"]
    text = document if isinstance(document, str) else json.dumps(document)
    yield iam, text
    iam.put_role_policy(RoleName=BEARER_ROLE, PolicyName=POLICY, PolicyDocument=text)


def test_missing_get_data_access_permission_is_502_and_recovers_once_fixed(
    stack: Stack, bearer_policy: tuple[Any, str]
) -> None:
    iam, document = bearer_policy
    token = stack.sign_in("bob")
    iam.delete_role_policy(RoleName=BEARER_ROLE, PolicyName=POLICY)

    for _ in range(2):  # the second answer comes from AWS again, not from a denial cache
        broken = stack.issue(token, "s3://demo-data/users/bob/*", "READ")
        assert broken.status_code == 502, broken.text
        assert broken.json()["code"] == "upstream_misconfigured"
        assert "s3:GetDataAccess" in broken.json()["detail"]
        assert "reason: iam_denied" in broken.json()["detail"]

    iam.put_role_policy(RoleName=BEARER_ROLE, PolicyName=POLICY, PolicyDocument=document)
    fixed = stack.issue(token, "s3://demo-data/users/bob/*", "READ")
    assert fixed.status_code == 200, fixed.text
    metrics = httpx.get(f"{stack.broker_url}/metrics", timeout=30).text
    assert 'tipb_upstream_misconfigured_total{reason="iam_denied"}' in metrics


def test_no_grant_is_still_a_403_user_denial(stack: Stack) -> None:
    refused = stack.issue(stack.sign_in("bob"), "s3://demo-data/finance/*", "READ")
    assert refused.status_code == 403
    assert refused.json()["code"] == "access_denied"


BROKER_USER = "tip-broker"
BROKER_POLICY = "create-token-with-iam"


@pytest.fixture
def broker_policy(stack: Stack) -> Iterator[tuple[Any, str]]:
    """The broker user's CreateTokenWithIAM policy, put back after the test whatever it did to it."""
    iam = stack.admin_client("iam")
    document = iam.get_user_policy(UserName=BROKER_USER, PolicyName=BROKER_POLICY)["PolicyDocument"]
    text = document if isinstance(document, str) else json.dumps(document)
    yield iam, text
    iam.put_user_policy(UserName=BROKER_USER, PolicyName=BROKER_POLICY, PolicyDocument=text)


def test_broker_without_create_token_with_iam_permission_is_502_iam_denied(
    stack: Stack, broker_policy: tuple[Any, str]
) -> None:
    iam, document = broker_policy
    with stack.broker(stack.sign_in("bob")) as client:  # drop the session cached by earlier tests
        assert client.delete("/v1/session").status_code == 204
    time.sleep(1.1)  # a token issued in the sign-out's second counts as issued before it
    token = stack.sign_in("bob")
    iam.delete_user_policy(UserName=BROKER_USER, PolicyName=BROKER_POLICY)

    broken = stack.issue(token, "s3://demo-data/users/bob/*", "READ")
    assert broken.status_code == 502, broken.text
    assert broken.json()["code"] == "upstream_misconfigured"
    assert "reason: iam_denied" in broken.json()["detail"]

    iam.put_user_policy(UserName=BROKER_USER, PolicyName=BROKER_POLICY, PolicyDocument=document)
    fixed = stack.issue(token, "s3://demo-data/users/bob/*", "READ")
    assert fixed.status_code == 200, fixed.text
