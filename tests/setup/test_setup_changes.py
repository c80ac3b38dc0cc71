"""Changes to an applied setup: a new issuer URL replaces the issuer, assignments follow the file."""

from __future__ import annotations

from pathlib import Path

from tests.setup.conftest import DEMO, Account

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _edited(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    text = DEMO.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "demo.yaml"
    path.write_text(text)
    return path


def _application(account: Account) -> str:
    sso = account.client("sso-admin")
    return str(sso.list_applications(InstanceArn=account.instance_arn)["Applications"][0]["ApplicationArn"])


def test_setup_replaces_the_issuer_when_its_url_changes_and_the_grant_names_the_new_one(
    account: Account, tmp_path: Path
) -> None:
    account.setup("apply")
    moved = _edited(
        tmp_path,
        (
            "issuer_url: https://cognito-idp.us-east-1.amazonaws.com/${TIPB_DEMO_POOL_ID}",
            "issuer_url: https://issuer.example.com/moved",
        ),
    )

    plan = account.setup("plan", moved)
    applied = account.setup("apply", moved)

    sso = account.client("sso-admin")
    issuers = sso.list_trusted_token_issuers(InstanceArn=account.instance_arn)["TrustedTokenIssuers"]
    grant = sso.get_application_grant(ApplicationArn=_application(account), GrantType=JWT_BEARER)["Grant"]
    named = grant["JwtBearer"]["AuthorizedTokenIssuers"][0]["TrustedTokenIssuerArn"]
    described = sso.describe_trusted_token_issuer(TrustedTokenIssuerArn=named)
    assert plan.status == 2
    assert any(
        line.startswith("  -/+ replace trusted token issuer cognito-demo (issuer_url ")
        for line in plan.out.splitlines()
    )
    assert "    ~ update  application tip-broker grant jwt-bearer" in plan.out.splitlines()
    assert applied.status == 0, applied.err
    assert [i["TrustedTokenIssuerArn"] for i in issuers] == [named]
    assert described["TrustedTokenIssuerConfiguration"]["OidcJwtConfiguration"]["IssuerUrl"] == (
        "https://issuer.example.com/moved"
    )
    assert account.setup("plan", moved).status == 0


def test_setup_updates_the_claim_mapping_in_place(account: Account, tmp_path: Path) -> None:
    account.setup("apply")
    before = account.client("sso-admin").list_trusted_token_issuers(InstanceArn=account.instance_arn)
    remapped = _edited(
        tmp_path,
        ("identity_store_attribute: emails.value", "identity_store_attribute: userName"),
        ("  claim: email ", "  claim: preferred_username "),
    )

    plan = account.setup("plan", remapped)
    applied = account.setup("apply", remapped)

    after = account.client("sso-admin").list_trusted_token_issuers(InstanceArn=account.instance_arn)
    assert "    ~ update  trusted token issuer cognito-demo (claim, identity_store_attribute)" in plan.out
    assert applied.status == 0, applied.err
    assert after["TrustedTokenIssuers"] == before["TrustedTokenIssuers"]
    assert account.setup("plan", remapped).status == 0


def test_setup_assigns_users_and_groups_and_removes_an_assignment_the_file_drops(
    account: Account, tmp_path: Path
) -> None:
    assigned = _edited(
        tmp_path,
        (
            "  assignment_required: false",
            "  assignment_required: true\n  assignments: {users: [carol], groups: [engineering]}",
        ),
    )
    account.setup("apply", assigned)
    sso, ids = account.client("sso-admin"), account.client("identitystore")
    arn = _application(account)
    first = sso.list_application_assignments(ApplicationArn=arn)["ApplicationAssignments"]
    fewer = tmp_path / "fewer.yaml"
    fewer.write_text(
        assigned.read_text().replace("{users: [carol], groups: [engineering]}", "{users: [carol]}")
    )

    plan = account.setup("plan", fewer)
    applied = account.setup("apply", fewer)

    carol = ids.get_user_id(
        IdentityStoreId=account.store_id,
        AlternateIdentifier={"UniqueAttribute": {"AttributePath": "userName", "AttributeValue": "carol"}},
    )["UserId"]
    remaining = sso.list_application_assignments(ApplicationArn=arn)["ApplicationAssignments"]
    assert sorted(a["PrincipalType"] for a in first) == ["GROUP", "USER"]
    assert sso.get_application_assignment_configuration(ApplicationArn=arn)["AssignmentRequired"] is True
    assert "    - delete  application tip-broker assignment group engineering" in plan.out.splitlines()
    assert applied.status == 0, applied.err
    assert [(a["PrincipalType"], a["PrincipalId"]) for a in remaining] == [("USER", carol)]


def test_setup_refuses_an_assignment_of_an_unknown_group_at_its_line(
    account: Account, tmp_path: Path
) -> None:
    broken = _edited(
        tmp_path,
        ("  assignment_required: false", "  assignment_required: true\n  assignments: {groups: [sales]}"),
    )
    line = 1 + broken.read_text().splitlines().index("  assignments: {groups: [sales]}")

    result = account.setup("plan", broken)

    assert result.status == 1
    assert f"{broken}:{line}: no group named 'sales' in the file" in result.err
