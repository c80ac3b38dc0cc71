"""Per-user checks for one ID token: the broker accepts it, Identity Center can map it to exactly one
directory user, that user is assigned (when required) and holds at least one usable grant.

Ids: token.verified, user.claim, user.identity_store, user.assignment, user.grants.
Nothing of the token is shown but its iss/sub/aud/exp and a fingerprint; claim values are not shown.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from botocore.exceptions import ClientError

from service.adapters.access_grants import ALL_APPLICATIONS, NO_APPLICATION
from service.adapters.oidc import claim_at
from service.app import build_verifier
from service.doctor.aws import NotFoundError, pages, read
from service.doctor.facts import JWT_BEARER_GRANT, Facts
from service.doctor.identity_center import trusted_token_issuer_config
from service.doctor.model import CannotVerifyError, Check, cannot_verify, failed, passed, warned
from service.domain.errors import BrokerError
from service.domain.identity import Caller


@dataclass(frozen=True, slots=True)
class UserFindings:
    """What the per-user checks learnt, for the chain run: the directory user and a usable grant."""

    caller: Caller | None = None
    application_arn: str | None = None
    user_id: str | None = None
    grant: dict[str, Any] | None = None


def token_summary(token: str) -> str:
    """Return the token's iss, sub, aud, exp and a fingerprint: nothing that could be replayed."""
    fingerprint = hashlib.sha256(token.encode()).hexdigest()[:12]
    claims = unverified_claims(token)
    exp = claims.get("exp")
    expires = datetime.fromtimestamp(exp, UTC).isoformat() if isinstance(exp, int | float) else "?"
    return (
        f"iss={claims.get('iss')} sub={claims.get('sub')} aud={claims.get('aud')} exp={expires} "
        f"fingerprint=sha256:{fingerprint}"
    )


