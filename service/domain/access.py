"""S3 targets, permissions and grants: what a caller asks for and what S3 Access Grants answered."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from service.domain.credentials import TemporaryCredentials
from service.domain.errors import InvalidRequestError

S3_SCHEME = "s3://"
# GetDataAccess Target is an S3Prefix of 1–2000 characters (docs/aws.md#getdataaccess).
MAX_TARGET_LENGTH = 2000
# S3 object keys are at most 1024 bytes of UTF-8.
MAX_KEY_BYTES = 1024
# Bucket names: 3–63 ASCII letters, digits, '.', '-' (and '_' in legacy us-east-1 buckets); these suffixes
# name S3 Express directory buckets and access point aliases, which S3 Access Grants does not serve.
_BUCKET = re.compile(r"[A-Za-z0-9._-]{3,63}")
_SPECIAL_BUCKET_SUFFIXES = ("--x-s3", "--xa-s3", "--op-s3")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# What no key may hold: C0 controls and DEL, and lone surrogates (not UTF-8).
_KEY_FORBIDDEN = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")
# A key of 1–256 characters none of them forbidden: under MAX_KEY_BYTES whatever its UTF-8 (at most 4 bytes a
# character), so one match clears nearly every key; any other key takes the checks one by one.
_PLAIN_KEY = re.compile("[^\x00-\x1f\x7f\ud800-\udfff]{1,256}")
# Plain keys joined by NUL (which no key may hold): one match clears a whole batch's keys.
_KEY_SEPARATOR = "\x00"
_PLAIN_KEYS = re.compile("[^\x00-\x1f\x7f\ud800-\udfff]{1,256}(?:\x00[^\x00-\x1f\x7f\ud800-\udfff]{1,256})*")


class Permission(enum.StrEnum):
    """An S3 Access Grants permission level."""

    READ = "READ"
    WRITE = "WRITE"
    READWRITE = "READWRITE"

    def permits(self, requested: Permission) -> bool:
        """Return whether a grant of ``self`` lets S3 Access Grants vend credentials for ``requested``."""
        return self is requested or self is Permission.READWRITE

    @classmethod
    def for_method(cls, method: str) -> Permission:
        """Return the permission a presigned HTTP method needs (GET/HEAD read, PUT/DELETE write)."""
        return _READ_METHODS.get(method, _WRITE)


_READ_METHODS = {"GET": Permission.READ, "HEAD": Permission.READ}
_WRITE = Permission.WRITE  # a module global: reading an enum member off its class is slow before 3.12


class Privilege(enum.StrEnum):
    """GetDataAccess privilege: the matched grant's scope (Default) or exactly the target (Minimal)."""

    DEFAULT = "Default"
    MINIMAL = "Minimal"


@dataclass(frozen=True, slots=True)
class S3Target:
    """An S3 URI naming an object (``s3://b/key``) or a prefix (``s3://b/prefix/*``, ``s3://b/pre*``)."""

    uri: str

    @classmethod
    def parse(cls, uri: str) -> S3Target:
        """Return the target for ``uri`` or raise InvalidRequestError saying what is wrong with it."""
        if not uri.startswith(S3_SCHEME):
            raise InvalidRequestError("target must start with s3://")
        if len(uri) > MAX_TARGET_LENGTH:
            raise InvalidRequestError(f"target must be at most {MAX_TARGET_LENGTH} characters")
        bucket, _, _ = uri[len(S3_SCHEME) :].partition("/")
        validate_bucket(bucket)
        if _CONTROL_CHARACTERS.search(uri):
            raise InvalidRequestError("target must not contain control characters")
        _, _, key = uri[len(S3_SCHEME) :].partition("/")
        if has_dot_segment(key.removesuffix("*")):
            raise InvalidRequestError("target must not contain '.' or '..' path segments")
        return cls(uri)

    @classmethod
    def for_object(cls, bucket: str, key: str) -> S3Target:
        """Return the target of one object key."""
        validate_bucket(bucket)
        validate_key(key)
        return cls(f"{S3_SCHEME}{bucket}/{key}")

    @property
    def bucket(self) -> str:
        return self.uri[len(S3_SCHEME) :].partition("/")[0]

    @property
    def is_object(self) -> bool:
        """Return whether the target names a single object (no wildcard, not the bucket itself)."""
        path = self.uri[len(S3_SCHEME) :]
        return "/" in path and not path.endswith("*") and not path.endswith("/")

    def path(self) -> str:
        """Return the target without scheme and trailing ``*`` (what grant scopes are compared with)."""
        return self.uri[len(S3_SCHEME) :].removesuffix("*")


