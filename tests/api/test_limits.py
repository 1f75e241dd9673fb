"""Request limits: body size (413 with the JSON error body, declared or chunked), bounded error details."""

from __future__ import annotations

import json

import httpx
import pytest

from api.main import create_app
from generate.errors import ConfigError

BIG_UNKNOWN_KEYS = json.dumps({"brief": "golf", **{f"k{i}": i for i in range(200_000)}}).encode()


def _assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text[:300]
    body = response.json()
    assert body["field"] == "body"
    assert "larger than" in body["message"]
    assert len(response.content) < 1000


async def test_a_declared_body_over_the_json_limit_is_413_before_it_is_read(client):
    assert len(BIG_UNKNOWN_KEYS) > 3_000_000
    for path in ("/generate", "/generate-stream"):
        response = await client.post(
            path, content=BIG_UNKNOWN_KEYS, headers={"content-type": "application/json"}
        )
        _assert_413(response)


def test_a_chunked_body_over_the_limit_is_413(live_server):
    server = live_server()

    def chunks():  # no Content-Length: the body arrives with Transfer-Encoding: chunked
        for start in range(0, len(BIG_UNKNOWN_KEYS), 16_384):
            yield BIG_UNKNOWN_KEYS[start : start + 16_384]

    with httpx.Client(base_url=server.url, timeout=30) as http:
        request = http.build_request(
            "POST", "/generate", content=chunks(), headers={"content-type": "application/json"}
        )
        assert "content-length" not in request.headers
        _assert_413(http.send(request))
        assert http.get("/healthz").status_code == 200  # and the service is still there


async def test_many_unknown_keys_under_the_limit_get_a_bounded_422(client):
    body = json.dumps({"brief": "golf", **{f"u{i}": i for i in range(5000)}}, separators=(",", ":")).encode()
    assert 60_000 < len(body) < 64 * 1024
    response = await client.post("/generate", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    data = response.json()
    assert data["field"] == "u0"
    assert len(data["detail"]) == 21
    assert data["detail"][-1] == {
        "loc": ["body"],
        "msg": "4980 more errors not shown",
        "type": "too_many_errors",
    }
    assert len(response.content) < 4000


async def test_long_names_in_error_details_are_clipped(client):
    key = "x" * 50_000
    response = await client.post("/generate", json={"brief": "golf", key: 1})
    assert response.status_code == 422
    assert len(response.content) < 2000
    assert response.json()["detail"][0]["loc"][1].startswith("xxx")


async def test_uploads_get_the_larger_configurable_limit(output_dir):
    app = create_app(output_dir=output_dir, max_body_bytes=200_000)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
        small = await client.post("/generate", files={"image": ("a.png", b"x" * 100_000, "image/png")})
        assert small.status_code == 422  # read, then refused for what it is, not for its size
        _assert_413(await client.post("/generate", files={"image": ("a.png", b"x" * 300_000, "image/png")}))
        # JSON stays at 64 KiB however large the upload limit is.
        _assert_413(await client.post("/generate", content=b"{" + b" " * 70_000 + b"}"))


async def test_the_limit_comes_from_the_environment(monkeypatch, output_dir):
    monkeypatch.setenv("SKETCHGEN_MAX_BODY_BYTES", "2048")
    app = create_app(output_dir=output_dir)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as client:
        _assert_413(await client.post("/generate", json={"brief": "golf " * 500}))
    monkeypatch.setenv("SKETCHGEN_MAX_BODY_BYTES", "lots")
    with pytest.raises(ConfigError, match="SKETCHGEN_MAX_BODY_BYTES"):
        create_app(output_dir=output_dir)
