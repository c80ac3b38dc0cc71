"""S3 Access Grants: the handler (routing and operations), its store, the grant matcher and the XML wire."""

from emulator.access_grants.handler import AccessGrantsHandler
from emulator.access_grants.matching import covers

__all__ = ["AccessGrantsHandler", "covers"]
