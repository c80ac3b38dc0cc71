"""The grant-events consumer: which messages count as grant changes, one mark per batch, never a crash."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import pytest

from service.adapters.grant_events import (
    RELEVANT_EVENTS,
    GrantEventsConsumer,
    MalformedEventError,
    relevant_event,
)
from service.domain.cache_errors import CacheUnavailableError

QUEUE = "http://127.0.0.1:1/111122223333/grant-events"


def envelope(name: str = "DeleteAccessGrant", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.s3",
        "account": "111122223333",
        "region": "us-east-1",
        "detail": {
            "eventSource": "s3.amazonaws.com",
            "eventName": name,
            "requestParameters": {"id": "a1b2c3", "accountId": "111122223333"},
        },
    }
    detail = changes.pop("detail", {})
    event["detail"].update(detail)
    event.update(changes)
    return event


def body(name: str = "DeleteAccessGrant", **changes: Any) -> str:
    return json.dumps(envelope(name, **changes))


@pytest.mark.parametrize("name", sorted(RELEVANT_EVENTS))
def test_every_grant_change_is_relevant(name: str) -> None:
    assert relevant_event(body(name)) == name


@pytest.mark.parametrize(
    "message",
    [
        body("GetDataAccess"),
        body("CreateAccessGrantsLocation"),  # a new location grants nothing by itself
        body("PutObject"),
        body(**{"source": "aws.ec2"}),
        body(**{"detail-type": "Object Created"}),
        body(detail={"eventSource": "s3-outposts.amazonaws.com"}),
        body(detail={"errorCode": "AccessDenied"}),  # a refused call changed nothing
    ],
)
def test_other_events_are_irrelevant(message: str) -> None:
    assert relevant_event(message) is None


@pytest.mark.parametrize(
    "message",
    [
        "",
        "not json",
        "[]",
        json.dumps({"source": "aws.s3"}),
        json.dumps({"detail": "DeleteAccessGrant"}),
        json.dumps({"detail": {"eventSource": "s3.amazonaws.com"}}),
        json.dumps({"detail": {"eventName": 7, "eventSource": "s3.amazonaws.com"}}),
    ],
)
def test_malformed_messages_are_refused(message: str) -> None:
    with pytest.raises(MalformedEventError):
        relevant_event(message)


class FakeSqs:
    """ReceiveMessage answers from a list of batches, then waits; DeleteMessageBatch is recorded."""

    def __init__(self, batches: list[list[str] | Exception]) -> None:
        self.batches = batches
        self.deleted: list[str] = []
        self.receives = 0
        self.idle = threading.Event()

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["QueueUrl"] == QUEUE
        self.receives += 1
        if not self.batches:
            self.idle.set()
            threading.Event().wait(kwargs["WaitTimeSeconds"] / 100)
            return {}
        batch = self.batches.pop(0)
        if isinstance(batch, Exception):
            raise batch
        return {
            "Messages": [
                {"MessageId": f"m{i}", "ReceiptHandle": f"{self.receives}-{i}", "Body": b}
                for i, b in enumerate(batch)
            ]
        }

    def delete_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        self.deleted += [e["ReceiptHandle"] for e in kwargs["Entries"]]
        return {"Successful": [{"Id": e["Id"]} for e in kwargs["Entries"]], "Failed": []}


class FakeMarks:
    def __init__(self, failures: int = 0) -> None:
        self.bumps = 0
        self.failures = failures

    async def grants_changed(self) -> None:
        if self.failures:
            self.failures -= 1
            raise CacheUnavailableError("cache unavailable for bump_stamp")
        self.bumps += 1


async def test_a_batch_with_grant_changes_bumps_the_mark_once_and_deletes_every_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_looking = body("PutObject", detail={"requestParameters": {"key": "private/payroll.csv"}})
    sqs = FakeSqs([[body("DeleteAccessGrant"), body("CreateAccessGrant"), secret_looking, "garbage"]])
    marks = FakeMarks()
    consumer = GrantEventsConsumer(sqs, QUEUE, marks, wait_seconds=1)
    with caplog.at_level(logging.INFO, logger="service.grant_events"):
        assert await consumer.poll_once() == 2
    assert marks.bumps == 1
    assert sqs.deleted == ["1-0", "1-1", "1-2", "1-3"]
    assert (consumer.relevant, consumer.ignored, consumer.malformed) == (2, 1, 1)
    assert "payroll" not in caplog.text  # counted, content not logged
    assert "garbage" not in caplog.text


async def test_a_batch_without_grant_changes_is_deleted_without_a_mark() -> None:
    sqs = FakeSqs([[body("GetDataAccess"), "{}"]])
    marks = FakeMarks()
    assert await GrantEventsConsumer(sqs, QUEUE, marks).poll_once() == 0
    assert marks.bumps == 0
    assert sqs.deleted == ["1-0", "1-1"]


async def test_messages_stay_queued_when_the_mark_cannot_be_recorded() -> None:
    sqs = FakeSqs([[body("DeleteAccessGrant")]])
    with pytest.raises(CacheUnavailableError):
        await GrantEventsConsumer(sqs, QUEUE, FakeMarks(failures=1)).poll_once()
    assert sqs.deleted == []  # redelivered after the visibility timeout


async def test_the_background_task_survives_failures_and_backs_off() -> None:
    sqs = FakeSqs([ConnectionError("queue down"), [body("DeleteAccessGrant")], [body("DeleteAccessGrant")]])
    marks = FakeMarks(failures=1)
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    consumer = GrantEventsConsumer(sqs, QUEUE, marks, wait_seconds=1, sleep=sleep)
    await consumer.start()
    await asyncio.wait_for(asyncio.to_thread(sqs.idle.wait), timeout=5)
    await consumer.stop()
    assert consumer.failures == 2  # the queue, then the cache
    assert len(delays) == 2
    assert 0.5 <= delays[0] <= 1.0
    assert 1.0 <= delays[1] <= 2.0
    assert marks.bumps == 1  # the second batch, after the failed one was not deleted
    assert sqs.deleted == ["3-0"]
    await consumer.stop()  # stopping twice is harmless
