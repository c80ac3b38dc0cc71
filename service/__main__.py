"""Command line: serve | dev | openapi | credential-process | doctor."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_OPENAPI_PATH = Path("openapi/openapi.json")


def _fail(message: str) -> int:
    print(f"tip-broker: {message}", file=sys.stderr)
    return 2


SHARED_CACHE_FIX = (
    "--workers {workers} needs a shared cache: set BROKER_REDIS_URL and BROKER_CACHE_KEY, or run one worker "
    "(each worker would otherwise exchange the same ID token, and Identity Center refuses the replay)"
)


def _worker_count(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a whole number: {text!r} (--workers or WEB_CONCURRENCY)"
        ) from None
    if workers < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return workers


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the broker under uvicorn (``--workers`` processes) with the configuration from the environment."""
    from service.app import create_app
    from service.logs import configure_logging
    from service.server import FACTORY, run_server
    from service.settings import ConfigurationError, load_settings

    try:
        settings = load_settings()
        if args.workers > 1 and not (settings.redis_url and settings.cache_key):
            # Workers share nothing but the cache: see docs/architecture.md#the-jti-ledger.
            return _fail(SHARED_CACHE_FIX.format(workers=args.workers))
        settings.check()
    except ConfigurationError as exc:
        return _fail(str(exc))
    configure_logging(settings.log_format, settings.log_level)
    # uvicorn starts worker processes from an import string; each builds its app from the environment.
    app: Any = create_app(settings) if args.workers == 1 else FACTORY
    return run_server(app, settings, host=args.host, port=args.port, workers=args.workers)


def cmd_dev(args: argparse.Namespace) -> int:
    """Run the emulator with the demo scenario and the broker configured against it."""
    from service.devstack import run_dev_stack

    return run_dev_stack(
        host=args.host,
        port=args.port,
        emulator_port=args.emulator_port,
        scenario=args.scenario,
        emulator_url=args.emulator_url,
    )


def openapi_document() -> dict[str, object]:
    """Return the OpenAPI document of the app as configured for any deployment."""
    from service.app import create_app
    from service.settings import Settings

    settings = Settings(
        oidc_issuer="https://issuer.example.com",
        oidc_audience=["client"],
        idc_application_arn="arn:aws:sso::111122223333:application/ssoins-0000000000000000/apl-0000000000000000",
        identity_bearer_role_arn="arn:aws:iam::111122223333:role/tip-bearer",
        access_grants_account_id="111122223333",
        aws_region="us-east-1",
        aws_endpoint_url=None,
        redis_url=None,
        cors_allow_origins=[],
        _env_file=None,  # type: ignore[call-arg]
    )
    return create_app(settings).openapi()


def render_openapi() -> str:
    """Return the committed form of openapi/openapi.json."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def cmd_openapi(args: argparse.Namespace) -> int:
    """Write (or print) the OpenAPI document."""
    text = render_openapi()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    return 0


def cmd_credential_process(args: argparse.Namespace) -> int:
    """Print credentials in the AWS CLI credential_process shape, fetched from a running broker."""
    import httpx

    token = os.environ.get(args.token_env, "")
    if args.token_file:
        token = Path(args.token_file).read_text().strip()
    if not token:
        return _fail(f"no ID token: set ${args.token_env} or pass --token-file")
    body: dict[str, object] = {"target": args.target, "permission": args.permission}
    if args.duration_seconds:
        body["duration_seconds"] = args.duration_seconds
    response = httpx.post(
        f"{args.broker_url.rstrip('/')}/v1/credentials",
        params={"format": "credential_process"},
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    if response.status_code != 200:
        try:
            problem = response.json()
            return _fail(f"{problem.get('code')}: {problem.get('detail')}")
        except ValueError:
            return _fail(f"broker answered HTTP {response.status_code}")
    sys.stdout.write(response.text + "\n")
    return 0


def cmd_doctor(_: argparse.Namespace) -> int:
    """Check the configuration and that the issuer, the cache and AWS answer."""
    from service.doctor import run_doctor

    return run_doctor()


def build_parser() -> argparse.ArgumentParser:
    """Return the CLI parser."""
    parser = argparse.ArgumentParser(prog="tip-broker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the broker (configuration from the environment)")
    serve.add_argument("--host", default=os.environ.get("BROKER_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(os.environ.get("BROKER_PORT", "8080")))
    serve.add_argument(
        "--workers",
        type=_worker_count,
        default=os.environ.get("WEB_CONCURRENCY") or "1",  # argparse applies type
        help="worker processes (default: $WEB_CONCURRENCY, else 1); more than 1 needs BROKER_REDIS_URL",
    )
    serve.set_defaults(func=cmd_serve)

    dev = sub.add_parser("dev", help="run the local emulator and the broker against it")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8080)
    dev.add_argument("--emulator-port", type=int, default=9000)
    dev.add_argument("--scenario", default=None, help="scenario YAML (default: the packaged demo)")
    dev.add_argument("--emulator-url", default=None, help="use an emulator that already runs at this URL")
    dev.set_defaults(func=cmd_dev)

    openapi = sub.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", default=str(DEFAULT_OPENAPI_PATH), help="file path, or - for stdout")
    openapi.set_defaults(func=cmd_openapi)

    cp = sub.add_parser("credential-process", help="AWS CLI credential_process helper")
    cp.add_argument("--broker-url", required=True)
    cp.add_argument("--target", required=True)
    cp.add_argument("--permission", default="READ", choices=["READ", "WRITE", "READWRITE"])
    cp.add_argument("--duration-seconds", type=int, default=None)
    cp.add_argument("--token-env", default="TIPB_ID_TOKEN", help="environment variable holding the ID token")
    cp.add_argument("--token-file", default=None)
    cp.set_defaults(func=cmd_credential_process)

    doctor = sub.add_parser("doctor", help="check configuration and connectivity")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tip-broker`` console script and ``python -m service``."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
