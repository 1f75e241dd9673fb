"""The OpenAI adapter against a second, minimal Images API written here from the documented wire format
(not from our fake's habits): ``url`` answers, endpoint forms, SDK env pass-through, error bodies."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from aiohttp import web

from generate.adapter import ImageRequest, ModelImage, ModelPreview, get_adapter
from generate.errors import ErrorCode, ModelCallError
from generate.testing.fake_behaviors import make_image
from generate.testing.server_thread import AppThread

MODEL = "openai:gpt-image-1.5"
PNG = make_image(64, 64)


class MiniImages:
    """POST /v1/images/generations answers ``self.answer`` (status, body, content type); GET /files/x.png
    serves PNG. Every request's path and headers are recorded."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.answer: tuple[int, str, str] = (200, "{}", "application/json")
        self.events: list[tuple[str, dict]] | None = None
        self._thread = AppThread(self._app, name="mini-openai")

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/images/generations", self._generate)
        app.router.add_get("/files/x.png", self._file)
        return app

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.path, dict(request.headers)))
        await request.read()
        if self.events is not None:  # server-sent events, as written (name, data)
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for name, data in self.events:
                await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
            await response.write_eof()
            return response
        status, body, ctype = self.answer
        return web.Response(status=status, text=body, content_type=ctype)

    async def _file(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, dict(request.headers)))
        return web.Response(body=PNG, content_type="image/png")

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._thread.port}"

    def __enter__(self) -> MiniImages:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.stop()


@pytest.fixture
def mini(monkeypatch):
    with MiniImages() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-mini")
        monkeypatch.setenv("OPENAI_BASE_URL", server.root + "/v1")
        for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
            monkeypatch.delenv(name, raising=False)
        yield server


def _request() -> ImageRequest:
    return ImageRequest(
        index=0,
        prompt="a playful golf mascot",
        aspect_ratio="1:1",
        image_size="1K",
        layout="centered-hero",
        exaggeration="moderate",
    )


def _ok(**item) -> str:
    return json.dumps({"created": 1, "data": [item or {"b64_json": base64.b64encode(PNG).decode()}]})


def _generate(mode: str):
    adapter = get_adapter(MODEL)
    if mode == "sync":
        try:
            return adapter.generate(_request())
        finally:
            adapter.close()

    async def run():
        try:
            return await adapter.agenerate(_request())
        finally:
            await adapter.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_answer_with_a_url_instead_of_b64_is_downloaded_without_the_key(mode, mini):
    mini.answer = (
        200,
        _ok(url=mini.root + "/files/x.png", revised_prompt="a golf ball mascot"),
        "application/json",
    )
    image = _generate(mode)

    assert image.data == PNG and image.mime_type == "image/png"
    assert image.text == "a golf ball mascot"
    assert image.extra["cost_source"] == "estimate"  # no usage in that answer
    (path, headers) = mini.seen[-1]
    assert path == "/files/x.png" and "Authorization" not in headers  # the key stays with the API


def test_a_data_url_answer_is_decoded(mini):
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    mini.answer = (200, _ok(url=url), "application/json")
    assert _generate("sync").data == PNG


def test_a_url_that_cannot_be_fetched_is_a_retryable_typed_failure(mini):
    mini.answer = (200, _ok(url=mini.root + "/files/missing.png"), "application/json")
    with pytest.raises(ModelCallError) as info:
        _generate("sync")
    assert info.value.code == ErrorCode.BAD_RESPONSE and info.value.retryable
    assert "404" in str(info.value) and "sk-test-mini" not in str(info.value)


