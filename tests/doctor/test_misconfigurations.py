"""`doctor --json --token T` against a good setup, then against each misconfiguration made through boto3:
the check that names the cause reports it (FAIL, or WARN where the broker still works)."""

from __future__ import annotations

import pytest

from tests.doctor.conftest import Setup
from tests.doctor.misconfigurations import CASES, Case

pytestmark = pytest.mark.e2e


def test_doctor_passes_every_check_of_a_good_setup(setup: Setup) -> None:
    run = setup.doctor("--json", "--token", setup.sign_in("alice"))

    assert run.returncode == 0, run.stdout + run.stderr
    assert run.ids("FAIL") == set()
    assert run.ids("WARN") == set()
    # The chain ran to the end: the token was exchanged and GetDataAccess vended credentials.
    assert {"token.verified", "user.grants", "chain.exchange", "chain.get_data_access"} <= run.ids("PASS")


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_doctor_names_the_misconfiguration(setup: Setup, case: Case) -> None:
    restore = case.make(setup)
    try:
        run = setup.doctor("--json", "--token", setup.sign_in(case.user), env=case.env)
    finally:
        restore()

    found = [check for check in run.checks if check["id"] == case.check_id]
    assert [check["status"] for check in found] == [case.status], run.stdout
    assert found[0]["fix"], found[0]
    assert run.returncode == (1 if case.status == "FAIL" else 0), run.stdout


def test_doctor_setup_is_good_again_after_the_misconfigurations(setup: Setup) -> None:
    run = setup.doctor("--json", "--token", setup.sign_in("carol"))

    assert (run.returncode, run.ids("FAIL"), run.ids("WARN")) == (0, set(), set()), run.stdout
