"""S3 Control Access Grants (rest-xml under `/v20180820/accessgrantsinstance…`), including GetDataAccess."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from emulator import access_grants_tags as grant_tags
from emulator import sigv4, tags
from emulator.directory import group_ids_of
from emulator.identity_center import s3_permissions_allowed
from emulator.permissions import require
from emulator.state import (
    AccessGrant,
    Credential,
    EmulatorState,
    GrantsInstance,
    GrantsLocation,
    new_access_key,
    new_id,
    new_secret,
)
from emulator.sts import session_token
from emulator.wire import S3_AUTH, AwsError, AwsRequest, authenticate, error_response, iso8601

PREFIX = "/v20180820"
TAGS = r"/tags/(arn:[^:/]+:s3:[^:/]*:\d{12}:access-grants/.+)"
PERMISSIONS = ("READ", "WRITE", "READWRITE")
GRANTEE_TYPES = ("DIRECTORY_USER", "DIRECTORY_GROUP", "IAM")
ACCOUNT_RE = re.compile(r"\d{12}")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_DURATION = 3600
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


def _signed_region(req: AwsRequest) -> str:
    """Return the region of the request's SigV4 credential scope (authenticated before)."""
    scope = sigv4.credential_from_authorization(req.headers.get("authorization", ""))
    return scope.region if scope is not None else ""


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidRequest", message, 400)


def _denied(message: str = "Access Denied") -> AwsError:
    return AwsError("AccessDenied", message, 403)


def covers(scope: str, target: str) -> bool:
    """Return True when every key the target names is a key the scope names.

    A trailing `*` names every key starting with the text before it; anything else names one object.
    So `s3://b/p/*` covers `s3://b/p/*` and `s3://b/p/x` but not `s3://b/p` nor `s3://b/p*`.
    """
    if not scope.endswith("*"):
        return target == scope
    return target.removesuffix("*").startswith(scope[:-1])


def has_dot_segment(target: str) -> bool:
    """Return True when the target's key has a `.` or `..` segment (refused: URLs would normalise it)."""
    key = target[len("s3://") :].partition("/")[2].removesuffix("*")
    return any(segment in {".", ".."} for segment in key.split("/"))


def specificity(scope: str) -> int:
    """Rank grant scopes: a longer fixed prefix is more specific."""
    return len(scope.rstrip("*"))


def permission_ok(granted: str, requested: str) -> bool:
    """READWRITE grants satisfy READ and WRITE requests."""
    return granted in (requested, "READWRITE")


@dataclass(frozen=True)
class CallerIdentities:
    """The grantee identities GetDataAccess considers for one caller (docs/aws.md#grant-matching)."""

    iam_arn: str
    user_id: str | None
    group_ids: frozenset[str]
    application_arn: str | None

    def holds(self, grant: AccessGrant) -> bool:
        """Return True when the grant's grantee is one of the caller's identities."""
        if grant.grantee_type == "IAM":
            return grant.grantee_identifier == self.iam_arn
        if grant.grantee_type == "DIRECTORY_USER":
            return grant.grantee_identifier == self.user_id
        return grant.grantee_type == "DIRECTORY_GROUP" and grant.grantee_identifier in self.group_ids

    def authorized_for_application(self, grant: AccessGrant) -> bool:
        """AllowedByApplication: only grants tied to the caller's application or to `ALL` applications.

        A grant with no application (`NA`) is not "authorized for the application", so it is left out.
        """
        return grant.application_arn == "ALL" or (
            self.application_arn is not None and grant.application_arn == self.application_arn
        )

    def application_allows(self, grant: AccessGrant) -> bool:
        """A grant restricted to an application can only be used through that application."""
        if grant.application_arn in (None, "", "NA", "ALL"):
            return True
        return grant.application_arn == self.application_arn


def _text(root: ET.Element, path: str) -> str | None:
    node = root.find(path)
    return node.text.strip() if node is not None and node.text else None


def _parse_xml(body: bytes) -> ET.Element:
    try:
        root = ET.fromstring(body)  # noqa: S314 - local emulator parsing its own clients' requests
    except ET.ParseError as exc:
        raise AwsError("MalformedXML", "The XML you provided was not well-formed", 400) from exc
    for el in root.iter():
        if "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def _xml(root: str, inner: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>{inner}</{root}>'
    return Response(body, status=200, content_type="application/xml")


