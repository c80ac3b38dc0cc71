"""Check a setup file without calling AWS and turn it into a SetupSpec; every problem carries its line."""

from __future__ import annotations

import re
from pathlib import Path

from service.setup import validation_grants
from service.setup.document import Document, SetupFileError, load_document
from service.setup.model import (
    READ_WRITE_SCOPE,
    ApplicationSpec,
    GroupSpec,
    IssuerSpec,
    SetupSpec,
    UserSpec,
)
from service.setup.schema import Reader

SETUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
INSTANCE_ARN = re.compile(r"arn:aws(-[a-z]{1,5}){0,3}:sso:::instance/(sso)?ins-[a-zA-Z0-9-.]{16}")
# Identity Center's own patterns (botocore sso-admin model); `\p{L}` is a letter: `[^\W\d_]`.
ISSUER_URL = re.compile(r"https?://[-a-zA-Z0-9+&@/%=~_|!:,.;]*[-a-zA-Z0-9+&@/%=~_|]")
ISSUER_NAME = re.compile(r"[\w+=,.@-]{1,255}")
CLAIM_PATH = re.compile(r"[^\W\d_]+(?:[._][^\W\d_]+){0,2}")
STORE_ATTRIBUTE = re.compile(r"[^\W\d_]+(?:\.[^\W\d_]+){0,2}")
ACCESS_SCOPE = re.compile(r"[A-Za-z0-9_]{1,50}(:[A-Za-z0-9_]{1,50}){0,2}")
PRINCIPAL = re.compile(r"arn:aws(-[a-z]{1,5}){0,3}:iam::\d{12}:(user|role)/[\w+=,.@/-]+|\d{12}")
AUDIENCE = re.compile(r".{1,512}")
DIRECTORY_NAME = re.compile(r"[^\s\x00-\x1f][^\x00-\x1f]{0,127}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+")

TOP_KEYS = (
    "name",
    "region",
    "identity_center",
    "trusted_token_issuer",
    "application",
    "identity_store",
    "identity_bearer_role",
    "access_grants",
    "broker_settings",
)


def load_spec(path: Path) -> SetupSpec:
    """Read and validate a setup file.

    Raises:
        SetupFileError: with every problem found, each with its line; nothing has been called yet.
    """
    return validate(load_document(path), str(path))


def validate(document: Document, source: str) -> SetupSpec:
    """Return the SetupSpec of ``document``, or raise SetupFileError listing every problem."""
    reader = Reader(document)
    top = reader.mapping((), TOP_KEYS, required=("name",)) or {}
    name = reader.string(("name",), pattern=SETUP_NAME, what="a setup name (letters, digits, _ . -)")
    ic = reader.mapping(("identity_center",), ("instance_arn",), optional=True) or {}
    spec = SetupSpec(
        name=name or "invalid",
        region=reader.string(("region",), pattern=REGION, what="an AWS region such as us-east-1"),
        instance_arn=reader.string(
            ("identity_center", "instance_arn"), pattern=INSTANCE_ARN, what="an Identity Center instance ARN"
        )
        if ic
        else None,
        issuer=_issuer(reader) if "trusted_token_issuer" in top else None,
        application=_application(reader) if "application" in top else None,
        groups=_groups(reader),
        users=_users(reader),
        bearer_role=validation_grants.bearer_role(reader, top),
        access_grants=validation_grants.access_grants(reader) if "access_grants" in top else None,
        broker_settings=validation_grants.broker_settings(reader),
    )
    _cross_check(reader, spec)
    if reader.problems:
        raise SetupFileError(source, reader.problems)
    return spec


def _issuer(reader: Reader) -> IssuerSpec | None:
    path = ("trusted_token_issuer",)
    keys = ("name", "issuer_url", "claim", "identity_store_attribute")
    if reader.mapping(path, keys, required=("name", "issuer_url")) is None:
        return None
    claim = reader.string((*path, "claim"), default="email")
    if claim is not None and not CLAIM_PATH.fullmatch(claim):
        reader.problem(
            (*path, "claim"),
            f"{claim!r} is not a claim path Identity Center accepts: letters with at most two '.' or '_' "
            "separators, no ':' (so not cognito:username or custom:*)",
        )
    return IssuerSpec(
        name=reader.string((*path, "name"), pattern=ISSUER_NAME, what="an issuer name") or "",
        issuer_url=reader.string((*path, "issuer_url"), pattern=ISSUER_URL, what="an http(s) URL") or "",
        claim=claim or "email",
        identity_store_attribute=reader.string(
            (*path, "identity_store_attribute"),
            pattern=STORE_ATTRIBUTE,
            what="an identity-store attribute path such as emails.value or userName",
            default="emails.value",
        )
        or "emails.value",
        line=reader.document.line(path),
    )


