"""/docs and /redoc render in headless Chromium with every request to another host cut off."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bench import stack as processes

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RENDER_TIMEOUT_MS = 30_000

if shutil.which(CHROMIUM) is None:
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, Route, sync_playwright  # noqa: E402 - only with a browser


@dataclass
class Offline:
    """A page whose requests to any host but the broker's are aborted (and remembered)."""

    page: Page
    broker_url: str
    cut_off: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def route(self, route: Route) -> None:
        if urlsplit(route.request.url).netloc == urlsplit(self.broker_url).netloc:
            route.continue_()
        else:
            self.cut_off.append(route.request.url)
            route.abort("internetdisconnected")


@pytest.fixture(scope="module")
def broker_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("docs-offline")
    with processes.emulator(log_dir=logs) as emulator, processes.broker(emulator, log_dir=logs) as broker:
        yield broker.url


@pytest.fixture
def offline(broker_url: str) -> Iterator[Offline]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(RENDER_TIMEOUT_MS)
            state = Offline(page, broker_url)
            page.route("**/*", state.route)
            page.on("console", lambda m: state.console_errors.append(m.text) if m.type == "error" else None)
            yield state
        finally:
            browser.close()


def _operations(broker_url: str) -> dict[str, tuple[str, str]]:
    """Return operationId -> (METHOD, path) of the running broker's spec."""
    spec = httpx.get(f"{broker_url}/openapi.json", timeout=10).json()
    return {
        operation["operationId"]: (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }


def test_swagger_ui_renders_every_operation_offline(offline: Offline, tmp_path: Path) -> None:
    page = offline.page
    page.goto(f"{offline.broker_url}/docs")
    page.wait_for_selector(".opblock")
    shown = {
        (
            block.locator(".opblock-summary-method").inner_text(),
            block.locator(".opblock-summary-path").inner_text(),
        )
        for block in page.locator(".opblock").all()
    }
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
    assert shown == set(_operations(offline.broker_url).values())
    assert offline.cut_off == []
    assert offline.console_errors == []


def test_swagger_ui_shows_the_request_examples_of_an_operation(offline: Offline) -> None:
    page = offline.page
    page.goto(f"{offline.broker_url}/docs")
    page.locator("#operations-credentials-getCredentials .opblock-summary").click()
    body = page.locator("#operations-credentials-getCredentials")
    body.locator("option", has_text="Read everything under a prefix").wait_for(state="attached")
    example = json.loads(body.locator(".body-param__example").first.inner_text())
    assert example == {"target": "s3://demo-data/users/alice/*", "permission": "READ"}
    assert offline.cut_off == []


def test_redoc_renders_every_operation_offline(offline: Offline, tmp_path: Path) -> None:
    page = offline.page
    page.goto(f"{offline.broker_url}/redoc")
    operations = _operations(offline.broker_url)
    for operation_id in operations:
        page.wait_for_selector(f'[id="operation/{operation_id}"]', state="attached")
    page.screenshot(path=str(tmp_path / "redoc.png"))
    # The only thing the page's Content-Security-Policy holds back is the bundle's CDN footer logo.
    assert [e for e in offline.console_errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in e] == []
    assert page.locator("h2", has_text="Get S3 credentials scoped by S3 Access Grants").is_visible()
    # The request example's name in the sample panel's picker, and its body.
    assert page.locator('text="Read everything under a prefix" >> visible=true').count() >= 1
    assert page.locator("text=s3://demo-data/users/alice/* >> visible=true").count() >= 1
    assert offline.cut_off == []
