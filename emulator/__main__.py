"""Command line: `python -m emulator --scenario emulator/scenarios/demo.yaml --port 9000`."""

from __future__ import annotations

import argparse
import sys

from emulator.scenario import DEFAULT_SCENARIO
from emulator.server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    """Start the emulator and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--scenario", default=str(DEFAULT_SCENARIO), help="scenario YAML file")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="port to bind (0 = any free port)")
    parser.add_argument("--access-log", action="store_true", help="log every request to stderr")
    parser.add_argument(
        "--public-url",
        default=None,
        help="base URL clients use to reach the emulator (default: the bind address)",
    )
    parser.add_argument(
        "--empty",
        action="store_true",
        help="seed only the IdP, IAM users, the Identity Center instance and the buckets: no issuer, "
        "application, identity-store users, roles or Access Grants (what a setup tool creates)",
    )
    parser.add_argument(
        "--tls-port",
        type=int,
        default=None,
        help="also serve HTTPS (self-signed, for localhost and *.localhost) on this port (0 = any free port)",
    )
    args = parser.parse_args(argv)
    server = EmulatorServer(
        args.scenario,
        args.host,
        args.port,
        access_log=args.access_log,
        public_url=args.public_url,
        empty=args.empty,
        tls_port=args.tls_port,
    ).start()
    sys.stdout.write(f"emulator ready on {server.url}\n")
    if server.tls_url:
        sys.stdout.write(f"emulator HTTPS (self-signed) on {server.tls_url}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