def _application(reader: Reader) -> ApplicationSpec | None:
    path = ("application",)
    keys = (
        "name",
        "description",
        "enabled",
        "audiences",
        "refresh_token",
        "access_scopes",
        "principals",
        "assignment_required",
        "assignments",
    )
    if reader.mapping(path, keys, required=("name", "audiences", "principals")) is None:
        return None
    reader.mapping((*path, "assignments"), ("users", "groups"), optional=True)
    scopes = reader.strings((*path, "access_scopes"), pattern=ACCESS_SCOPE, what="an access scope")
    return ApplicationSpec(
        name=reader.string((*path, "name"), pattern=re.compile(r".{1,100}"), what="a name") or "",
        description=reader.string((*path, "description"), pattern=re.compile(r".{1,128}"), what="") or "",
        enabled=reader.boolean((*path, "enabled"), True),
        audiences=reader.strings(
            (*path, "audiences"), pattern=AUDIENCE, what="an audience", optional=False, low=1, high=10
        ),
        principals=reader.strings(
            (*path, "principals"),
            pattern=PRINCIPAL,
            what="an IAM user or role ARN (arn:aws:iam::<account>:role/<name>) or an account id",
            optional=False,
            low=1,
        ),
        refresh_token=reader.boolean((*path, "refresh_token"), True),
        access_scopes=scopes if reader.raw((*path, "access_scopes")) is not None else (READ_WRITE_SCOPE,),
        assignment_required=reader.boolean((*path, "assignment_required"), False),
        assigned_users=reader.strings((*path, "assignments", "users"), pattern=DIRECTORY_NAME, what="a name"),
        assigned_groups=reader.strings(
            (*path, "assignments", "groups"), pattern=DIRECTORY_NAME, what="a name"
        ),
        line=reader.document.line(path),
        assignment_lines={
            f"{kind}:{name}": reader.document.line((*path, "assignments", kind, index))
            for kind in ("users", "groups")
            for index, name in enumerate(reader.items((*path, "assignments", kind)))
            if isinstance(name, str)
        },
    )


def _groups(reader: Reader) -> tuple[GroupSpec, ...]:
    path = ("identity_store", "groups")
    reader.mapping(("identity_store",), ("groups", "users"), optional=True)
    groups = []
    for index, _ in enumerate(reader.items(path)):
        at = (*path, index)
        if reader.mapping(at, ("name", "description"), required=("name",)) is None:
            continue
        name = reader.string((*at, "name"), pattern=DIRECTORY_NAME, what="a group name")
        description = reader.string((*at, "description"), pattern=re.compile(r".{1,900}"), what="") or ""
        if name:
            groups.append(GroupSpec(name, description, reader.document.line(at)))
    return tuple(groups)


def _users(reader: Reader) -> tuple[UserSpec, ...]:
    path = ("identity_store", "users")
    keys = ("user_name", "email", "given_name", "family_name", "display_name", "groups")
    users = []
    for index, _ in enumerate(reader.items(path)):
        at = (*path, index)
        if reader.mapping(at, keys, required=("user_name",)) is None:
            continue
        user_name = reader.string((*at, "user_name"), pattern=DIRECTORY_NAME, what="a user name")
        if not user_name:
            continue
        given = reader.string((*at, "given_name"), pattern=DIRECTORY_NAME, what="a name") or user_name
        family = reader.string((*at, "family_name"), pattern=DIRECTORY_NAME, what="a name") or user_name
        groups = reader.strings((*at, "groups"), pattern=DIRECTORY_NAME, what="a group name")
        users.append(
            UserSpec(
                user_name=user_name,
                given_name=given,
                family_name=family,
                display_name=reader.string((*at, "display_name"), pattern=DIRECTORY_NAME, what="a name")
                or f"{given} {family}",
                email=reader.string((*at, "email"), pattern=EMAIL, what="an email address"),
                groups=groups,
                line=reader.document.line(at),
                group_lines=tuple(reader.document.line((*at, "groups", i)) for i in range(len(groups))),
            )
        )
    return tuple(users)


def _cross_check(reader: Reader, spec: SetupSpec) -> None:
    """Duplicates and references inside the file (names that need the identity store are checked later)."""
    for kind, names in (
        ("group", [g.name for g in spec.groups]),
        ("user", [u.user_name for u in spec.users]),
    ):
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                reader.problem(("identity_store", f"{kind}s", index), f"{kind} {name!r} is listed twice")
            seen.add(name)
    issuer_attribute = spec.issuer.identity_store_attribute if spec.issuer else ""
    if issuer_attribute == "emails.value":
        for index, user in enumerate(spec.users):
            if user.email is None:
                reader.problem(
                    ("identity_store", "users", index),
                    "needs an email: the trusted token issuer maps its claim to emails.value",
                )
    validation_grants.cross_check(reader, spec)
