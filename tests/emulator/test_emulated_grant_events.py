"""The emulator publishes Access Grants changes to its SQS queue as EventBridge delivers CloudTrail events."""

from __future__ import annotations

import json
from typing import Any

import boto3

from service.adapters.grant_events import relevant_event


def _drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    events = []
    while True:
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = answer.get("Messages") or []
        if not messages:
            return events
        for message in messages:
            events.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def test_grant_changes_reach_the_queue_and_reads_do_not(
    config: dict[str, Any], admin: boto3.session.Session, client_for: Any
) -> None:
    queue_url = config["grant_events_queue_url"]
    assert queue_url.endswith(f"/{config['account_id']}/tip-broker-grant-events")
    sqs = client_for(admin, "sqs")
    s3control = client_for(admin, "s3control")
    account = config["account_id"]
    assert _drain(sqs, queue_url) == []  # seeding publishes nothing

    locations = s3control.list_access_grants_locations(AccountId=account)["AccessGrantsLocationsList"]
    location = next(loc for loc in locations if loc["LocationScope"] == "s3://demo-data")
    created = s3control.create_access_grant(
        AccountId=account,
        AccessGrantsLocationId=location["AccessGrantsLocationId"],
        AccessGrantsLocationConfiguration={"S3SubPrefix": "events/*"},
        Grantee={"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": config["users"][0]["idc_user_id"]},
        Permission="READ",
    )
    s3control.list_access_grants(AccountId=account)
    s3control.delete_access_grant(AccountId=account, AccessGrantId=created["AccessGrantId"])

    events = _drain(sqs, queue_url)
    assert [e["detail"]["eventName"] for e in events] == ["CreateAccessGrant", "DeleteAccessGrant"]
    assert events[1]["detail"]["requestParameters"]["id"] == created["AccessGrantId"]
    assert [relevant_event(json.dumps(e)) for e in events] == ["CreateAccessGrant", "DeleteAccessGrant"]
