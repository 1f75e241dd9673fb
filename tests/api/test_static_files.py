"""The page's and the docs' own files: only the listed names, each with its type and caching rule."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("url", "media_type", "cache"),
    [
        ("/", "text/html; charset=utf-8", "no-cache"),
        ("/static/app.js", "text/javascript; charset=utf-8", "no-cache"),
        ("/static/style.css", "text/css; charset=utf-8", "no-cache"),
        ("/docs-assets/swagger-ui-bundle.js", "text/javascript", "public, max-age=86400"),
    ],
)
async def test_a_listed_file_is_served_with_its_type_and_caching(client, url, media_type, cache):
    r = await client.get(url)
    assert r.status_code == 200 and r.content
    assert r.headers["content-type"].startswith(media_type)
    assert r.headers["cache-control"] == cache
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("url", ["/static/index.html", "/static/../main.py", "/static/nope.js"])
async def test_a_name_that_is_not_listed_is_404(client, url):
    assert (await client.get(url)).status_code == 404
