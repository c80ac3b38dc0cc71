"""The real chain, once, through the broker's own adapters: CreateTokenWithIAM, AssumeRole with the
Identity Center context, GetDataAccess on one of the user's grants. Nothing it receives is printed
but user ids, the session name, the matched grant and expiry times.

Ids: chain.exchange, chain.assume_role, chain.get_data_access. The run spends the ID token (Identity
Center exchanges each jti once), so the token cannot be used with the broker afterwards.
"""

from __future__ import annotations

from typing import Final

from service.adapters.access_grants import S3ControlDataAccessVendor
from service.adapters.aws_clients import AwsClients
from service.adapters.bucket_regions import BucketRegions
from service.adapters.grants_instances import InstanceLocator
from service.adapters.identity_center import SsoOidcIdentityExchanger
from service.adapters.sts import StsRoleAssumer, session_duration_limit
from service.doctor.facts import Facts
from service.doctor.model import CannotVerifyError, Check, failed, passed, warned
from service.doctor.user import UserFindings
from service.domain.access import DataAccessRequest, Permission, S3Target
from service.domain.credentials import TemporaryCredentials
from service.domain.errors import BrokerError, UpstreamMisconfiguredError
from service.domain.identity import role_session_name

# The shortest lifetime both AssumeRole and GetDataAccess accept: the doctor's credentials die soon.
DOCTOR_DURATION_SECONDS: Final = 900


def _problem(error: BrokerError) -> str:
    reason = f" (reason: {error.reason})" if isinstance(error, UpstreamMisconfiguredError) else ""
    detail = error.detail if not reason or "(reason:" in error.detail else error.detail + reason
    return f"{error.code}: {detail}"


def chain_checks(facts: Facts, token: str, findings: UserFindings) -> list[Check]:
    """Run the chain for the token's user and return one check per step, stopping at the first failure."""
    caller = findings.caller
    if caller is None:
        return []
    settings = facts.settings
    application_arn = findings.application_arn or settings.idc_application_arn
    clients = AwsClients.build(
        settings.aws_region, settings.aws_endpoint_url, idc_region=settings.identity_center_region
    )
    exchanger = SsoOidcIdentityExchanger(clients.sso_oidc, settings.idc_application_arn)
    try:
        answer = exchanger.exchange_jwt(token, application_arn)
    except BrokerError as error:
        return [
            failed(
                "chain.exchange",
                f"CreateTokenWithIAM through {application_arn} failed: {_problem(error)}",
                "an ID token is exchanged once: sign in again for a fresh token if it was used before; "
                "otherwise fix the FAILs above (issuer, audience, user mapping, assignment)",
            )
        ]
    same_user = findings.user_id is None or findings.user_id == answer.idc_user_id
    scopes = ", ".join(sorted(answer.scopes)) or "not listed"
    exchanged = (
        f"Identity Center user {answer.idc_user_id}; scopes {scopes}; "
        f"refresh token {'issued' if answer.refresh_token else 'not issued'}"
    )
    checks = [
        passed("chain.exchange", exchanged)
        if same_user
        else warned(
            "chain.exchange", f"{exchanged}, not {findings.user_id} as the identity store lookup found"
        )
    ]
    try:
        duration = session_duration_limit(facts.caller_arn(), DOCTOR_DURATION_SECONDS)
    except CannotVerifyError:
        duration = DOCTOR_DURATION_SECONDS
    session_name = role_session_name(answer.idc_user_id)
    assumer = StsRoleAssumer(clients.sts, settings.identity_bearer_role_arn)
    try:
        session = assumer.assume(answer.identity_context, session_name, duration)
    except BrokerError as error:
        return [
            *checks,
            failed(
                "chain.assume_role",
                f"AssumeRole of {settings.identity_bearer_role_arn} failed: {_problem(error)}",
                "see role.trust.* above",
            ),
        ]
    checks.append(
        passed(
            "chain.assume_role",
            f"role session {session_name} of {settings.identity_bearer_role_arn} until "
            f"{session.expiration.isoformat()}",
        )
    )
    return [*checks, _get_data_access(facts, clients, application_arn, session, findings)]


def _vendor(facts: Facts, clients: AwsClients, application_arn: str) -> S3ControlDataAccessVendor:
    """Return the broker's GetDataAccess adapter, wired as ``service.wiring.build_adapters`` wires it."""
    settings = facts.settings
    buckets = BucketRegions(lambda: clients.client("s3", settings.aws_region), settings.aws_region)
    locator = InstanceLocator(
        clients.s3control_in,
        clients.signed_as,
        buckets,
        caller_account_id=settings.broker_account_id,
        fallback_account_id=settings.access_grants_account_id,
    )
    return S3ControlDataAccessVendor(
        clients.s3control,
        clients.signed_as,
        settings.access_grants_account_id,
        locator=locator,
        application_arn=application_arn,
    )


def _pick_grant(
    vendor: S3ControlDataAccessVendor,
    session: TemporaryCredentials,
    findings: UserFindings,
    application_arn: str,
) -> tuple[str, Permission] | str:
    """Return (scope, permission) of one of the user's grants, or why there is none to ask for.

    Without the admin's list (user.grants could not read it), the user's own session lists its grants.
    """
    if findings.grant is not None:
        granted = findings.grant.get("Permission")
        return str(
            findings.grant.get("GrantScope")
        ), Permission.WRITE if granted == "WRITE" else Permission.READ
    try:
        grants = vendor.list_caller_grants(session, None, application_arn)
    except BrokerError as error:
        return f"ListCallerAccessGrants failed: {_problem(error)}"
    if not grants:
        return "the user holds no grant to ask for (user.grants)"
    grant = grants[0]
    return grant.grant_scope, Permission.WRITE if grant.permission is Permission.WRITE else Permission.READ


def _get_data_access(
    facts: Facts,
    clients: AwsClients,
    application_arn: str,
    session: TemporaryCredentials,
    findings: UserFindings,
) -> Check:
    check_id = "chain.get_data_access"
    vendor = _vendor(facts, clients, application_arn)
    picked = _pick_grant(vendor, session, findings, application_arn)
    if isinstance(picked, str):
        return warned(check_id, f"not run: {picked}")
    scope, permission = picked
    try:
        target = S3Target.parse(scope)
    except BrokerError as error:
        return warned(check_id, f"not run: the grant scope {scope} is not a target ({error.detail})")
    request = DataAccessRequest(target, permission, DOCTOR_DURATION_SECONDS)
    try:
        access = vendor.get_data_access(session, request)
    except BrokerError as error:
        return failed(
            check_id,
            f"GetDataAccess {permission.value} on {target.uri} failed: {_problem(error)}",
            "see application.access_scope, role.policy.get_data_access and grants.* above",
        )
    return passed(
        check_id,
        f"{permission.value} on {target.uri}: matched grant {access.matched_grant_target} "
        f"({access.grantee.type} {access.grantee.identifier}), credentials until "
        f"{access.credentials.expiration.isoformat()}",
    )
