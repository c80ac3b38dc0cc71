"""`setup plan` and `setup apply` against an empty emulator: output, exit codes, idempotence, env-out."""

from __future__ import annotations

import json
import stat
import textwrap
from pathlib import Path

from service.settings import Settings
from tests.setup.conftest import DEMO, Account

EMPTY = {
    "applications": [],
    "issuers": [],
    "users": [],
    "groups": [],
    "roles": [],
    "instances": [],
    "locations": [],
    "grants": [],
}


def test_setup_plan_lists_each_resource_to_create_and_exits_2(account: Account) -> None:
    result = account.setup("plan")

    assert result.status == 2, result.err
    lines = result.out.splitlines()
    assert "    + create  trusted token issuer cognito-demo" in lines
    assert "    + create  application tip-broker grant jwt-bearer" in lines
    assert "    + create  identity store membership alice in engineering" in lines
    assert "    + create  IAM role tip-identity-bearer policy tip-broker-access-grants" in lines
    assert "    + create  access grant user carol READ s3:// demo-data/reports/q3.csv" in lines
    assert lines[-1] == "Plan: 30 to create, 0 to change, 0 to replace, 0 to delete; 0 unchanged."


def test_setup_plan_changes_nothing(account: Account) -> None:
    account.setup("plan")

    assert account.inventory() == EMPTY


def test_setup_apply_makes_the_demo_and_a_second_apply_changes_nothing(account: Account) -> None:
    first = account.setup("apply")
    second = account.setup("apply")
    plan = account.setup("plan")

    assert first.status == 0, first.err
    assert first.out.splitlines()[-1] == "Done: 30 changes."
    assert second.status == 0, second.err
    assert "Nothing to apply: AWS already matches." in second.out
    assert plan.status == 0, plan.err
    assert plan.out.splitlines()[-1] == "No changes: AWS matches the file (30 resources checked)."
    found = account.inventory()
    assert found["users"] == ["alice", "bob", "carol"]
    assert found["groups"] == ["engineering", "finance"]
    assert found["roles"] == ["s3-access-grants-location", "tip-identity-bearer"]
    assert found["locations"] == ["s3://", "s3://demo-data"]
    assert len(found["grants"]) == 8


def test_setup_apply_tags_what_it_creates_and_marks_directory_entries(account: Account) -> None:
    account.setup("apply")

    sso, ids = account.client("sso-admin"), account.client("identitystore")
    application = sso.list_applications(InstanceArn=account.instance_arn)["Applications"][0]
    tags = sso.list_tags_for_resource(
        InstanceArn=account.instance_arn, ResourceArn=application["ApplicationArn"]
    )
    user = ids.list_users(IdentityStoreId=account.store_id)["Users"][0]
    group = ids.list_groups(IdentityStoreId=account.store_id)["Groups"][0]
    assert {"Key": "tip-broker:setup", "Value": "demo"} in tags["Tags"]
    assert user["UserType"] == "tip-broker:setup=demo"
    assert group["Description"].endswith("[tip-broker:setup=demo]")


def test_setup_apply_configures_the_application_as_the_file_says(account: Account) -> None:
    account.setup("apply")

    sso = account.client("sso-admin")
    arn = sso.list_applications(InstanceArn=account.instance_arn)["Applications"][0]["ApplicationArn"]
    grants = {g["GrantType"]: g["Grant"] for g in sso.list_application_grants(ApplicationArn=arn)["Grants"]}
    jwt = grants["urn:ietf:params:oauth:grant-type:jwt-bearer"]["JwtBearer"]["AuthorizedTokenIssuers"][0]
    methods = sso.list_application_authentication_methods(ApplicationArn=arn)["AuthenticationMethods"]
    policy = methods[0]["AuthenticationMethod"]["Iam"]["ActorPolicy"]
    assert jwt["AuthorizedAudiences"] == [account.config["cognito"]["client_id"]]
    assert "refresh_token" in grants
    assert [s["Scope"] for s in sso.list_application_access_scopes(ApplicationArn=arn)["Scopes"]] == [
        "s3:access_grants:read_write"
    ]
    assert policy["Statement"][0]["Principal"]["AWS"] == ["arn:aws:iam::111122223333:user/tip-broker"]
    assert sso.get_application_assignment_configuration(ApplicationArn=arn)["AssignmentRequired"] is False


def test_setup_apply_writes_the_broker_settings_with_mode_0600(account: Account, tmp_path: Path) -> None:
    out = tmp_path / "broker.env"

    result = account.setup("apply", DEMO, "--env-out", str(out))

    assert result.status == 0, result.err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    settings = Settings(_env_file=out)  # type: ignore[call-arg]
    application = account.client("sso-admin").list_applications(InstanceArn=account.instance_arn)
    cognito = account.config["cognito"]
    assert settings.idc_application_arn == application["Applications"][0]["ApplicationArn"]
    assert settings.identity_bearer_role_arn == "arn:aws:iam::111122223333:role/tip-identity-bearer"
    assert settings.access_grants_account_id == "111122223333"
    assert settings.oidc_issuer == f"https://cognito-idp.us-east-1.amazonaws.com/{cognito['user_pool_id']}"
    assert settings.oidc_audience == [cognito["client_id"]]
    assert settings.oidc_mapping_claim == "email"
    assert settings.jwks_url == f"{account.url}/{cognito['user_pool_id']}/.well-known/jwks.json"
    assert settings.identity_center_region == "us-east-1"


