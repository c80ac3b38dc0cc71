"""Command line: serve | dev | openapi | doctor | setup, and the client commands login | logout | agent |
credential-process."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service.clients.cli import add_client_commands

DEFAULT_OPENAPI_PATH = Path("openapi/openapi.json")
# prometheus_client's own variable, spelled here: importing service.metrics would load prometheus_client
# before _metrics_directory chooses its mode.
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


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


@contextmanager
def _metrics_directory(workers: int) -> Iterator[None]:
    """Put ``--workers N`` in prometheus_client's multiprocess mode, with no value left from an earlier run.

    Set before prometheus_client is first imported (it picks its mode then) and inherited by the workers,
    so /metrics on any worker sums them all. An operator's PROMETHEUS_MULTIPROC_DIR is emptied of value
    files at start, as prometheus_client requires; otherwise a private directory lives as long as the server.
    """
    configured = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if configured:
        for stale in Path(configured).glob("*.db"):
            stale.unlink()
        yield
    elif workers == 1:
        yield
    else:
        with tempfile.TemporaryDirectory(prefix="tipb-metrics-") as directory:
            os.environ[MULTIPROCESS_DIR_VARIABLE] = directory
            try:
                yield
            finally:
                del os.environ[MULTIPROCESS_DIR_VARIABLE]


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the broker under uvicorn (``--workers`` processes) with the configuration from the environment."""
    with _metrics_directory(args.workers):
        return _serve(args)


def _serve(args: argparse.Namespace) -> int:
    from service.app import create_app
    from service.logs import configure_logging
    from service.memory_limit import warn_if_short
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
    warn_if_short(settings.cache_sizes(), args.workers)
    # uvicorn starts worker processes from an import string; each builds its app from the environment.
    app: Any = create_app(settings) if args.workers == 1 else FACTORY
    return run_server(app, settings, host=args.host, port=args.port, workers=args.workers)


def cmd_dev(args: argparse.Namespace) -> int:
    """Run the emulator, set the demo up on it (`setup apply`), and the broker configured against it."""
    from service.devstack import run_dev_stack

    return run_dev_stack(
        host=args.host,
        port=args.port,
        emulator_port=args.emulator_port,
        scenario=args.scenario,
        emulator_url=args.emulator_url,
        emulator_tls_port=args.emulator_tls_port or None,
        demo_port=args.demo_port,
        allow_origins=args.allow_origin,
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


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check every link of the chain: settings, issuer, cache, Identity Center, IAM, S3 Access Grants."""
    from service.doctor.run import read_token, run_doctor

    try:
        token = read_token(args.token, args.token_file)
    except OSError as exc:
        return _fail(f"cannot read --token-file: {exc.strerror}")
    return run_doctor(token, as_json=args.json, chain=not args.no_chain)


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
    dev.add_argument(
        "--scenario",
        default=None,
        help="seed the emulator from this scenario YAML (default: start it empty and run "
        "`setup apply --file examples/setup/demo.yaml`)",
    )
    dev.add_argument("--emulator-url", default=None, help="use an emulator that already runs at this URL")
    dev.add_argument("--demo-port", type=int, default=8081, help="port of the demo page (0: any free port)")
    dev.add_argument(
        "--emulator-tls-port",
        type=int,
        default=9443,
        help="the emulator's HTTPS port for examples/storage-browser (self-signed; 0: none)",
    )
    dev.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        help="another browser origin allowed to call the broker and the emulator's S3 (repeatable)",
    )
    dev.set_defaults(func=cmd_dev)

    openapi = sub.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", default=str(DEFAULT_OPENAPI_PATH), help="file path, or - for stdout")
    openapi.set_defaults(func=cmd_openapi)

    add_client_commands(sub)

    doctor = sub.add_parser("doctor", help="check the configuration, AWS setup and (with a token) one user")
    given = doctor.add_mutually_exclusive_group()
    given.add_argument(
        "--token", default=None, help="a user's ID token: also check that user and run the chain"
    )
    given.add_argument("--token-file", default=None, help="file holding the ID token (keeps it out of ps)")
    doctor.add_argument("--json", action="store_true", help="print a JSON list of {id, status, detail, fix}")
    doctor.add_argument(
        "--no-chain",
        action="store_true",
        help="with a token, skip the real exchange (which spends the token)",
    )
    doctor.set_defaults(func=cmd_doctor)

    from service.setup.cli import add_setup_parser

    add_setup_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tip-broker`` console script and ``python -m service``."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
