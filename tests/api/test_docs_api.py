"""/docs and /redoc load every asset from the broker itself (tests/browser renders them offline)."""

from __future__ import annotations

import re

import pytest

from service.api.docs import asset_directory
from tests.api.conftest import World

ASSET_URL = re.compile(r"""(?:src|href)=["']([^"']+)["']|url: ?['"]([^'"]+)['"]|spec-url=["']([^"']+)["']""")


def _urls(html: str) -> list[str]:
    return [next(group for group in match if group) for match in ASSET_URL.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_refers_only_to_the_brokers_own_urls(world: World, page: str) -> None:
    response = await world.client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = _urls(response.text)
    assert "/openapi.json" in urls
    assert [url for url in urls if not url.startswith("/")] == []
    assert "cdn" not in response.text.lower()
    assert "fonts.googleapis" not in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_assets_are_served_with_a_cache_lifetime(world: World, page: str) -> None:
    html = (await world.client.get(page)).text
    assets = [url for url in _urls(html) if url.startswith("/docs/assets/")]
    assert assets
    for url in assets:
        response = await world.client.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=86400"
        on_disk = (asset_directory() / url.rsplit("/", 1)[-1]).read_bytes()
        assert response.content == on_disk


async def test_docs_assets_outside_the_bundle_are_not_found(world: World) -> None:
    response = await world.client.get("/docs/assets/../../service/settings.py")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_docs_pages_are_not_operations_of_the_spec(world: World) -> None:
    spec = (await world.client.get("/openapi.json")).json()
    assert not {"/docs", "/redoc", "/docs/oauth2-redirect"} & set(spec["paths"])
