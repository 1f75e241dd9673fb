"""No key or token in what the service sends or logs: /generate, SSE, error answers, access log."""

from __future__ import annotations

import io
import logging

import httpx
import pytest
from uvicorn.logging import AccessFormatter

import tests.generate.leaky  # noqa: F401 - registers the leaky-test adapter
from generate.redact import MASK
from tests.api.sse_helpers import parse_sse

SECRET = "AIzaSy-LEAK-0123456789abcdefXYZ"
TOKEN = "service-token-0123456789-secret"
BODY = {"brief": "playful golf mascot", "num_images": 3, "model": "leaky-test"}


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    return SECRET


async def test_generate_answer_carries_no_key(client, key, caplog):
    with caplog.at_level(logging.DEBUG):
        r = await client.post("/generate", json=BODY)
    assert r.status_code == 200, r.text
    sketch = r.json()["sketches"][1]
    assert sketch["error"]["code"] == "internal" and MASK in sketch["error"]["message"]
    assert key not in r.text
    assert "Traceback" in caplog.text and key not in caplog.text


async def test_stream_events_carry_no_key(client, key):
    r = await client.post("/generate-stream", json=BODY)
    assert r.status_code == 200
    events = parse_sse(r.text)
    failed = [e for e in events if e["event"] == "sketch.failed"]
    retried = [e for e in events if e["event"] == "sketch.retry"]
    assert failed and retried and MASK in failed[0]["data"]["message"]
    assert key not in r.text


async def test_an_error_answer_that_would_quote_the_key_does_not(client, key):
    r = await client.post("/generate", json={**BODY, "model": key})  # "unknown model '<key>'"
    assert r.status_code == 422 and r.json()["field"] == "model"
    assert key not in r.text and MASK in r.text


async def test_the_access_log_never_shows_the_token(live_server):
    server = live_server(api_token=TOKEN)
    access = logging.getLogger("uvicorn.access")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    # uvicorn's own access-log format, which unpacks the record's arguments.
    handler.setFormatter(
        AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
    )
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            # Refused (a wrong token) and accepted-then-invalid (no paid call): both are logged.
            await http.get("/generate-stream", params={"brief": "x", "token": TOKEN + "-wrong"})
            r = await http.get("/generate-stream", params={"brief": "golf", "num_images": 99, "token": TOKEN})
            assert r.status_code == 422
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    text = stream.getvalue()
    assert text.count("/generate-stream") == 2 and " 401" in text and " 422" in text, text
    assert TOKEN not in text