def unverified_claims(token: str) -> dict[str, Any]:
    """Return the token's payload without verifying it (only for display and routing), {} if unreadable."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


async def _verify(facts: Facts, token: str) -> Caller:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False) as http:
        verifier = build_verifier(facts.settings, http)
        try:
            return await verifier.verify(token)
        finally:
            await verifier.aclose()


def user_checks(facts: Facts, token: str) -> tuple[list[Check], UserFindings]:
    """Return the per-user checks of ``token`` and what they found."""
    summary = token_summary(token)
    try:
        caller = asyncio.run(_verify(facts, token))
    except BrokerError as error:
        return [
            failed(
                "token.verified",
                f"the broker refuses the token ({error.code}: {error.detail}); {summary}",
                "sign in again for a fresh token, or fix BROKER_OIDC_ISSUER / BROKER_OIDC_AUDIENCE / "
                "BROKER_OIDC_JWKS_URL",
            )
        ], UserFindings()
    checks = [passed("token.verified", summary)]
    application_arn = caller.application_arn or facts.settings.idc_application_arn
    findings = UserFindings(caller=caller, application_arn=application_arn)
    try:
        mapping = _mapping(facts, application_arn, caller.issuer)
    except CannotVerifyError as error:
        return [*checks, cannot_verify("user.identity_store", error)], findings
    if mapping is None:
        return [
            *checks,
            warned(
                "user.identity_store",
                "not checked: no trusted token issuer of the application has the token's issuer "
                "(application.exists, application.grant.jwt_bearer, issuer.url)",
            ),
        ], findings
    claim_path, store_path, store_id = mapping
    value = claim_at(unverified_claims(token), claim_path)
    if not isinstance(value, str) or not value:
        return [
            *checks,
            failed(
                "user.claim",
                f"the token has no {claim_path} claim, which Identity Center maps to a directory user",
                f"configure the issuer to put {claim_path} in ID tokens, or map another claim (setup file: "
                "trusted_token_issuer.claim)",
            ),
        ], findings
    checks.append(passed("user.claim", f"the token has the {claim_path} claim (value not shown)"))
    user_check, user_id = _identity_store(facts, store_id, claim_path, store_path, value)
    checks.append(user_check)
    if user_id is None:
        return checks, findings
    try:
        groups = [
            str(item.get("GroupId"))
            for item in pages(
                "identitystore:ListGroupMembershipsForMember",
                facts.clients.identitystore.list_group_memberships_for_member,
                "GroupMemberships",
                IdentityStoreId=store_id,
                MemberId={"UserId": user_id},
            )
        ]
    except CannotVerifyError as error:
        checks.append(cannot_verify("user.groups", error))
        groups = []
    checks.append(_assignment(facts, application_arn, user_id, groups))
    grants_check, grant = _grants(facts, application_arn, user_id, groups)
    checks.append(grants_check)
    return checks, UserFindings(caller, application_arn, user_id, grant)


def _mapping(facts: Facts, application_arn: str, issuer: str) -> tuple[str, str, str] | None:
    """Return (claim path, identity store path, identity store id) of the TTI trusting ``issuer``."""
    try:
        grant = facts.grant(application_arn, JWT_BEARER_GRANT)
        application = facts.application(application_arn)
    except NotFoundError:
        return None
    store_id = str(application.get("IdentityStoreArn", "")).rsplit("/", 1)[-1]
    for entry in (grant.get("JwtBearer") or {}).get("AuthorizedTokenIssuers") or []:
        try:
            config = trusted_token_issuer_config(facts, str(entry.get("TrustedTokenIssuerArn")))
        except NotFoundError:
            continue
        if config.get("IssuerUrl") == issuer:
            return (
                str(config.get("ClaimAttributePath")),
                str(config.get("IdentityStoreAttributePath")),
                store_id,
            )
    return None


def _identity_store(
    facts: Facts, store_id: str, claim_path: str, store_path: str, value: str
) -> tuple[Check, str | None]:
    check_id = "user.identity_store"
    fix = (
        f"create or update the directory user so its {store_path} equals the token's {claim_path} "
        "(setup file: identity_store.users), or map the claim to another attribute: aws sso-admin "
        "update-trusted-token-issuer (setup file: trusted_token_issuer.identity_store_attribute)"
    )
    try:
        found = read(
            "identitystore:GetUserId",
            facts.clients.identitystore.get_user_id,
            IdentityStoreId=store_id,
            AlternateIdentifier={"UniqueAttribute": {"AttributePath": store_path, "AttributeValue": value}},
        )
    except CannotVerifyError as error:
        return cannot_verify(check_id, error), None
    except NotFoundError:
        return failed(
            check_id,
            f"no user of identity store {store_id} has a {store_path} equal to the token's {claim_path}",
            fix,
        ), None
    except ClientError:  # ValidationException: not a unique attribute; look through the users instead
        try:
            matches = _scan(facts, store_id, store_path, value)
        except CannotVerifyError as error:
            return cannot_verify(check_id, error), None
        if len(matches) != 1:
            return failed(
                check_id,
                f"{len(matches)} users of identity store {store_id} have a {store_path} equal to the token's "
                f"{claim_path}: Identity Center needs exactly one",
                fix,
            ), None
        found = {"UserId": matches[0]}
    user_id = str(found["UserId"])
    return passed(check_id, f"the token maps to user {user_id} of identity store {store_id}"), user_id


def _scan(facts: Facts, store_id: str, path: str, value: str) -> list[str]:
    """Return the ids of the users whose attribute at ``path`` (e.g. ``emails.value``) equals ``value``."""
    users = pages(
        "identitystore:ListUsers", facts.clients.identitystore.list_users, "Users", IdentityStoreId=store_id
    )
    return [str(user.get("UserId")) for user in users if value in _values_at(user, path.split("."))]


def _values_at(node: object, parts: list[str]) -> list[object]:
    """Return the values at a dotted attribute path, keys compared without case, lists flattened."""
    if isinstance(node, list):
        return [found for item in node for found in _values_at(item, parts)]
    if not parts:
        return [node]
    if not isinstance(node, dict):
        return []
    keys = {str(key).lower(): key for key in node}
    key = keys.get(parts[0].lower())
    return [] if key is None else _values_at(node[key], parts[1:])


def _assignment(facts: Facts, application_arn: str, user_id: str, groups: list[str]) -> Check:
    check_id = "user.assignment"
    try:
        if not facts.assignment_required(application_arn):
            return passed(check_id, "the application requires no assignment")
        assigned = {str(item.get("PrincipalId")) for item in facts.assignments(application_arn)}
    except CannotVerifyError as error:
        return cannot_verify(check_id, error)
    except NotFoundError:
        assigned = set()
    if user_id in assigned:
        return passed(check_id, f"user {user_id} is assigned to the application")
    via = sorted(assigned.intersection(groups))
    if via:
        return passed(check_id, f"user {user_id} is assigned through group {', '.join(via)}")
    return failed(
        check_id,
        f"the application requires an assignment and user {user_id} (nor any of its {len(groups)} group(s)) "
        "has none: Identity Center refuses the exchange",
        f"aws sso-admin create-application-assignment --application-arn {application_arn} --principal-id "
        f"{user_id} --principal-type USER (setup file: application.assignments)",
    )


def _grants(
    facts: Facts, application_arn: str, user_id: str, groups: list[str]
) -> tuple[Check, dict[str, Any] | None]:
    check_id = "user.grants"
    account, region = facts.settings.access_grants_account_id, facts.settings.aws_region
    client = facts.clients.s3control(region)
    grants: list[dict[str, Any]] = []
    try:
        for grantee_type, grantee in [("DIRECTORY_USER", user_id)] + [("DIRECTORY_GROUP", g) for g in groups]:
            grants += pages(
                "s3:ListAccessGrants",
                client.list_access_grants,
                "AccessGrantsList",
                AccountId=account,
                GranteeType=grantee_type,
                GranteeIdentifier=grantee,
            )
    except CannotVerifyError as error:
        return cannot_verify(check_id, error), None
    except NotFoundError:
        grants = []
    usable = [
        grant
        for grant in grants
        if grant.get("ApplicationArn") in (None, "", NO_APPLICATION, ALL_APPLICATIONS, application_arn)
    ]
    if not usable:
        return failed(
            check_id,
            f"user {user_id} and its {len(groups)} group(s) hold no grant usable through {application_arn} "
            f"in account {account} ({len(grants)} grant(s) bound to other applications)",
            f"aws s3control create-access-grant --account-id {account} --access-grants-location-id <id> "
            f"--grantee GranteeType=DIRECTORY_USER,GranteeIdentifier={user_id} --permission READ "
            "(setup file: access_grants.grants)",
        ), None
    scopes = ", ".join(f"{g.get('GrantScope')} {g.get('Permission')}" for g in usable[:5])
    more = f" and {len(usable) - 5} more" if len(usable) > 5 else ""
    return passed(check_id, f"{len(usable)} grant(s): {scopes}{more}"), usable[0]
