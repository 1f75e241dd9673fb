"""NanoBananaAdapter: the real google-genai client against the fake Gemini server, sync/async/stream."""

from __future__ import annotations

import asyncio
import hashlib
import io
import math

import pytest
from PIL import Image

from generate.adapter import ImageRequest, ModelImage, ModelPreview, get_adapter
from generate.adapters.gemini.adapter import NanoBananaAdapter, gemini_credentials_configured
from generate.adapters.gemini.catalog import cost_usd, resolve_model
from generate.errors import ConfigError, CredentialsError, ErrorCode, ModelCallError
from generate.redact import MASK
from generate.testing import Behavior, make_image

SECRET = "AIzaSy-SECRET-test-key-0123456789"


def _request(**kw) -> ImageRequest:
    base = dict(
        index=1,
        prompt="Sketch 2 of 4: playful golf mascot",
        aspect_ratio="1:1",
        image_size="1K",
        layout="hero",
        exaggeration="bold",
        timeout_s=20,
    )
    return ImageRequest(**{**base, **kw})


@pytest.fixture
def pro(gemini_env):
    adapter = NanoBananaAdapter("nano-banana-pro")
    yield adapter
    adapter.close()


async def _collect(adapter, request) -> tuple[list[ModelPreview], ModelImage]:
    items = [item async for item in adapter.astream(request)]
    assert isinstance(items[-1], ModelImage) and all(isinstance(i, ModelPreview) for i in items[:-1])
    return items[:-1], items[-1]


async def _run(adapter, request, mode: str) -> ModelImage:
    if mode == "sync":
        return await asyncio.to_thread(adapter.generate, request)
    if mode == "async":
        return await adapter.agenerate(request)
    return (await _collect(adapter, request))[1]


# ---- credentials and selection ----------------------------------------------------------------
def test_missing_credentials_fail_when_the_adapter_is_built(monkeypatch):
    monkeypatch.setenv("GEMINI_BASE_URL", "http://127.0.0.1:9")  # a base URL is not a credential
    assert gemini_credentials_configured() == (False, "neither GEMINI_API_KEY nor GOOGLE_API_KEY is set")
    with pytest.raises(CredentialsError) as info:
        get_adapter("nano-banana")
    message = str(info.value)
    assert "GEMINI_API_KEY" in message and "--model trace" in message and info.value.field == "model"


def test_credentials_report_names_variables_never_values(monkeypatch, tmp_path):
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    ok, reason = gemini_credentials_configured()
    assert ok and "GEMINI_API_KEY" in reason and SECRET not in reason
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    assert gemini_credentials_configured()[0] is False
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "my-project")
    monkeypatch.setenv("HOME", str(tmp_path))  # no gcloud ADC file
    assert gemini_credentials_configured()[0] is False  # Vertex AI needs ADC too
    adc = tmp_path / "adc.json"
    adc.write_text(
        '{"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"}'
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    assert gemini_credentials_configured()[0] is True


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("nano-banana", "gemini-nano-banana-2.1"),
        ("nano-banana-pro", "gemini-3-pro-image"),
        ("gemini-3.1-flash-lite-image", "gemini-3.1-flash-lite-image"),
        ("nano-banana-lite", "gemini-3.1-flash-lite-image"),
        ("gemini-4-ultra-image", "gemini-4-ultra-image"),  # unknown to the catalog: Pro figures
    ],
)
def test_registry_builds_the_adapter_for_names_aliases_and_ids(gemini_env, name, model_id):
    adapter = get_adapter(name)
    assert isinstance(adapter, NanoBananaAdapter) and adapter.name == model_id
    assert adapter.capabilities.images_per_call == 1 and adapter.capabilities.network


def test_shut_down_and_unknown_models_are_config_errors_before_any_call(gemini_env):
    with pytest.raises(ConfigError, match="'gemini-3-pro-image'"):
        get_adapter("gemini-3-pro-image-preview")
    with pytest.raises(ConfigError) as info:
        get_adapter("nano-banan")
    assert info.value.field == "model" and "did you mean" in str(info.value)
    assert gemini_env.count == 0


