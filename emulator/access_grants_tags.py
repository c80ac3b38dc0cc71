"""Tags of Access Grants instances, locations and grants: s3control `TagResource`, `UntagResource`,
`ListTagsForResource` (`/v20180820/tags/{arn}`) and the `Tags` of the create operations."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

from emulator import tags
from emulator.state import EmulatorState
from emulator.wire import AwsError, AwsRequest

MAX_TAGS = 50  # s3control's TagList
TAGGABLE_RE = re.compile(r"arn:[^:]+:s3:[^:]*:(\d{12}):access-grants/default(?:/(location|grant)/([^/]+))?")


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidTag", message, 400)


def tags_in(root: ET.Element) -> dict[str, str]:
    """Return the `<Tags><Tag><Key/><Value/></Tag></Tags>` of a create request (namespaces stripped)."""
    items = [
        {"Key": tag.findtext("Key") or "", "Value": tag.findtext("Value") or ""}
        for tag in root.findall("Tags/Tag")
    ]
    return tags.parse_tags(items, _invalid, MAX_TAGS)


def tag_created(state: EmulatorState, root: ET.Element, arn: str) -> None:
    """Tag a resource just created with the request's `Tags`."""
    created = tags_in(root)
    if created:
        tags.tag_resource(state, arn, created, _invalid, MAX_TAGS)


def taggable(state: EmulatorState, account: str, arn: str) -> str:
    """Return the ARN when it names an existing instance, location or grant of `account`.

    Raises:
        AwsError: the not-found error of the kind of resource the ARN names.
    """
    match = TAGGABLE_RE.fullmatch(arn)
    instance = state.grants_instances.get(account)
    if match is None or match.group(1) != account or instance is None or not arn.startswith(instance.arn):
        raise AwsError("AccessGrantsInstanceNotExistsError", "Access Grants Instance does not exist", 404)
    kind, resource_id = match.group(2), match.group(3) or ""
    if kind == "location" and resource_id not in state.locations.get(account, {}):
        raise AwsError("AccessGrantsLocationNotFoundError", "Access Grants Location does not exist", 404)
    if kind == "grant" and resource_id not in state.grants.get(account, {}):
        raise AwsError("AccessGrantNotFoundError", "Access Grant does not exist", 404)
    return arn


def tag_resource(state: EmulatorState, root: ET.Element, account: str, arn: str) -> Response:
    """Serve TagResource (204) with the request's parsed `TagResourceRequest`."""
    tags.tag_resource(state, taggable(state, account, arn), tags_in(root), _invalid, MAX_TAGS)
    return Response(status=204)


def untag_resource(state: EmulatorState, req: AwsRequest, account: str, arn: str) -> Response:
    """Serve UntagResource (204): `tagKeys` query parameters."""
    keys = [value for name, value in req.query if name == "tagKeys"]
    tags.untag_resource(state, taggable(state, account, arn), keys)
    return Response(status=204)


def list_tags(state: EmulatorState, account: str, arn: str) -> Response:
    """Serve ListTagsForResource."""
    inner = "".join(
        f"<Tag><Key>{escape(t['Key'])}</Key><Value>{escape(t['Value'])}</Value></Tag>"
        for t in tags.tags_of(state, taggable(state, account, arn))
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<ListTagsForResourceResult><Tags>{inner}</Tags></ListTagsForResourceResult>"
    )
    return Response(body, status=200, content_type="application/xml")
