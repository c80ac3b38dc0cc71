"""`--env-out`: the BROKER_* settings a broker needs for what a setup made, as a `.env` file (mode 0600)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from service.setup.application import KEY as APPLICATION
from service.setup.model import ApplicationSpec, BearerRoleSpec, IssuerSpec, SetupSpec
from service.setup.plan import Context

_PLAIN = re.compile(r"[A-Za-z0-9_./:@,=+*-]*")


class EnvOutError(Exception):
    """The file lacks what a broker needs (an application, an identity-bearer role, an issuer)."""


def require_broker_sections(spec: SetupSpec) -> tuple[IssuerSpec, ApplicationSpec, BearerRoleSpec]:
    """Return the pieces a broker needs; refuse --env-out for a setup without them (before any AWS call).

    Raises:
        EnvOutError: the setup has no application, identity-bearer role or trusted token issuer.
    """
    if spec.application is None or spec.bearer_role is None or spec.issuer is None:
        raise EnvOutError(
            "--env-out needs trusted_token_issuer, application and identity_bearer_role in the file"
        )
    return spec.issuer, spec.application, spec.bearer_role


def broker_environment(spec: SetupSpec, ctx: Context) -> dict[str, str]:
    """Return the settings (README configuration table names) for a broker using this setup.

    Raises:
        EnvOutError: the setup has no application, identity-bearer role or trusted token issuer.
    """
    issuer, application, bearer_role = require_broker_sections(spec)
    values = {
        "AWS_REGION": ctx.region,
        "BROKER_IDC_REGION": ctx.region,
        "BROKER_OIDC_ISSUER": issuer.issuer_url,
        "BROKER_OIDC_AUDIENCE": ",".join(application.audiences),
        "BROKER_OIDC_MAPPING_CLAIM": issuer.claim,
        "BROKER_IDC_APPLICATION_ARN": ctx[APPLICATION],
        "BROKER_IDENTITY_BEARER_ROLE_ARN": ctx[f"role:{bearer_role.name}"],
        "BROKER_ACCESS_GRANTS_ACCOUNT_ID": ctx.account,
    }
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        values["AWS_ENDPOINT_URL"] = endpoint
    values.update(dict(spec.broker_settings))
    return values


def _quoted(value: str) -> str:
    if _PLAIN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(values: dict[str, str], source: str, setup_name: str) -> str:
    """Return the `.env` text."""
    header = (
        f"# Written by `tip-broker setup apply --file {source}` (setup {setup_name}).\n"
        "# The broker's own AWS credentials are not here: it uses the standard AWS credential chain.\n"
    )
    return header + "".join(f"{name}={_quoted(value)}\n" for name, value in values.items())


def write_env(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, replacing it in one rename."""
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
