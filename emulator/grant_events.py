"""Publish Access Grants changes to an SQS queue in moto, shaped as EventBridge delivers CloudTrail events."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from moto.sqs.models import sqs_backends

from emulator.state import EmulatorState


def cloudtrail_event(
    operation: str, account: str, region: str, parameters: dict[str, Any], caller_arn: str | None
) -> dict[str, Any]:
    """Return the EventBridge envelope of an "AWS API Call via CloudTrail" event for ``operation``."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": account,
        "time": now,
        "region": region,
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": caller_arn, "accountId": account},
            "eventTime": now,
            "eventSource": "s3.amazonaws.com",
            "eventName": operation,
            "awsRegion": region,
            "requestParameters": parameters,
            "responseElements": None,
            "requestID": uuid.uuid4().hex.upper()[:16],
            "eventID": str(uuid.uuid4()),
            "readOnly": False,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account,
            "eventCategory": "Management",
        },
    }


class GrantEventPublisher:
    """Sends one event per successful Access Grants change to a queue it creates in moto's SQS."""

    def __init__(self, state: EmulatorState, queue_name: str) -> None:
        self.state = state
        self.queue_name = queue_name
        self._backend = sqs_backends[state.account_id][state.region]
        self._backend.create_queue(queue_name)

    def publish(
        self, operation: str, account: str, parameters: dict[str, Any], caller_arn: str | None
    ) -> None:
        """Send the event for one change (EventBridge would, a little later)."""
        event = cloudtrail_event(operation, account, self.state.region, parameters, caller_arn)
        self._backend.send_message(self.queue_name, json.dumps(event))
