"""Signing keys, ID tokens of a Cognito-like issuer and a real loopback JWKS server, for verifier tests."""

from __future__ import annotations

import base64
import functools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jws

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool"
CLIENT_ID = "3n4b5urk1ft4fl3mg5e62d9ado"
NOW = 1_700_000_000.0
LEEWAY = 60


# -- keys and tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_pem: str
    public_pem: str

    @property
    def public_jwk(self) -> dict[str, Any]:
        data: dict[str, Any] = jwk.construct(self.public_pem, self.alg).to_dict()
        return {**data, "kid": self.kid, "use": "sig"}


def _pems(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


@functools.cache
def _rsa_pems(name: str) -> tuple[str, str]:
    return _pems(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@functools.cache
def _ec_pems(name: str) -> tuple[str, str]:
    return _pems(ec.generate_private_key(ec.SECP256R1()))


def rsa_key(name: str, kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", *_rsa_pems(name))


def ec_key(name: str, kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", *_ec_pems(name))


KEY_1 = rsa_key("one", "k1")
KEY_2 = rsa_key("two", "k2")
ATTACKER_KEY = rsa_key("attacker", "k1")
EC_KEY = ec_key("ec", "e1")

DROP = object()


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "token_use": "id",
        "sub": "6f1d6a2e-5a3b-4c55-9a8e-0c1b2d3e4f50",
        "jti": "0e2a3c4d-token-id",
        "cognito:username": "alice",
        "email": "alice@example.com",
        "auth_time": int(NOW) - 10,
        "iat": int(NOW),  # issued as the broker under test starts (its jti ledger begins then)
        "exp": int(NOW) + 3600,
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not DROP}


def sign(
    payload: dict[str, Any] | bytes | None = None,
    *,
    key: SigningKey = KEY_1,
    alg: str | None = None,
    headers: dict[str, Any] | None = None,
) -> str:
    body = (
        payload
        if isinstance(payload, bytes)
        else json.dumps(claims() if payload is None else payload).encode()
    )
    extra = {"kid": key.kid} if headers is None else headers
    algorithm = alg or key.alg
    token: str = jws.sign(body, _private_key(key.private_pem, algorithm), headers=extra, algorithm=algorithm)
    return token


@functools.cache
def _private_key(pem: str, algorithm: str) -> Any:
    # Loading a private PEM re-checks the whole key; doing it once keeps the suite fast.
    return jwk.construct(pem, algorithm)


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unsigned(header: dict[str, Any] | str, payload: dict[str, Any] | None = None, signature: str = "") -> str:
    head = header if isinstance(header, str) else json.dumps(header)
    return f"{b64(head)}.{b64(json.dumps(payload or claims()))}.{signature}"


# -- a real JWKS server -----------------------------------------------------------------------------------


class JwksServer:
    """A loopback HTTP server serving a JWKS the test controls, counting the requests it receives."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.document: dict[str, Any] = {"keys": [key.public_jwk for key in keys]}
        self.status = 200
        self.delay_seconds = 0.0
        self.hits = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.hits += 1
                    status, body, delay = (
                        server.status,
                        json.dumps(server.document).encode(),
                        server.delay_seconds,
                    )
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/.well-known/jwks.json"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()
        self._running = True

    def serve(self, keys: list[SigningKey]) -> None:
        with self._lock:
            self.document = {"keys": [key.public_jwk for key in keys]}

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)


class FakeClock:
    """The verifier's clock: epoch seconds, ``NOW`` until a test moves it."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now
