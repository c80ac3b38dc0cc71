"""The configuration checks with only the settings (what /readyz runs): the broker's AWS identity, each
Identity Center application and its issuers, the identity-bearer role, S3 Access Grants. An answer no
check expected becomes its group's FAIL (an AWS refusal, named) or WARN, never a crash."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from botocore.exceptions import ClientError

from service.adapters.aws_errors import error_code
from service.doctor.access_grants import access_grants_checks
from service.doctor.aws import DoctorClients
from service.doctor.basics import identity_check
from service.doctor.facts import Facts
from service.doctor.identity_center import application_checks, issuers_by_application
from service.doctor.model import Check, failed, warned
from service.doctor.roles import role_checks
from service.settings import Settings

logger = logging.getLogger("service.doctor")


def unexpected(check_id: str, exc: Exception) -> Check:
    """Return the check an unexpected answer or error turns into: named, never the exception's text."""
    if isinstance(exc, ClientError):
        return failed(
            check_id,
            f"AWS refused {exc.operation_name} ({error_code(exc) or 'no error code'})",
            "see the AWS error",
        )
    logger.warning("doctor.check_crashed", extra={"check": check_id, "error": type(exc).__name__})
    return warned(check_id, f"the check could not run ({type(exc).__name__})")


def guarded(check_id: str, run: Callable[[], list[Check]]) -> list[Check]:
    """Run a group of checks; an answer no check expected becomes that group's FAIL, not a crash."""
    try:
        return run()
    except Exception as exc:  # a diagnostic reports every failure kind
        return [unexpected(check_id, exc)]


def configuration_run(settings: Settings) -> Callable[[], list[Check]]:
    """Return the configuration checks as a call (for /readyz); its clients are built on the first run."""
    built: list[DoctorClients] = []

    def run() -> list[Check]:
        if not built:
            built.append(DoctorClients.build(settings))
        return configuration_checks(settings, built[0])

    return run


def configuration_checks(settings: Settings, clients: DoctorClients) -> list[Check]:
    """Return the AWS configuration checks: no per-user check, no chain run."""
    facts = Facts(settings, clients)
    checks = [identity_check(facts)]
    for arn, issuers in issuers_by_application(facts).items():
        checks += guarded("application.exists", functools.partial(application_checks, facts, arn, issuers))
    checks += guarded("role.exists", lambda: role_checks(facts))
    checks += guarded("grants.instance", lambda: access_grants_checks(facts))
    return checks
