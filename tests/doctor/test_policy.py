"""The doctor's policy evaluator, one test per rule it applies."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from service.doctor.policy import Decision, Request, evaluate

BROKER = "arn:aws:iam::111122223333:role/tip-broker"
INSTANCE = "arn:aws:sso:::instance/ssoins-1"
IDC_KEY = "sts:RequestContext/identitycenter:InstanceArn"


def _trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action: object, principal: object = None, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal or {"AWS": BROKER}, "Action": action, **extra}


def _decide(document: object, action: str, **request: Any) -> Decision:
    return evaluate([document], Request(action, frozenset({BROKER}), **request), resource_policy=True)


def test_policy_allows_a_named_principal_a_listed_action() -> None:
    assert _decide(_trust(_allow(["sts:AssumeRole", "sts:SetContext"])), "sts:SetContext") is Decision.ALLOWED


def test_policy_does_not_allow_an_action_no_statement_lists() -> None:
    assert _decide(_trust(_allow("sts:AssumeRole")), "sts:SetContext") is Decision.NOT_ALLOWED


def test_policy_matches_action_wildcards_without_case() -> None:
    assert _decide(_trust(_allow("STS:*")), "sts:SetContext") is Decision.ALLOWED
    assert _decide(_trust(_allow("sts:Set*")), "sts:SetContext") is Decision.ALLOWED


def test_policy_does_not_apply_a_statement_naming_another_principal() -> None:
    other = _allow("sts:*", {"AWS": "arn:aws:iam::111122223333:role/other"})
    assert _decide(_trust(other), "sts:AssumeRole") is Decision.NOT_ALLOWED


def test_policy_matches_a_service_principal_and_the_anyone_principal() -> None:
    service = _allow("sts:AssumeRole", {"Service": "access-grants.s3.amazonaws.com"})
    as_service = Request("sts:AssumeRole", frozenset({"access-grants.s3.amazonaws.com"}))
    assert evaluate([_trust(service)], as_service, resource_policy=True) is Decision.ALLOWED
    assert _decide(_trust(_allow("sts:AssumeRole", "*")), "sts:AssumeRole") is Decision.ALLOWED


def test_policy_explicit_deny_wins_over_an_allow() -> None:
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sts:SetContext"}
    assert _decide(_trust(_allow("sts:*"), deny), "sts:SetContext") is Decision.DENIED


def test_policy_not_action_allows_everything_else() -> None:
    statement = {"Effect": "Allow", "Principal": {"AWS": BROKER}, "NotAction": "sts:SetContext"}
    assert _decide(_trust(statement), "sts:AssumeRole") is Decision.ALLOWED
    assert _decide(_trust(statement), "sts:SetContext") is Decision.NOT_ALLOWED


def test_policy_evaluates_conditions_on_known_keys() -> None:
    conditional = _allow("sts:SetContext", Condition={"StringEquals": {IDC_KEY: INSTANCE}})
    assert _decide(_trust(conditional), "sts:SetContext", context={IDC_KEY: INSTANCE}) is Decision.ALLOWED
    other = {IDC_KEY: "arn:aws:sso:::instance/ssoins-2"}
    assert _decide(_trust(conditional), "sts:SetContext", context=other) is Decision.NOT_ALLOWED


def test_policy_is_conditional_when_a_condition_key_is_unknown() -> None:
    conditional = _allow(
        "sts:SetContext", Condition={"StringEquals": {"sts:RequestContext/identitystore:UserId": "u-1"}}
    )
    assert _decide(_trust(conditional), "sts:SetContext") is Decision.CONDITIONAL


def test_policy_negated_and_like_operators() -> None:
    not_other = _allow("sts:AssumeRole", Condition={"StringNotEquals": {IDC_KEY: "arn:aws:sso:::instance/x"}})
    like = _allow("sts:AssumeRole", Condition={"ArnLike": {IDC_KEY: "arn:aws:sso:::instance/ssoins-*"}})
    context = {IDC_KEY: INSTANCE}
    assert _decide(_trust(not_other), "sts:AssumeRole", context=context) is Decision.ALLOWED
    assert _decide(_trust(like), "sts:AssumeRole", context=context) is Decision.ALLOWED


def test_identity_policy_matches_resources_with_wildcards() -> None:
    document = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetDataAccess",
                "Resource": "arn:aws:s3:*:111122223333:access-grants/*",
            }
        ]
    }
    mine = Request("s3:GetDataAccess", resource="arn:aws:s3:us-east-1:111122223333:access-grants/default")
    theirs = Request("s3:GetDataAccess", resource="arn:aws:s3:us-east-1:444455556666:access-grants/default")
    assert evaluate([document], mine, resource_policy=False) is Decision.ALLOWED
    assert evaluate([document], theirs, resource_policy=False) is Decision.NOT_ALLOWED


def test_policy_reads_url_encoded_json_documents_as_iam_returns_them() -> None:
    encoded = quote(json.dumps(_trust(_allow("sts:AssumeRole"))))
    assert _decide(encoded, "sts:AssumeRole") is Decision.ALLOWED
