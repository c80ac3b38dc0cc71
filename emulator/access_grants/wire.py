"""The rest-xml shapes of s3control's Access Grants operations: request parsing and result rendering."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from emulator import sigv4
from emulator.access_grants.matching import PERMISSIONS, has_dot_segment
from emulator.state import AccessGrant, Credential, GrantsInstance, GrantsLocation
from emulator.wire import AwsError, AwsRequest, iso8601

CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_DURATION = 3600


def invalid(message: str) -> AwsError:
    """Return s3control's `InvalidRequest` (400) error."""
    return AwsError("InvalidRequest", message, 400)


def denied(message: str = "Access Denied") -> AwsError:
    """Return s3control's `AccessDenied` (403) error."""
    return AwsError("AccessDenied", message, 403)


def text(root: ET.Element, path: str) -> str | None:
    """Return the stripped text at `path`, or None when it is absent or empty."""
    node = root.find(path)
    return node.text.strip() if node is not None and node.text else None


def parse_xml(body: bytes) -> ET.Element:
    """Parse a request body, stripping namespaces; `MalformedXML` when it is not XML."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - local emulator parsing its own clients' requests
    except ET.ParseError as exc:
        raise AwsError("MalformedXML", "The XML you provided was not well-formed", 400) from exc
    for el in root.iter():
        if "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def xml(root: str, inner: str) -> Response:
    """Return a 200 XML response `<root>inner</root>`."""
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>{inner}</{root}>'
    return Response(body, status=200, content_type="application/xml")


def tag(name: str, value: str | int | None) -> str:
    """Return `<name>value</name>` (escaped), or nothing when the value is None."""
    return "" if value is None else f"<{name}>{escape(str(value))}</{name}>"


def instance_xml(instance: GrantsInstance) -> str:
    """Return the members describing an Access Grants instance."""
    ic = instance.identity_center_arn
    return (
        tag("CreatedAt", iso8601(instance.created_at))
        + tag("AccessGrantsInstanceId", "default")
        + tag("AccessGrantsInstanceArn", instance.arn)
        + tag("IdentityCenterArn", ic)
        + tag("IdentityCenterInstanceArn", ic)
        + tag("IdentityCenterApplicationArn", instance.application_arn)
    )


def location_xml(loc: GrantsLocation) -> str:
    """Return the members describing a location."""
    return (
        tag("CreatedAt", iso8601(loc.created_at))
        + tag("AccessGrantsLocationId", loc.location_id)
        + tag("AccessGrantsLocationArn", loc.arn)
        + tag("LocationScope", loc.scope)
        + tag("IAMRoleArn", loc.iam_role_arn)
    )


def grant_xml(grant: AccessGrant) -> str:
    """Return the members describing a grant."""
    sub = tag("S3SubPrefix", grant.sub_prefix)
    return (
        tag("CreatedAt", iso8601(grant.created_at))
        + tag("AccessGrantId", grant.grant_id)
        + tag("AccessGrantArn", grant.arn)
        + "<Grantee>"
        + tag("GranteeType", grant.grantee_type)
        + tag("GranteeIdentifier", grant.grantee_identifier)
        + "</Grantee>"
        + tag("AccessGrantsLocationId", grant.location_id)
        + f"<AccessGrantsLocationConfiguration>{sub}</AccessGrantsLocationConfiguration>"
        + tag("Permission", grant.permission)
        + tag("ApplicationArn", grant.application_arn)
        + tag("GrantScope", grant.scope)
    )


def data_access_xml(credential: Credential, scope: str, grant: AccessGrant, instance: GrantsInstance) -> str:
    """Return the members of a GetDataAccess result."""
    return (
        "<Credentials>"
        + tag("AccessKeyId", credential.access_key)
        + tag("SecretAccessKey", credential.secret_key)
        + tag("SessionToken", credential.session_token)
        + tag("Expiration", iso8601(credential.expires_at or 0))
        + "</Credentials>"
        + tag("MatchedGrantTarget", scope)
        + "<Grantee>"
        + tag("GranteeType", grant.grantee_type)
        + tag("GranteeIdentifier", grant.grantee_identifier)
        + "</Grantee>"
        + tag("MatchedInstanceArn", instance.arn)
    )


def caller_grant_xml(grant: AccessGrant, instance: GrantsInstance) -> str:
    """Return one `<AccessGrant>` of a ListCallerAccessGrants result."""
    return (
        "<AccessGrant>"
        + tag("Permission", grant.permission)
        + tag("GrantScope", grant.scope)
        + tag("ApplicationArn", grant.application_arn or "NA")
        + tag("AccessGrantsInstanceArn", instance.arn)
        + "</AccessGrant>"
    )


def page(items: list[AccessGrant], req: AwsRequest) -> tuple[list[AccessGrant], str | None]:
    """Return the page `nextToken`/`maxResults` ask for and the next page's token."""
    try:
        start = int(req.arg("nextToken") or 0)
        size = int(req.arg("maxResults") or 1000)
    except ValueError as exc:
        raise invalid("Invalid pagination parameters") from exc
    chunk = items[start : start + size]
    return chunk, (str(start + size) if start + size < len(items) else None)


def signed_region(req: AwsRequest) -> str:
    """Return the region of the request's SigV4 credential scope (authenticated before)."""
    scope = sigv4.credential_from_authorization(req.headers.get("authorization", ""))
    return scope.region if scope is not None else ""


def data_access_request(req: AwsRequest) -> tuple[str, str, str, int]:
    """Return GetDataAccess's target, permission, privilege and duration, each checked as AWS does."""
    target = req.arg("target") or ""
    permission = req.arg("permission") or ""
    privilege = req.arg("privilege") or "Default"
    if not target.startswith("s3://") or len(target) <= 5 or len(target) > 2000:
        raise invalid("Target must be an S3 URI (s3://bucket/prefix)")
    if has_dot_segment(target) or CONTROL_RE.search(target):
        raise invalid("Target must not contain '.' or '..' path segments or control characters")
    if permission not in PERMISSIONS:
        raise invalid("Permission must be READ, WRITE or READWRITE")
    if privilege not in ("Default", "Minimal"):
        raise invalid("Privilege must be Default or Minimal")
    try:
        duration = int(req.arg("durationSeconds") or DEFAULT_DURATION)
    except ValueError as exc:
        raise invalid("DurationSeconds must be an integer") from exc
    if not 900 <= duration <= 43200:
        raise invalid("DurationSeconds must be between 900 and 43200")
    return target, permission, privilege, duration