def _tag(name: str, value: str | int | None) -> str:
    return "" if value is None else f"<{name}>{escape(str(value))}</{name}>"


class AccessGrantsHandler:
    """Serve the Access Grants operations of s3control."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        # Called as (operation, account, request parameters, caller ARN) after each successful change.
        self.on_change: Callable[[str, str, dict[str, str], str | None], None] | None = None
        routes: list[tuple[str, str, str, Callable[[AwsRequest, str, str | None], Response]]] = [
            ("POST", r"/accessgrantsinstance", "CreateAccessGrantsInstance", self._create_instance),
            ("GET", r"/accessgrantsinstance", "GetAccessGrantsInstance", self._get_instance),
            ("DELETE", r"/accessgrantsinstance", "DeleteAccessGrantsInstance", self._delete_instance),
            ("GET", r"/accessgrantsinstances", "ListAccessGrantsInstances", self._list_instances),
            (
                "POST",
                r"/accessgrantsinstance/identitycenter",
                "AssociateAccessGrantsIdentityCenter",
                self._associate,
            ),
            (
                "DELETE",
                r"/accessgrantsinstance/identitycenter",
                "DissociateAccessGrantsIdentityCenter",
                self._dissociate,
            ),
            ("POST", r"/accessgrantsinstance/location", "CreateAccessGrantsLocation", self._create_location),
            ("GET", r"/accessgrantsinstance/locations", "ListAccessGrantsLocations", self._list_locations),
            ("GET", r"/accessgrantsinstance/location/([^/]+)", "GetAccessGrantsLocation", self._get_location),
            (
                "DELETE",
                r"/accessgrantsinstance/location/([^/]+)",
                "DeleteAccessGrantsLocation",
                self._delete_location,
            ),
            ("POST", r"/accessgrantsinstance/grant", "CreateAccessGrant", self._create_grant),
            ("GET", r"/accessgrantsinstance/grants", "ListAccessGrants", self._list_grants),
            ("GET", r"/accessgrantsinstance/grant/([^/]+)", "GetAccessGrant", self._get_grant),
            ("DELETE", r"/accessgrantsinstance/grant/([^/]+)", "DeleteAccessGrant", self._delete_grant),
            (
                "GET",
                r"/accessgrantsinstance/prefix",
                "GetAccessGrantsInstanceForPrefix",
                self._instance_for_prefix,
            ),
            ("GET", r"/accessgrantsinstance/dataaccess", "GetDataAccess", self._get_data_access),
            (
                "GET",
                r"/accessgrantsinstance/caller/grants",
                "ListCallerAccessGrants",
                self._list_caller_grants,
            ),
            (
                "POST",
                TAGS,
                "TagResource",
                lambda r, a, arn: grant_tags.tag_resource(self.state, _parse_xml(r.body), a, arn or ""),
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
                    raise _denied()
                account = req.headers.get("x-amz-account-id", "")
                if not ACCOUNT_RE.fullmatch(account):
                    raise _invalid("Invalid account id")
                req.annotations["region"] = _signed_region(req)
                if op not in _ANY_REGION_OPERATIONS:
                    self._instance(account, req.annotations["region"])
                if op in CALLER_OPERATIONS:
                    # IAM first, as in AWS: the role session needs s3:<operation> on the instance.
                    require(self.state, caller, f"s3:{op}", self._instance_arn(account))
                resource = match.group(1) if match.groups() else None
                response = fn(req, account, resource)
                if self.on_change is not None and op in CHANGE_OPERATIONS and response.status_code < 300:
                    parameters = {"accountId": account} | ({"id": resource} if resource else {})
                    self.on_change(op, account, parameters, caller.arn)
                return response
        raise AwsError("NotImplemented", f"{req.method} {req.path} is not emulated", 501)

    # --- instance ---------------------------------------------------------------------------------

    def _instance_arn(self, account: str) -> str:
        instance = self.state.grants_instances.get(account)
        return instance.arn if instance else f"arn:aws:s3:{self.state.region}:{account}:access-grants/default"

    def _instance(self, account: str, region: str | None = None) -> GrantsInstance:
        """Return the account's instance; with ``region``, only if it lives there (one per region)."""
        instance = self.state.grants_instances.get(account)
        if instance is None or (region is not None and instance.region != region):
            raise AwsError("AccessGrantsInstanceNotExistsError", "Access Grants Instance does not exist", 404)
        return instance

    def create_instance(
        self, account: str, identity_center_arn: str | None, region: str | None = None
    ) -> GrantsInstance:
        """Create the account's `default` instance in ``region`` (also used by scenario seeding)."""
        with self.state.lock:
            if account in self.state.grants_instances:
                raise AwsError(
                    "AccessGrantsInstanceAlreadyExists", "Access Grants Instance already exists", 409
                )
            instance = GrantsInstance(
                account_id=account,
                arn=f"arn:aws:s3:{region or self.state.region}:{account}:access-grants/default",
                identity_center_arn=identity_center_arn,
                application_arn=self._s3ag_application(account, identity_center_arn),
                created_at=self.state.now(),
            )
            self.state.grants_instances[account] = instance
            self.state.locations.setdefault(account, {})
            self.state.grants.setdefault(account, {})
        return instance

    def _s3ag_application(self, account: str, identity_center_arn: str | None) -> str | None:
        if not identity_center_arn:
            return None
        instance_id = identity_center_arn.rsplit("/", 1)[-1]
        return f"arn:aws:sso::{account}:application/{instance_id}/apl-{new_id().replace('-', '')[:16]}"

    def _instance_xml(self, instance: GrantsInstance) -> str:
        ic = instance.identity_center_arn
        return (
            _tag("CreatedAt", iso8601(instance.created_at))
            + _tag("AccessGrantsInstanceId", "default")
            + _tag("AccessGrantsInstanceArn", instance.arn)
            + _tag("IdentityCenterArn", ic)
            + _tag("IdentityCenterInstanceArn", ic)
            + _tag("IdentityCenterApplicationArn", instance.application_arn)
        )

    def _create_instance(self, req: AwsRequest, account: str, _: str | None) -> Response:
        root = _parse_xml(req.body) if req.body else ET.Element("x")
        identity_center = _text(root, "IdentityCenterArn")
        if identity_center is not None and identity_center != self.state.identity_center.instance_arn:
            raise _invalid("IdentityCenterArn does not name an Identity Center instance")
        grant_tags.tags_in(root)  # refuse malformed tags before creating anything
        instance = self.create_instance(account, identity_center, req.annotations["region"])
        grant_tags.tag_created(self.state, root, instance.arn)
        return _xml("CreateAccessGrantsInstanceResult", self._instance_xml(instance))

    def _get_instance(self, req: AwsRequest, account: str, _: str | None) -> Response:
        return _xml("GetAccessGrantsInstanceResult", self._instance_xml(self._instance(account)))

    def _delete_instance(self, req: AwsRequest, account: str, _: str | None) -> Response:
        instance = self._instance(account)
        with self.state.lock:
            # docs/aws.md#access-grants-administration
            if self.state.locations.get(account) or self.state.grants.get(account):
                raise AwsError(
                    "AccessGrantsInstanceNotEmptyError",
                    "Please clean up locations before deleting the access grants instance.",
                    400,
                )
            if instance.identity_center_arn:
                raise _invalid("Please dissociate the Identity Center instance before deleting the instance.")
            del self.state.grants_instances[account]
            tags.forget(self.state, instance.arn)
        return Response(status=204)

    def _list_instances(self, req: AwsRequest, account: str, _: str | None) -> Response:
        instance = self.state.grants_instances.get(account)
        if instance is not None and instance.region != req.annotations["region"]:
            instance = None
        inner = (
            f"<AccessGrantsInstance>{self._instance_xml(instance)}</AccessGrantsInstance>" if instance else ""
        )
        return _xml(
            "ListAccessGrantsInstancesResult",
            f"<AccessGrantsInstancesList>{inner}</AccessGrantsInstancesList>",
        )

    def _associate(self, req: AwsRequest, account: str, _: str | None) -> Response:
        instance = self._instance(account)
        arn = _text(_parse_xml(req.body), "IdentityCenterArn")
        if not arn:
            raise _invalid("IdentityCenterArn is required")
        if arn != self.state.identity_center.instance_arn:
            raise _invalid("IdentityCenterArn does not name an Identity Center instance")
        with self.state.lock:
            instance.identity_center_arn = arn
            instance.application_arn = self._s3ag_application(account, arn)
        return Response(status=200)

    def _dissociate(self, req: AwsRequest, account: str, _: str | None) -> Response:
        instance = self._instance(account)
        with self.state.lock:
            instance.identity_center_arn = None
            instance.application_arn = None
        return Response(status=200)

    def _instance_for_prefix(self, req: AwsRequest, account: str, _: str | None) -> Response:
        prefix = req.arg("s3prefix") or ""
        if not prefix.startswith("s3://"):
            raise _invalid("S3Prefix must start with s3://")
        bucket = prefix[5:].split("/", 1)[0]
        owner = self.state.bucket_owners.get(bucket, self.state.account_id)
        # Only instances of the region asked; the bucket owner's first, a bucket location before "s3://".
        ranked: list[tuple[bool, bool, GrantsInstance]] = []
        for instance in self.state.grants_instances.values():
            if instance.region != req.annotations["region"]:
                continue
            buckets = {
                loc.scope[5:].split("/", 1)[0]
                for loc in self.state.locations.get(instance.account_id, {}).values()
            }
            if bucket in buckets or "" in buckets:
                ranked.append((instance.account_id == owner, bucket in buckets, instance))
        if not ranked:
            raise AwsError(
                "AccessGrantsInstanceNotExistsError", "No Access Grants instance registers that prefix", 404
            )
        best = max(ranked, key=lambda entry: entry[:2])[2]
        return _xml(
            "GetAccessGrantsInstanceForPrefixResult",
            _tag("AccessGrantsInstanceArn", best.arn) + _tag("AccessGrantsInstanceId", "default"),
        )

    # --- locations --------------------------------------------------------------------------------

    def create_location(self, account: str, scope: str, iam_role_arn: str) -> GrantsLocation:
        """Register a location (also used by scenario seeding)."""
        self._instance(account)
        if not scope.startswith("s3://"):
            raise _invalid("LocationScope must start with s3://")
        if not re.fullmatch(r"arn:[^:]+:iam::\d{12}:role/.+", iam_role_arn):
            raise _invalid("IAMRoleArn is invalid")
        location_id = "default" if scope == "s3://" else new_id()
        instance_arn = self.state.grants_instances[account].arn
        location = GrantsLocation(
            location_id, f"{instance_arn}/location/{location_id}", scope, iam_role_arn, self.state.now()
        )
        with self.state.lock:
            self.state.locations[account][location_id] = location
        return location

    def _location(self, account: str, location_id: str | None) -> GrantsLocation:
        location = self.state.locations.get(account, {}).get(location_id or "")
        if location is None:
            raise AwsError("AccessGrantsLocationNotFoundError", "Access Grants Location does not exist", 404)
        return location

    @staticmethod
    def _location_xml(loc: GrantsLocation) -> str:
        return (
            _tag("CreatedAt", iso8601(loc.created_at))
            + _tag("AccessGrantsLocationId", loc.location_id)
            + _tag("AccessGrantsLocationArn", loc.arn)
            + _tag("LocationScope", loc.scope)
            + _tag("IAMRoleArn", loc.iam_role_arn)
        )

    def _create_location(self, req: AwsRequest, account: str, _: str | None) -> Response:
        root = _parse_xml(req.body)
        grant_tags.tags_in(root)
        location = self.create_location(
            account, _text(root, "LocationScope") or "", _text(root, "IAMRoleArn") or ""
        )
        grant_tags.tag_created(self.state, root, location.arn)
        return _xml("CreateAccessGrantsLocationResult", self._location_xml(location))

    def _get_location(self, req: AwsRequest, account: str, location_id: str | None) -> Response:
        return _xml("GetAccessGrantsLocationResult", self._location_xml(self._location(account, location_id)))

    def _delete_location(self, req: AwsRequest, account: str, location_id: str | None) -> Response:
        location = self._location(account, location_id)
        with self.state.lock:
            if any(
                g.location_id == location.location_id for g in self.state.grants.get(account, {}).values()
            ):
                raise AwsError("AccessGrantsLocationNotEmptyError", "Access Grants Location has grants", 400)
            del self.state.locations[account][location.location_id]
            tags.forget(self.state, location.arn)
        return Response(status=204)

    def _list_locations(self, req: AwsRequest, account: str, _: str | None) -> Response:
        self._instance(account)
        wanted = req.arg("locationscope")
        items = [
            loc
            for loc in self.state.locations.get(account, {}).values()
            if wanted is None or loc.scope == wanted
        ]
        inner = "".join(
            f"<AccessGrantsLocation>{self._location_xml(loc)}</AccessGrantsLocation>" for loc in items
        )
        return _xml(
            "ListAccessGrantsLocationsResult",
            f"<AccessGrantsLocationsList>{inner}</AccessGrantsLocationsList>",
        )

    # --- grants -----------------------------------------------------------------------------------

    def create_grant(
        self,
        account: str,
        location_id: str,
        *,
        sub_prefix: str | None,
        grantee_type: str,
        grantee_identifier: str,
        permission: str,
        application_arn: str | None = None,
        s3_prefix_type: str | None = None,
    ) -> AccessGrant:
        """Create a grant (also used by scenario seeding)."""
        location = self._location(account, location_id)
        if grantee_type not in GRANTEE_TYPES or not grantee_identifier:
            raise _invalid("Grantee is invalid")
        if permission not in PERMISSIONS:
            raise _invalid("Permission must be READ, WRITE or READWRITE")
        if location.scope == "s3://":
            if not sub_prefix:
                raise _invalid("A sub-prefix is required on the default location")
            scope = "s3://" + sub_prefix.lstrip("/")
        elif sub_prefix:
            scope = location.scope.rstrip("/") + "/" + sub_prefix.lstrip("/")
        else:
            scope = location.scope.rstrip("/") + "/*"
        instance = self._instance(account)
        if grantee_type != "IAM" and not instance.identity_center_arn:
            raise _invalid("Directory grantees need an Identity Center instance associated with the instance")
        wanted = (grantee_type, grantee_identifier, permission, application_arn, scope)
        if any(
            (g.grantee_type, g.grantee_identifier, g.permission, g.application_arn, g.scope) == wanted
            for g in self.state.grants.get(account, {}).values()
        ):
            raise AwsError("AccessGrantAlreadyExists", "The specified access grant already exists.", 409)
        grant_id = new_id()
        grant = AccessGrant(
            grant_id=grant_id,
            arn=f"{instance.arn}/grant/{grant_id}",
            location_id=location.location_id,
            sub_prefix=sub_prefix,
            grantee_type=grantee_type,
            grantee_identifier=grantee_identifier,
            permission=permission,
            application_arn=application_arn,
            s3_prefix_type=s3_prefix_type,
            scope=scope,
            created_at=self.state.now(),
        )
        with self.state.lock:
            self.state.grants[account][grant_id] = grant
        return grant

    @staticmethod
    def _grant_xml(grant: AccessGrant) -> str:
        sub = _tag("S3SubPrefix", grant.sub_prefix)
        return (
            _tag("CreatedAt", iso8601(grant.created_at))
            + _tag("AccessGrantId", grant.grant_id)
            + _tag("AccessGrantArn", grant.arn)
            + "<Grantee>"
            + _tag("GranteeType", grant.grantee_type)
            + _tag("GranteeIdentifier", grant.grantee_identifier)
            + "</Grantee>"
            + _tag("AccessGrantsLocationId", grant.location_id)
            + f"<AccessGrantsLocationConfiguration>{sub}</AccessGrantsLocationConfiguration>"
            + _tag("Permission", grant.permission)
            + _tag("ApplicationArn", grant.application_arn)
            + _tag("GrantScope", grant.scope)
        )

    def _create_grant(self, req: AwsRequest, account: str, _: str | None) -> Response:
        root = _parse_xml(req.body)
        grant_tags.tags_in(root)
        grant = self.create_grant(
            account,
            _text(root, "AccessGrantsLocationId") or "",
            sub_prefix=_text(root, "AccessGrantsLocationConfiguration/S3SubPrefix"),
            grantee_type=_text(root, "Grantee/GranteeType") or "",
            grantee_identifier=_text(root, "Grantee/GranteeIdentifier") or "",
            permission=_text(root, "Permission") or "",
            application_arn=_text(root, "ApplicationArn"),
            s3_prefix_type=_text(root, "S3PrefixType"),
        )
        grant_tags.tag_created(self.state, root, grant.arn)
        return _xml("CreateAccessGrantResult", self._grant_xml(grant))

    def _grant(self, account: str, grant_id: str | None) -> AccessGrant:
        grant = self.state.grants.get(account, {}).get(grant_id or "")
        if grant is None:
            raise AwsError("AccessGrantNotFoundError", "Access Grant does not exist", 404)
        return grant

    def _get_grant(self, req: AwsRequest, account: str, grant_id: str | None) -> Response:
        return _xml("GetAccessGrantResult", self._grant_xml(self._grant(account, grant_id)))

    def _delete_grant(self, req: AwsRequest, account: str, grant_id: str | None) -> Response:
        grant = self._grant(account, grant_id)
        with self.state.lock:
            del self.state.grants[account][grant.grant_id]
            tags.forget(self.state, grant.arn)
        return Response(status=204)

    def _list_grants(self, req: AwsRequest, account: str, _: str | None) -> Response:
        self._instance(account)
        filters: dict[str, Callable[[AccessGrant], str | None]] = {
            "granteetype": lambda g: g.grantee_type,
            "granteeidentifier": lambda g: g.grantee_identifier,
            "permission": lambda g: g.permission,
            "grantscope": lambda g: g.scope,
            "application_arn": lambda g: g.application_arn,
        }
        items = [
            g
            for g in self.state.grants.get(account, {}).values()
            if all(req.arg(name) is None or get(g) == req.arg(name) for name, get in filters.items())
        ]
        page, token = _page(items, req)
        inner = "".join(f"<AccessGrant>{self._grant_xml(g)}</AccessGrant>" for g in page)
        return _xml(
            "ListAccessGrantsResult",
            _tag("NextToken", token) + f"<AccessGrantsList>{inner}</AccessGrantsList>",
        )

    # --- caller operations ------------------------------------------------------------------------

    def _identities(self, caller: Credential, instance: GrantsInstance) -> CallerIdentities:
        ctx = caller.identity
        directory = ctx is not None and instance.identity_center_arn == ctx.instance_arn
        user_id = ctx.user_id if directory and ctx is not None else None
        return CallerIdentities(
            iam_arn=caller.role_arn or caller.arn,
            user_id=user_id,
            group_ids=frozenset(group_ids_of(self.state, user_id)) if user_id else frozenset(),
            application_arn=ctx.application_arn if ctx is not None else None,
        )

    def _get_data_access(self, req: AwsRequest, account: str, _: str | None) -> Response:
        instance = self._instance(account)
        caller = req.caller
        assert caller is not None  # noqa: S101 - handle() authenticated the request
        target = req.arg("target") or ""
        permission = req.arg("permission") or ""
        privilege = req.arg("privilege") or "Default"
        if not target.startswith("s3://") or len(target) <= 5 or len(target) > 2000:
            raise _invalid("Target must be an S3 URI (s3://bucket/prefix)")
        if has_dot_segment(target) or CONTROL_RE.search(target):
            raise _invalid("Target must not contain '.' or '..' path segments or control characters")
        if permission not in PERMISSIONS:
            raise _invalid("Permission must be READ, WRITE or READWRITE")
        if privilege not in ("Default", "Minimal"):
            raise _invalid("Privilege must be Default or Minimal")
        try:
            duration = int(req.arg("durationSeconds") or DEFAULT_DURATION)
        except ValueError as exc:
            raise _invalid("DurationSeconds must be an integer") from exc
        if not 900 <= duration <= 43200:
            raise _invalid("DurationSeconds must be between 900 and 43200")
        ids = self._identities(caller, instance)
        if ids.user_id:
            req.annotations["on_behalf_of"] = ids.user_id
        _check_access_scope(caller, permission)
        candidates = [
            g
            for g in self.state.grants.get(account, {}).values()
            if ids.holds(g)
            and ids.application_allows(g)
            and permission_ok(g.permission, permission)
            and covers(g.scope, target)
        ]
        directory = [g for g in candidates if g.grantee_type != "IAM"]
        iam = [g for g in candidates if g.grantee_type == "IAM"]
        best = [max(group, key=lambda g: specificity(g.scope)) for group in (directory, iam) if group]
        if not best:
            raise _denied("You do not have READ/WRITE access to the target through any grant")
        chosen = max(best, key=lambda g: specificity(g.scope))
        scope = target if privilege == "Minimal" else chosen.scope
        location = self._location(account, chosen.location_id)
        role_name = location.iam_role_arn.rsplit("/", 1)[-1]
        session = f"access-grants-{new_id()[:8]}"
        credential = self.state.register(
            Credential(
                access_key=new_access_key("ASIA"),
                secret_key=new_secret(),
                kind="vended",
                arn=f"arn:aws:sts::{location.iam_role_arn.split(':')[4]}:assumed-role/{role_name}/{session}",
                user_id=f"AROA{new_access_key('')[:17]}:{session}",
                account_id=location.iam_role_arn.split(":")[4],
                session_token=session_token(),
                expires_at=self.state.now() + duration,
                role_arn=location.iam_role_arn,
                session_name=session,
                identity=caller.identity if ids.user_id else None,
                scope=scope,
                permission=permission,
                grantee={"GranteeType": chosen.grantee_type, "GranteeIdentifier": chosen.grantee_identifier},
            )
        )
        inner = (
            "<Credentials>"
            + _tag("AccessKeyId", credential.access_key)
            + _tag("SecretAccessKey", credential.secret_key)
            + _tag("SessionToken", credential.session_token)
            + _tag("Expiration", iso8601(credential.expires_at or 0))
            + "</Credentials>"
            + _tag("MatchedGrantTarget", scope)
            + "<Grantee>"
            + _tag("GranteeType", chosen.grantee_type)
            + _tag("GranteeIdentifier", chosen.grantee_identifier)
            + "</Grantee>"
            + _tag("MatchedInstanceArn", instance.arn)
        )
        return _xml("GetDataAccessResult", inner)

    def _list_caller_grants(self, req: AwsRequest, account: str, _: str | None) -> Response:
        instance = self._instance(account)
        caller = req.caller
        assert caller is not None  # noqa: S101 - handle() authenticated the request
        ids = self._identities(caller, instance)
        fragment = req.arg("grantscope")
        by_app = req.arg("allowedByApplication") == "true"
        items = [
            g
            for g in self.state.grants.get(account, {}).values()
            if ids.holds(g)
            and (fragment is None or g.scope.startswith(fragment) or covers(g.scope, fragment))
            and (not by_app or ids.authorized_for_application(g))
        ]
        page, token = _page(items, req)
        inner = "".join(
            "<AccessGrant>"
            + _tag("Permission", g.permission)
            + _tag("GrantScope", g.scope)
            + _tag("ApplicationArn", g.application_arn or "NA")
            + _tag("AccessGrantsInstanceArn", instance.arn)
            + "</AccessGrant>"
            for g in page
        )
        return _xml(
            "ListCallerAccessGrantsResult",
            _tag("NextToken", token) + f"<CallerAccessGrantsList>{inner}</CallerAccessGrantsList>",
        )


def _check_access_scope(caller: Credential, permission: str) -> None:
    """An identity-enhanced session acts within its application's access scopes.

    `s3:access_grants:read_write` allows every permission, `s3:access_grants:read_only` only READ, and a
    session whose application has neither may not use S3 Access Grants at all.
    """
    ctx = caller.identity
    if ctx is None:
        return
    if permission not in s3_permissions_allowed(ctx.scopes):
        raise _denied(f"The application's access scopes do not allow {permission} through S3 Access Grants")


def _page(items: list[AccessGrant], req: AwsRequest) -> tuple[list[AccessGrant], str | None]:
    try:
        start = int(req.arg("nextToken") or 0)
        size = int(req.arg("maxResults") or 1000)
    except ValueError as exc:
        raise _invalid("Invalid pagination parameters") from exc
    page = items[start : start + size]
    return page, (str(start + size) if start + size < len(items) else None)
