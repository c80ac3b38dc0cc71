"""Configuration checks of the Identity Center side: application, trusted token issuers, grants, scopes.

Ids: application.exists, application.enabled, application.customer_managed,
application.authentication_method, application.grant.jwt_bearer, issuer.url, issuer.audience,
issuer.claim, application.grant.refresh_token, application.access_scope, application.assignment_required.
"""

from __future__ import annotations

import json
from typing import Any, Final

from service.doctor.aws import NotFoundError
from service.doctor.facts import (
    CUSTOM_PROVIDER,
    JWT_BEARER_GRANT,
    REFRESH_TOKEN_GRANT,
    Facts,
    role_of_session,
)
from service.doctor.model import (
    CannotVerifyError,
    Check,
    cannot_verify,
    failed,
    passed,
    policy_text,
    warned,
)
from service.doctor.policy import Decision, Request, evaluate
from service.settings import OidcIssuer

READ_WRITE_SCOPE: Final = "s3:access_grants:read_write"
READ_ONLY_SCOPE: Final = "s3:access_grants:read_only"


def issuers_by_application(facts: Facts) -> dict[str, list[OidcIssuer]]:
    """Return the configured issuers grouped by the application their tokens are exchanged through."""
    grouped: dict[str, list[OidcIssuer]] = {}
    default = facts.settings.idc_application_arn
    for issuer in facts.settings.issuers():
        grouped.setdefault(issuer.application_arn or default, []).append(issuer)
    if default and not grouped:
        grouped[default] = []
    return grouped


def application_checks(facts: Facts, arn: str, issuers: list[OidcIssuer]) -> list[Check]:
    """Return every check of one application and the issuers that use it."""
    try:
        application = facts.application(arn)
    except NotFoundError:
        return [
            failed(
                "application.exists",
                f"no Identity Center application has the ARN {arn}",
                "set BROKER_IDC_APPLICATION_ARN (or the issuer's application_arn) to the ARN `setup apply "
                "--env-out` wrote, or list them: aws sso-admin list-applications --instance-arn <instance>",
            )
        ]
    except CannotVerifyError as error:
        checks = [cannot_verify("application.exists", error)]
    else:
        checks = [
            passed("application.exists", f"{application.get('Name')} ({arn})"),
            _enabled(application, arn),
            _customer_managed(application),
        ]
    checks.append(_authentication_method(facts, arn))
    checks += _jwt_bearer(facts, arn, issuers)
    checks += [_refresh_token(facts, arn), _access_scope(facts, arn), _assignment_required(facts, arn)]
    return checks


def _enabled(application: dict[str, Any], arn: str) -> Check:
    status = application.get("Status")
    if status == "ENABLED":
        return passed("application.enabled", "status ENABLED")
    return failed(
        "application.enabled",
        f"status {status}: Identity Center refuses every exchange through a disabled application",
        f"aws sso-admin update-application --application-arn {arn} --status ENABLED "
        "(setup file: application.enabled: true)",
    )


def _customer_managed(application: dict[str, Any]) -> Check:
    provider = application.get("ApplicationProviderArn")
    if provider == CUSTOM_PROVIDER:
        return passed("application.customer_managed", f"provider {provider}")
    return failed(
        "application.customer_managed",
        f"provider {provider}: only a customer-managed application can take the jwt-bearer grant",
        "create a customer-managed application (setup file `application`, provider "
        f"{CUSTOM_PROVIDER}) and point BROKER_IDC_APPLICATION_ARN at it",
    )


