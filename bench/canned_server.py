"""An HTTP floor: uvicorn serving one canned answer, to time what HTTP alone costs for a given exchange.

``python -m bench.canned_server PORT FILE`` answers every POST with FILE's bytes as JSON after reading the
whole request body, and ``GET /healthz`` with 200; uvicorn runs with the broker's defaults (uvloop and
httptools when installed). bench_batch times the broker's batch answer against it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import uvicorn

Message = dict[str, Any]


def canned(answer: bytes) -> Any:
    """Return an ASGI app answering POST with ``answer`` and anything else with an empty 200."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]

    async def app(scope: Message, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # the whole request is read, as the broker reads it
            more = (await receive()).get("more_body", False)
        body = answer if scope["method"] == "POST" else b""
        await send({"type": "http.response.start", "status": 200, "headers": headers if body else []})
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    port, answer_file = int(sys.argv[1]), Path(sys.argv[2])
    uvicorn.run(
        canned(answer_file.read_bytes()), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
