"""sso-admin (JSON 1.1, target `SWBExternalService`) over the emulator's own Identity Center state: the
instance, applications (`sso_admin_applications.py`), trusted token issuers and tags. What
CreateTokenWithIAM reads is what these operations write."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Response

from emulator import permissions, tags
from emulator import token_issuers as issuers
from emulator.sso_admin_applications import OPERATIONS as APPLICATION_OPERATIONS
from emulator.sso_admin_applications import Body, optional, paged, required
from emulator.state import EmulatorState, TrustedTokenIssuer
from emulator.token_issuers import not_found, validation
from emulator.wire import STS_AUTH, AwsError, AwsRequest, authenticate, error_response

CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_TAGS = 75
_RESOURCE_MEMBERS = ("ApplicationArn", "TrustedTokenIssuerArn", "ResourceArn", "InstanceArn")


class SsoAdminHandler:
    """Serve the sso-admin operations the emulator owns; the rest go to moto."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        own: dict[str, Callable[[Body], Body]] = {
            "ListInstances": lambda b: paged("Instances", [self._instance()], b),
            "DescribeInstance": self._describe_instance,
            "CreateTrustedTokenIssuer": self._create_issuer,
            "DescribeTrustedTokenIssuer": lambda b: _issuer(
                issuers.get_issuer(self.state, required(b, "TrustedTokenIssuerArn"))
            ),
            "ListTrustedTokenIssuers": self._list_issuers,
            "UpdateTrustedTokenIssuer": self._update_issuer,
            "DeleteTrustedTokenIssuer": self._delete_issuer,
            "TagResource": self._tag,
            "UntagResource": self._untag,
            "ListTagsForResource": lambda b: paged("Tags", tags.tags_of(self.state, self._taggable(b)), b),
        }
        bound = {name: _bind(op, state) for name, op in APPLICATION_OPERATIONS.items()}
        self.operations: dict[str, Callable[[Body], Body]] = {**bound, **own}

    def handles(self, operation: str) -> bool:
        """Return whether the emulator serves this sso-admin operation itself."""
        return operation in self.operations

    def handle(self, req: AwsRequest) -> Response:
        """Authenticate, authorize (`sso:<Operation>` in the caller's identity policies) and serve."""
        req.operation = req.headers.get("x-amz-target", "").rsplit(".", 1)[-1]
        try:
            caller = authenticate(self.state, req, STS_AUTH)
            try:
                body = json.loads(req.body or b"{}")
            except ValueError as exc:
                raise validation("Request body is not JSON") from exc
            if not isinstance(body, dict):
                raise validation("Request body must be a JSON object")
            resource = next((str(body[k]) for k in _RESOURCE_MEMBERS if k in body), "*")
            permissions.require(
                self.state,
                caller,
                f"sso:{req.operation}",
                resource,
                code="AccessDeniedException",
                status=400,
                kinds=frozenset({"iam_user", "role_session"}),
            )
            result = self.operations[req.operation](body)
        except AwsError as err:
            req.annotations["error"] = err.code
            return error_response("json", err)
        return Response(json.dumps(result), content_type=CONTENT_TYPE)

    def _instance(self) -> Body:
        ic = self.state.identity_center
        return {
            "InstanceArn": ic.instance_arn,
            "IdentityStoreId": ic.identity_store_id,
            "IdentityStoreArn": ic.identity_store_arn,
            "OwnerAccountId": self.state.account_id,
            "CreatedDate": ic.created_at,
            "Status": "ACTIVE",
            "PrimaryRegion": self.state.region,
        }

    def _describe_instance(self, body: Body) -> Body:
        if required(body, "InstanceArn") != self.state.identity_center.instance_arn:
            raise AwsError("AccessDeniedException", "The instance does not exist in this account", 400)
        return self._instance()

    def _create_issuer(self, body: Body) -> Body:
        if required(body, "TrustedTokenIssuerType") != "OIDC_JWT":
            raise validation("TrustedTokenIssuerType must be OIDC_JWT")
        config = (body.get("TrustedTokenIssuerConfiguration") or {}).get("OidcJwtConfiguration")
        if not isinstance(config, dict):
            raise validation("TrustedTokenIssuerConfiguration.OidcJwtConfiguration is required")
        issuer = issuers.create_issuer(
            self.state,
            instance_arn=required(body, "InstanceArn"),
            name=required(body, "Name"),
            issuer_url=required(config, "IssuerUrl"),
            claim_attribute_path=required(config, "ClaimAttributePath"),
            identity_store_attribute_path=required(config, "IdentityStoreAttributePath"),
            jwks_retrieval_option=required(config, "JwksRetrievalOption"),
            resource_tags=tags.parse_tags(body.get("Tags"), validation, issuers.MAX_TAGS),
        )
        return {"TrustedTokenIssuerArn": issuer.arn}

    def _list_issuers(self, body: Body) -> Body:
        if required(body, "InstanceArn") != self.state.identity_center.instance_arn:
            return {"TrustedTokenIssuers": []}
        listed = [
            {"TrustedTokenIssuerArn": i.arn, "Name": i.name, "TrustedTokenIssuerType": "OIDC_JWT"}
            for i in list(self.state.identity_center.issuers.values())
        ]
        return paged("TrustedTokenIssuers", listed, body)

    def _update_issuer(self, body: Body) -> Body:
        config = (body.get("TrustedTokenIssuerConfiguration") or {}).get("OidcJwtConfiguration") or {}
        issuers.update_issuer(
            self.state,
            required(body, "TrustedTokenIssuerArn"),
            name=optional(body, "Name"),
            claim_attribute_path=optional(config, "ClaimAttributePath"),
            identity_store_attribute_path=optional(config, "IdentityStoreAttributePath"),
            jwks_retrieval_option=optional(config, "JwksRetrievalOption"),
        )
        return {}

    def _delete_issuer(self, body: Body) -> Body:
        issuers.delete_issuer(self.state, required(body, "TrustedTokenIssuerArn"))
        return {}

    def _taggable(self, body: Body) -> str:
        arn = required(body, "ResourceArn")
        ic = self.state.identity_center
        if arn != ic.instance_arn and arn not in ic.applications and arn not in ic.issuers:
            raise not_found(f"Resource {arn} does not exist")
        return arn

    def _tag(self, body: Body) -> Body:
        new = tags.parse_tags(body.get("Tags"), validation, MAX_TAGS)
        tags.tag_resource(self.state, self._taggable(body), new, validation, MAX_TAGS)
        return {}

    def _untag(self, body: Body) -> Body:
        keys = body.get("TagKeys")
        if not isinstance(keys, list) or not keys:
            raise validation("TagKeys is required")
        tags.untag_resource(self.state, self._taggable(body), [str(k) for k in keys])
        return {}


def _bind(operation: Callable[[EmulatorState, Body], Body], state: EmulatorState) -> Callable[[Body], Body]:
    return lambda body: operation(state, body)


def _issuer(issuer: TrustedTokenIssuer) -> dict[str, Any]:
    return {
        "TrustedTokenIssuerArn": issuer.arn,
        "Name": issuer.name,
        "TrustedTokenIssuerType": "OIDC_JWT",
        "TrustedTokenIssuerConfiguration": {
            "OidcJwtConfiguration": {
                "IssuerUrl": issuer.issuer_url,
                "ClaimAttributePath": issuer.claim_attribute_path,
                "IdentityStoreAttributePath": issuer.identity_store_attribute_path,
                "JwksRetrievalOption": issuer.jwks_retrieval_option,
            }
        },
    }
