"""The JSON records the credential store seals: access books, identity sessions, Identity Center answers."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from service.domain.access import DataAccess, Grantee, Permission, Privilege
from service.domain.access_book import AccessBook, AccessEntry, Denial
from service.domain.credentials import TemporaryCredentials
from service.domain.identity import IdentityCenterToken, IdentitySession
from service.domain.revocation import Stamp


def _credentials_to_json(c: TemporaryCredentials) -> dict[str, str]:
    return {
        "ak": c.access_key_id,
        "sk": c.secret_access_key,
        "st": c.session_token,
        "exp": c.expiration.isoformat(),
    }


def _credentials_from_json(d: dict[str, str]) -> TemporaryCredentials:
    return TemporaryCredentials(d["ak"], d["sk"], d["st"], datetime.fromisoformat(d["exp"]))


def encode_book(book: AccessBook) -> bytes:
    """Serialize an access book to JSON bytes."""
    return json.dumps(
        {
            "u": book.idc_user_id,
            "e": [
                {
                    "c": _credentials_to_json(e.access.credentials),
                    "m": e.access.matched_grant_target,
                    "gt": e.access.grantee.type,
                    "gi": e.access.grantee.identifier,
                    "ia": e.access.instance_arn,
                    "p": e.access.permission.value,
                    "v": e.privilege.value,
                    "s": [e.stamp.user, e.stamp.everyone, e.stamp.grants],
                }
                for e in book.entries
            ],
            "d": [{"p": d.permission.value, "t": d.target, "u": d.until.isoformat()} for d in book.denials],
        },
        separators=(",", ":"),
    ).encode()


def decode_book(raw: bytes) -> AccessBook:
    """Parse what ``encode_book`` wrote."""
    data: dict[str, Any] = json.loads(raw)
    entries = tuple(
        AccessEntry(
            DataAccess(
                credentials=_credentials_from_json(e["c"]),
                matched_grant_target=e["m"],
                grantee=Grantee(e["gt"], e["gi"]),
                permission=Permission(e["p"]),
                instance_arn=e.get("ia"),  # entries written before the instance was kept have none
            ),
            Privilege(e["v"]),
            Stamp(*e.get("s", (0, 0, 0))),  # entries written before the grants mark have two
        )
        for e in data["e"]
    )
    denials = tuple(Denial(Permission(d["p"]), d["t"], datetime.fromisoformat(d["u"])) for d in data["d"])
    return AccessBook(data.get("u"), entries, denials)


def encode_exchange(subject: str, exchanged_at: int, token: IdentityCenterToken) -> bytes:
    """Serialize what CreateTokenWithIAM answered for ``subject`` at ``exchanged_at`` to JSON bytes."""
    return json.dumps(
        {
            "sub": subject,
            "at": exchanged_at,
            "uid": token.idc_user_id,
            "isa": token.identity_store_arn,
            "ctx": token.identity_context,
            "rt": token.refresh_token,
            "exp": token.expires_in,
            "sc": sorted(token.scopes),
        },
        separators=(",", ":"),
    ).encode()


def decode_exchange(raw: bytes) -> tuple[str, int, IdentityCenterToken]:
    """Parse what ``encode_exchange`` wrote."""
    d: dict[str, Any] = json.loads(raw)
    token = IdentityCenterToken(d["uid"], d["isa"], d["ctx"], d["rt"], d["exp"], frozenset(d.get("sc", ())))
    return d["sub"], d["at"], token


def encode_session(session: IdentitySession) -> bytes:
    """Serialize an identity session to JSON bytes."""
    return json.dumps(
        {
            "iss": session.issuer,
            "sub": session.subject,
            "usr": session.username,
            "uid": session.idc_user_id,
            "isa": session.identity_store_arn,
            "rt": session.refresh_token,
            "c": _credentials_to_json(session.credentials),
            "s": [session.stamp.user, session.stamp.everyone],
            "sc": sorted(session.scopes),
        },
        separators=(",", ":"),
    ).encode()


def decode_session(raw: bytes) -> IdentitySession:
    """Parse what ``encode_session`` wrote."""
    d: dict[str, Any] = json.loads(raw)
    return IdentitySession(
        issuer=d["iss"],
        subject=d["sub"],
        username=d["usr"],
        idc_user_id=d["uid"],
        identity_store_arn=d["isa"],
        refresh_token=d["rt"],
        credentials=_credentials_from_json(d["c"]),
        stamp=Stamp(*d.get("s", (0, 0))),
        # Entries written before scopes were kept have none: S3 Access Grants decides, as before.
        scopes=frozenset(d.get("sc", ())),
    )
