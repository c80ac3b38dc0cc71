"""S3 Control Access Grants (rest-xml under `/v20180820/accessgrantsinstance…`): routing, authorisation
and the operations, each reading the request, asking the store or the matcher, and rendering the result."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

from werkzeug.wrappers import Response

from emulator import access_grants_tags as grant_tags
from emulator.access_grants import matching, wire
from emulator.access_grants.state import AccessGrantsStore
from emulator.access_grants.wire import denied, invalid, parse_xml, tag, text, xml
from emulator.permissions import require
from emulator.state import EmulatorState
from emulator.wire import S3_AUTH, AwsError, AwsRequest, authenticate, error_response

PREFIX = "/v20180820"
TAGS = r"/tags/(arn:[^:/]+:s3:[^:/]*:\d{12}:access-grants/.+)"
ACCOUNT_RE = re.compile(r"\d{12}")
# Administration that changes which grants apply; each success is published when events are on.
CHANGE_OPERATIONS = frozenset(
    {
        "CreateAccessGrant",
        "DeleteAccessGrant",
        "CreateAccessGrantsLocation",
        "UpdateAccessGrantsLocation",
        "DeleteAccessGrantsLocation",
        "AssociateAccessGrantsIdentityCenter",
        "DissociateAccessGrantsIdentityCenter",
        "CreateAccessGrantsInstance",
        "DeleteAccessGrantsInstance",
    }
)
# Operations any authenticated IAM principal or role session may call; the rest are administration.
CALLER_OPERATIONS = frozenset({"GetDataAccess", "ListCallerAccessGrants", "GetAccessGrantsInstanceForPrefix"})
# Operations that do not need the account's instance in the region the request is signed for.
_ANY_REGION_OPERATIONS = frozenset(
    {"CreateAccessGrantsInstance", "ListAccessGrantsInstances", "GetAccessGrantsInstanceForPrefix"}
)

Operation = Callable[[AwsRequest, str, str | None], Response]
_NO_CONTENT = 204


class AccessGrantsHandler:
    """Serve the Access Grants operations of s3control."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.store = AccessGrantsStore(state)  # scenario seeding creates instances, locations and grants here
        # Called as (operation, account, request parameters, caller ARN) after each successful change.
        self.on_change: Callable[[str, str, dict[str, str], str | None], None] | None = None
        instance, location, grant = (
            "/accessgrantsinstance",
            "/accessgrantsinstance/location",
            "/accessgrantsinstance/grant",
        )
        routes: list[tuple[str, str, str, Operation]] = [
            ("POST", instance, "CreateAccessGrantsInstance", self._create_instance),
            ("GET", instance, "GetAccessGrantsInstance", self._get_instance),
            ("DELETE", instance, "DeleteAccessGrantsInstance", self._delete_instance),
            ("GET", instance + "s", "ListAccessGrantsInstances", self._list_instances),
            ("POST", instance + "/identitycenter", "AssociateAccessGrantsIdentityCenter", self._associate),
            (
                "DELETE",
                instance + "/identitycenter",
                "DissociateAccessGrantsIdentityCenter",
                self._dissociate,
            ),
            ("POST", location, "CreateAccessGrantsLocation", self._create_location),
            ("GET", location + "s", "ListAccessGrantsLocations", self._list_locations),
            ("GET", location + "/([^/]+)", "GetAccessGrantsLocation", self._get_location),
            ("DELETE", location + "/([^/]+)", "DeleteAccessGrantsLocation", self._delete_location),
            ("POST", grant, "CreateAccessGrant", self._create_grant),
            ("GET", grant + "s", "ListAccessGrants", self._list_grants),
            ("GET", grant + "/([^/]+)", "GetAccessGrant", self._get_grant),
            ("DELETE", grant + "/([^/]+)", "DeleteAccessGrant", self._delete_grant),
            ("GET", instance + "/prefix", "GetAccessGrantsInstanceForPrefix", self._instance_for_prefix),
            ("GET", instance + "/dataaccess", "GetDataAccess", self._get_data_access),
            ("GET", instance + "/caller/grants", "ListCallerAccessGrants", self._list_caller_grants),
            (
                "POST",
                TAGS,
                "TagResource",
                lambda r, a, arn: grant_tags.tag_resource(self.state, parse_xml(r.body), a, arn or ""),
            ),
            (
                "DELETE",
                TAGS,
                "UntagResource",
                lambda r, a, arn: grant_tags.untag_resource(self.state, r, a, arn or ""),
            ),
            (
                "GET",
                TAGS,
                "ListTagsForResource",
                lambda r, a, arn: grant_tags.list_tags(self.state, a, arn or ""),
            ),
        ]
        self.routes = [(m, re.compile(PREFIX + p + "/?"), op, fn) for m, p, op, fn in routes]

    def operation_for(self, method: str, path: str) -> str | None:
        """Return the operation name for an Access Grants path, or None if it is not one."""
        for m, pattern, op, _ in self.routes:
            if m == method and pattern.fullmatch(path):
                return op
        return None

    def handle(self, req: AwsRequest) -> Response:
        """Authenticate, route and render one Access Grants request."""
        try:
            return self._serve(req)
        except AwsError as err:
            req.annotations["error"] = err.code
            return error_response("s3-xml", err)

    def _serve(self, req: AwsRequest) -> Response:
        for m, pattern, op, fn in self.routes:
            match = pattern.fullmatch(req.path)
            if m == req.method and match:
                req.operation = op
                caller = authenticate(self.state, req, S3_AUTH)
                if caller.kind == "vended" or (caller.kind != "iam_user" and op not in CALLER_OPERATIONS):
                    raise denied()
                account = req.headers.get("x-amz-account-id", "")
                if not ACCOUNT_RE.fullmatch(account):
                    raise invalid("Invalid account id")
                req.annotations["region"] = wire.signed_region(req)
                if op not in _ANY_REGION_OPERATIONS:
                    self.store.instance(account, req.annotations["region"])
                if op in CALLER_OPERATIONS:
                    # IAM first, as in AWS: the role session needs s3:<operation> on the instance.
                    require(self.state, caller, f"s3:{op}", self.store.instance_arn(account))
                resource = match.group(1) if match.groups() else None
                response = fn(req, account, resource)
                if self.on_change is not None and op in CHANGE_OPERATIONS and response.status_code < 300:
                    parameters = {"accountId": account} | ({"id": resource} if resource else {})
                    self.on_change(op, account, parameters, caller.arn)
                return response
        raise AwsError("NotImplemented", f"{req.method} {req.path} is not emulated", 501)

    # --- instance ---------------------------------------------------------------------------------

    def _create_instance(self, req: AwsRequest, account: str, _: str | None) -> Response:
        root = parse_xml(req.body) if req.body else ET.Element("x")
        identity_center = text(root, "IdentityCenterArn")
        if identity_center is not None and identity_center != self.state.identity_center.instance_arn:
            raise invalid("IdentityCenterArn does not name an Identity Center instance")
        grant_tags.tags_in(root)  # refuse malformed tags before creating anything
        instance = self.store.create_instance(account, identity_center, req.annotations["region"])
        grant_tags.tag_created(self.state, root, instance.arn)
        return xml("CreateAccessGrantsInstanceResult", wire.instance_xml(instance))

    def _get_instance(self, req: AwsRequest, account: str, _: str | None) -> Response:
        return xml("GetAccessGrantsInstanceResult", wire.instance_xml(self.store.instance(account)))

    def _delete_instance(self, req: AwsRequest, account: str, _: str | None) -> Response:
        self.store.delete_instance(account)
        return Response(status=_NO_CONTENT)

    def _list_instances(self, req: AwsRequest, account: str, _: str | None) -> Response:
        instance = self.state.grants_instances.get(account)
        if instance is not None and instance.region != req.annotations["region"]:
            instance = None
        inner = (
            f"<AccessGrantsInstance>{wire.instance_xml(instance)}</AccessGrantsInstance>" if instance else ""
        )
        return xml(
            "ListAccessGrantsInstancesResult",
            f"<AccessGrantsInstancesList>{inner}</AccessGrantsInstancesList>",
        )

    def _associate(self, req: AwsRequest, account: str, _: str | None) -> Response:
        self.store.instance(account)
        self.store.associate(account, text(parse_xml(req.body), "IdentityCenterArn"))
        return Response(status=200)

    def _dissociate(self, req: AwsRequest, account: str, _: str | None) -> Response:
        self.store.dissociate(account)
        return Response(status=200)

    def _instance_for_prefix(self, req: AwsRequest, account: str, _: str | None) -> Response:
        best = self.store.instance_for_prefix(req.arg("s3prefix") or "", req.annotations["region"])
        return xml(
            "GetAccessGrantsInstanceForPrefixResult",
            tag("AccessGrantsInstanceArn", best.arn) + tag("AccessGrantsInstanceId", "default"),
        )

    # --- locations --------------------------------------------------------------------------------

    def _create_location(self, req: AwsRequest, account: str, _: str | None) -> Response:
        root = parse_xml(req.body)
        grant_tags.tags_in(root)
        location = self.store.create_location(
            account, text(root, "LocationScope") or "", text(root, "IAMRoleArn") or ""
        )
        grant_tags.tag_created(self.state, root, location.arn)
        return xml("CreateAccessGrantsLocationResult", wire.location_xml(location))

    def _get_location(self, req: AwsRequest, account: str, location_id: str | None) -> Response:
        return xml(
            "GetAccessGrantsLocationResult", wire.location_xml(self.store.location(account, location_id))
        )

    def _delete_location(self, req: AwsRequest, account: str, location_id: str | None) -> Response:
        self.store.delete_location(account, location_id)
        return Response(status=_NO_CONTENT)

    def _list_locations(self, req: AwsRequest, account: str, _: str | None) -> Response:
        items = self.store.locations(account, req.arg("locationscope"))
        inner = "".join(
            f"<AccessGrantsLocation>{wire.location_xml(loc)}</AccessGrantsLocation>" for loc in items
        )
        return xml(
            "ListAccessGrantsLocationsResult",
            f"<AccessGrantsLocationsList>{inner}</AccessGrantsLocationsList>",
        )

    # --- grants -----------------------------------------------------------------------------------

    def _create_grant(self, req: AwsRequest, account: str, _: str | None) -> Response:
        root = parse_xml(req.body)
        grant_tags.tags_in(root)
        grant = self.store.create_grant(
            account,
            text(root, "AccessGrantsLocationId") or "",
            sub_prefix=text(root, "AccessGrantsLocationConfiguration/S3SubPrefix"),
            grantee_type=text(root, "Grantee/GranteeType") or "",
            grantee_identifier=text(root, "Grantee/GranteeIdentifier") or "",
            permission=text(root, "Permission") or "",
            application_arn=text(root, "ApplicationArn"),
            s3_prefix_type=text(root, "S3PrefixType"),
        )
        grant_tags.tag_created(self.state, root, grant.arn)
        return xml("CreateAccessGrantResult", wire.grant_xml(grant))

    def _get_grant(self, req: AwsRequest, account: str, grant_id: str | None) -> Response:
        return xml("GetAccessGrantResult", wire.grant_xml(self.store.grant(account, grant_id)))

    def _delete_grant(self, req: AwsRequest, account: str, grant_id: str | None) -> Response:
        self.store.delete_grant(account, grant_id)
        return Response(status=_NO_CONTENT)

    def _list_grants(self, req: AwsRequest, account: str, _: str | None) -> Response:
        items = self.store.filtered_grants(account, req.arg)
        page, token = wire.page(items, req)
        inner = "".join(f"<AccessGrant>{wire.grant_xml(g)}</AccessGrant>" for g in page)
        return xml(
            "ListAccessGrantsResult",
            tag("NextToken", token) + f"<AccessGrantsList>{inner}</AccessGrantsList>",
        )

    # --- caller operations ------------------------------------------------------------------------

    def _get_data_access(self, req: AwsRequest, account: str, _: str | None) -> Response:
        instance = self.store.instance(account)
        caller = req.caller
        assert caller is not None  # noqa: S101 - handle() authenticated the request
        target, permission, privilege, duration = wire.data_access_request(req)
        ids = matching.caller_identities(self.state, caller, instance)
        if ids.user_id:
            req.annotations["on_behalf_of"] = ids.user_id
        matching.check_access_scope(caller, permission)
        chosen = matching.best_grant(self.store.grants(account), ids, permission, target)
        if chosen is None:
            raise denied("You do not have READ/WRITE access to the target through any grant")
        scope = target if privilege == "Minimal" else chosen.scope
        credential = self.store.vend(
            account,
            caller,
            chosen,
            scope=scope,
            permission=permission,
            duration=duration,
            directory_user=bool(ids.user_id),
        )
        return xml("GetDataAccessResult", wire.data_access_xml(credential, scope, chosen, instance))

    def _list_caller_grants(self, req: AwsRequest, account: str, _: str | None) -> Response:
        instance = self.store.instance(account)
        caller = req.caller
        assert caller is not None  # noqa: S101 - handle() authenticated the request
        ids = matching.caller_identities(self.state, caller, instance)
        items = matching.caller_grants(
            self.store.grants(account),
            ids,
            req.arg("grantscope"),
            by_application=req.arg("allowedByApplication") == "true",
        )
        page, token = wire.page(items, req)
        inner = "".join(wire.caller_grant_xml(g, instance) for g in page)
        return xml(
            "ListCallerAccessGrantsResult",
            tag("NextToken", token) + f"<CallerAccessGrantsList>{inner}</CallerAccessGrantsList>",
        )
