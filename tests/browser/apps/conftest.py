"""The browser apps as a person uses them: `python -m service dev` (what `make run` runs), the demo page,
the Storage Browser example built with npm, and Debian's Chromium driven by Playwright (no browser download).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from bench.stack import ROOT, free_port, stop, wait_until_ok
from service.demo_site import DemoSite
from tests.browser.apps.stack import DevStack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # `<bucket>.localhost` is loopback (RFC 6761); pin it to the address the emulator binds.
    "--host-resolver-rules=MAP *.localhost 127.0.0.1",
]
ARTIFACTS = ROOT / "artifacts" / "browser"
STORAGE_BROWSER = ROOT / "examples" / "storage-browser"
NPM_TIMEOUT_SECONDS = 600


@pytest.fixture(scope="session")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    log = tmp_path_factory.mktemp("browser-apps") / "dev.log"
    broker_port, emulator_port, tls_port, demo_port, extra_port = (free_port() for _ in range(5))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BROKER_", "AWS_"))}
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [
                sys.executable,
                "-m",
                "service",
                "dev",
                "--port",
                str(broker_port),
                "--emulator-port",
                str(emulator_port),
                "--emulator-tls-port",
                str(tls_port),
                "--demo-port",
                str(demo_port),
                "--allow-origin",
                f"http://127.0.0.1:{extra_port}",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    broker_url = f"http://127.0.0.1:{broker_port}"
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    try:
        wait_until_ok(f"{broker_url}/readyz", process, "tip-broker dev", log)
        config = httpx.get(f"{emulator_url}/_emulator/config", timeout=10).json()
        yield DevStack(
            broker_url=broker_url,
            emulator_url=emulator_url,
            emulator_tls_port=tls_port,
            demo_url=f"http://127.0.0.1:{demo_port}/",
            extra_origin_port=extra_port,
            config=config,
            log=log,
        )
    finally:
        stop(process)


# Module scope, not session: while Playwright's sync API is open its event loop counts as running in this
# thread, so a longer-lived one would break every asyncio test (and other Playwright users) after it.
@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(chromium: Browser) -> Iterator[BrowserContext]:
    # The emulator's HTTPS port has a throw-away self-signed certificate (emulator/tls.py).
    browser_context = chromium.new_context(accept_downloads=True, ignore_https_errors=True)
    yield browser_context
    browser_context.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page whose final state is kept as `artifacts/browser/<test name>.png`."""
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)


@pytest.fixture(scope="session")
def storage_browser_url(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Build examples/storage-browser (`npm ci`, `npm run build` in a copy); serve dist/ with its config."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the Storage Browser example cannot be built")
    workdir = tmp_path_factory.mktemp("storage-browser") / "app"
    shutil.copytree(STORAGE_BROWSER, workdir, ignore=shutil.ignore_patterns("node_modules", "dist", "public"))
    for step in (["ci", "--no-audit", "--no-fund"], ["run", "build"]):
        result = subprocess.run(  # noqa: S603 - npm found on PATH, fixed arguments
            [npm, *step],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT_SECONDS,
            check=False,
        )
        assert result.returncode == 0, f"npm {' '.join(step)} failed:\n{result.stdout}\n{result.stderr}"
    cognito = dev_stack.config["cognito"]
    site = DemoSite(
        "127.0.0.1",
        dev_stack.extra_origin_port,
        {
            "broker_url": dev_stack.broker_url,
            "discovery_url": cognito["discovery_url"],
            "client_id": cognito["client_id"],
            "region": dev_stack.config["region"],
            "s3_endpoint": f"localhost:{dev_stack.emulator_tls_port}",
        },
        root=workdir / "dist",
    ).start()
    try:
        yield site.url
    finally:
        site.stop()
