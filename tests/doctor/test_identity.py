"""How the doctor names the broker's principal and shows a token: unit rules."""

from __future__ import annotations

import base64
import json

from service.doctor.facts import role_of_session
from service.doctor.user import token_summary


def _token(claims: dict[str, object]) -> str:
    def segment(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{segment({'alg': 'RS256', 'kid': 'k'})}.{segment(claims)}.c2lnbmF0dXJlLXNlZ21lbnQ"


def test_role_of_session_maps_an_assumed_role_arn_to_its_role() -> None:
    session = "arn:aws:sts::111122223333:assumed-role/tip-broker-task/4f1c2a"
    assert role_of_session(session) == "arn:aws:iam::111122223333:role/tip-broker-task"


def test_role_of_session_keeps_any_other_arn() -> None:
    user = "arn:aws:iam::111122223333:user/tip-broker"
    assert role_of_session(user) == user


def test_token_summary_shows_only_iss_sub_aud_exp_and_a_fingerprint() -> None:
    token = _token(
        {"iss": "https://idp", "sub": "s-1", "aud": "c-1", "exp": 1800000000, "email": "alice@example.com"}
    )

    summary = token_summary(token)

    assert summary.startswith(
        "iss=https://idp sub=s-1 aud=c-1 exp=2027-01-15T08:00:00+00:00 fingerprint=sha256:"
    )
    assert "alice@example.com" not in summary
    assert not {part for part in token.split(".") if part in summary}
