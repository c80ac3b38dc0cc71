"""Grant change events end to end: a grant deleted through s3control stops being served from the cache."""

from __future__ import annotations

import time
from pathlib import Path

from bench import stack as processes
from tests.e2e.conftest import Stack

TARGET = "s3://demo-data/grant-events/report.csv"
WAIT_SECONDS = 20  # a bound, not a timing claim: the broker long-polls the queue for 1 s at a time


def test_deleted_grant_is_refused_without_signing_out(stack: Stack, redis_url: str, tmp_path: Path) -> None:
    account = stack.config["account_id"]
    carol = next(u for u in stack.config["users"] if u["username"] == "carol")
    s3control = stack.admin_client("s3control")
    locations = s3control.list_access_grants_locations(AccountId=account)["AccessGrantsLocationsList"]
    location = next(loc for loc in locations if loc["LocationScope"] == "s3://demo-data")
    grant = s3control.create_access_grant(
        AccountId=account,
        AccessGrantsLocationId=location["AccessGrantsLocationId"],
        AccessGrantsLocationConfiguration={"S3SubPrefix": "grant-events/*"},
        Grantee={"GranteeType": "DIRECTORY_USER", "GranteeIdentifier": carol["idc_user_id"]},
        Permission="READ",
    )
    events = {
        "BROKER_GRANT_EVENTS_QUEUE_URL": stack.config["grant_events_queue_url"],
        "BROKER_GRANT_EVENTS_WAIT_SECONDS": "1",
    }
    with (
        processes.broker(
            stack.emulator, redis_url=redis_url, log_level="INFO", log_dir=tmp_path, extra_env=events
        ) as broker,
        broker.client(stack.sign_in("carol")) as client,
    ):

        def issue() -> tuple[int, str | None]:
            response = client.post("/v1/credentials", json={"target": TARGET, "permission": "READ"})
            body = response.json()
            return response.status_code, body.get("access_key_id") or body.get("code")

        # Cached: the same credentials twice in a row (the CreateAccessGrant event may land in between).
        deadline = time.monotonic() + WAIT_SECONDS
        previous = issue()
        while (current := issue()) != previous:
            assert current[0] == 200
            assert time.monotonic() < deadline, "the credentials were never served from the cache"
            previous = current
            time.sleep(0.2)
        assert current[0] == 200
        # The stack's own broker consumes no events: it keeps serving its cached entry until expiry.
        without_events = stack.sign_in("carol")
        assert stack.issue(without_events, TARGET, "READ").status_code == 200
        before = stack.counts()

        s3control.delete_access_grant(AccountId=account, AccessGrantId=grant["AccessGrantId"])

        deadline = time.monotonic() + WAIT_SECONDS
        while (current := issue())[0] == 200:
            assert time.monotonic() < deadline, "the deleted grant was still served from the cache"
            time.sleep(0.2)
        assert current == (403, "access_denied")
        assert client.get("/v1/me").status_code == 200  # still signed in, with the same token
        after = stack.counts()
        assert stack.issue(without_events, TARGET, "READ").status_code == 200

    for operation in ("CreateTokenWithIAM", "AssumeRole"):
        assert after.get(operation, 0) == before.get(operation, 0), operation  # no new session
    assert after.get("GetDataAccess", 0) > before.get("GetDataAccess", 0)
    assert "grant_events.grants_changed" in broker.log.read_text()