def _authentication_method(facts: Facts, arn: str) -> Check:
    check_id = "application.authentication_method"
    try:
        principals = facts.broker_principals()
        document = facts.actor_policy(arn)
    except CannotVerifyError as error:
        return cannot_verify(check_id, error)
    except NotFoundError:
        document = None
    broker = facts.caller_arn()
    actor = policy_text(
        {
            "Effect": "Allow",
            "Principal": {"AWS": role_of_session(broker)},
            "Action": "sso-oauth:CreateTokenWithIAM",
            "Resource": "*",
        }
    )
    fix = (
        "add the broker's principal to the actor policy: aws sso-admin put-application-authentication-method "
        f"--application-arn {arn} --authentication-method-type IAM --authentication-method "
        f'\'{{"Iam":{{"ActorPolicy":{actor}}}}}\' (setup file: application.principals)'
    )
    if not document:
        return failed(check_id, "the application has no IAM authentication method", fix)
    request = Request("sso-oauth:CreateTokenWithIAM", principals, arn)
    decision = evaluate([document], request, resource_policy=True)
    if decision is Decision.ALLOWED:
        return passed(check_id, f"the actor policy lets {broker} call CreateTokenWithIAM")
    if decision is Decision.CONDITIONAL:
        return warned(check_id, f"the actor policy allows {broker} {decision.value}", fix)
    return failed(
        check_id, f"the actor policy does not let {broker} call CreateTokenWithIAM: {decision.value}", fix
    )


def _jwt_bearer(facts: Facts, arn: str, issuers: list[OidcIssuer]) -> list[Check]:
    try:
        grant = facts.grant(arn, JWT_BEARER_GRANT)
    except CannotVerifyError as error:
        return [cannot_verify("application.grant.jwt_bearer", error)]
    except NotFoundError:
        grant = {}
    authorized = list((grant.get("JwtBearer") or {}).get("AuthorizedTokenIssuers") or [])
    if not authorized:
        return [
            failed(
                "application.grant.jwt_bearer",
                "the application has no jwt-bearer grant naming a trusted token issuer",
                f"aws sso-admin put-application-grant --application-arn {arn} --grant-type "
                f'{JWT_BEARER_GRANT} --grant \'{{"JwtBearer":{{"AuthorizedTokenIssuers":[{{'
                '"TrustedTokenIssuerArn":"<tti arn>","AuthorizedAudiences":["<audience>"]}]}}\' '
                "(setup file: trusted_token_issuer + application.audiences)",
            )
        ]
    checks = [passed("application.grant.jwt_bearer", f"{len(authorized)} trusted token issuer(s) authorized")]
    for issuer in issuers:
        checks += issuer_checks(facts, arn, issuer, authorized)
    return checks


def issuer_checks(
    facts: Facts, arn: str, issuer: OidcIssuer, authorized: list[dict[str, Any]]
) -> list[Check]:
    """Return issuer.url, issuer.audience and issuer.claim for one configured issuer."""
    seen: list[str] = []
    for entry in authorized:
        try:
            config = trusted_token_issuer_config(facts, str(entry.get("TrustedTokenIssuerArn")))
        except CannotVerifyError as error:
            return [cannot_verify("issuer.url", error)]
        except NotFoundError:
            continue
        seen.append(str(config.get("IssuerUrl")))
        if config.get("IssuerUrl") == issuer.issuer:
            return [
                passed(
                    "issuer.url",
                    f"trusted token issuer {entry.get('TrustedTokenIssuerArn')} has {issuer.issuer}",
                ),
                _audience(arn, issuer, entry, authorized),
                _claim(issuer, config, str(entry.get("TrustedTokenIssuerArn"))),
            ]
    # A trusted token issuer's URL cannot be updated: a new issuer is created and named in the grant.
    claim = issuer.mapping_claim or "email"
    configuration = (
        f"OidcJwtConfiguration={{IssuerUrl={issuer.issuer},ClaimAttributePath={claim},"
        "IdentityStoreAttributePath=emails.value,JwksRetrievalOption=OPEN_ID_DISCOVERY}"
    )
    return [
        failed(
            "issuer.url",
            f"no trusted token issuer of the application's jwt-bearer grant has the issuer URL "
            f"{issuer.issuer} (seen: {', '.join(seen) or 'none'})",
            "set BROKER_OIDC_ISSUER to the URL Identity Center trusts, or trust this one: aws sso-admin "
            "create-trusted-token-issuer --instance-arn <instance> --name <name> --trusted-token-issuer-type "
            f"OIDC_JWT --trusted-token-issuer-configuration '{configuration}', then name it in the "
            f"jwt-bearer grant (aws sso-admin put-application-grant --application-arn {arn}) (setup file: "
            "trusted_token_issuer.issuer_url)",
        )
    ]


