"""One-port WSGI front: routes each request to the emulator's handlers or moto, as AWS endpoints would."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from moto.moto_server.werkzeug_app import create_backend_app
from werkzeug.wrappers import Response

from emulator import hosted_ui, s3_cors
from emulator.access_grants import AccessGrantsHandler
from emulator.directory import DirectoryGuard
from emulator.faults import FaultInjector
from emulator.identity_center import IdentityCenterHandler
from emulator.routing import (
    PROTOCOLS,
    WELL_KNOWN_RE,
    build_request,
    detect_service,
    operation_hint,
    split_virtual_host,
)
from emulator.s3_guard import S3Guard
from emulator.s3_operations import classify
from emulator.sso_admin import SsoAdminHandler
from emulator.state import EmulatorState
from emulator.sts import EMULATED_ACTIONS, StsHandler, form_params
from emulator.wire import AwsError, AwsRequest, Protocol, error_response

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Dispatcher:
    """The WSGI application serving every emulated service on one port."""

    def __init__(self, state: EmulatorState, admin: WsgiApp) -> None:
        self.state = state
        self.admin = admin
        self.identity_center = IdentityCenterHandler(state)
        self.sso_admin = SsoAdminHandler(state)
        self.directory = DirectoryGuard(state)
        self.sts = StsHandler(state)
        self.access_grants = AccessGrantsHandler(state)
        self.s3_guard = S3Guard(state)
        self.faults = FaultInjector(state)
        self.hosted_ui = hosted_ui.HostedUi(state)
        self._moto_apps: dict[str, Any] = {}
        self._moto_lock = threading.Lock()

    def moto_app(self, service: str) -> Any:
        """Return (creating once) moto's Flask app for a backend."""
        with self._moto_lock:
            if service not in self._moto_apps:
                backend_name: Any = service  # checked by moto at runtime; unknown names raise
                self._moto_apps[service] = create_backend_app(backend_name)
            return self._moto_apps[service]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        req = build_request(environ)
        service = detect_service(req)
        if service == "admin":
            return self.admin(environ, start_response)
        req.service = service
        if service == "s3" and not req.path.startswith("/v20180820/"):
            self._virtual_host(req)
        if service == "s3" and not req.path.startswith("/v20180820/"):
            if req.method == "OPTIONS":
                return self._preflight(req, start_response)
            start_response = self._with_cors(req, start_response)
        protocol: Protocol = PROTOCOLS.get(service, "json")
        handler = self._handler_for(service, req)
        req.operation = (
            operation_hint(service, req) if handler is None else self._peek_operation(service, req)
        )
        fault = self.faults.take(req.operation, service)
        if fault is not None:
            response = error_response(protocol, fault)
            self._record(req, response.status_code, fault.code)
            return response(environ, start_response)
        if handler is not None:
            handled = handler(req)
            if handled is not None:
                self._record(req, handled.status_code, req.annotations.get("error"))
                return handled(environ, start_response)
        return self._forward(service, req, start_response)

    def base_hosts(self) -> frozenset[str]:
        """Return the host names S3 clients reach the emulator under (virtual-hosted bucket suffixes)."""
        hosts = {"localhost"}
        endpoint = urlsplit(self.state.endpoint_url).hostname
        if endpoint:
            hosts.add(endpoint.lower())
        return frozenset(hosts)

    def _virtual_host(self, req: AwsRequest) -> None:
        """Route `<bucket>.<emulator host>` like path style: moto sees `/bucket/key` under the bare host."""
        split = split_virtual_host(req.headers.get("host", ""), self.base_hosts())
        if split is None:
            return
        bucket, base = split
        req.virtual_bucket = bucket
        prefix = "/" + bucket
        environ = req.environ
        environ["PATH_INFO"] = prefix + ("" if req.path == "/" else req.path)
        for name in ("REQUEST_URI", "RAW_URI"):
            if name in environ:
                environ[name] = req.s3_raw_path() + (f"?{req.raw_query}" if req.raw_query else "")
        environ["HTTP_HOST"] = base

    def _preflight(self, req: AwsRequest, start_response: StartResponse) -> Iterable[bytes]:
        """Answer a browser's CORS preflight from the bucket's CORS rules (never authenticated)."""
        op = classify(req)
        req.operation = "PreflightRequest"
        rules = s3_cors.bucket_rules(self.state.account_id, op.bucket)
        response = s3_cors.preflight(rules, req.headers, "OBJECT" if op.keys else "BUCKET")
        self._record(req, response.status_code, None if response.status_code < 400 else "AccessForbidden")
        return response(req.environ, start_response)

    def _with_cors(self, req: AwsRequest, start_response: StartResponse) -> StartResponse:
        """Give the S3 response, whatever produced it (guard, fault, moto), the bucket's CORS headers."""
        origin = req.headers.get("origin")
        if not origin:
            return start_response
        rules = s3_cors.bucket_rules(self.state.account_id, classify(req).bucket)
        return s3_cors.with_cors_headers(
            start_response, s3_cors.actual_response_headers(rules, req.method, origin)
        )

    def _peek_operation(self, service: str, req: AwsRequest) -> str:
        if service == "cognito-idp":
            return hosted_ui.operation_for(req.path)
        if service == "sso-oidc":
            return "CreateTokenWithIAM" if req.arg("aws_iam") == "t" else "CreateToken"
        if service in ("sso-admin", "identitystore"):
            return operation_hint(service, req)
        if service == "sts":
            return form_params(req).get("Action", "Unknown")
        if service == "s3control":
            return self.access_grants.operation_for(req.method, req.path) or "Unknown"
        return classify(req).name

    def _handler_for(self, service: str, req: AwsRequest) -> Callable[[AwsRequest], Response | None] | None:
        if service == "sso-oidc":
            return self.identity_center.handle
        if service == "sso-admin" and self.sso_admin.handles(operation_hint(service, req)):
            return self.sso_admin.handle
        if service == "identitystore":
            return self.directory.handle
        if service == "cognito-idp" and (WELL_KNOWN_RE.fullmatch(req.path) or hosted_ui.owns(req.path)):
            return self.hosted_ui.handle
        if service == "sts" and form_params(req).get("Action") in EMULATED_ACTIONS:
            return self.sts.handle
        if service == "s3control" and self.access_grants.operation_for(req.method, req.path):
            return self.access_grants.handle
        if service == "s3" and req.path.startswith("/v20180820/"):
            return None
        if service == "s3":
            return self._guard
        return None

    def _guard(self, req: AwsRequest) -> Response | None:
        try:
            self.s3_guard.check(req)
        except AwsError as err:
            req.annotations["error"] = err.code
            return error_response("s3-xml", err)
        return None

    def _record(self, req: AwsRequest, status: int, error_code: str | None) -> None:
        caller = req.caller.arn if req.caller is not None else None
        decision = "Allow" if status < 400 else "Deny"
        self.state.record(
            req.service,
            req.operation,
            caller=caller,
            decision=decision,
            error_code=error_code,
            on_behalf_of=req.annotations.get("on_behalf_of"),
        )

    def _forward(self, service: str, req: AwsRequest, start_response: StartResponse) -> Iterable[bytes]:
        try:
            app = self.moto_app(service)
        except (KeyError, ValueError, ModuleNotFoundError):
            response = error_response(
                "json", AwsError("UnknownOperationException", f"Service {service} is not emulated", 400)
            )
            self._record(req, 400, "UnknownOperationException")
            return response(req.environ, start_response)
        environ = dict(req.environ)
        environ["wsgi.input"] = io.BytesIO(req.body)
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = self.state.account_id
        captured: dict[str, int] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split(" ", 1)[0])
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        result = app(environ, capture)
        body = b"".join(result)
        status = captured.get("status", 200)
        code = None
        if status >= 400:
            code = _error_code(body) or str(status)
        self._record(req, status, code)
        return [body]


def _error_code(body: bytes) -> str | None:
    match = re.search(rb"<Code>([^<]+)</Code>", body)
    if match:
        return match.group(1).decode()
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict):
        value = data.get("__type") or data.get("code")
        return str(value).rsplit("#", 1)[-1] if value else None
    return None
