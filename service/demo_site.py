"""`tip-broker dev`'s demo page: a static server on its own port (never part of the broker's app).

It serves `examples/demo-page/` from a checkout and a `config.json` naming the broker and the issuer.
"""

from __future__ import annotations

import functools
import io
import json
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

DEMO_PAGE_DIR = Path(__file__).resolve().parents[1] / "examples" / "demo-page"

# What a browser app needs to read from S3 answers (the Storage Browser's list included).
EXPOSE_HEADERS = [
    "last-modified",
    "content-type",
    "content-length",
    "etag",
    "x-amz-version-id",
    "x-amz-request-id",
    "x-amz-id-2",
    "x-amz-region",
]


def bucket_cors_rules(origins: list[str]) -> list[dict[str, Any]]:
    """Return the CORS rules a bucket needs for browser apps at ``origins`` (README "Browser apps")."""
    return [
        {
            "AllowedOrigins": origins,
            "AllowedMethods": ["GET", "HEAD", "PUT", "POST", "DELETE"],
            "AllowedHeaders": ["*"],
            "ExposeHeaders": EXPOSE_HEADERS,
            "MaxAgeSeconds": 3000,
        }
    ]


class _DemoServer(ThreadingHTTPServer):
    """The HTTP server, holding the page's `config.json`."""

    daemon_threads = True
    config_body = b"{}"


class _Handler(SimpleHTTPRequestHandler):
    """Static files of the demo page plus its `config.json`; no directory listings, no access log."""

    def do_GET(self) -> None:
        """Serve `/config.json` from memory, everything else from the page's directory."""
        if self.path.split("?", 1)[0] == "/config.json":
            body = cast("_DemoServer", self.server).config_body
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def end_headers(self) -> None:
        """Add the headers every answer carries."""
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        # The sign-in redirect puts the authorization code in the URL: never send it on as a Referer.
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def list_directory(self, path: str | os.PathLike[str]) -> io.BytesIO | None:
        """Refuse directory listings."""
        self.send_error(404)
        return None

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the console for the broker's own log lines."""


class DemoSite:
    """The demo page served from a background thread on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, host: str, port: int, config: dict[str, Any], root: Path = DEMO_PAGE_DIR) -> None:
        self._server = _DemoServer((host, port), functools.partial(_Handler, directory=str(root)))
        self._server.config_body = json.dumps(config).encode()
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-site", daemon=True)

    @property
    def url(self) -> str:
        """Return the page's URL (its origin plus `/`)."""
        return f"http://{self.host}:{self.port}/"

    def start(self) -> DemoSite:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