def test_deprecated_model_warns_through_check_request(gemini_env):
    adapter = get_adapter("gemini-3.1-flash-image")
    warnings = adapter.check_request(aspect_ratio="1:4", image_size="512", num_references=20)
    assert any("deprecated" in w for w in warnings) and any("at most 14" in w for w in warnings)
    with pytest.raises(ConfigError):
        adapter.check_request(aspect_ratio="7:3", image_size="1K", num_references=0)


def test_describe_and_estimate_cost(pro):
    info = pro.describe()
    assert info["status"] == "live" and info["price_per_image_usd"]["1K"] == 0.134
    assert info["requested"] == "nano-banana-pro" and info["max_reference_images"] == 14
    assert pro.estimate_cost(_request(image_size="4K")) > pro.estimate_cost(_request()) > 0.134


# ---- the request on the wire ------------------------------------------------------------------------
def test_sync_generate_sends_the_documented_request(pro, gemini_env, tmp_path):
    refs = []
    for i in range(2):
        path = tmp_path / f"ref{i}.png"
        Image.new("RGB", (3000, 2000), (200, 30 * i, 40)).save(path)
        refs.append(path)
    image = pro.generate(
        _request(aspect_ratio="16:9", image_size="2K", reference_images=tuple(refs), timeout_s=12.5)
    )
    assert image.mime_type == "image/png" and Image.open(io.BytesIO(image.data)).size == (2752, 1536)
    assert image.model == "gemini-3-pro-image" and image.model_version == "gemini-3-pro-image"
    assert image.usage.output_image_tokens == 1120 and image.usage.thoughts_tokens > 0
    assert image.cost_usd == cost_usd(resolve_model("gemini-3-pro-image"), image.usage) > 0.134
    assert image.thought_signature and image.response_id and image.finish_reason == "STOP"

    rec = gemini_env.requests[0]
    assert rec.path == "/v1beta/models/gemini-3-pro-image:generateContent"
    assert "systemInstruction" not in rec.body and "system_instruction" not in rec.body
    gen = rec.body["generationConfig"]
    assert gen["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert "candidateCount" not in gen and gen["responseModalities"] == ["TEXT", "IMAGE"]
    assert rec.headers["x-server-timeout"] == str(math.ceil(12.5))  # the SDK got 12500 ms
    assert rec.prompt.startswith("Sketch 2 of 4: playful golf mascot\n\n") and rec.api_key_present
    assert "seed" not in gen and "tools" not in rec.body  # none asked for
    # the prompt says what the images are; each image comes right after its own label
    kinds = [kind for kind, _ in rec.parts]
    assert kinds == ["text", "text", "image", "text", "image"]
    assert "2 images" in rec.parts[0][1] and "style references" in rec.parts[0][1]
    assert rec.parts[1][1].startswith("Reference image 1 (style reference, ref0.png):")
    assert rec.parts[3][1].startswith("Reference image 2 (style reference, ref1.png):")
    assert [r["name"] for r in image.references_sent] == ["ref0.png", "ref1.png"]
    assert image.references_sent[0]["sha256"] == hashlib.sha256(refs[0].read_bytes()).hexdigest()
    assert len(rec.images) == 2
    for mime, data in rec.images:  # references travel downscaled to <= 1536 px JPEG
        assert mime == "image/jpeg" and max(Image.open(io.BytesIO(data)).size) == 1536


def test_flash_25_sends_no_image_size_when_allowed_to_run(gemini_env):
    adapter = NanoBananaAdapter("gemini-2.5-flash-image", allow_retired=True)
    assert any("shutdown" in w for w in adapter.lifecycle_warnings)
    image = adapter.generate(_request(aspect_ratio="3:2"))
    assert Image.open(io.BytesIO(image.data)).size == (1248, 832)
    assert image.usage.output_image_tokens == 1290
    assert gemini_env.requests[0].body["generationConfig"]["imageConfig"] == {"aspectRatio": "3:2"}
    assert "thinkingConfig" not in gemini_env.requests[0].body["generationConfig"]


async def test_async_generate_and_jpeg_labelled_png(pro, gemini_env):
    gemini_env.script(Behavior.jpeg_labelled_png())
    image = await pro.agenerate(_request())
    assert image.mime_type == "image/jpeg" and image.data[:3] == b"\xff\xd8\xff"
    assert any("labelled" in w for w in image.warnings)
    await pro.aclose()


async def test_stream_yields_thought_images_then_the_final_one(pro, gemini_env):
    gemini_env.script(Behavior.with_thoughts(2))
    previews, final = await _collect(pro, _request())
    assert [p.sequence for p in previews] == [0, 1] and all(p.mime_type == "image/png" for p in previews)
    assert Image.open(io.BytesIO(final.data)).size == (1024, 1024) and final.thought_signature
    assert final.extra["thought_images"] == 2
    assert gemini_env.requests[0].query.get("alt") == "sse"
    assert gemini_env.requests[0].path.endswith(":streamGenerateContent")
    await pro.aclose()


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
async def test_a_very_large_image_arrives_whole(pro, gemini_env, mode):
    gemini_env.script(Behavior.large_image())
    image = await _run(pro, _request(), mode)
    assert Image.open(io.BytesIO(image.data)).size == (4096, 4096) and len(image.data) > 8 * 1024 * 1024
    await pro.aclose()


# ---- failures -------------------------------------------------------------------------------------
FAILURES = [
    (Behavior.rate_limited(retry_delay_s=2), ErrorCode.RATE_LIMITED, True, False),
    (Behavior.rate_limited(per_day=True), ErrorCode.QUOTA_EXHAUSTED, False, True),
    (Behavior.server_error(503), ErrorCode.SERVER_ERROR, True, False),
    (Behavior.server_error(500), ErrorCode.SERVER_ERROR, True, False),
    (Behavior.image_safety(), ErrorCode.BLOCKED_OUTPUT, False, False),
    (Behavior.finish("IMAGE_PROHIBITED_CONTENT"), ErrorCode.BLOCKED_OUTPUT, False, False),
    (Behavior.prompt_blocked(), ErrorCode.BLOCKED_PROMPT, False, False),
    (Behavior.no_image(), ErrorCode.NO_IMAGE, True, False),
    (Behavior.image_other(), ErrorCode.IMAGE_OTHER, True, False),
    (Behavior.text_only(), ErrorCode.NO_IMAGE, True, False),
    (Behavior.not_found(), ErrorCode.NOT_FOUND, False, True),
    (Behavior.permission_denied(), ErrorCode.AUTH, False, True),
    (Behavior.drop(), ErrorCode.CONNECTION, True, False),
    # A 200 of broken JSON (unary: JSONDecodeError; stream: a broken data: line) and one the SDK's
    # response model rejects are malformed answers: retryable like a 5xx, never "internal".
    (Behavior.truncated(), ErrorCode.BAD_RESPONSE, True, False),
    (Behavior.echo_key(), ErrorCode.BAD_RESPONSE, True, False),
]


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
@pytest.mark.parametrize(
    ("behavior", "code", "retryable", "fatal"), FAILURES, ids=lambda v: getattr(v, "kind", None)
)
async def test_failures_become_typed_model_call_errors(
    pro, gemini_env, mode, behavior, code, retryable, fatal
):
    gemini_env.script(behavior)
    with pytest.raises(ModelCallError) as info:
        await _run(pro, _request(), mode)
    err = info.value
    assert (err.code, err.retryable, err.fatal_for_run) == (code, retryable, fatal)
    if code == ErrorCode.RATE_LIMITED:
        assert err.retry_after_s == 2.0 and err.http_status == 429
    assert gemini_env.count == 1  # the adapter never retries on its own
    await pro.aclose()


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
async def test_a_hung_server_is_a_retryable_timeout(pro, gemini_env, mode):
    gemini_env.script(Behavior.hang())
    with pytest.raises(ModelCallError) as info:
        await _run(pro, _request(timeout_s=0.5), mode)
    assert info.value.code == ErrorCode.TIMEOUT and info.value.retryable
    assert await asyncio.to_thread(gemini_env.wait_for, lambda f: f.aborted_count == 1)
    await pro.aclose()


async def test_cancelling_agenerate_aborts_the_request_on_the_server(pro, gemini_env):
    gemini_env.set_default(Behavior.ok(latency=30))
    task = asyncio.create_task(pro.agenerate(_request()))
    assert await asyncio.to_thread(gemini_env.wait_for_requests, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(gemini_env.wait_for, lambda f: f.aborted_count == 1)
    await pro.aclose()


async def test_closing_a_stream_early_aborts_the_request(pro, gemini_env):
    gemini_env.script(Behavior.with_thoughts(2, gap_s=30))
    stream = pro.astream(_request())
    first = await anext(stream)
    assert isinstance(first, ModelPreview)
    await stream.aclose()  # the consumer stops listening after the first preview
    assert await asyncio.to_thread(gemini_env.wait_for, lambda f: f.aborted_count == 1)
    assert gemini_env.count == 1
    await pro.aclose()


# ---- secrets --------------------------------------------------------------------------------------
def test_the_key_never_appears_in_errors_logs_or_reprs(fake_gemini, caplog):
    fake_gemini.script(Behavior.http_error(403, "PERMISSION_DENIED", f"API key {SECRET} is not valid."))
    adapter = NanoBananaAdapter("nano-banana-pro", api_key=SECRET, base_url=fake_gemini.base_url)
    with caplog.at_level("DEBUG"), pytest.raises(ModelCallError) as info:
        adapter.generate(_request())
    err = info.value
    assert err.code == ErrorCode.AUTH and err.fatal_for_run
    for text in (
        str(err),
        err.message,
        repr(err),
        str(err.to_dict()),
        repr(adapter),
        str(adapter.describe()),
        caplog.text,
    ):
        assert SECRET not in text
    assert MASK in err.message
    adapter.close()


def test_an_injected_client_is_used_and_left_open(fake_gemini):
    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(base_url=fake_gemini.base_url, api_version="v1beta"),
    )
    adapter = NanoBananaAdapter("nano-banana", client=client)
    assert adapter.generate(_request(image_size="512")).usage.output_image_tokens == 747
    adapter.close()
    assert adapter.generate(_request(image_size="512")).mime_type == "image/png"  # still usable
    assert make_image(8, 8) and fake_gemini.count == 2


async def test_model_status_is_logged_and_kept(pro, gemini_env, caplog):
    status = {
        "message": "This model will be retired.",
        "modelStage": "DEPRECATED",
        "retirementTime": "2027-01-15T00:00:00Z",
    }
    gemini_env.script(Behavior.ok(model_status=status))
    with caplog.at_level("INFO", logger="generate.adapters.gemini.wire"):
        image = await pro.agenerate(_request())
    assert image.extra["model_status"]["model_stage"] == "DEPRECATED"
    assert image.extra["model_status"]["retirement_time"].startswith("2027-01-15")
    assert "will be retired" in caplog.text
    await pro.aclose()


def test_a_call_never_carries_more_images_than_the_model_takes(pro, gemini_env, tmp_path):
    # 14 references plus an image to edit (an edit-path refinement of a parent that carried 14):
    # Pro takes 14 images in total, so one reference stays home.
    paths = []
    for i in range(15):
        path = tmp_path / f"img{i}.png"
        Image.new("L", (64, 64), 20 * (i % 10)).save(path)
        paths.append(path)
    image = pro.generate(_request(input_images=(paths[0],), reference_images=tuple(paths[1:])))
    assert len(gemini_env.requests[-1].images) == 14
    assert [r["name"] for r in image.references_sent] == [f"img{i}.png" for i in range(1, 14)]
