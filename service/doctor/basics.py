"""The broker's own footing: its settings, each issuer's key set, its cache and its AWS identity.

Ids: configuration, jwks, cache, broker.identity.
"""

from __future__ import annotations

import asyncio

import httpx

from service.adapters.redis_cache import RedisCache
from service.doctor.facts import Facts
from service.doctor.model import CannotVerifyError, Check, failed, passed
from service.domain.redis_url import RedisOptions
from service.settings import ConfigurationError, Settings


def configuration_check(settings: Settings) -> Check:
    """Return whether the settings are complete and safe (the same test `serve` applies)."""
    try:
        settings.check()
    except ConfigurationError as exc:
        return failed(
            "configuration", str(exc).replace("\n", " "), "set the variables named (README: Configuration)"
        )
    return passed("configuration", "complete")


def jwks_checks(settings: Settings) -> list[Check]:
    """Return one check per issuer: its key set answers with at least one key."""
    checks = []
    for issuer in settings.issuers():
        url = issuer.keys_url
        try:
            keys = httpx.get(url, timeout=5).json().get("keys", [])
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            checks.append(
                failed(
                    "jwks", f"{url}: {type(exc).__name__}", "set BROKER_OIDC_JWKS_URL to the issuer's key set"
                )
            )
            continue
        if keys:
            checks.append(passed("jwks", f"{len(keys)} key(s) at {url}"))
        else:
            checks.append(
                failed("jwks", f"no keys at {url}", "set BROKER_OIDC_JWKS_URL to the issuer's key set")
            )
    return checks


async def _ping(url: str, options: RedisOptions) -> bool:
    cache = RedisCache.from_url(url, options=options)
    try:
        return await cache.ping()
    finally:
        await cache.close()


def cache_check(settings: Settings) -> Check:
    """Return whether Redis answers PING (or that the cache is in process)."""
    if not settings.redis_url:
        return passed("cache", "in-process (single replica only)")
    if asyncio.run(_ping(settings.redis_url, settings.redis_options())):
        return passed("cache", "Redis answered PING")
    return failed("cache", "Redis did not answer PING", "check BROKER_REDIS_URL and that Redis runs")


def identity_check(facts: Facts) -> Check:
    """Return the broker's AWS identity (sts GetCallerIdentity)."""
    try:
        return passed("broker.identity", facts.caller_arn())
    except CannotVerifyError as error:
        return failed(
            "broker.identity",
            f"STS does not know the broker's credentials: {error.needed}",
            "give the broker AWS credentials (environment, profile, or an instance/task role)",
        )
