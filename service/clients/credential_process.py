"""`tip-broker credential-process`: the AWS CLI / SDK `credential_process` contract (one JSON document on
stdout, or one line on stderr and a non-zero exit)."""

from __future__ import annotations

import json
import sys

from service.clients.broker_api import BrokerCredentials


def print_credentials(broker: BrokerCredentials) -> None:
    """Write the broker's `credential_process` answer on stdout.

    Raises:
        ClientCommandError: the broker or the token source failed; the message says what to do.
    """
    answer = broker.fetch(output_format="credential_process")
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
