"""`tip-broker doctor`: checks configuration, the issuer's JWKS, the cache and the broker's AWS identity."""

from __future__ import annotations

import asyncio

import httpx

from service.adapters.aws_clients import AwsClients
from service.adapters.redis_cache import RedisCache
from service.settings import ConfigurationError, Settings, load_settings


def _report(name: str, ok: bool, detail: str) -> bool:
    print(f"[{'ok' if ok else 'FAIL'}] {name}: {detail}")
    return ok


async def _check_redis(url: str) -> bool:
    cache = RedisCache.from_url(url)
    try:
        return await cache.ping()
    finally:
        await cache.close()


def _checks(settings: Settings) -> list[bool]:
    results = []
    try:
        keys = httpx.get(settings.jwks_url, timeout=5).json().get("keys", [])
        results.append(_report("jwks", bool(keys), f"{len(keys)} keys at {settings.jwks_url}"))
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        results.append(_report("jwks", False, f"{settings.jwks_url}: {type(exc).__name__}"))
    if settings.redis_url:
        ok = asyncio.run(_check_redis(settings.redis_url))
        results.append(_report("redis", ok, "PING answered" if ok else "no answer"))
    else:
        results.append(_report("cache", True, "in-process (single replica only)"))
    try:
        identity = AwsClients.build(settings.aws_region, settings.aws_endpoint_url).sts.get_caller_identity()
        results.append(_report("aws identity", True, identity["Arn"]))
    except Exception as exc:  # a diagnostic reports every failure kind
        results.append(_report("aws identity", False, type(exc).__name__))
    return results


def run_doctor() -> int:
    """Print one line per check; return 0 when all pass."""
    try:
        settings = load_settings()
        settings.check()
    except ConfigurationError as exc:
        _report("configuration", False, str(exc))
        return 1
    _report("configuration", True, "complete")
    return 0 if all(_checks(settings)) else 1
