"""Admin JSON surface under `/_emulator/`: config, login, call counters and log, issued secrets, faults."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from moto.cognitoidp.models import cognitoidp_backends
from werkzeug.wrappers import Request, Response

from emulator.scenario import Seeded
from emulator.state import EmulatorState, Fault
from emulator.wire import iso8601


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def config_document(state: EmulatorState, seeded: Seeded) -> dict[str, Any]:
    """Return the `/_emulator/config` document: what a broker needs to point at this emulator.

    Things not created at start (with `--empty`) are null: `BROKER_IDC_APPLICATION_ARN`,
    `BROKER_IDENTITY_BEARER_ROLE_ARN`, each user's `idc_user_id`; `groups` is empty.
    """
    url = state.endpoint_url
    return {
        "region": state.region,
        "account_id": state.account_id,
        "endpoint_url": url,
        "tls_endpoint_url": state.tls_endpoint_url,
        "broker_env": {
            "AWS_REGION": state.region,
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": seeded.broker_access_key,
            "AWS_SECRET_ACCESS_KEY": seeded.broker_secret_key,
            "BROKER_OIDC_ISSUER": seeded.issuer_url,
            "BROKER_OIDC_AUDIENCE": seeded.client_id,
            "BROKER_OIDC_JWKS_URL": f"{url}/{seeded.user_pool_id}/.well-known/jwks.json",
            "BROKER_IDC_APPLICATION_ARN": seeded.application_arn,
            "BROKER_IDENTITY_BEARER_ROLE_ARN": seeded.bearer_role_arn,
            "BROKER_ACCESS_GRANTS_ACCOUNT_ID": state.account_id,
        },
        "admin": {"access_key_id": seeded.admin_access_key, "secret_access_key": seeded.admin_secret_key},
        "cognito": {
            "user_pool_id": seeded.user_pool_id,
            "client_id": seeded.client_id,
            "issuer": seeded.issuer_url,
            # Where a client discovers the hosted UI (emulator/hosted_ui.py): `tip-broker login --issuer`.
            "discovery_url": f"{url}/{seeded.user_pool_id}",
            "authorization_endpoint": f"{url}/oauth2/authorize",
            "token_endpoint": f"{url}/oauth2/token",
        },
        "identity_center": {
            "instance_arn": state.identity_center.instance_arn,
            "identity_store_id": state.identity_center.identity_store_id,
        },
        # With `--empty` the application, bearer role, identity-store ids and groups are null / empty:
        # they exist only once a setup tool creates them through the API.
        "empty": seeded.empty,
        "users": [
            {
                "username": u.username,
                "email": u.email,
                "password": u.password,
                "idc_user_id": u.idc_user_id,
                "groups": u.groups,
            }
            for u in seeded.users
        ],
        "groups": seeded.group_ids,
        "grant_events_queue_url": grant_events_queue_url(state),
    }


def grant_events_queue_url(state: EmulatorState) -> str | None:
    """Return the URL of the queue Access Grants changes are published to, None when they are not."""
    queue = state.scenario.get("grant_events_queue")
    return f"{state.endpoint_url}/{state.account_id}/{queue}" if queue else None


def issued_secrets(state: EmulatorState) -> dict[str, list[str]]:
    """Return every secret the emulator handed out, so a test can prove none reached a log."""
    with state.lock:
        sessions = [c for c in state.credentials.values() if c.kind != "iam_user"]
        return {
            "identity_contexts": list(state.contexts),
            "refresh_tokens": list(state.refresh_tokens),
            "secret_access_keys": [c.secret_key for c in sessions],
            "session_tokens": [c.session_token for c in sessions if c.session_token],
        }


def clock_document(state: EmulatorState) -> dict[str, Any]:
    """Return the `/_emulator/clock` document: the emulator's time and its offset from wall-clock time."""
    now = state.now()
    return {"now": now, "now_iso8601": iso8601(now), "offset_seconds": state.clock.offset}


