"""What the doctor prints: text and JSON, never a secret or a whole token, WARN (not FAIL) for a read the
broker's identity may not make, and per-user checks only with a token."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.doctor.conftest import BROKER_USER, Setup, allow_doctor_reads

pytestmark = pytest.mark.e2e


def _secrets(setup: Setup, token: str) -> list[str]:
    """Every secret the run could leak: the token and its payload and signature, the broker's secret key,
    and every credential, context assertion and refresh token the emulator handed out."""
    _, payload, signature = token.split(".")
    issued = httpx.get(f"{setup.emulator.url}/_emulator/issued", timeout=10).json()
    secrets = [token, payload, signature, setup.broker_env["AWS_SECRET_ACCESS_KEY"]]
    return secrets + [value for values in issued.values() for value in values]


def test_doctor_output_never_holds_a_secret_or_the_token(setup: Setup) -> None:
    runs = []
    for output in (["--json"], []):
        token = setup.sign_in("bob")
        run = setup.doctor(*output, "--token", token)
        assert run.returncode == 0, run.stdout + run.stderr
        runs.append((token, run.stdout + run.stderr))
    for token, text in runs:
        secrets = _secrets(setup, token)
        assert len(secrets) > 6  # the chain ran: the emulator issued credentials to hide
        assert [secret for secret in secrets if secret in text] == []
        assert "bob@example.com" not in text  # the mapping claim's value is not shown either
        assert "fingerprint=sha256:" in text


def test_doctor_text_output_prints_a_line_per_check_and_the_fix_of_a_finding(setup: Setup) -> None:
    run = setup.doctor("--token", setup.sign_in("alice"), env={"BROKER_OIDC_AUDIENCE": "not-the-client"})

    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert "[PASS] configuration: complete" in lines
    assert any(line.startswith("[FAIL] token.verified: the broker refuses the token") for line in lines)
    finding = next(i for i, line in enumerate(lines) if line.startswith("[FAIL] issuer.audience:"))
    assert lines[finding + 1].strip().startswith("fix: aws sso-admin put-application-grant")
    assert re.fullmatch(r"\d+ passed, \d+ warnings, [1-9]\d* failed", lines[-1]), lines[-1]


def test_doctor_without_a_token_runs_no_user_check(setup: Setup) -> None:
    run = setup.doctor("--json")

    ids = {check["id"] for check in run.checks}
    assert run.returncode == 0, run.stdout
    assert "application.exists" in ids
    assert not {i for i in ids if i.startswith(("token.", "user.", "chain."))}


def test_doctor_reads_the_token_from_a_file(setup: Setup) -> None:
    token_file = setup.workdir / "token"
    token_file.write_text(setup.sign_in("alice") + "\n")

    run = setup.doctor("--json", "--token-file", str(token_file), "--no-chain")

    assert run.returncode == 0, run.stdout
    assert {"token.verified", "user.grants"} <= run.ids("PASS")
    assert not {i for i in run.ids("PASS") if i.startswith("chain.")}


@pytest.fixture
def no_read_permission(setup: Setup) -> Iterator[None]:
    iam = setup.client("iam")
    iam.delete_user_policy(UserName=BROKER_USER, PolicyName="doctor-read")
    yield
    allow_doctor_reads(setup)


@pytest.mark.usefixtures("no_read_permission")
def test_doctor_reports_a_refused_read_as_cannot_verify_not_as_a_failure(setup: Setup) -> None:
    run = setup.doctor("--json", "--token", setup.sign_in("alice"))

    found = {check["id"]: check for check in run.checks}
    assert run.returncode == 0, run.stdout
    assert found["application.exists"]["status"] == "WARN"
    assert found["application.exists"]["detail"] == (
        "cannot verify: sso:DescribeApplication was refused (AccessDeniedException)"
    )
    assert "docs/doctor.md#permissions" in found["application.exists"]["fix"]
    # The chain needs none of the doctor's reads: the user's own session lists a grant to ask for.
    assert found["user.identity_store"]["status"] == "WARN"
    assert found["chain.get_data_access"]["status"] == "PASS", found["chain.get_data_access"]


def test_doctor_checks_each_configured_issuer(setup: Setup) -> None:
    other = '[{"issuer": "https://other-idp.example.com", "audiences": ["other-client"]}]'

    run = setup.doctor("--json", env={"BROKER_OIDC_ISSUERS": other})

    issuer_urls = [check for check in run.checks if check["id"] == "issuer.url"]
    assert [check["status"] for check in issuer_urls] == ["PASS", "FAIL"], run.stdout
    assert "https://other-idp.example.com" in issuer_urls[1]["detail"]
    assert run.returncode == 1
