"""Consumer of S3 Access Grants change events (EventBridge to SQS): a change drops cached data access."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import boto3
from botocore.config import Config

from service.adapters.aws_metrics import AwsCallTimer

logger = logging.getLogger("service.grant_events")

# CloudTrail management events after which a cached GetDataAccess answer may be wrong: a grant or location
# went away, a new grant may now be the closest match for a Default-privilege request, or the instance's
# Identity Center association (which resolves users and groups) changed.
RELEVANT_EVENTS = frozenset(
    {
        "CreateAccessGrant",
        "DeleteAccessGrant",
        "UpdateAccessGrantsLocation",
        "DeleteAccessGrantsLocation",
        "AssociateAccessGrantsIdentityCenter",
        "DissociateAccessGrantsIdentityCenter",
        "DeleteAccessGrantsInstance",
    }
)
_DETAIL_TYPE = "AWS API Call via CloudTrail"
# Backoff after a failed poll: doubled from the first to the last value, with jitter.
_FIRST_BACKOFF_SECONDS = 1.0
_MAX_BACKOFF_SECONDS = 60.0


class MalformedEventError(ValueError):
    """A queue message that is not an EventBridge event envelope."""


class GrantsMark(Protocol):
    """Where a grant change is recorded (the credential store)."""

    async def grants_changed(self) -> None: ...


def relevant_event(body: str) -> str | None:
    """Return the Access Grants operation a message reports when it changed grants, else None.

    Raises:
        MalformedEventError: the body is not an EventBridge envelope of a CloudTrail event.
    """
    try:
        envelope = json.loads(body)
    except ValueError:
        raise MalformedEventError("not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("detail"), dict):
        raise MalformedEventError("no detail object")
    detail: dict[str, Any] = envelope["detail"]
    name = detail.get("eventName")
    if not isinstance(name, str) or not isinstance(detail.get("eventSource"), str):
        raise MalformedEventError("no eventSource or eventName")
    if (
        envelope.get("source") != "aws.s3"
        or envelope.get("detail-type") != _DETAIL_TYPE
        or detail["eventSource"] != "s3.amazonaws.com"
        or name not in RELEVANT_EVENTS
        # A refused call changed nothing.
        or detail.get("errorCode")
    ):
        return None
    return name


async def _in_daemon_thread(call: Callable[..., Any], **kwargs: Any) -> Any:
    """Run a blocking call on a daemon thread: a long poll in progress never holds up shutdown."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def work() -> None:
        try:
            result, error = call(**kwargs), None
        except Exception as exc:  # handed to the awaiting task
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed while this call was in flight
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="grant-events", daemon=True).start()
    return await future


class GrantEventsConsumer:
    """Long-polls the queue in a background task; each batch with a relevant event bumps the grants mark."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        store: GrantsMark,
        *,
        wait_seconds: int = 10,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._store = store
        self._wait_seconds = wait_seconds
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self.received = 0
        self.relevant = 0
        self.ignored = 0
        self.malformed = 0
        self.failures = 0

    @classmethod
    def build(
        cls,
        queue_url: str,
        store: GrantsMark,
        *,
        region: str,
        endpoint_url: str | None,
        wait_seconds: int = 10,
        timer: AwsCallTimer | None = None,
    ) -> GrantEventsConsumer:
        """Create the consumer with its own SQS client (the standard credential chain)."""
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 3},
            connect_timeout=2,
            # A long poll answers after up to wait_seconds; give it that plus a normal read timeout.
            read_timeout=wait_seconds + 5,
        )
        session = boto3.session.Session(region_name=region)
        if timer is not None:
            timer.register(session.events)
        sqs = session.client("sqs", config=config, endpoint_url=endpoint_url)
        return cls(sqs, queue_url, store, wait_seconds=wait_seconds)

    async def start(self) -> None:
        """Start polling in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="grant-events")
            logger.info("grant_events.started", extra={"wait_seconds": self._wait_seconds})

    async def stop(self) -> None:
        """Stop polling; a message received but not yet handled is delivered again later."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        backoff = _FIRST_BACKOFF_SECONDS
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                delay = backoff * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
                logger.warning(
                    "grant_events.poll_failed",
                    extra={"error": type(exc).__name__, "retry_in_seconds": round(delay, 1)},
                )
                await self._sleep(delay)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
            else:
                backoff = _FIRST_BACKOFF_SECONDS

    async def poll_once(self) -> int:
        """Receive one batch, record a grant change if it holds one, delete it; return the relevant count.

        Messages are deleted only after the mark is recorded: when that fails they come back after the
        queue's visibility timeout.
        """
        answer = await _in_daemon_thread(
            self._sqs.receive_message,
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self._wait_seconds,
        )
        messages: list[dict[str, Any]] = answer.get("Messages") or []
        if not messages:
            return 0
        relevant = ignored = malformed = 0
        for message in messages:
            try:
                name = relevant_event(str(message.get("Body", "")))
            except MalformedEventError:
                malformed += 1
                continue
            if name is None:
                ignored += 1
            else:
                relevant += 1
        if relevant:
            await self._store.grants_changed()
        await self._delete(messages)
        self.received += len(messages)
        self.relevant += relevant
        self.ignored += ignored
        self.malformed += malformed
        if relevant:
            logger.info("grant_events.grants_changed", extra={"events": relevant})
        if ignored or malformed:
            logger.info("grant_events.skipped", extra={"irrelevant": ignored, "malformed": malformed})
        return relevant

    async def _delete(self, messages: list[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(messages)
            if "ReceiptHandle" in m
        ]
        if not entries:
            return
        answer = await _in_daemon_thread(
            self._sqs.delete_message_batch, QueueUrl=self._queue_url, Entries=entries
        )
        failed = answer.get("Failed") or []
        if failed:
            logger.warning("grant_events.delete_failed", extra={"messages": len(failed)})