class AdminApp:
    """WSGI app for `/_emulator/…`."""

    def __init__(self, state: EmulatorState, seeded: Seeded) -> None:
        self.state = state
        self.seeded = seeded

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """Serve one admin request."""
        request = Request(environ)
        response = self.route(request)
        return response(environ, start_response)

    def route(self, request: Request) -> Response:
        """Route by method and path."""
        path = request.path.rstrip("/")
        method = request.method
        if method == "GET" and path == "/_emulator/config":
            return _json(config_document(self.state, self.seeded))
        if method == "POST" and path == "/_emulator/login":
            return self.login(request)
        if method == "GET" and path == "/_emulator/calls/counts":
            with self.state.lock:
                return _json(dict(self.state.counts))
        if method == "GET" and path == "/_emulator/calls":
            with self.state.lock:
                calls = [c.to_json() for c in self.state.calls]
            operation = request.args.get("operation")
            return _json([c for c in calls if operation is None or c["operation"] == operation])
        if method == "GET" and path == "/_emulator/issued":
            return _json(issued_secrets(self.state))
        if method == "POST" and path == "/_emulator/reset":
            self.state.reset_calls()
            return _json({"reset": True})
        if method == "POST" and path == "/_emulator/faults":
            return self.add_fault(request)
        if method == "GET" and path == "/_emulator/faults":
            with self.state.lock:
                return _json([f.__dict__ for f in self.state.faults.values()])
        if method == "DELETE" and path == "/_emulator/faults":
            with self.state.lock:
                self.state.faults.clear()
            return _json({"faults": []})
        if method == "POST" and path == "/_emulator/application":
            return self.configure_application(request)
        if path == "/_emulator/clock" and method in ("GET", "POST"):
            return self.clock(request) if method == "POST" else _json(clock_document(self.state))
        if method == "GET" and path == "/_emulator/health":
            return _json({"status": "ok"})
        return _json({"error": "not_found", "path": request.path}, 404)

    def login(self, request: Request) -> Response:
        """Authenticate a scenario user against Cognito USER_PASSWORD_AUTH."""
        body = request.get_json(silent=True, force=True) or {}
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            return _json(
                {"error": "invalid_request", "error_description": "username and password required"}, 400
            )
        backend = cognitoidp_backends[self.state.account_id][self.state.region]
        try:
            result = backend.initiate_auth(
                self.seeded.client_id, "USER_PASSWORD_AUTH", {"USERNAME": username, "PASSWORD": password}
            )
        except Exception as exc:  # moto raises its own Cognito error types; all mean "login failed"
            return _json({"error": "NotAuthorizedException", "error_description": str(exc)}, 400)
        auth = result.get("AuthenticationResult", {})
        return _json(
            {
                "id_token": auth.get("IdToken"),
                "access_token": auth.get("AccessToken"),
                "refresh_token": auth.get("RefreshToken"),
                "expires_in": auth.get("ExpiresIn", 3600),
            }
        )

    def configure_application(self, request: Request) -> Response:
        """Change how the Identity Center application answers: `{"refresh_identity_context": bool}`."""
        body = request.get_json(silent=True, force=True) or {}
        value = body.get("refresh_identity_context")
        if not isinstance(value, bool):
            return _json({"error": "refresh_identity_context must be true or false"}, 400)
        with self.state.lock:
            for app in self.state.identity_center.applications.values():
                app.refresh_identity_context = value
        return _json({"refresh_identity_context": value})

    def clock(self, request: Request) -> Response:
        """Move the emulator's time: `{"offset_seconds": N}` sets, `{"advance_seconds": N}` adds."""
        body = request.get_json(silent=True, force=True) or {}
        values: dict[str, Any] = {k: body[k] for k in ("offset_seconds", "advance_seconds") if k in body}
        if len(values) != 1 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()
        ):
            return _json({"error": "send exactly one of offset_seconds or advance_seconds, a number"}, 400)
        (name, value), *_ = values.items()
        if name == "offset_seconds":
            self.state.clock.set_offset(float(value))
        else:
            self.state.clock.advance(float(value))
        return _json(clock_document(self.state))

    def add_fault(self, request: Request) -> Response:
        """Install a fault for one operation."""
        body = request.get_json(silent=True, force=True) or {}
        operation = body.get("operation")
        if not isinstance(operation, str) or not operation:
            return _json({"error": "operation is required"}, 400)
        error = body.get("error")
        rate = float(body.get("error_rate", 1.0 if error is not None else 0.0))
        if not 0.0 <= rate <= 1.0:
            return _json({"error": "error_rate must be within 0..1"}, 400)
        count = body.get("count")
        fault = Fault(
            operation=operation,
            latency_ms=int(body.get("latency_ms", 0)),
            error_rate=rate,
            error=error if isinstance(error, str | int) else None,
            remaining=int(count) if count is not None else None,
        )
        with self.state.lock:
            self.state.faults[operation] = fault
        return _json(fault.__dict__)
