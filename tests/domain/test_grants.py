"""Grant matching: scope coverage, the privilege table of reference §3.2, and the cache walk equivalence."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.domain.access import (
    DataAccess,
    DataAccessRequest,
    Grantee,
    Permission,
    Privilege,
    S3Target,
    scope_covers,
)
from service.domain.access_book import AccessBook
from service.domain.credentials import TemporaryCredentials
from service.domain.errors import InvalidRequestError
from tests.fakes import T0


@pytest.mark.parametrize(
    ("scope", "target", "covered"),
    [
        ("s3://b/bob/*", "s3://b/bob/*", True),
        ("s3://b/bob/*", "s3://b/bob/x.txt", True),
        ("s3://b/bob/*", "s3://b/bob/deep/x.txt", True),
        ("s3://b/bob/*", "s3://b/bob", True),
        ("s3://b/bob/*", "s3://b/bobby/x", False),
        ("s3://b/bob*", "s3://b/bobby/x", True),
        ("s3://b/bob*", "s3://b/bo", False),
        ("s3://b/*", "s3://b/anything/at/all", True),
        ("s3://b/*", "s3://c/x", False),
        ("s3://b/reports/q3.csv", "s3://b/reports/q3.csv", True),
        ("s3://b/reports/q3.csv", "s3://b/reports/q3.csv.bak", False),
        ("s3://b/reports/q3.csv", "s3://b/reports/*", False),
        ("s3://b/bob/images/*", "s3://b/bob/*", False),
    ],
)
def test_scope_covers_table(scope: str, target: str, covered: bool) -> None:
    assert scope_covers(scope, S3Target(target)) is covered


def _access(scope: str, permission: Permission, seconds: int = 3600) -> DataAccess:
    credentials = TemporaryCredentials("ASIA", "s", "t", T0 + timedelta(seconds=seconds))
    return DataAccess(credentials, scope, Grantee("DIRECTORY_USER", "u"), permission)


# Reference §3.2: (grant scope, requested target, privilege) → returned scope and what it serves.
PRIVILEGE_TABLE = [
    ("s3://b/bob/*", "s3://b/bob/*", Privilege.DEFAULT, "s3://b/bob/*", "s3://b/bob/any/key", True),
    ("s3://b/bob/*", "s3://b/bob/", Privilege.MINIMAL, "s3://b/bob/", "s3://b/bob/other", False),
    # Minimal credentials serve exactly their own scope: a narrower Minimal request gets its own.
    (
        "s3://b/bob/*",
        "s3://b/bob/images/*",
        Privilege.MINIMAL,
        "s3://b/bob/images/*",
        "s3://b/bob/images/a",
        False,
    ),
    (
        "s3://b/bob/reports/*",
        "s3://b/bob/reports/file.txt",
        Privilege.DEFAULT,
        "s3://b/bob/reports/*",
        "s3://b/bob/reports/other.txt",
        True,
    ),
    (
        "s3://b/bob/reports/*",
        "s3://b/bob/reports/file.txt",
        Privilege.MINIMAL,
        "s3://b/bob/reports/file.txt",
        "s3://b/bob/reports/other.txt",
        False,
    ),
]


@pytest.mark.parametrize(
    ("grant", "target", "privilege", "returned", "sibling", "sibling_served"), PRIVILEGE_TABLE
)
def test_access_book_privilege_table(
    grant: str, target: str, privilege: Privilege, returned: str, sibling: str, sibling_served: bool
) -> None:
    assert scope_covers(grant, S3Target(target))
    book = AccessBook().with_entry(_access(returned, Permission.READ), privilege, T0)
    assert book.find(S3Target(target), Permission.READ, privilege, T0, 900) is not None
    served = book.find(S3Target(sibling), Permission.READ, privilege, T0, 900) is not None
    assert served is sibling_served


def test_access_book_readwrite_serves_read_and_write() -> None:
    book = AccessBook().with_entry(_access("s3://b/p/*", Permission.READWRITE), Privilege.DEFAULT, T0)
    for permission in (Permission.READ, Permission.WRITE, Permission.READWRITE):
        assert book.find(S3Target("s3://b/p/k"), permission, Privilege.DEFAULT, T0, 900) is not None


def test_access_book_read_does_not_serve_write() -> None:
    book = AccessBook().with_entry(_access("s3://b/p/*", Permission.READ), Privilege.DEFAULT, T0)
    assert book.find(S3Target("s3://b/p/k"), Permission.WRITE, Privilege.DEFAULT, T0, 900) is None


def test_access_book_prefers_most_specific_entry() -> None:
    book = (
        AccessBook()
        .with_entry(_access("s3://b/*", Permission.READ), Privilege.DEFAULT, T0)
        .with_entry(_access("s3://b/p/*", Permission.READ), Privilege.DEFAULT, T0)
    )
    found = book.find(S3Target("s3://b/p/k"), Permission.READ, Privilege.DEFAULT, T0, 900)
    assert found is not None
    assert found.matched_grant_target == "s3://b/p/*"


def test_access_book_skips_entry_below_minimum_remaining() -> None:
    book = AccessBook().with_entry(_access("s3://b/p/*", Permission.READ, seconds=899), Privilege.DEFAULT, T0)
    assert book.find(S3Target("s3://b/p/k"), Permission.READ, Privilege.DEFAULT, T0, 900) is None


def test_access_book_denial_expires() -> None:
    target = S3Target("s3://b/x")
    book = AccessBook().with_denial(target, Permission.READ, T0, 60)
    assert book.is_denied(target, Permission.READ, T0 + timedelta(seconds=59))
    assert not book.is_denied(target, Permission.READ, T0 + timedelta(seconds=60))
    assert not book.is_denied(target, Permission.WRITE, T0)


def test_access_book_replaces_entry_for_same_scope() -> None:
    first = _access("s3://b/p/*", Permission.READ)
    book = AccessBook().with_entry(first, Privilege.DEFAULT, T0).with_entry(first, Privilege.DEFAULT, T0)
    assert len(book.entries) == 1


def test_access_book_expires_at_is_last_entry_expiry() -> None:
    book = (
        AccessBook()
        .with_entry(_access("s3://b/a/*", Permission.READ, 100), Privilege.DEFAULT, T0)
        .with_entry(_access("s3://b/c/*", Permission.READ, 200), Privilege.DEFAULT, T0)
    )
    assert book.expires_at() == T0 + timedelta(seconds=200)


def _plugin_walk(target: str) -> set[str]:
    """The AWS plugins' lookup keys (reference §7.1): path walk on '/' and character walk with '*'."""
    wanted = target.removesuffix("*")
    keys = {wanted}
    path = wanted
    while "/" in path[len("s3://") :]:
        path = path[: path.rindex("/")]
        keys.add(path + "/*")
    keys |= {wanted[:end] + "*" for end in range(len("s3://") + 1, len(wanted) + 1)}
    keys.add(wanted + "/*")
    return keys


