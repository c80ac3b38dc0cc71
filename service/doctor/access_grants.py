"""Configuration checks of S3 Access Grants: the instance, its Identity Center association, the locations.

Ids: grants.instance, grants.instance.identity_center, grants.locations, grants.location.role_trust.
"""

from __future__ import annotations

from typing import Any, Final

from service.doctor.aws import NotFoundError
from service.doctor.facts import Facts, role_name
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

ACCESS_GRANTS_SERVICE: Final = "access-grants.s3.amazonaws.com"
# sts:AssumeRole lets S3 Access Grants vend from the location role; sts:SetContext carries the directory
# user into the vended session (identity-enhanced grants); sts:SetSourceIdentity is AWS's documented
# third action, without which grants still vend.
_LOCATION_ACTIONS: Final = (
    ("sts:AssumeRole", True),
    ("sts:SetContext", True),
    ("sts:SetSourceIdentity", False),
)


def access_grants_checks(facts: Facts) -> list[Check]:
    """Return the checks of the configured account's Access Grants instance and its locations."""
    account = facts.settings.access_grants_account_id
    region = facts.settings.aws_region
    try:
        instance = facts.grants_instance(account, region)
    except NotFoundError:
        return [
            failed(
                "grants.instance",
                f"no S3 Access Grants instance in account {account}, region {region}",
                f"aws s3control create-access-grants-instance --account-id {account} --region {region} "
                "--identity-center-arn <Identity Center instance ARN> (setup file: access_grants)",
            )
        ]
    except CannotVerifyError as error:
        return [cannot_verify("grants.instance", error)]
    checks = [passed("grants.instance", f"{instance.get('AccessGrantsInstanceArn')}")]
    checks.append(_association(facts, instance))
    checks += _locations(facts, account, region, instance)
    return checks


def _association(facts: Facts, instance: dict[str, Any]) -> Check:
    check_id = "grants.instance.identity_center"
    associated = instance.get("IdentityCenterInstanceArn") or instance.get("IdentityCenterArn")
    account, region = facts.settings.access_grants_account_id, facts.settings.aws_region
    try:
        expected = str(facts.application(facts.settings.idc_application_arn).get("InstanceArn"))
    except (CannotVerifyError, NotFoundError):
        expected = None
    fix = (
        f"aws s3control associate-access-grants-identity-center --account-id {account} --region {region} "
        f"--identity-center-arn {expected or '<Identity Center instance ARN>'} (setup file: "
        "access_grants.identity_center)"
    )
    if not associated:
        return failed(
            check_id,
            "the instance is associated with no Identity Center instance: directory users and groups "
            "match no grant",
            fix,
        )
    if expected is None:
        return warned(check_id, f"associated with {associated}; the application's instance is unknown", fix)
    if associated != expected:
        return failed(
            check_id,
            f"associated with {associated}, but the application belongs to {expected}: the users it "
            "exchanges are unknown to this instance",
            fix,
        )
    return passed(check_id, f"associated with {associated}")


def _locations(facts: Facts, account: str, region: str, instance: dict[str, Any]) -> list[Check]:
    try:
        locations = facts.locations(account, region)
    except (CannotVerifyError, NotFoundError) as error:
        reason = error if isinstance(error, CannotVerifyError) else CannotVerifyError(str(error))
        return [cannot_verify("grants.locations", reason)]
    if not locations:
        return [
            failed(
                "grants.locations",
                "no location is registered: no grant can exist",
                f"aws s3control create-access-grants-location --account-id {account} --location-scope "
                "s3://<bucket> --iam-role-arn <location role> (setup file: access_grants.locations)",
            )
        ]
    checks = [passed("grants.locations", f"{len(locations)} location(s) registered")]
    checks.append(_location_trust(facts, locations, str(instance.get("AccessGrantsInstanceArn"))))
    return checks


def _location_trust(facts: Facts, locations: list[dict[str, Any]], instance_arn: str) -> Check:
    check_id = "grants.location.role_trust"
    broken: list[str] = []
    weak: list[str] = []
    # What S3 Access Grants' AssumeRole carries: the confused-deputy keys AWS documents for the role.
    context = {"aws:SourceAccount": facts.settings.access_grants_account_id, "aws:SourceArn": instance_arn}
    for role_arn in sorted({str(location.get("IAMRoleArn")) for location in locations}):
        scopes = ", ".join(
            str(location.get("LocationScope"))
            for location in locations
            if location.get("IAMRoleArn") == role_arn
        )
        try:
            document = facts.role(role_name(role_arn)).get("AssumeRolePolicyDocument")
        except CannotVerifyError as error:
            return cannot_verify(check_id, error)
        except NotFoundError:
            broken.append(f"{role_arn} (locations {scopes}) does not exist")
            continue
        for action, essential in _LOCATION_ACTIONS:
            request = Request(action, frozenset({ACCESS_GRANTS_SERVICE}), context=context)
            decision = evaluate([document], request, resource_policy=True)
            if decision is not Decision.ALLOWED:
                found = broken if essential and decision is not Decision.CONDITIONAL else weak
                found.append(f"{role_arn} (locations {scopes}) {action}: {decision.value}")
    trust = policy_text(
        {
            "Effect": "Allow",
            "Principal": {"Service": ACCESS_GRANTS_SERVICE},
            "Action": [action for action, _ in _LOCATION_ACTIONS],
        }
    )
    fix = (
        f"aws iam update-assume-role-policy --role-name <location role> --policy-document '{trust}' "
        "(setup file: access_grants.location_role)"
    )
    if broken:
        return failed(
            check_id,
            f"the trust policy does not let {ACCESS_GRANTS_SERVICE} in: {'; '.join(broken)}",
            fix,
        )
    if weak:
        return warned(check_id, "; ".join(weak), fix)
    return passed(check_id, f"every location role trusts {ACCESS_GRANTS_SERVICE}")
