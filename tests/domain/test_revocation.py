"""Revocation marks: what the grants mark kills (data access) and what it leaves alone (sessions, tokens)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from service.adapters.credential_store import decode_book, encode_book
from service.domain.access import DataAccess, Grantee, Permission, Privilege
from service.domain.access_book import AccessBook, AccessEntry
from service.domain.credentials import TemporaryCredentials
from service.domain.identity import Caller
from service.domain.revocation import Revocations, Stamp

CALLER = Caller("https://issuer", "alice", "alice", "jti-1", 2_000_000_000, "token", 1_000)
ACCESS = DataAccess(
    TemporaryCredentials("ASIAX", "s", "t", datetime(2030, 1, 1, tzinfo=UTC)),
    "s3://b/team/*",
    Grantee("DIRECTORY_USER", "idc-alice"),
    Permission.READ,
)


def test_grants_mark_refuses_no_token() -> None:
    assert not Revocations(grants=10**15).refuses(CALLER)


def test_grants_mark_kills_older_access_entries_but_not_sessions() -> None:
    marks = Revocations(grants=2_000)
    assert Stamp(grants=1_999).access_outlived_by(marks)
    assert not Stamp(grants=2_000).access_outlived_by(marks)
    assert not Stamp(grants=1_999).outlived_by(marks)  # the identity session's check
    assert marks.stamp == Stamp(0, 0, 2_000)


def test_revoked_by_drops_entries_older_than_the_grants_mark() -> None:
    old = AccessEntry(ACCESS, Privilege.DEFAULT, Stamp(grants=1))
    new = AccessEntry(ACCESS, Privilege.DEFAULT, Stamp(grants=5))
    book = AccessBook("idc-alice", (old, new)).revoked_by(Revocations(grants=5))
    assert book.entries == (new,)


def test_entries_encoded_before_the_grants_mark_decode_with_zero() -> None:
    entry = AccessEntry(ACCESS, Privilege.DEFAULT, Stamp(7, 8, 9))
    raw = json.loads(encode_book(AccessBook("idc-alice", (entry,))))
    assert raw["e"][0]["s"] == [7, 8, 9]
    assert decode_book(json.dumps(raw).encode()).entries[0].stamp == Stamp(7, 8, 9)
    raw["e"][0]["s"] = [7, 8]
    assert decode_book(json.dumps(raw).encode()).entries[0].stamp == Stamp(7, 8, 0)
    del raw["e"][0]["s"]
    assert decode_book(json.dumps(raw).encode()).entries[0].stamp == Stamp()
