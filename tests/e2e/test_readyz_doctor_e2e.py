"""/readyz of a broker whose identity may not read Identity Center: the doctor's configuration checks are
listed, the refused reads are WARN "cannot verify", and the broker stays ready."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


def test_readyz_lists_the_doctor_checks_and_a_refused_read_keeps_it_ready(stack: Stack) -> None:
    response = httpx.get(f"{stack.broker_url}/readyz", timeout=30)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["checks"]["aws"] == "ok"
    found = {check["id"]: check for check in body["doctor"]}
    assert found["broker.identity"]["status"] == "PASS"
    assert found["application.exists"] == {"id": "application.exists", "status": "WARN"}
    assert "arn:aws" not in response.text  # /readyz is unauthenticated: no ARN or account in it
    assert found["role.policy.get_data_access"]["status"] == "PASS"  # iam reads are open to the broker here
