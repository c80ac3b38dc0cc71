"""Use cases of the broker: who is calling, which identity session they have, what S3 access they get.

``Broker`` (facade.py) is what the routes call; each step it wires lives in a module named for its job.
"""

from service.broker.facade import Broker
from service.broker.policy import BrokerPolicy, Issued
from service.broker.presigning import ListItem, PostItem, PostResult, PresignItem, PresignResult

__all__ = [
    "Broker",
    "BrokerPolicy",
    "Issued",
    "ListItem",
    "PostItem",
    "PostResult",
    "PresignItem",
    "PresignResult",
]
