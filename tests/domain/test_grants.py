"""Grant matching: scope containment by key sets, the privilege table, exact permissions, valid targets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.access_grants import covers
from service.domain.access import (
    DataAccess,
    DataAccessRequest,
    Grantee,
    Permission,
    Privilege,
    S3Target,
    all_plain_keys,
    scope_covers,
    validate_key,
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
        ("s3://b/bob/*", "s3://b/bob", False),
        ("s3://b/bob/*", "s3://b/bob/", True),
        ("s3://b/bob/*", "s3://b/bob*", False),
        ("s3://b/users/alice/*", "s3://b/users/alice*", False),
        ("s3://b/users/alice/*", "s3://b/users/alice/", True),
        ("s3://b/users/alice/*", "s3://b/users/alice", False),
        ("s3://b/bob*", "s3://b/bob*", True),
        ("s3://b/bob*", "s3://b/bob/*", True),
        ("s3://b/bob*", "s3://b/bo*", False),
        ("s3://b/bob/*", "s3://b/bobby/x", False),
        ("s3://b/bob*", "s3://b/bobby/x", True),
        ("s3://b/bob*", "s3://b/bo", False),
        ("s3://b/*", "s3://b/anything/at/all", True),
        ("s3://b/*", "s3://c/x", False),
        ("s3://b/reports/q3.csv", "s3://b/reports/q3.csv", True),
        ("s3://b/reports/q3.csv", "s3://b/reports/q3.csv.bak", False),
        ("s3://b/reports/q3.csv", "s3://b/reports/*", False),
        ("s3://b/reports/q3.csv", "s3://b/reports/q3.csv*", False),
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


@pytest.mark.parametrize("vended", list(Permission))
def test_access_book_serves_only_the_permission_vended(vended: Permission) -> None:
    book = AccessBook().with_entry(_access("s3://b/p/*", vended), Privilege.DEFAULT, T0)
    for permission in Permission:
        found = book.find(S3Target("s3://b/p/k"), permission, Privilege.DEFAULT, T0, 900)
        assert (found is not None) is (permission is vended)


def test_access_book_read_request_never_gets_readwrite_credentials() -> None:
    book = AccessBook().with_entry(_access("s3://b/p/*", Permission.READWRITE), Privilege.DEFAULT, T0)
    assert book.find(S3Target("s3://b/p/k"), Permission.READ, Privilege.DEFAULT, T0, 900) is None


@pytest.mark.parametrize("privilege", list(Privilege))
def test_access_book_entry_does_not_serve_sibling_prefix(privilege: Privilege) -> None:
    book = AccessBook().with_entry(_access("s3://b/users/alice/*", Permission.READ), privilege, T0)
    for target in ("s3://b/users/alice*", "s3://b/users/alice", "s3://b/users/alice2/x"):
        assert book.find(S3Target(target), Permission.READ, privilege, T0, 900) is None


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


def _names(uri: str, key: str) -> bool:
    """Whether ``uri`` names the concrete ``key``: a final ``*`` names every key starting with the rest."""
    return key.startswith(uri[:-1]) if uri.endswith("*") else key == uri


def _keys_of(uri: str, suffixes: list[str]) -> list[str]:
    """Concrete keys ``uri`` names; a prefix always includes its bare prefix and one more witness."""
    if not uri.endswith("*"):
        return [uri]
    return [uri[:-1] + suffix for suffix in ["", "z", *suffixes]]


_piece = st.one_of(
    st.sampled_from(["", ".", "..", "a", "b", "*", "%2F", "%", "é", "日本"]),
    st.text(alphabet="ab*/.%é", max_size=4),
)
_path = st.lists(_piece, max_size=5).map("/".join)
_uri = st.builds(
    lambda bucket, path, end: f"s3://{bucket}/{path}{end}",
    st.sampled_from(["bkt", "bkt2"]),
    _path,
    st.sampled_from(["", "*", "/*", "/", "//*"]),
)
_end = st.sampled_from(["", "*", "/*", "/"])


@st.composite
def _scope_and_target(draw: st.DrawFn) -> tuple[str, str]:
    """A grant scope and a target: unrelated, the scope extended, or the scope cut short (a near miss)."""
    scope = draw(_uri)
    base = scope.removesuffix("*")
    shape = draw(st.sampled_from(["unrelated", "extended", "cut"]))
    if shape == "unrelated":
        return scope, draw(_uri)
    if shape == "extended":
        return scope, base + draw(_path) + draw(_end)
    cut = draw(st.integers(min_value=1, max_value=max(1, len(base) - len("s3://b"))))
    return scope, base[:-cut] + draw(_end)


_suffixes = st.lists(st.text(alphabet="ab/.*%é\x00", max_size=6), max_size=8)


@given(pair=_scope_and_target(), suffixes=_suffixes)
def test_scope_covers_only_when_target_keys_are_scope_keys(
    pair: tuple[str, str], suffixes: list[str]
) -> None:
    scope, target = pair
    keys = _keys_of(target, suffixes)
    covered = scope_covers(scope, S3Target(target))
    if covered:
        assert all(_names(scope, key) for key in keys)
    # The witnesses in ``keys`` make this exact: an uncovered target names a key outside the scope.
    assert covered is all(_names(scope, key) for key in keys)


@given(pair=_scope_and_target())
def test_emulator_matches_like_the_broker(pair: tuple[str, str]) -> None:
    scope, target = pair
    assert covers(scope, target) is scope_covers(scope, S3Target(target))


@given(pair=_scope_and_target(), suffixes=_suffixes)
def test_minimal_scope_and_its_presigned_keys_stay_inside_the_grant(
    pair: tuple[str, str], suffixes: list[str]
) -> None:
    grant, target = pair
    if not scope_covers(grant, S3Target(target)):
        target = grant  # a grant always covers itself; filtering instead fails hypothesis's health check
    issued = target  # Minimal privilege: the credentials are scoped to exactly the target
    bucket = S3Target(issued).bucket
    for uri in _keys_of(issued, suffixes):
        key = uri[len(f"s3://{bucket}/") :]
        try:
            obj = S3Target.for_object(bucket, key)
        except InvalidRequestError:
            continue  # the broker never presigns a key it refuses
        assert _names(issued, obj.uri)
        assert _names(grant, obj.uri)
        if not key.endswith("*"):  # a key ending in '*' reads as a prefix target, which names more keys
            assert scope_covers(issued, obj)
            assert scope_covers(grant, obj)


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


DOT_SEGMENT_KEYS = ["users/alice/../bob/", "./x", "a/./b", "a/..", "a/.", "..", ".", "../x"]
CONTROL_KEYS = ["a\rb", "a\nb", "a\x1bb", "a\x7fb", "a\tb", "a\x01", "\x1f"]


@pytest.mark.parametrize("key", DOT_SEGMENT_KEYS + CONTROL_KEYS)
def test_s3_target_for_object_rejects_dot_segments_and_control_characters(key: str) -> None:
    with pytest.raises(InvalidRequestError):
        S3Target.for_object("bucket", key)


@pytest.mark.parametrize("key", DOT_SEGMENT_KEYS + [k + "*" for k in DOT_SEGMENT_KEYS] + CONTROL_KEYS)
def test_s3_target_parse_rejects_dot_segments_and_control_characters(key: str) -> None:
    with pytest.raises(InvalidRequestError):
        S3Target.parse(f"s3://bucket/{key}")


@pytest.mark.parametrize("key", ["a..b", ".hidden", "a/...", "a/.b/c", "a//b", "..x/y", "a/b./c", "%2e%2e/x"])
def test_s3_target_accepts_dots_that_are_not_whole_segments(key: str) -> None:
    assert S3Target.for_object("bucket", key).uri == f"s3://bucket/{key}"
    assert S3Target.parse(f"s3://bucket/{key}*").uri == f"s3://bucket/{key}*"


def _valid(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidRequestError:
        return False
    return True


# Short keys of the characters that matter to the one-pass check (the separator, dots, slashes, controls, a
# lone surrogate, a 2-byte character), and keys past the 256 characters a plain key may have.
_KEYS = st.text(alphabet="a/.\u00e9\x00\n\x7f\ud800", max_size=6) | st.text(
    alphabet="a\u00e9", min_size=250, max_size=260
)


@given(st.lists(_KEYS, min_size=1, max_size=4))
def test_all_plain_keys_clears_a_batch_only_when_every_key_is_valid(keys: list[str]) -> None:
    if all_plain_keys(keys):
        assert all(map(_valid, keys))


@pytest.mark.parametrize(
    "bad", ["", "a\x00b", "a\nb", "a\x7f", "x\ud800", "../x", "a/./b", "a/..", ".", "k" * 257]
)
def test_all_plain_keys_sends_a_batch_with_one_key_needing_checks_to_the_checks(bad: str) -> None:
    good = ["users/alice/report 1.csv", "é" * 256, "a..b/c.d"]
    assert all_plain_keys(good)
    assert not all_plain_keys([*good[:2], bad, good[2]])
    assert not all_plain_keys([bad])


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
