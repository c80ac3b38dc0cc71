"""The trusted token issuer: read, compared with the file, and the changes planned.

Identity Center cannot change an issuer's URL (UpdateTrustedTokenIssuer has no IssuerUrl), so a new URL
replaces the issuer: the application's jwt-bearer grant naming it goes first, then the issuer, and the
grant is put again, naming the new one, in the application's phase.
"""

from __future__ import annotations

from typing import Any

from service.setup.aws import Clients, call, pages, tags_of
from service.setup.model import JWT_BEARER, TAG_KEY, IssuerSpec, SetupSpec
from service.setup.plan import Action, Context, Plan, Steps, creating, request

KEY = "issuer"


def _configuration(issuer: IssuerSpec) -> dict[str, Any]:
    return {
        "OidcJwtConfiguration": {
            "IssuerUrl": issuer.issuer_url,
            "ClaimAttributePath": issuer.claim,
            "IdentityStoreAttributePath": issuer.identity_store_attribute,
            "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
        }
    }


def owned_issuers(clients: Clients, spec: SetupSpec, plan: Plan) -> dict[str, dict[str, Any]]:
    """Return this setup's issuers (ARN → description); record a problem for a same-named foreign one."""
    sso, instance = clients.sso_admin, plan.context.instance_arn
    owned: dict[str, dict[str, Any]] = {}
    label = "trusted token issuers"
    for item in pages(label, sso, "ListTrustedTokenIssuers", "TrustedTokenIssuers", InstanceArn=instance):
        arn = str(item["TrustedTokenIssuerArn"])
        tags = tags_of(call(label, sso, "ListTagsForResource", InstanceArn=instance, ResourceArn=arn))
        if tags.get(TAG_KEY) == spec.name:
            owned[arn] = call(label, sso, "DescribeTrustedTokenIssuer", TrustedTokenIssuerArn=arn)
        elif spec.issuer is not None and item.get("Name") == spec.issuer.name:
            plan.problem(
                spec.issuer.line,
                f"trusted token issuer {spec.issuer.name!r} exists and was not created by setup "
                f"{spec.name!r}: choose another name",
            )
    return owned


def plan_issuer(clients: Clients, spec: SetupSpec, plan: Plan, application_arn: str | None) -> None:
    """Plan the issuer; ``application_arn`` is this setup's existing application, if any."""
    sso = clients.sso_admin
    owned = owned_issuers(clients, spec, plan)
    wanted = spec.issuer
    keep: str | None = None
    if wanted is not None:
        named = [arn for arn, item in owned.items() if item.get("Name") == wanted.name]
        keep = next(iter(named or list(owned)), None)
        found = owned[keep] if keep else None
        _plan_wanted(sso, spec, plan, wanted=wanted, found=found, application_arn=application_arn)
    for arn, found in owned.items():
        if arn != keep:
            label = f"trusted token issuer {found.get('Name')}"
            delete = request(label, sso, "DeleteTrustedTokenIssuer", TrustedTokenIssuerArn=arn)
            plan.add("delete", label, "issuer-delete", delete)


def _plan_wanted(
    sso: Any,
    spec: SetupSpec,
    plan: Plan,
    *,
    wanted: IssuerSpec,
    found: dict[str, Any] | None,
    application_arn: str | None,
) -> None:
    label = f"trusted token issuer {wanted.name}"
    create = creating(
        KEY,
        "TrustedTokenIssuerArn",
        label,
        sso,
        "CreateTrustedTokenIssuer",
        InstanceArn=plan.context.instance_arn,
        Name=wanted.name,
        TrustedTokenIssuerType="OIDC_JWT",
        TrustedTokenIssuerConfiguration=_configuration(wanted),
        Tags=[spec.tag],
    )
    if not found:
        plan.add("create", label, "issuer", create)
        return
    arn = str(found["TrustedTokenIssuerArn"])
    current = (found.get("TrustedTokenIssuerConfiguration") or {}).get("OidcJwtConfiguration") or {}
    if current.get("IssuerUrl") != wanted.issuer_url:
        steps: list[Action] = []
        if application_arn is not None:
            steps.append(_UnlinkIssuer(label, sso, application_arn))
        steps += [request(label, sso, "DeleteTrustedTokenIssuer", TrustedTokenIssuerArn=arn), create]
        detail = f"issuer_url {current.get('IssuerUrl')} -> {wanted.issuer_url}: only settable at creation"
        plan.add("replace", label, "issuer", Steps(tuple(steps)), detail)
        return
    plan.context[KEY] = arn
    differences = [
        name
        for name, now, then in (
            ("name", found.get("Name"), wanted.name),
            ("claim", current.get("ClaimAttributePath"), wanted.claim),
            (
                "identity_store_attribute",
                current.get("IdentityStoreAttributePath"),
                wanted.identity_store_attribute,
            ),
        )
        if now != then
    ]
    if not differences:
        plan.same(label)
        return
    configuration = _configuration(wanted)["OidcJwtConfiguration"]
    del configuration["IssuerUrl"]
    update = request(
        label,
        sso,
        "UpdateTrustedTokenIssuer",
        TrustedTokenIssuerArn=arn,
        Name=wanted.name,
        TrustedTokenIssuerConfiguration={"OidcJwtConfiguration": configuration},
    )
    plan.add("update", label, "issuer", update, ", ".join(differences))


class _UnlinkIssuer:
    """Remove the application's jwt-bearer grant (it names the issuer about to be replaced)."""

    def __init__(self, label: str, sso: Any, application_arn: str) -> None:
        self.label, self.sso, self.application_arn = label, sso, application_arn

    def __call__(self, _: Context) -> None:
        grants = call(self.label, self.sso, "ListApplicationGrants", ApplicationArn=self.application_arn)
        if any(g.get("GrantType") == JWT_BEARER for g in grants.get("Grants") or []):
            call(
                self.label,
                self.sso,
                "DeleteApplicationGrant",
                ApplicationArn=self.application_arn,
                GrantType=JWT_BEARER,
            )