@functools.lru_cache(maxsize=1024)  # a batch names a few buckets many times; invalid names raise, uncached
def validate_bucket(bucket: str) -> None:
    """Raise InvalidRequestError unless ``bucket`` is a plausible S3 bucket name."""
    if not _BUCKET.fullmatch(bucket) or bucket.endswith(_SPECIAL_BUCKET_SUFFIXES):
        raise InvalidRequestError("bucket must be 3–63 ASCII letters, digits, '-', '.' or '_'")


def validate_key(key: str) -> None:
    """Raise InvalidRequestError unless ``key`` is a valid S3 object key."""
    if _PLAIN_KEY.fullmatch(key) and not has_dot_segment(key):
        return
    if not key:
        raise InvalidRequestError("key must not be empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidRequestError(f"key must be at most {MAX_KEY_BYTES} bytes of UTF-8")
    forbidden = _KEY_FORBIDDEN.search(key)  # one pass for both kinds of forbidden character
    if forbidden is not None:
        if 0xD800 <= ord(forbidden.group()) <= 0xDFFF:
            raise InvalidRequestError("key must be valid UTF-8")
        raise InvalidRequestError("key must not contain control characters")
    if has_dot_segment(key):
        raise InvalidRequestError("key must not contain '.' or '..' path segments")


def all_plain_keys(keys: Sequence[str]) -> bool:
    """Return whether each of ``keys`` is plain, so valid: one pass over them all instead of one per key.

    Plain is what ``validate_key`` clears with one match (1–256 characters, none forbidden) and no segment
    starting with a dot. False says only that some key needs ``validate_key``'s checks one by one.
    """
    joined = _KEY_SEPARATOR.join(keys)
    if joined.count(_KEY_SEPARATOR) != len(keys) - 1:
        return False  # a key holds the separator itself
    if joined.startswith(".") or "/." in joined or _KEY_SEPARATOR + "." in joined:
        return False  # a key may have a dot segment
    return _PLAIN_KEYS.fullmatch(joined) is not None


def has_dot_segment(path: str) -> bool:
    """Return whether ``path`` has a ``.`` or ``..`` segment, which URL normalisation would rewrite."""
    if "/." not in path and not path.startswith("."):
        return False  # no segment starts with a dot, as nearly every key
    bounded = f"/{path}/"
    return "/./" in bounded or "/../" in bounded


def has_control_character(text: str) -> bool:
    """Return whether ``text`` holds a C0 control character or DEL."""
    return _CONTROL_CHARACTERS.search(text) is not None


def scope_covers(scope: str, target: S3Target) -> bool:
    """Return whether every key ``target`` can name is a key the grant ``scope`` names.

    A URI ending in ``*`` names every key starting with the text before that ``*``; any other URI names
    exactly one object. So ``s3://b/p/*`` holds ``s3://b/p/*`` and ``s3://b/p/x`` but neither
    ``s3://b/p`` nor ``s3://b/p*`` (which also names ``s3://b/p2``), and an object grant holds only itself.
    """
    if not scope.endswith("*"):
        return target.uri == scope
    return target.uri.removesuffix("*").startswith(scope[:-1])


@dataclass(frozen=True, slots=True)
class DataAccessRequest:
    """One GetDataAccess call: target, permission, lifetime and privilege."""

    target: S3Target
    permission: Permission
    duration_seconds: int
    privilege: Privilege = Privilege.DEFAULT

    @property
    def target_type(self) -> str | None:
        """Return ``Object`` for an object target with Minimal privilege (docs/aws.md#getdataaccess)."""
        return "Object" if self.target.is_object and self.privilege is Privilege.MINIMAL else None


@dataclass(frozen=True, slots=True)
class Grantee:
    """Who a matched grant belongs to (DIRECTORY_USER, DIRECTORY_GROUP or IAM)."""

    type: str
    identifier: str


# GetDataAccess's Grantee is optional in the AWS model: an answer without one reports this.
UNKNOWN_GRANTEE = Grantee(type="UNKNOWN", identifier="")


@dataclass(frozen=True, slots=True)
class DataAccess:
    """Credentials vended by S3 Access Grants and the grant they were matched to."""

    credentials: TemporaryCredentials
    matched_grant_target: str
    grantee: Grantee
    permission: Permission
    # GetDataAccess's MatchedInstanceArn: with the grantee and the matched target, what finds the grant
    # (the data plane returns no grant id: docs/aws.md#getdataaccess). None when AWS left it out.
    instance_arn: str | None = None

    def serves(self, target: S3Target, permission: Permission) -> bool:
        """Return whether these credentials cover ``target`` and were vended for exactly ``permission``.

        READWRITE credentials never serve a READ or WRITE request: a client gets no more than it asked for.
        """
        return self.permission is permission and scope_covers(self.matched_grant_target, target)


@dataclass(frozen=True, slots=True)
class Grant:
    """One grant a caller may use, as ListCallerAccessGrants reports it."""

    grant_scope: str
    permission: Permission
    application_arn: str | None