def trusted_token_issuer_config(facts: Facts, tti_arn: str) -> dict[str, Any]:
    """Return the OidcJwtConfiguration of a trusted token issuer."""
    described = facts.trusted_token_issuer(tti_arn)
    return dict((described.get("TrustedTokenIssuerConfiguration") or {}).get("OidcJwtConfiguration") or {})


def _audience(arn: str, issuer: OidcIssuer, entry: dict[str, Any], authorized: list[dict[str, Any]]) -> Check:
    allowed = [str(audience) for audience in entry.get("AuthorizedAudiences") or []]
    missing = [audience for audience in issuer.audiences if audience not in allowed]
    if not missing:
        return passed("issuer.audience", f"audiences {', '.join(issuer.audiences)} are authorized")
    # PutApplicationGrant replaces the whole grant: every entry is kept, this one's audiences extended.
    entries = [
        {**other, "AuthorizedAudiences": allowed + missing} if other is entry else other
        for other in authorized
    ]
    grant = json.dumps({"JwtBearer": {"AuthorizedTokenIssuers": entries}}, separators=(",", ":"))
    return failed(
        "issuer.audience",
        f"the jwt-bearer grant authorizes {', '.join(allowed) or 'no audience'} for {issuer.issuer}, not "
        f"{', '.join(missing)}: Identity Center refuses those tokens (InvalidGrantException)",
        f"aws sso-admin put-application-grant --application-arn {arn} --grant-type {JWT_BEARER_GRANT} "
        f"--grant '{grant}', or fix BROKER_OIDC_AUDIENCE (setup file: application.audiences)",
    )


def _claim(issuer: OidcIssuer, config: dict[str, Any], tti_arn: str) -> Check:
    path = config.get("ClaimAttributePath")
    store_path = config.get("IdentityStoreAttributePath")
    if path == issuer.mapping_claim or issuer.mapping_claim is None:
        return passed("issuer.claim", f"claim {path} maps to the identity store's {store_path}")
    return warned(
        "issuer.claim",
        f"Identity Center maps the claim {path}, the broker requires {issuer.mapping_claim}",
        f"set BROKER_OIDC_MAPPING_CLAIM={path}, or aws sso-admin update-trusted-token-issuer "
        f"--trusted-token-issuer-arn {tti_arn} (setup file: trusted_token_issuer.claim)",
    )


def _refresh_token(facts: Facts, arn: str) -> Check:
    check_id = "application.grant.refresh_token"
    try:
        facts.grant(arn, REFRESH_TOKEN_GRANT)
    except CannotVerifyError as error:
        return cannot_verify(check_id, error)
    except NotFoundError:
        return warned(
            check_id,
            "no refresh_token grant: each ID token is usable once, and a session ends with it",
            f"aws sso-admin put-application-grant --application-arn {arn} --grant-type refresh_token "
            "--grant '{\"RefreshToken\":{}}' (setup file: application.refresh_token: true)",
        )
    return passed(check_id, "refresh_token grant present")


def _access_scope(facts: Facts, arn: str) -> Check:
    check_id = "application.access_scope"
    try:
        scopes = facts.access_scopes(arn)
    except CannotVerifyError as error:
        return cannot_verify(check_id, error)
    fix = (
        f"aws sso-admin put-application-access-scope --application-arn {arn} --scope {READ_WRITE_SCOPE} "
        "(setup file: application.access_scopes)"
    )
    if READ_WRITE_SCOPE in scopes:
        return passed(check_id, f"scopes {', '.join(scopes)}")
    if READ_ONLY_SCOPE in scopes:
        return warned(check_id, f"only {READ_ONLY_SCOPE}: WRITE and READWRITE requests are refused", fix)
    return failed(
        check_id,
        f"scopes {', '.join(scopes) or 'none'}: without an s3:access_grants scope S3 Access Grants refuses "
        "the user's session",
        fix,
    )


def _assignment_required(facts: Facts, arn: str) -> Check:
    check_id = "application.assignment_required"
    try:
        required = facts.assignment_required(arn)
    except CannotVerifyError as error:
        return cannot_verify(check_id, error)
    except NotFoundError:
        required = True  # AWS's default for an application without a configuration
    if required:
        return passed(check_id, "assignment required: only assigned users and groups can exchange tokens")
    return passed(check_id, "assignment not required: every directory user can exchange tokens")
