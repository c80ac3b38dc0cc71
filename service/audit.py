"""Audit records of what the broker hands out, shaped to be joined to CloudTrail (README: "Joining audit
records to CloudTrail"): each names the Identity Center user and the role session name that AWS records
as ``userIdentity.onBehalfOf.userId`` and in the assumed-role ARN of the GetDataAccess event.

One record per issuance: ``credentials.issued`` for credentials and presigned POST forms,
``urls.presigned`` for a presign or listing call (one record for a batch, its URLs counted per grant).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from service.domain.access import DataAccess, DataAccessRequest, Permission
from service.domain.identity import Caller, role_session_name
from service.logs import FIXED

audit = logging.getLogger("service.audit")

# Fields set by AWS or by the broker's own vocabulary (ids AWS issued, enum values, times, layer names):
# not scanned for secrets (service/logs.py FIXED). The caller's subject, the requested target and the
# grant's scope are free text and stay scanned.
_ISSUED_FIXED = frozenset(
    {
        "idc_user_id",
        "role_session_name",
        "permission",
        "privilege",
        "grantee_type",
        "grant_instance",
        "expires_at",
        "delivery",
        "outcome",
        "cache_layer",
    }
)
_PRESIGNED_FIXED = frozenset({"idc_user_id", "role_session_name", "delivery"})


def _session_name(idc_user_id: str | None) -> str | None:
    return role_session_name(idc_user_id) if idc_user_id else None


def _grant_fields(access: DataAccess) -> dict[str, object]:
    # GetDataAccess returns no grant id: the matched target, the grantee and the instance find the grant.
    return {
        "matched_grant": access.matched_grant_target,
        "grantee_type": access.grantee.type,
        "grantee_identifier": access.grantee.identifier,
        "grant_instance": access.instance_arn,
    }


def credentials_issued(
    caller: Caller,
    request: DataAccessRequest,
    access: DataAccess,
    *,
    idc_user_id: str | None,
    layer: str,
    delivery: str,
    expires_at: datetime,
) -> None:
    """Record credentials (``delivery`` credentials) or a presigned POST form handed to the caller."""
    if not audit.isEnabledFor(logging.INFO):
        return  # the fields below cost more than the disabled call they would feed
    audit.info(
        "credentials.issued",
        extra={
            "issuer": caller.issuer,
            "subject": caller.subject,
            "idc_user_id": idc_user_id,
            "role_session_name": _session_name(idc_user_id),
            "target": request.target.uri,
            "permission": request.permission.value,
            "privilege": request.privilege.value,
            **_grant_fields(access),
            "expires_at": expires_at.isoformat(),
            "delivery": delivery,
            "outcome": "issued",
            "cache_layer": layer,
            FIXED: _ISSUED_FIXED,
        },
    )


@dataclass
class UrlTally:
    """The URLs of one presign call, counted per grant that signed them, with their latest expiry."""

    idc_user_id: str | None = None
    layers: dict[str, str] = field(default_factory=dict)
    _by_grant: dict[tuple[str, Permission], tuple[DataAccess, int, datetime]] = field(default_factory=dict)

    def count(
        self, access: DataAccess, idc_user_id: str | None, layer: str, until: datetime, urls: int = 1
    ) -> None:
        """Count ``urls`` URLs signed with ``access``, the last of them to stop working at ``until``."""
        self.idc_user_id = idc_user_id
        self.layers[access.matched_grant_target] = layer
        key = (access.matched_grant_target, access.permission)
        _, counted, latest = self._by_grant.get(key, (access, 0, until))
        self._by_grant[key] = (access, counted + urls, max(latest, until))

    def grants(self) -> list[dict[str, object]]:
        """Return one entry per grant: its fields, the permission, the URL count and the latest expiry."""
        return [
            {
                **_grant_fields(access),
                "permission": access.permission.value,
                "urls": urls,
                "expires_at": latest.isoformat(),
            }
            for access, urls, latest in self._by_grant.values()
        ]


def urls_presigned(caller: Caller, tally: UrlTally, *, items: int, signed: int) -> None:
    """Record one presign call (a batch of 1000 URLs is one record, not 1000)."""
    if not audit.isEnabledFor(logging.INFO):
        return  # the fields below cost more than the disabled call they would feed
    audit.info(
        "urls.presigned",
        extra={
            "issuer": caller.issuer,
            "subject": caller.subject,
            "idc_user_id": tally.idc_user_id,
            "role_session_name": _session_name(tally.idc_user_id),
            "items": items,
            "signed": signed,
            "matched_grants": sorted(tally.layers),
            "grants": tally.grants(),
            "cache_layers": sorted(set(tally.layers.values())),
            "delivery": "presigned_url",
            FIXED: _PRESIGNED_FIXED,
        },
    )


def credentials_denied(
    caller: Caller, request: DataAccessRequest, idc_user_id: str | None, layer: str
) -> None:
    """Record a refused data-access request and which layer refused it (``upstream``, ``peer``, ...)."""
    audit.info(
        "credentials.denied",
        extra={
            "issuer": caller.issuer,
            "subject": caller.subject,
            "idc_user_id": idc_user_id,
            "target": request.target.uri,
            "permission": request.permission.value,
            "privilege": request.privilege.value,
            "outcome": "denied",
            "cache_layer": layer,
        },
    )


def identity_conflict(caller: Caller, pinned: str | None, answered: str, reason: str) -> None:
    """Record a sign-in that maps to a different directory user than the one pinned."""
    audit.warning(
        "identity.conflict",
        extra={
            "issuer": caller.issuer,
            "subject": caller.subject,
            "pinned_idc_user_id": pinned,
            "idc_user_id": answered,
            "reason": reason,
        },
    )


def session_opened(caller: Caller, idc_user_id: str, how: str, expiration: datetime) -> None:
    """Record an identity session opened for the caller and how (``jwt_bearer``, ``refresh_token``, ...)."""
    audit.info(
        "session.opened",
        extra={
            "issuer": caller.issuer,
            "subject": caller.subject,
            "idc_user_id": idc_user_id,
            "via": how,
            "session_expiration": expiration.isoformat(),
        },
    )
