"""Setup-file validation without AWS: each kind of problem is reported at its line, all of them at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from service.setup.document import SetupFileError
from service.setup.validation import load_spec

ROOT = Path(__file__).resolve().parents[2]

GOOD = """\
name: t
region: us-east-1
trusted_token_issuer:
  name: idp
  issuer_url: https://issuer.example.com/pool
application:
  name: app
  audiences: [client]
  principals: ["arn:aws:iam::111122223333:role/broker"]
identity_store:
  groups:
    - name: eng
  users:
    - {user_name: ann, email: ann@example.com, groups: [eng]}
identity_bearer_role:
  name: bearer
access_grants:
  location_role: {name: location}
  locations:
    - {name: data, scope: "s3://data"}
  grants:
    - {location: data, sub_prefix: "ann/*", user: ann, permission: READ}
"""


def _problems(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    path = tmp_path / "setup.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(SetupFileError) as caught:
        load_spec(path)
    return [(p.line, p.message) for p in caught.value.problems]


def test_validation_accepts_a_complete_file(tmp_path: Path) -> None:
    path = tmp_path / "setup.yaml"
    path.write_text(GOOD)

    spec = load_spec(path)

    assert spec.name == "t"
    assert spec.users[0].display_name == "ann ann"
    assert spec.access_grants is not None
    assert spec.access_grants.grants[0].grantee.name == "ann"
    assert spec.bearer_role is not None
    assert spec.bearer_role.principals == ("arn:aws:iam::111122223333:role/broker",)


def test_validation_reports_an_unknown_key_at_its_line_with_the_closest_known_one(tmp_path: Path) -> None:
    problems = _problems(tmp_path, GOOD.replace("  audiences: [client]", "  audience: [client]"))

    assert (8, "application.audience: unknown key (did you mean 'audiences'?)") in problems
    assert (6, "application: 'audiences' is required") in problems


def test_validation_reports_a_bad_principal_arn_at_its_line(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, GOOD.replace("arn:aws:iam::111122223333:role/broker", "arn:aws:iam::1111:role/x")
    )

    assert len(problems) == 1
    line, message = problems[0]
    assert line == 9
    assert message.startswith(
        "application.principals[0]: 'arn:aws:iam::1111:role/x' is not an IAM user or role ARN"
    )


def test_validation_refuses_a_location_scope_that_is_not_s3(tmp_path: Path) -> None:
    problems = _problems(tmp_path, GOOD.replace('scope: "s3://data"', 'scope: "https://data"'))

    assert problems[0][0] == 20
    assert (
        "'https://data' is not a location scope: s3://, s3://bucket or s3://bucket/prefix" in problems[0][1]
    )


def test_validation_refuses_an_unknown_permission(tmp_path: Path) -> None:
    problems = _problems(tmp_path, GOOD.replace("permission: READ}", "permission: FULL}"))

    assert problems == [
        (22, "access_grants.grants[0].permission: 'FULL' is not one of READ, WRITE, READWRITE")
    ]


def test_validation_refuses_a_grant_naming_an_undeclared_location(tmp_path: Path) -> None:
    problems = _problems(tmp_path, GOOD.replace("{location: data,", "{location: lake,"))

    assert problems == [(22, "access_grants.grants[0].location: no location named 'lake' (data)")]


def test_validation_refuses_a_grant_without_exactly_one_grantee(tmp_path: Path) -> None:
    problems = _problems(tmp_path, GOOD.replace("user: ann,", "user: ann, group: eng,"))

    assert problems == [
        (22, "access_grants.grants[0]: names its grantee with exactly one of user, group or iam_role")
    ]


def test_validation_refuses_a_claim_path_identity_center_rejects(tmp_path: Path) -> None:
    text = GOOD.replace(
        "  issuer_url: https://issuer.example.com/pool",
        "  issuer_url: https://i.example.com\n  claim: cognito:username",
    )

    problems = _problems(tmp_path, text)

    assert problems[0][0] == 6
    assert "no ':' (so not cognito:username or custom:*)" in problems[0][1]


def test_validation_reports_every_unfilled_value_of_the_cognito_example() -> None:
    with pytest.raises(SetupFileError) as caught:
        load_spec(ROOT / "examples" / "setup" / "cognito.yaml")

    messages = {p.line: p.message for p in caught.value.problems}
    assert messages[11].startswith("fill in this value: the region of your Identity Center instance")
    assert messages[16] == "fill in this value: https://cognito-idp.REGION.amazonaws.com/POOL_ID"
    assert len(messages) == 9


def test_validation_reports_an_unset_environment_variable(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, GOOD.replace("audiences: [client]", 'audiences: ["${TIPB_TEST_UNSET_CLIENT}"]')
    )

    assert problems == [(8, "${TIPB_TEST_UNSET_CLIENT} is not set in the environment")]


def test_validation_substitutes_environment_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIPB_TEST_CLIENT", "client-from-env")
    path = tmp_path / "setup.yaml"
    path.write_text(GOOD.replace("audiences: [client]", 'audiences: ["${TIPB_TEST_CLIENT}"]'))

    spec = load_spec(path)

    assert spec.application is not None
    assert spec.application.audiences == ("client-from-env",)


def test_validation_reports_a_key_given_twice(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, GOOD.replace("region: us-east-1\n", "region: us-east-1\nregion: eu-west-1\n")
    )

    assert problems == [(3, "'region' appears twice in this mapping")]


def test_validation_reports_invalid_yaml_at_its_line(tmp_path: Path) -> None:
    problems = _problems(tmp_path, GOOD.replace("  name: idp", "  name: [idp"))

    assert problems[0][0] in (4, 5)
    assert problems[0][1].startswith("not valid YAML")


def test_validation_refuses_an_unknown_broker_setting(tmp_path: Path) -> None:
    problems = _problems(tmp_path, GOOD + "broker_settings:\n  BROKER_OIDC_JWKS_UR: https://x\n")

    assert problems[0][0] == 24
    assert "unknown key (did you mean 'BROKER_OIDC_JWKS_URL'?)" in problems[0][1]


@pytest.mark.parametrize(
    "name", ["BROKER_CACHE_KEY", "BROKER_ADMIN_TOKEN", "BROKER_REDIS_PASSWORD", "BROKER_REDIS_URL"]
)
def test_validation_refuses_a_secret_among_the_broker_settings(tmp_path: Path, name: str) -> None:
    # --env-out never writes credentials: a setup file cannot smuggle one into the broker's .env.
    problems = _problems(tmp_path, GOOD + f"broker_settings:\n  {name}: redis://u:pw@h:6379/0\n")

    assert problems == [
        (24, f"broker_settings.{name}: holds a secret: set it where the broker's secrets live, not here")
    ]


def test_validation_requires_an_email_when_the_issuer_maps_to_emails(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path, GOOD.replace("{user_name: ann, email: ann@example.com,", "{user_name: ann,")
    )

    assert problems == [
        (
            14,
            "identity_store.users[0]: needs an email: "
            "the trusted token issuer maps its claim to emails.value",
        )
    ]


def test_validation_lists_every_problem_of_a_file_at_once(tmp_path: Path) -> None:
    text = (
        GOOD.replace("region: us-east-1", "region: moon-1")
        .replace("permission: READ}", "permission: FULL}")
        .replace("  name: bearer", "  name: bearer\n  colour: red")
    )

    problems = _problems(tmp_path, text)

    assert [line for line, _ in problems] == [2, 17, 23]


def test_validation_refuses_all_as_an_application(tmp_path: Path) -> None:
    problems = _problems(tmp_path, GOOD.replace("permission: READ}", "permission: READ, application: ALL}"))

    assert problems[0][0] == 22
    assert "(CreateAccessGrant takes no ALL)" in problems[0][1]


def test_an_unknown_profile_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[default]\nregion = us-east-1\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BROKER_"))},
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(config),
        "TIPB_DEMO_POOL_ID": "us-east-1_example",
        "TIPB_DEMO_CLIENT_ID": "example-client",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    demo = Path(__file__).resolve().parents[2] / "examples" / "setup" / "demo.yaml"
    result = subprocess.run(  # noqa: S603 - our interpreter and module
        [
            sys.executable,
            "-m",
            "service",
            "setup",
            "plan",
            "--file",
            str(demo),
            "--profile",
            "no-such-profile",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "ProfileNotFound" in result.stderr.strip().splitlines()[-1]
