"""`tip-broker doctor`'s run: settings, keys, cache, the configuration checks and, with a token, the
per-user checks and the real chain; printed as text or JSON."""

from __future__ import annotations

from pathlib import Path

from service.doctor.aws import DoctorClients
from service.doctor.basics import cache_check, configuration_check, jwks_checks
from service.doctor.chain import chain_checks
from service.doctor.configuration import configuration_checks, guarded, unexpected
from service.doctor.facts import Facts
from service.doctor.model import Check, exit_code, failed, render_json, render_text
from service.doctor.user import UserFindings, user_checks
from service.settings import ConfigurationError, Settings, load_settings


def full_checks(settings: Settings, token: str | None, *, chain: bool = True) -> list[Check]:
    """Return every check: settings, keys, cache, AWS configuration, and with a token the user's."""
    checks = [configuration_check(settings)]
    if settings.missing():
        return checks
    checks += jwks_checks(settings)
    checks.append(cache_check(settings))
    clients = DoctorClients.build(settings)
    checks += configuration_checks(settings, clients)
    if token is None:
        return checks
    facts = Facts(settings, clients)
    try:
        user, findings = user_checks(facts, token)
    except Exception as exc:  # a diagnostic reports every failure kind
        user, findings = [unexpected("user.identity_store", exc)], UserFindings()
    checks += user
    if chain:
        checks += guarded("chain.exchange", lambda: chain_checks(facts, token, findings))
    return checks


def read_token(token: str | None, token_file: str | None) -> str | None:
    """Return the token given inline or in a file (stripped), or None."""
    if token_file:
        return Path(token_file).read_text().strip() or None
    return token.strip() if token else None


def run_doctor(token: str | None = None, *, as_json: bool = False, chain: bool = True) -> int:
    """Print the report (text or JSON); return 1 when any check failed, else 0."""
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        checks = [failed("configuration", str(exc).replace("\n", " "), "README: Configuration")]
    else:
        checks = full_checks(settings, token, chain=chain)
    print(render_json(checks) if as_json else render_text(checks))
    return exit_code(checks)
