"""The fake Gemini server on its own: wire format, validation, scripting, recording, concurrency."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading

import aiohttp
import httpx
import pytest
from PIL import Image

from generate.testing import Behavior, FakeGeminiServer, make_image

KEY = {"x-goog-api-key": "test-key-value"}


def _body(
    prompt: str = "Sketch 1 of 4: mascot", ratio: str = "16:9", size: str | None = "1K", **extra
) -> dict:
    image_config = {"aspectRatio": ratio} | ({"imageSize": size} if size else {})
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": image_config},
        **extra,
    }


def _post(fake, model="gemini-3-pro-image", body=None, method="generateContent", headers=KEY, query=""):
    url = f"{fake.base_url}/v1beta/models/{model}:{method}{query}"
    return httpx.post(url, json=body if body is not None else _body(), headers=headers, timeout=30)


def _decode_image(part: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(part["inlineData"]["data"])))


def test_unary_answer_is_a_coloured_image_of_the_documented_size(fake_gemini):
    resp = _post(fake_gemini)
    assert resp.status_code == 200
    body = resp.json()
    cand = body["candidates"][0]
    assert cand["finishReason"] == "STOP"
    images = [p for p in cand["content"]["parts"] if "inlineData" in p]
    assert len(images) == 1 and images[0]["inlineData"]["mimeType"] == "image/png"
    img = _decode_image(images[0]).convert("RGB")
    assert img.size == (1376, 768)  # Pro 16:9 at 1K
    assert any(abs(r - g) > 40 or abs(g - b) > 40 for r, g, b in img.getdata())  # colour, not grey
    assert "thoughtSignature" in images[0]  # Pro signs its final image
    usage = body["usageMetadata"]
    assert usage["candidatesTokensDetails"][0] == {"modality": "IMAGE", "tokenCount": 1120}
    assert usage["thoughtsTokenCount"] > 0
    assert body["modelVersion"] == "gemini-3-pro-image" and body["responseId"]


def test_flash_usage_and_fixed_size(fake_gemini):
    body = _post(fake_gemini, model="gemini-2.5-flash-image", body=_body(ratio="21:9", size=None)).json()
    part = next(p for p in body["candidates"][0]["content"]["parts"] if "inlineData" in p)
    assert _decode_image(part).size == (1536, 672)
    assert "thoughtSignature" not in part
    assert body["usageMetadata"]["candidatesTokensDetails"][0]["tokenCount"] == 1290
    assert "thoughtsTokenCount" not in body["usageMetadata"]


def test_snake_case_and_url_safe_base64_are_accepted_and_recorded(fake_gemini):
    ref = make_image(64, 64, 3)
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "hello"},
                    {
                        "inline_data": {
                            "mime_type": "image/png",
                            "data": base64.urlsafe_b64encode(ref).decode(),
                        }
                    },
                ],
            }
        ],
        "generation_config": {"image_config": {"aspect_ratio": "1:1", "image_size": "2K"}},
    }
    assert _post(fake_gemini, body=body).status_code == 200
    rec = fake_gemini.requests[0]
    assert rec.images == [("image/png", ref)]
    assert (rec.prompt, rec.aspect_ratio, rec.image_size) == ("hello", "1:1", "2K")
    assert rec.path == "/v1beta/models/gemini-3-pro-image:generateContent" and rec.api_version == "v1beta"


def test_the_api_key_value_is_never_recorded(fake_gemini):
    _post(fake_gemini)
    rec = fake_gemini.requests[0]
    assert rec.api_key_present is True
    assert "x-goog-api-key" not in rec.headers
    assert "test-key-value" not in repr(rec)
    _post(fake_gemini, headers={})
    assert fake_gemini.requests[1].api_key_present is False and fake_gemini.requests[1].status == 403


@pytest.mark.parametrize(
    ("model", "body", "status", "reason"),
    [
        ("gemini-0-nope-image", _body(), 404, "NOT_FOUND"),
        ("gemini-3-pro-image", _body(generationConfig={"candidateCount": 2}), 400, "INVALID_ARGUMENT"),
        ("gemini-3-pro-image", _body(size="2k"), 400, "INVALID_ARGUMENT"),
        ("gemini-3-pro-image", _body(ratio="1:4"), 400, "INVALID_ARGUMENT"),
        (
            "gemini-2.5-flash-image",
            _body(size=None, systemInstruction={"parts": [{"text": "x"}]}),
            400,
            "INVALID_ARGUMENT",
        ),
    ],
)
def test_rejects_what_the_real_api_rejects(fake_gemini, model, body, status, reason):
    resp = _post(fake_gemini, model=model, body=body)
    assert resp.status_code == status and resp.json()["error"]["status"] == reason
    assert fake_gemini.requests[0].outcome == "error"


def test_sse_stream_sends_thoughts_then_the_final_image_then_finish(fake_gemini):
    fake_gemini.script(Behavior.with_thoughts(2))
    resp = _post(fake_gemini, method="streamGenerateContent", query="?alt=sse")
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in resp.text.split("\r\n") if line.startswith("data: ")]
    parts = [p for e in events for p in e["candidates"][0].get("content", {}).get("parts", [])]
    flags = [bool(p.get("thought")) for p in parts if "inlineData" in p]
    assert flags == [True, True, False]
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert all("finishReason" not in e["candidates"][0] for e in events[:-1])
    assert "candidatesTokensDetails" in events[-1]["usageMetadata"]
    unary_array = _post(fake_gemini, method="streamGenerateContent").json()
    assert isinstance(unary_array, list) and unary_array[-1]["candidates"][0]["finishReason"] == "STOP"


def test_blocked_shapes(fake_gemini):
    fake_gemini.script(Behavior.image_safety(), Behavior.prompt_blocked("OTHER"))
    safety = _post(fake_gemini).json()
    cand = safety["candidates"][0]
    assert cand["finishReason"] == "IMAGE_SAFETY" and "parts" not in cand["content"] and cand["finishMessage"]
    assert safety["usageMetadata"]["candidatesTokenCount"] == 0
    blocked = _post(fake_gemini).json()
    assert "candidates" not in blocked and blocked["promptFeedback"] == {"blockReason": "OTHER"}


def test_rate_limit_body_carries_retry_info_and_quota_failure(fake_gemini):
    fake_gemini.script(Behavior.rate_limited(retry_delay_s=7, per_day=True))
    error = _post(fake_gemini).json()["error"]
    assert error["code"] == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    types = {d["@type"].rsplit(".", 1)[-1]: d for d in error["details"]}
    assert types["RetryInfo"]["retryDelay"] == "7s"
    # A spent daily quota is reported beside the per-minute ones, as the live API does.
    ids = [v["quotaId"] for v in types["QuotaFailure"]["violations"]]
    assert ids == [
        "GenerateContentInputTokensPerModelPerMinute-FreeTier",
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
    ]
    assert "retry in" not in error["message"]

    fake_gemini.script(Behavior.rate_limited(retry_delay_s=3, model="gemini-3-pro-image"))
    minute = _post(fake_gemini).json()["error"]
    (violation,) = next(d for d in minute["details"] if d["@type"].endswith("QuotaFailure"))["violations"]
    assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    assert violation["quotaDimensions"]["model"] == "gemini-3-pro-image"
    assert "Please retry in 3s." in minute["message"]


def test_rules_match_prompts_and_queues_are_consumed_one_per_attempt(fake_gemini):
    fake_gemini.script(Behavior.server_error(503), Behavior.ok(), match="Sketch 2 of 3")
    fake_gemini.script(
        Behavior.not_found(), match=lambda r: r.image_size == "4K", then=Behavior.server_error(500)
    )
    fake_gemini.set_default(Behavior.text_only())
    statuses = [_post(fake_gemini, body=_body(f"Sketch {i} of 3")).status_code for i in (2, 2, 2)]
    assert statuses == [503, 200, 200]
    assert [r.behavior for r in fake_gemini.requests] == ["http_error", "image", "text_only"]
    assert [_post(fake_gemini, body=_body(size="4K")).status_code for _ in range(3)] == [404, 500, 500]
    fake_gemini.reset()
    assert fake_gemini.count == 0 and _post(fake_gemini, body=_body(size="4K")).status_code == 200


def test_jpeg_labelled_png_and_large_images(fake_gemini):
    fake_gemini.script(
        Behavior.jpeg_labelled_png(), Behavior.large_image(pixels=(2048, 2048), pad_to_bytes=6 * 1024 * 1024)
    )
    part = next(
        p for p in _post(fake_gemini).json()["candidates"][0]["content"]["parts"] if "inlineData" in p
    )
    assert part["inlineData"]["mimeType"] == "image/png"
    assert base64.b64decode(part["inlineData"]["data"])[:3] == b"\xff\xd8\xff"
    resp = _post(fake_gemini, method="streamGenerateContent", query="?alt=sse")
    longest = max(len(line) for line in resp.text.split("\r\n"))
    assert longest > 8 * 1024 * 1024  # one SSE data line over 8 MiB
    image_line = next(line for line in resp.text.split("\r\n") if len(line) == longest)
    data = json.loads(image_line[6:])["candidates"][0]["content"]["parts"][0]["inlineData"]["data"]
    assert Image.open(io.BytesIO(base64.b64decode(data))).size == (2048, 2048)  # padding is a valid PNG chunk


def test_wait_for_requests_times_out_with_false(fake_gemini):
    assert fake_gemini.wait_for_requests(1, timeout=0.05) is False


async def test_a_held_call_stays_in_flight_until_its_event_is_set(fake_gemini):
    release = threading.Event()
    fake_gemini.set_default(Behavior.ok(held_until=release))
    answer = asyncio.create_task(asyncio.to_thread(_post, fake_gemini))
    assert await asyncio.to_thread(fake_gemini.wait_for_requests, 1)
    await asyncio.sleep(0.2)  # a while in flight (a slow machine only makes it longer)
    assert not answer.done() and fake_gemini.requests[0].outcome == "pending"
    release.set()
    resp = await answer
    assert resp.status_code == 200 and fake_gemini.requests[0].outcome == "completed"


async def test_a_client_that_goes_away_is_recorded_as_aborted(fake_gemini):
    fake_gemini.set_default(Behavior.ok(latency=30))
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(
            session.post(
                f"{fake_gemini.base_url}/v1beta/models/gemini-3-pro-image:generateContent",
                json=_body(),
                headers=KEY,
            )
        )
        assert await asyncio.to_thread(fake_gemini.wait_for_requests, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await asyncio.to_thread(fake_gemini.wait_for, lambda f: f.aborted_count == 1)
    rec = fake_gemini.requests[0]
    assert rec.outcome == "aborted" and rec.finished is not None


async def test_many_concurrent_slow_requests_get_their_own_scripted_answers():
    n = 200
    with FakeGeminiServer(latency=0.3) as fake:
        for i in range(0, n, 10):  # every tenth sketch: one 429, then success
            fake.script(Behavior.rate_limited(retry_delay_s=0), match=f"Sketch {i + 1} of {n}:")

        async def one(session, i):
            url = f"{fake.base_url}/v1beta/models/gemini-3.1-flash-lite-image:generateContent"
            async with session.post(
                url, json=_body(f"Sketch {i + 1} of {n}: x", size="512"), headers=KEY
            ) as resp:
                await resp.read()
                return resp.status

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            statuses = await asyncio.gather(*(one(session, i) for i in range(n)))
            retried = await asyncio.gather(*(one(session, i) for i in range(0, n, 10)))
        assert [i for i, s in enumerate(statuses) if s == 429] == list(range(0, n, 10))
        assert set(retried) == {200}
        assert fake.count == n + n // 10
        assert all(r.outcome in ("completed", "error") for r in fake.requests)


def test_fake_in_its_own_process_serves_and_reports_counts():
    import httpx

    from generate.testing import fake_gemini_process

    body = {"contents": [{"role": "user", "parts": [{"text": "Sketch 1 of 3"}]}]}
    with fake_gemini_process(latency=0) as (base_url, record):
        r = httpx.post(
            f"{base_url}/v1beta/models/gemini-3-pro-image:generateContent",
            json=body,
            headers={"x-goog-api-key": "k"},
            timeout=30,
        )
        assert r.status_code == 200 and r.json()["candidates"][0]["content"]["parts"]
    assert record == {"requests": 1, "aborted": 0}


def test_the_fake_process_can_hang_a_share_of_its_calls():
    """``python -m generate.testing --hang-fraction 1`` (what bench/service.py uses): calls never answer."""
    from generate.adapter import ImageRequest
    from generate.adapters.gemini.adapter import NanoBananaAdapter
    from generate.errors import ErrorCode, ModelCallError
    from generate.testing import fake_gemini_process

    request = ImageRequest(
        index=0,
        prompt="Sketch 1 of 3",
        aspect_ratio="1:1",
        image_size="1K",
        layout="hero",
        exaggeration="bold",
        timeout_s=1,
    )
    with fake_gemini_process(0.0, hang_fraction=1.0) as (base_url, record):
        adapter = NanoBananaAdapter("nano-banana", api_key="test-key", base_url=base_url)
        with pytest.raises(ModelCallError) as info:
            adapter.generate(request)
        adapter.close()
    assert info.value.code == ErrorCode.TIMEOUT
    assert record["requests"] == 1  # (whether the abort is counted yet is a race with the child's exit)
