"""What the browser-app tests share besides fixtures: the running dev stack and the IdP's sign-in form."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from playwright.sync_api import Page


@dataclass
class DevStack:
    """`python -m service dev` running: broker, emulator (plain and HTTPS ports) and the demo page."""

    broker_url: str
    emulator_url: str
    emulator_tls_port: int
    demo_url: str
    extra_origin_port: int
    config: dict[str, Any]
    log: Path

    def password(self, username: str) -> str:
        return str(next(u["password"] for u in self.config["users"] if u["username"] == username))

    def id_token(self, username: str) -> str:
        """Return an ID token for ``username`` as the API (not the browser) would get one."""
        answer = httpx.post(
            f"{self.emulator_url}/_emulator/login",
            json={"username": username, "password": self.password(username)},
            timeout=30,
        )
        return str(answer.json()["id_token"])

    def admin_s3(self) -> Any:
        admin = self.config["admin"]
        return boto3.client(
            "s3",
            region_name=self.config["region"],
            endpoint_url=self.emulator_url,
            aws_access_key_id=admin["access_key_id"],
            aws_secret_access_key=admin["secret_access_key"],
        )

    def move_clock(self, offset_seconds: float) -> None:
        """Set the emulator's clock offset from wall-clock time."""
        httpx.post(
            f"{self.emulator_url}/_emulator/clock", json={"offset_seconds": offset_seconds}, timeout=10
        ).raise_for_status()


def sign_in_at_hosted_ui(page: Page, username: str, password: str) -> None:
    """Fill in the IdP's sign-in form the app redirected to; it redirects back with a code."""
    page.wait_for_selector("form input#username")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[name=signInSubmitButton]")
