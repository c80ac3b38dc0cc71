"""Identity Center trusted token issuers (OIDC JWT): the state operations sso-admin and scenario seeding
share, and where the emulator fetches an issuer's discovery document."""

from __future__ import annotations

import dataclasses
import re

from moto.cognitoidp.models import cognitoidp_backends

from emulator import tags
from emulator.state import EmulatorState, TrustedTokenIssuer, new_id
from emulator.wire import AwsError

MAX_ISSUERS = 10  # per Identity Center instance (docs/aws.md#trusted-token-issuers)
MAX_TAGS = 75
_LETTERS = r"[^\W\d_]+"
NAME_RE = re.compile(r"[\w+=,.@-]{1,255}")
ISSUER_URL_RE = re.compile(r"https?://[-a-zA-Z0-9+&@/%=~_|!:,.;]*[-a-zA-Z0-9+&@/%=~_|]")
CLAIM_PATH_RE = re.compile(rf"{_LETTERS}(?:[._]{_LETTERS}){{0,2}}")
STORE_PATH_RE = re.compile(rf"{_LETTERS}(?:\.{_LETTERS}){{0,2}}")
COGNITO_ISSUER_RE = re.compile(r"https://cognito-idp\.([a-z0-9-]+)\.amazonaws\.com/([\w-]+)")


def validation(message: str) -> AwsError:
    """Return sso-admin's ValidationException."""
    return AwsError("ValidationException", message, 400)


def not_found(message: str) -> AwsError:
    """Return sso-admin's ResourceNotFoundException."""
    return AwsError("ResourceNotFoundException", message, 400)


def conflict(message: str) -> AwsError:
    """Return sso-admin's ConflictException."""
    return AwsError("ConflictException", message, 400)


def discovery_url(state: EmulatorState, issuer: TrustedTokenIssuer) -> str:
    """Return where the issuer's OpenID discovery document is fetched.

    AWS appends `/.well-known/openid-configuration` to the IssuerUrl. The issuer URL of one of this
    emulator's Cognito pools names the real Cognito host, so it is read from the emulator's own port.
    """
    if issuer.discovery_url:
        return issuer.discovery_url
    match = COGNITO_ISSUER_RE.fullmatch(issuer.issuer_url)
    if match and match.group(2) in cognitoidp_backends[state.account_id][match.group(1)].user_pools:
        return f"{state.endpoint_url}/{match.group(2)}/.well-known/openid-configuration"
    return issuer.issuer_url.rstrip("/") + "/.well-known/openid-configuration"


def _check_paths(claim: str, store_path: str, jwks_option: str) -> None:
    if not CLAIM_PATH_RE.fullmatch(claim):
        raise validation(f"ClaimAttributePath {claim!r} is not a valid claim path")
    if not STORE_PATH_RE.fullmatch(store_path):
        raise validation(f"IdentityStoreAttributePath {store_path!r} is not a valid attribute path")
    if jwks_option != "OPEN_ID_DISCOVERY":
        raise validation("JwksRetrievalOption must be OPEN_ID_DISCOVERY")


def create_issuer(
    state: EmulatorState,
    *,
    instance_arn: str,
    name: str,
    issuer_url: str,
    claim_attribute_path: str,
    identity_store_attribute_path: str,
    jwks_retrieval_option: str = "OPEN_ID_DISCOVERY",
    resource_tags: dict[str, str] | None = None,
    discovery: str | None = None,
    jwks_url: str | None = None,
) -> TrustedTokenIssuer:
    """Create an OIDC JWT trusted token issuer; names and issuer URLs are unique in the instance."""
    ic = state.identity_center
    if instance_arn != ic.instance_arn:
        raise validation(f"Instance {instance_arn} does not exist")
    if not NAME_RE.fullmatch(name):
        raise validation("Name must be 1 to 255 characters of [\\w+=,.@-]")
    if not ISSUER_URL_RE.fullmatch(issuer_url) or len(issuer_url) > 512:
        raise validation("IssuerUrl must be an http(s) URL of at most 512 characters")
    _check_paths(claim_attribute_path, identity_store_attribute_path, jwks_retrieval_option)
    with state.lock:
        if any(i.name == name for i in ic.issuers.values()):
            raise conflict(f"A trusted token issuer named {name} already exists")
        if any(i.issuer_url == issuer_url for i in ic.issuers.values()):
            raise conflict(f"A trusted token issuer with issuer URL {issuer_url} already exists")
        if len(ic.issuers) >= MAX_ISSUERS:
            raise AwsError("ServiceQuotaExceededException", "At most 10 trusted token issuers", 400)
        instance_id = ic.instance_arn.rsplit("/", 1)[-1]
        arn = f"arn:aws:sso::{state.account_id}:trustedTokenIssuer/{instance_id}/tti-{new_id()}"
        issuer = TrustedTokenIssuer(
            arn=arn,
            name=name,
            issuer_url=issuer_url,
            claim_attribute_path=claim_attribute_path,
            identity_store_attribute_path=identity_store_attribute_path,
            discovery_url=discovery,
            jwks_url=jwks_url,
            jwks_retrieval_option=jwks_retrieval_option,
        )
        ic.issuers[arn] = issuer
        if resource_tags:
            tags.tag_resource(state, arn, resource_tags, validation, MAX_TAGS)
    return issuer


def get_issuer(state: EmulatorState, arn: str) -> TrustedTokenIssuer:
    """Return a trusted token issuer or refuse with ResourceNotFoundException."""
    issuer = state.identity_center.issuers.get(arn)
    if issuer is None:
        raise not_found(f"Trusted token issuer {arn} does not exist")
    return issuer


def update_issuer(
    state: EmulatorState,
    arn: str,
    *,
    name: str | None = None,
    claim_attribute_path: str | None = None,
    identity_store_attribute_path: str | None = None,
    jwks_retrieval_option: str | None = None,
) -> TrustedTokenIssuer:
    """Change an issuer's name or claim mapping (its IssuerUrl cannot change, as in AWS's model)."""
    with state.lock:
        issuer = get_issuer(state, arn)
        if name is not None and not NAME_RE.fullmatch(name):
            raise validation("Name must be 1 to 255 characters of [\\w+=,.@-]")
        if name is not None and any(
            i.name == name and i.arn != arn for i in state.identity_center.issuers.values()
        ):
            raise conflict(f"A trusted token issuer named {name} already exists")
        updated = dataclasses.replace(
            issuer,
            name=name or issuer.name,
            claim_attribute_path=claim_attribute_path or issuer.claim_attribute_path,
            identity_store_attribute_path=identity_store_attribute_path
            or issuer.identity_store_attribute_path,
            jwks_retrieval_option=jwks_retrieval_option or issuer.jwks_retrieval_option,
        )
        _check_paths(
            updated.claim_attribute_path, updated.identity_store_attribute_path, updated.jwks_retrieval_option
        )
        state.identity_center.issuers[arn] = updated
    return updated


def delete_issuer(state: EmulatorState, arn: str) -> None:
    """Delete an issuer; applications whose grants still name it no longer match its tokens."""
    with state.lock:
        get_issuer(state, arn)
        del state.identity_center.issuers[arn]
        tags.forget(state, arn)
