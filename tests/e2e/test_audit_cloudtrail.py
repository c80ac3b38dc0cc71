"""Each issuance route writes exactly one audit record, and it joins to the emulator's CloudTrail-like
log the way README "Joining audit records to CloudTrail" says: the record's idc_user_id is the
GetDataAccess event's onBehalfOf user id, its role_session_name the session in the caller's ARN."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

ISSUANCES = frozenset({"credentials.issued", "urls.presigned"})
INSTANCE = "arn:aws:s3:us-east-1:111122223333:access-grants/default"
ROUTES = [
    pytest.param(
        "alice",
        "/v1/credentials",
        {"target": "s3://demo-data/users/alice/*", "permission": "READ"},
        "credentials.issued",
        id="credentials",
    ),
    pytest.param(
        "alice",
        "/v1/presign",
        {"bucket": "demo-data", "key": "users/alice/notes.txt", "method": "GET"},
        "urls.presigned",
        id="presign",
    ),
    pytest.param(
        "bob",
        "/v1/presign/batch",
        {
            "items": [
                {"bucket": "demo-data", "key": "users/bob/todo.txt", "method": "GET"},
                {"bucket": "demo-data", "key": "shared/engineering/design.md", "method": "GET"},
                {"bucket": "demo-data", "key": "users/bob/other.txt", "method": "GET"},
            ]
        },
        "urls.presigned",
        id="batch",
    ),
    pytest.param(
        "bob",
        "/v1/presign/post",
        {"bucket": "demo-uploads", "key": "bob/upload.txt"},
        "credentials.issued",
        id="post",
    ),
]


def _audit_records(stack: Stack, request_id: str) -> list[dict[str, Any]]:
    assert stack.broker_log is not None
    lines = [json.loads(line) for line in stack.broker_log.read_text().splitlines() if line.startswith("{")]
    return [
        line
        for line in lines
        if line.get("request_id") == request_id
        and line["logger"] == "service.audit"
        and line["event"] in ISSUANCES
    ]


def _grants_of(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the grant entries of a record: credentials.issued has one, urls.presigned a list."""
    if record["event"] == "credentials.issued":
        return [record]
    grants: list[dict[str, Any]] = record["grants"]
    return grants


@pytest.mark.parametrize(("user", "route", "body", "event"), ROUTES)
def test_issuance_writes_one_audit_record_that_joins_to_cloudtrail(
    stack: Stack, user: str, route: str, body: dict[str, Any], event: str
) -> None:
    request_id = f"audit-{uuid.uuid4().hex}"
    with stack.broker(stack.sign_in(user)) as client:
        response = client.post(route, json=body, headers={"X-Request-ID": request_id})
    assert response.status_code == 200, response.text

    records = _audit_records(stack, request_id)
    assert [record["event"] for record in records] == [event]
    record = records[0]
    idc_user_id = next(u["idc_user_id"] for u in stack.config["users"] if u["username"] == user)
    assert record["idc_user_id"] == idc_user_id
    assert record["role_session_name"] == f"tip-{idc_user_id}"
    grants = _grants_of(record)
    assert grants
    for grant in grants:
        assert grant["matched_grant"].startswith("s3://")
        assert grant["grantee_type"] in {"DIRECTORY_USER", "DIRECTORY_GROUP"}
        assert grant["grantee_identifier"]
        assert grant["grant_instance"] == INSTANCE
        assert grant["permission"] in {"READ", "WRITE"}
        assert grant["expires_at"] > record["time"]

    calls = httpx.get(
        f"{stack.emulator_url}/_emulator/calls", params={"operation": "GetDataAccess"}, timeout=10
    )
    joined = [
        call
        for call in calls.json()
        if call["onBehalfOf"] == record["idc_user_id"]
        and call["caller"].endswith(f":assumed-role/tip-identity-bearer/{record['role_session_name']}")
        and call["decision"] == "Allow"
    ]
    assert joined, "no GetDataAccess event of that user and session in the CloudTrail-like log"
