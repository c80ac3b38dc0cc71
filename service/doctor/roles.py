"""Configuration checks of the identity-bearer role: it exists, its trust policy lets the broker assume it
with an Identity Center context, and its identity policies allow the S3 Access Grants calls.

Ids: role.exists, role.trust.assume_role, role.trust.set_context, role.max_session_duration,
role.policy.get_data_access, role.policy.list_caller_access_grants,
role.policy.get_access_grants_instance_for_prefix.
"""

from __future__ import annotations

import json
from typing import Final

from service.doctor.aws import NotFoundError
from service.doctor.facts import Facts, role_name, role_of_session
from service.doctor.model import (
    CannotVerifyError,
    Check,
    Status,
    cannot_verify,
    failed,
    passed,
    policy_text,
    warned,
)
from service.doctor.policy import Decision, Request, evaluate

IDENTITY_CENTER_PROVIDER: Final = "arn:aws:iam::aws:contextProvider/IdentityCenter"
# (action, whether the broker cannot serve without it, what fails without it)
_CALLER_ACTIONS: Final = (
    ("s3:GetDataAccess", True, "every credential and URL request fails (502 iam_denied)"),
    ("s3:ListCallerAccessGrants", False, "GET /v1/grants fails"),
    (
        "s3:GetAccessGrantsInstanceForPrefix",
        False,
        "the broker cannot find a bucket's instance and uses BROKER_ACCESS_GRANTS_ACCOUNT_ID",
    ),
)


def _trust_context(facts: Facts) -> dict[str, str]:
    """Return the condition keys AssumeRole with an Identity Center context carries, as far as known."""
    arn = facts.caller_arn()
    context = {
        "aws:PrincipalArn": role_of_session(arn),
        "aws:PrincipalAccount": arn.split(":")[4],
        "sts:RequestContextProviders": IDENTITY_CENTER_PROVIDER,
        "sts:RequestContext/identitycenter:ApplicationArn": facts.settings.idc_application_arn,
    }
    try:
        application = facts.application(facts.settings.idc_application_arn)
    except (CannotVerifyError, NotFoundError):
        return context
    context["sts:RequestContext/identitycenter:InstanceArn"] = str(application.get("InstanceArn"))
    context["sts:RequestContext/identitystore:IdentityStoreArn"] = str(application.get("IdentityStoreArn"))
    return context


def role_checks(facts: Facts) -> list[Check]:
    """Return the checks of the identity-bearer role."""
    arn = facts.settings.identity_bearer_role_arn
    try:
        role = facts.role(role_name(arn))
    except NotFoundError:
        return [
            failed(
                "role.exists",
                f"no IAM role {role_name(arn)}",
                "set BROKER_IDENTITY_BEARER_ROLE_ARN to the role `setup apply --env-out` wrote (setup file: "
                "identity_bearer_role)",
            )
        ]
    except CannotVerifyError as error:
        return [cannot_verify("role.exists", error)]
    checks = [passed("role.exists", str(role.get("Arn")))]
    checks += _trust_checks(facts, role.get("AssumeRolePolicyDocument"))
    checks.append(_max_session(facts, int(role.get("MaxSessionDuration") or 3600)))
    checks += _policy_checks(facts)
    return checks


def _trust_checks(facts: Facts, document: object) -> list[Check]:
    try:
        principals = facts.broker_principals()
        context = _trust_context(facts)
    except CannotVerifyError as error:
        return [
            cannot_verify("role.trust.assume_role", error),
            cannot_verify("role.trust.set_context", error),
        ]
    role = facts.settings.identity_bearer_role_arn
    broker = context["aws:PrincipalArn"]
    statement = {
        "Effect": "Allow",
        "Principal": {"AWS": broker},
        "Action": ["sts:AssumeRole", "sts:SetContext"],
    }
    name = role_name(role)
    fix = (
        f"add the statement {json.dumps(statement, separators=(',', ':'))} to the role's trust policy: "
        f"aws iam get-role --role-name {name} --query Role.AssumeRolePolicyDocument > trust.json, edit it, "
        f"aws iam update-assume-role-policy --role-name {name} --policy-document file://trust.json "
        "(setup file: identity_bearer_role.principals)"
    )
    checks = []
    for action, check_id in (
        ("sts:AssumeRole", "role.trust.assume_role"),
        ("sts:SetContext", "role.trust.set_context"),
    ):
        decision = evaluate([document], Request(action, principals, context=context), resource_policy=True)
        if decision is Decision.ALLOWED:
            checks.append(passed(check_id, f"the trust policy allows {broker} {action}"))
        elif decision is Decision.CONDITIONAL:
            checks.append(
                warned(check_id, f"the trust policy allows {broker} {action} {decision.value}", fix)
            )
        else:
            checks.append(
                failed(check_id, f"the trust policy does not allow {broker} {action}: {decision.value}", fix)
            )
    return checks


def _max_session(facts: Facts, maximum: int) -> Check:
    wanted = facts.settings.session_duration_seconds
    if maximum >= wanted:
        return passed("role.max_session_duration", f"MaxSessionDuration {maximum} s >= {wanted} s asked")
    return failed(
        "role.max_session_duration",
        f"MaxSessionDuration {maximum} s is below BROKER_SESSION_DURATION_SECONDS={wanted}: AssumeRole fails",
        f"aws iam update-role --role-name {role_name(facts.settings.identity_bearer_role_arn)} "
        f"--max-session-duration {wanted}, or lower BROKER_SESSION_DURATION_SECONDS (setup file: "
        "identity_bearer_role.max_session_duration)",
    )


def _policy_checks(facts: Facts) -> list[Check]:
    settings = facts.settings
    ids = [f"role.policy.{_snake(action)}" for action, _, _ in _CALLER_ACTIONS]
    try:
        documents = facts.role_policies(role_name(settings.identity_bearer_role_arn))
    except (CannotVerifyError, NotFoundError) as error:
        reason = error if isinstance(error, CannotVerifyError) else CannotVerifyError(str(error))
        return [cannot_verify(check_id, reason) for check_id in ids]
    instance = f"arn:aws:s3:{settings.aws_region}:{settings.access_grants_account_id}:access-grants/default"
    checks = []
    for (action, essential, consequence), check_id in zip(_CALLER_ACTIONS, ids, strict=True):
        decision = evaluate(documents, Request(action, resource=instance), resource_policy=False)
        document = policy_text({"Effect": "Allow", "Action": [action], "Resource": instance})
        fix = (
            f"aws iam put-role-policy --role-name {role_name(settings.identity_bearer_role_arn)} "
            f"--policy-name access-grants-caller --policy-document '{document}' "
            "(setup file: identity_bearer_role, whose policy setup writes)"
        )
        if decision is Decision.ALLOWED:
            checks.append(passed(check_id, f"the role's policies allow {action} on {instance}"))
            continue
        status = Status.FAIL if essential and decision is not Decision.CONDITIONAL else Status.WARN
        checks.append(
            Check(check_id, status, f"{action} on {instance}: {decision.value}; {consequence}", fix)
        )
    return checks


def _snake(action: str) -> str:
    name = action.split(":", 1)[1]
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
