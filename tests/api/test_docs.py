"""/docs and /redoc work with no internet: every asset they load is served by the service itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|(?:url|spec-url)\s*:\s*["']([^"']+)["']""")


def _urls(html: str) -> list[str]:
    return [a or b for a, b in _URL.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_reference_only_local_urls_that_serve_their_assets(client, page):
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = _urls(r.text)
    assert any(u.endswith(".js") for u in urls), urls
    assert "http://" not in r.text and "https://" not in r.text  # no CDN, no Google Fonts
    assert not any(u.startswith("//") for u in urls)
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        if url.endswith(".js"):
            assert (
                asset.headers["content-type"].startswith("text/javascript") and len(asset.content) > 100_000
            )
        elif url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css") and b"swagger-ui" in asset.content
    if page == "/docs":
        assert "/openapi.json" in urls and "/docs-assets/swagger-ui-bundle.js" in urls


async def test_only_the_known_assets_are_served(client):
    assert (await client.get("/docs-assets/../main.py")).status_code == 404
    assert (await client.get("/docs-assets/core.py")).status_code == 404


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_swagger_ui_renders_in_a_browser_with_no_internet(live_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    server = live_server()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox"])
        try:
            context = browser.new_context()
            context.set_default_timeout(60_000)  # a bound for a hang, not a timing
            outside: list[str] = []

            def only_local(route):
                if route.request.url.startswith(server.url):
                    return route.continue_()
                outside.append((route.request.resource_type, route.request.url))
                return route.abort()

            context.route("**/*", only_local)
            page = context.new_page()
            page.goto(server.url + "/docs")
            page.wait_for_selector(".opblock", timeout=60_000)  # the operations rendered
            assert page.locator(".opblock").count() >= 5
            assert "/generate" in page.inner_text("body")
            assert outside == []
            page.goto(server.url + "/redoc")
            page.wait_for_selector("text=/generate", timeout=60_000)
            # ReDoc's bundle links its maker's logo from their CDN: the page's CSP keeps the browser
            # from even asking for it.
            assert outside == []
        finally:
            browser.close()
