"""The client commands of the `tip-broker` CLI: login, logout, agent, credential-process.

Every failure ends as one line on stderr, `tip-broker: <cause>: <fix>`, and exit code 1; never a traceback.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import httpx

from service.clients import token_sources
from service.clients.agent import AgentServer, CredentialCache, serve
from service.clients.broker_api import BrokerCredentials
from service.clients.credential_process import print_credentials
from service.clients.errors import ClientCommandError
from service.clients.login import login
from service.clients.token_store import TokenStore

PERMISSIONS = ["READ", "WRITE", "READWRITE"]
Command = Callable[[argparse.Namespace], int]


def one_line_errors(command: Command) -> Command:
    """Turn every failure of a client command into one stderr line and exit code 1."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except ClientCommandError as err:
            message = err.message
        except httpx.HTTPError as exc:
            message = f"network error ({type(exc).__name__}): check the URLs given and the network"
        except OSError as exc:
            message = f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": ")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            # An answer of the wrong shape (an IdP or proxy that is not what the URL promised): one line.
            message = (
                f"unexpected answer ({type(exc).__name__}): check the URLs given point at the IdP and broker"
            )
        except KeyboardInterrupt:
            return 130
        print(f"tip-broker: {message}", file=sys.stderr)
        return 1

    return run


@one_line_errors
def cmd_login(args: argparse.Namespace) -> int:
    """Sign in at the issuer through the browser and keep the tokens in the user's config dir."""
    if not args.issuer or not args.client_id:
        missing = (
            "--issuer (or TIP_BROKER_ISSUER)" if not args.issuer else "--client-id (or TIP_BROKER_CLIENT_ID)"
        )
        raise ClientCommandError(f"no {missing}: name the OIDC issuer and its app client id")
    store = TokenStore()
    tokens = login(
        args.issuer,
        args.client_id,
        scope=args.scope,
        open_browser=not args.no_browser,
        timeout=args.timeout,
        redirect_host=args.redirect_host,
        redirect_port=args.redirect_port,
        store=store,
    )
    remaining = max(0, int(tokens.id_token_expires_at() - time.time()))
    print(
        f"Signed in; ID token valid for {remaining} s, refreshed automatically; tokens in {store.path}",
        file=sys.stderr,
    )
    return 0


@one_line_errors
def cmd_logout(_: argparse.Namespace) -> int:
    """Forget the signed-in user's tokens."""

    store = TokenStore()
    print(
        "Signed out." if store.delete() else f"Not signed in ({store.path} does not exist).", file=sys.stderr
    )
    return 0


def _broker_credentials(args: argparse.Namespace) -> BrokerCredentials:
    return BrokerCredentials(
        args.broker_url,
        args.target,
        args.permission,
        token_sources.choose(args.token_file, args.token_env),
        duration_seconds=args.duration_seconds,
    )


@one_line_errors
def cmd_credential_process(args: argparse.Namespace) -> int:
    """Print credentials in the credential_process shape, fetched from a running broker."""

    print_credentials(_broker_credentials(args))
    return 0


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@one_line_errors
def cmd_agent(args: argparse.Namespace) -> int:
    """Serve the ECS container-credentials protocol on 127.0.0.1 until interrupted."""

    broker = _broker_credentials(args)
    broker.token()  # fail now, before printing anything, when nobody is signed in
    server = AgentServer(CredentialCache(broker), port=args.port)
    signal.signal(signal.SIGTERM, _stop)
    serve(server, Path(args.token_out) if args.token_out else None)
    return 0


def _broker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--broker-url", required=True, help="base URL of the broker, e.g. https://broker.example.com"
    )
    parser.add_argument("--target", required=True, help="s3://bucket/prefix/* or s3://bucket/key")
    parser.add_argument("--permission", default="READ", choices=PERMISSIONS)
    parser.add_argument("--duration-seconds", type=int, default=None)
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--token-file", default=None, help="read the ID token from this file (default: tip-broker login)"
    )
    source.add_argument(
        "--token-env",
        default=None,
        help="read the ID token from this variable (default: $TIPB_ID_TOKEN if set, else login)",
    )


def add_client_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register login, logout, agent and credential-process on the `tip-broker` parser."""
    parser_login = sub.add_parser(
        "login", help="sign in at the OIDC issuer in the browser (authorization code + PKCE)"
    )
    parser_login.add_argument(
        "--issuer", default=os.environ.get("TIP_BROKER_ISSUER"), help="issuer URL (discovery base)"
    )
    parser_login.add_argument(
        "--client-id", default=os.environ.get("TIP_BROKER_CLIENT_ID"), help="the issuer's app client id"
    )
    parser_login.add_argument("--scope", default="openid email profile")
    parser_login.add_argument("--no-browser", action="store_true", help="only print the URL to open")
    parser_login.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the sign-in")
    parser_login.add_argument(
        "--redirect-host",
        default="127.0.0.1",
        choices=["127.0.0.1", "localhost"],
        help="host of the redirect URI (Cognito accepts plain http only for localhost)",
    )
    parser_login.add_argument(
        "--redirect-port",
        type=int,
        default=0,
        help="port of the redirect URI, served on 127.0.0.1 (default: any free one)",
    )
    parser_login.set_defaults(func=cmd_login)

    logout = sub.add_parser("logout", help="forget the tokens `login` stored")
    logout.set_defaults(func=cmd_logout)

    agent = sub.add_parser(
        "agent", help="serve credentials to SDKs and the AWS CLI (ECS container-credentials protocol)"
    )
    _broker_arguments(agent)
    agent.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    agent.add_argument(
        "--token-out",
        default=None,
        help="write the authorization token to this 0600 file instead of printing it",
    )
    agent.set_defaults(func=cmd_agent)

    cp = sub.add_parser("credential-process", help="AWS CLI credential_process helper")
    _broker_arguments(cp)
    cp.set_defaults(func=cmd_credential_process)
