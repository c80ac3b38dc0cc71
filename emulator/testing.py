"""A running emulator for tests: its URL and config, boto3 sessions for its keys, sign-in and its clock."""

from __future__ import annotations

import datetime
import json
import urllib.request
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import boto3
import botocore.auth
from botocore.config import Config

from emulator.server import EmulatorServer

Key = Literal["admin", "broker"]
_S3_CONFIG = Config(
    signature_version="s3v4", s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}
)


def _strip_account_prefix(request: Any, **_: Any) -> None:
    """Drop the `{AccountId}.` host prefix botocore puts before s3control hosts: a loopback IP has none."""
    account = request.headers.get("x-amz-account-id")
    account = account.decode() if isinstance(account, bytes) else account
    parts = urlsplit(request.url)
    if account and parts.netloc.startswith(account + "."):
        request.url = urlunsplit(parts._replace(netloc=parts.netloc[len(account) + 1 :]))


class RunningEmulator:
    """An emulator started on a free loopback port; `stop()` (or the `with` block's end) ends it."""

    def __init__(
        self, scenario: str | Path | None = None, *, empty: bool = False, sign_at_emulator_time: bool = True
    ) -> None:
        self.server = EmulatorServer(scenario, port=0, empty=empty).start()
        self.url = self.server.url
        self.config: dict[str, Any] = self.call("GET", "/_emulator/config")
        self._offset = 0.0
        self._real_datetime = botocore.auth.get_current_datetime
        if sign_at_emulator_time:
            # botocore in this process signs at the emulator's time, as a host in sync with it would: a
            # moved clock then expires credentials instead of tripping the 15-minute request-time skew.
            botocore.auth.get_current_datetime = self._signing_datetime

    def _signing_datetime(self, remove_tzinfo: bool = True) -> datetime.datetime:
        now: datetime.datetime = self._real_datetime(remove_tzinfo)
        return now + datetime.timedelta(seconds=self._offset)

    def stop(self) -> None:
        """Stop the emulator, close its port and give botocore back its own clock."""
        botocore.auth.get_current_datetime = self._real_datetime
        self.server.stop()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send a JSON request to the emulator's `/_emulator/…` surface and return the decoded answer."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the emulator this object started, on loopback
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    # --- AWS sessions -----------------------------------------------------------------------------

    def session(self, key: Key = "admin") -> boto3.session.Session:
        """Return a boto3 session signing with the scenario's admin key or the broker's IAM user key."""
        if key == "admin":
            admin = self.config["admin"]
            return self.session_for(admin["access_key_id"], admin["secret_access_key"])
        env = self.config["broker_env"]
        return self.session_for(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])

    def session_for(
        self, access_key: str | dict[str, Any], secret_key: str = "", session_token: str | None = None
    ) -> boto3.session.Session:
        """Return a boto3 session for a key pair, or for a `Credentials` dict (AssumeRole, GetDataAccess)."""
        if isinstance(access_key, dict):
            credentials = access_key
            access_key = str(credentials["AccessKeyId"])
            secret_key = str(credentials["SecretAccessKey"])
            session_token = credentials.get("SessionToken")
        return boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            region_name=self.config["region"],
        )

    def client(self, session: boto3.session.Session, service: str, **kwargs: Any) -> Any:
        """Return a client of `service` at the emulator (path-style S3, s3control without host prefix)."""
        kwargs.setdefault(
            "config", _S3_CONFIG if service == "s3" else Config(retries={"total_max_attempts": 1})
        )
        client = session.client(service, endpoint_url=self.url, **kwargs)
        if service == "s3control":
            client.meta.events.register("before-sign.s3-control", _strip_account_prefix)
        return client

    # --- sign-in ----------------------------------------------------------------------------------

    def login(self, username: str, password: str | None = None) -> str:
        """Return a Cognito ID token for a scenario user (their scenario password unless one is given)."""
        if password is None:
            password = next(u["password"] for u in self.config["users"] if u["username"] == username)
        body = self.call("POST", "/_emulator/login", {"username": username, "password": password})
        return str(body["id_token"])

    # --- clock ------------------------------------------------------------------------------------

    @property
    def clock_offset(self) -> float:
        """Return how far the emulator's time is from wall-clock time, in seconds."""
        return float(self.call("GET", "/_emulator/clock")["offset_seconds"])

    def advance(self, seconds: float) -> float:
        """Move the emulator's time forward by `seconds`, expiring tokens; returns the offset."""
        self._offset = float(
            self.call("POST", "/_emulator/clock", {"advance_seconds": seconds})["offset_seconds"]
        )
        return self._offset

    def set_offset(self, seconds: float) -> float:
        """Put the emulator's time `seconds` away from wall-clock time (0 = real time); returns the offset."""
        self._offset = float(
            self.call("POST", "/_emulator/clock", {"offset_seconds": seconds})["offset_seconds"]
        )
        return self._offset