@pytest.mark.parametrize("suffix", ["", "/", "/v1/"])
def test_openai_base_url_without_v1_or_with_a_trailing_slash_reaches_v1(suffix, mini, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", mini.root + suffix)
    mini.answer = (200, _ok(), "application/json")
    assert _generate("sync").data == PNG
    assert mini.seen[-1][0] == "/v1/images/generations"


def test_org_and_project_from_the_sdk_environment_are_sent(mini, monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-sketch")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_sketch")
    mini.answer = (200, _ok(), "application/json")
    _generate("sync")
    headers = {k.lower(): v for k, v in mini.seen[-1][1].items()}
    assert headers["openai-organization"] == "org-sketch" and headers["openai-project"] == "proj_sketch"


@pytest.mark.parametrize(
    ("status", "error", "code", "fatal"),
    [
        (429, {"type": "insufficient_quota", "code": None}, ErrorCode.QUOTA_EXHAUSTED, True),
        (429, {"type": "requests", "code": "rate_limit_exceeded"}, ErrorCode.RATE_LIMITED, False),
        (
            400,
            {"type": "image_generation_user_error", "code": "moderation_blocked"},
            ErrorCode.BLOCKED_PROMPT,
            False,
        ),
        (
            400,
            {"type": "invalid_request_error", "code": "content_policy_violation"},
            ErrorCode.BLOCKED_PROMPT,
            False,
        ),
        (400, {"type": "billing_hard_limit_reached", "code": None}, ErrorCode.QUOTA_EXHAUSTED, True),
    ],
)
def test_error_bodies_are_typed_by_code_or_type(status, error, code, fatal, mini):
    body = {"error": {"message": "nope", "param": None, **error}}
    mini.answer = (status, json.dumps(body), "application/json")
    with pytest.raises(ModelCallError) as info:
        _generate("sync")
    assert info.value.code == code and info.value.fatal_for_run is fatal


def test_a_5xx_html_page_is_a_retryable_server_error_without_the_page(mini):
    mini.answer = (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")
    with pytest.raises(ModelCallError) as info:
        _generate("async")
    assert info.value.code == ErrorCode.SERVER_ERROR and info.value.retryable
    assert "<html" not in str(info.value) and "\n" not in str(info.value)


def test_a_404_from_a_wrong_endpoint_names_openai_base_url(mini, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", mini.root + "/v1/not-here")
    with pytest.raises(ModelCallError) as info:
        _generate("sync")
    assert info.value.code == ErrorCode.NOT_FOUND and "OPENAI_BASE_URL" in str(info.value)


B64 = base64.b64encode(PNG).decode()


def _stream() -> list:
    adapter = get_adapter(MODEL)

    async def run():
        try:
            return [item async for item in adapter.astream(_request())]
        finally:
            await adapter.aclose()

    return asyncio.run(run())


def test_a_stream_request_answered_with_plain_json_gives_the_final_image(mini):
    mini.answer = (200, _ok(), "application/json")  # an endpoint that ignores stream=true
    (image,) = _stream()
    assert isinstance(image, ModelImage) and image.data == PNG


def test_a_stream_that_ends_without_completed_is_a_retryable_no_image(mini):
    mini.events = [
        ("image_generation.partial_image", {"type": "image_generation.partial_image", "b64_json": B64})
    ]
    with pytest.raises(ModelCallError) as info:
        _stream()
    assert info.value.code == ErrorCode.NO_IMAGE and info.value.retryable


def test_a_broken_partial_image_is_skipped_not_the_sketch(mini):
    partial = {"type": "image_generation.partial_image", "partial_image_index": 0}
    mini.events = [
        ("image_generation.partial_image", {**partial, "b64_json": "bm90IGFuIGltYWdl"}),  # "not an image"
        ("image_generation.partial_image", {**partial, "b64_json": B64, "partial_image_index": 1}),
        ("image_generation.completed", {"type": "image_generation.completed", "b64_json": B64}),
    ]
    items = _stream()
    assert [type(i) for i in items] == [ModelPreview, ModelImage] and items[0].sequence == 1


@pytest.mark.parametrize(
    ("error", "partials", "code"),
    [
        ({"code": "rate_limit_exceeded", "message": "slow down"}, 0, ErrorCode.RATE_LIMITED),
        ({"code": "moderation_blocked", "message": "no"}, 1, ErrorCode.BLOCKED_OUTPUT),
        ({"code": "server_error", "message": "oops"}, 0, ErrorCode.SERVER_ERROR),
    ],
)
def test_an_sse_error_event_is_typed_by_its_code(error, partials, code, mini):
    partial = {"type": "image_generation.partial_image", "b64_json": B64, "partial_image_index": 0}
    mini.events = [("image_generation.partial_image", partial)] * partials
    mini.events += [("error", {"type": "error", "error": {"type": "image_generation_error", **error}})]
    with pytest.raises(ModelCallError) as info:
        _stream()
    assert info.value.code == code


def test_a_key_with_stray_whitespace_is_sent_trimmed(mini, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", " sk-test-mini\r\n")  # pasted into a .env file, or CRLF
    mini.answer = (200, _ok(), "application/json")
    assert _generate("sync").data == PNG
    assert mini.seen[-1][1]["Authorization"] == "Bearer sk-test-mini"