segment = st.text(alphabet="ab/", min_size=1, max_size=6)


@given(
    bucket=st.sampled_from(["b", "bk"]),
    key=segment,
    scope_path=segment,
    kind=st.sampled_from(["/*", "*", ""]),
)
def test_scope_covers_equals_plugin_walk(bucket: str, key: str, scope_path: str, kind: str) -> None:
    target = f"s3://{bucket}/{key}"
    scope = (
        f"s3://{bucket}/{scope_path.rstrip('/')}{kind}"
        if kind == "/*"
        else f"s3://{bucket}/{scope_path}{kind}"
    )
    assert scope_covers(scope, S3Target(target)) is (scope in _plugin_walk(target))


@pytest.mark.parametrize(
    "uri",
    ["b/key", "s3://", "s3://ab/k", "s3://" + "b" * 64 + "/k", "s3://b_!/k", "s3://bucket/" + "k" * 2000],
)
def test_s3_target_parse_rejects_invalid(uri: str) -> None:
    with pytest.raises(InvalidRequestError):
        S3Target.parse(uri)


def test_s3_target_for_object_rejects_nul_and_long_keys() -> None:
    with pytest.raises(InvalidRequestError):
        S3Target.for_object("bucket", "a\x00b")
    with pytest.raises(InvalidRequestError):
        S3Target.for_object("bucket", "é" * 513)


def test_data_access_request_target_type_only_for_minimal_object() -> None:
    obj = S3Target("s3://b/p/file.txt")
    assert DataAccessRequest(obj, Permission.READ, 900, Privilege.MINIMAL).target_type == "Object"
    assert DataAccessRequest(obj, Permission.READ, 900, Privilege.DEFAULT).target_type is None
    assert (
        DataAccessRequest(S3Target("s3://b/p/*"), Permission.READ, 900, Privilege.MINIMAL).target_type is None
    )


def test_permission_for_method() -> None:
    assert Permission.for_method("GET") is Permission.READ
    assert Permission.for_method("HEAD") is Permission.READ
    assert Permission.for_method("PUT") is Permission.WRITE
    assert Permission.for_method("DELETE") is Permission.WRITE