def test_setup_apply_refuses_a_grant_naming_an_unknown_user_and_changes_nothing(
    account: Account, tmp_path: Path
) -> None:
    text = (Path(__file__).resolve().parents[2] / "examples" / "setup" / "demo.yaml").read_text()
    broken = tmp_path / "demo.yaml"
    broken.write_text(
        text.replace('sub_prefix: "users/bob/*", user: bob', 'sub_prefix: "users/bob/*", user: bobby')
    )
    line = 1 + broken.read_text().splitlines().index(
        '    - {location: demo-data, sub_prefix: "users/bob/*", user: bobby, permission: READ}'
    )

    result = account.setup("apply", broken)

    assert result.status == 1
    assert (
        f"{broken}:{line}: no user named 'bobby' in the file (identity_store.users) or in the identity store"
        in result.err
    )
    assert "nothing was changed" in result.err
    assert account.inventory() == EMPTY


def test_setup_apply_accepts_a_grantee_that_exists_only_in_the_identity_store(
    account: Account, tmp_path: Path
) -> None:
    ids = account.client("identitystore")
    dana = ids.create_user(
        IdentityStoreId=account.store_id,
        UserName="dana",
        DisplayName="Dana Hand",
        Name={"GivenName": "Dana", "FamilyName": "Hand"},
    )["UserId"]
    setup = tmp_path / "setup.yaml"
    setup.write_text(
        textwrap.dedent(
            """\
            name: small
            identity_bearer_role:
              name: small-bearer
              principals: ["arn:aws:iam::111122223333:user/tip-broker"]
              access_grants_instances: ["*"]
            access_grants:
              location_role: {name: small-location}
              locations: [{name: data, scope: "s3://demo-data"}]
              grants: [{location: data, sub_prefix: "dana/*", user: dana, permission: READ}]
            """
        )
    )

    result = account.setup("apply", setup)

    assert result.status == 0, result.err
    grants = account.client("s3control").list_access_grants(AccountId="111122223333")["AccessGrantsList"]
    assert [(g["Grantee"]["GranteeIdentifier"], g["GrantScope"]) for g in grants] == [
        (dana, "s3://demo-data/dana/*")
    ]
    assert account.setup("plan", setup).status == 0


def test_setup_apply_refuses_a_role_name_someone_else_owns(account: Account) -> None:
    trust = {"Version": "2012-10-17", "Statement": []}
    account.client("iam").create_role(
        RoleName="tip-identity-bearer", AssumeRolePolicyDocument=json.dumps(trust)
    )

    result = account.setup("apply")

    assert result.status == 1
    assert "IAM role 'tip-identity-bearer' exists and was not created by setup 'demo'" in result.err
    assert account.inventory() == {**EMPTY, "roles": ["tip-identity-bearer"]}


def test_setup_plan_shows_a_changed_trust_policy_and_apply_restores_it(account: Account) -> None:
    account.setup("apply")
    iam = account.client("iam")
    narrowed = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111122223333:user/tip-broker"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.update_assume_role_policy(RoleName="tip-identity-bearer", PolicyDocument=json.dumps(narrowed))

    plan = account.setup("plan")
    applied = account.setup("apply")

    assert plan.status == 2
    assert "    ~ update  IAM role tip-identity-bearer (trust policy)" in plan.out.splitlines()
    assert applied.status == 0
    document = iam.get_role(RoleName="tip-identity-bearer")["Role"]["AssumeRolePolicyDocument"]
    assert document["Statement"][0]["Action"] == ["sts:AssumeRole", "sts:SetContext"]
    assert account.setup("plan").status == 0


def test_setup_plan_deletes_what_the_file_no_longer_names(account: Account, tmp_path: Path) -> None:
    account.setup("apply")
    text = (Path(__file__).resolve().parents[2] / "examples" / "setup" / "demo.yaml").read_text()
    smaller = tmp_path / "demo.yaml"
    smaller.write_text(
        text.replace("    - name: finance\n", "")
        .replace(
            '    - {location: demo-data, sub_prefix: "finance/*", group: finance, permission: READ}\n', ""
        )
        .replace("groups: [finance]", "groups: []")
    )

    plan = account.setup("plan", smaller)
    applied = account.setup("apply", smaller)

    lines = plan.out.splitlines()
    assert plan.status == 2
    assert "    - delete  identity store group finance" in lines
    assert "    - delete  identity store membership carol in finance" in lines
    assert "    - delete  access grant s3://demo-data/finance/* READ" in lines
    assert applied.status == 0, applied.err
    assert account.inventory()["groups"] == ["engineering"]


def test_setup_reports_an_aws_refusal_on_one_line_naming_resource_and_operation(account: Account) -> None:
    account.fail("CreateTrustedTokenIssuer")

    result = account.setup("apply")

    assert result.status == 1
    assert "Traceback" not in result.err
    assert (
        "tip-broker setup: trusted token issuer cognito-demo: "
        "sso-admin CreateTrustedTokenIssuer failed: InjectedFault: Injected fault"
    ) in result.err.splitlines()
