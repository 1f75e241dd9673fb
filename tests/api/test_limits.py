"""Request limits: body size (413 with the JSON error body, declared or chunked), bodies with too many
fields refused before parsing, and bounded error details."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from api.main import create_app
from generate.errors import ConfigError

BIG_UNKNOWN_KEYS = json.dumps({"brief": "golf", **{f"k{i}": i for i in range(200_000)}}).encode()


def _assert_error(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["field"] == "body"
    assert words in body["message"]
    assert len(response.content) < 1000


async def test_many_keys_are_refused_before_they_are_parsed(client):
    """3.4 MB, 200,000 unknown keys: once an 18 MB answer after 2.6 s of a blocked event loop."""
    assert len(BIG_UNKNOWN_KEYS) > 3_000_000
    for path in ("/generate", "/generate-stream"):
        r = await client.post(path, content=BIG_UNKNOWN_KEYS, headers={"content-type": "application/json"})
        _assert_error(r, 422, "too many fields")


async def test_a_declared_body_over_the_limit_is_413(output_dir):
    app = create_app(output_dir=output_dir, max_body_bytes=1024 * 1024)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
        r = await client.post(
            "/generate", content=BIG_UNKNOWN_KEYS, headers={"content-type": "application/json"}
        )
        _assert_error(r, 413, "larger than the 1 MiB")


def test_a_chunked_body_over_the_limit_is_413(live_server):
    server = live_server(max_body_bytes=1024 * 1024)
    blob = b'{"brief": "golf", "image_base64": "' + b"A" * 3_000_000 + b'"}'

    def chunks():  # no Content-Length: the body arrives with Transfer-Encoding: chunked
        for start in range(0, len(blob), 16_384):
            yield blob[start : start + 16_384]

    with httpx.Client(base_url=server.url, timeout=30) as http:
        request = http.build_request(
            "POST", "/generate", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in request.headers
        _assert_error(http.send(request), 413, "larger than")
        assert http.get("/healthz").status_code == 200  # and the service is still there


async def test_a_large_upload_under_the_limit_is_read(client):
    # 6 MB of base64 with few fields: read and checked for what it is (not an image), not refused for size.
    body = {"brief": "golf", "image_base64": base64.b64encode(b"\x00" * 4_500_000).decode()}
    r = await client.post("/generate", json=body)
    assert r.status_code == 422
    assert r.json()["field"] == "image_base64"


async def test_many_unknown_keys_under_the_field_cap_get_a_bounded_422(client):
    body = json.dumps({"brief": "golf", **{f"u{i}": i for i in range(2400)}}).encode()
    r = await client.post("/generate", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422
    data = r.json()
    assert data["field"] == "u0"
    assert len(data["detail"]) == 21
    assert data["detail"][-1] == {
        "loc": ["body"],
        "msg": "2380 more errors not shown",
        "type": "too_many_errors",
    }
    assert len(r.content) < 4000


async def test_long_names_in_error_details_are_clipped(client):
    r = await client.post("/generate", json={"brief": "golf", "x" * 50_000: 1})
    assert r.status_code == 422
    assert len(r.content) < 2000
    assert r.json()["detail"][0]["loc"][1].startswith("xxx")


async def test_the_limit_comes_from_the_environment(monkeypatch, output_dir):
    monkeypatch.setenv("SKETCHGEN_MAX_BODY_BYTES", "2048")
    app = create_app(output_dir=output_dir)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
        _assert_error(await client.post("/generate", json={"brief": "golf " * 500}), 413, "2 KiB")
    monkeypatch.setenv("SKETCHGEN_MAX_BODY_BYTES", "lots")
    with pytest.raises(ConfigError, match="SKETCHGEN_MAX_BODY_BYTES"):
        create_app(output_dir=output_dir)
