"""Pure request building, response parsing and error classification (no server involved)."""

from __future__ import annotations

import asyncio
import base64
import io

import aiohttp
import httpx2
import pytest
from google.genai import errors, types
from PIL import Image

from generate.adapter import ImageRequest
from generate.adapters.gemini.catalog import resolve_model
from generate.adapters.gemini.wire import (
    ReferenceImage,
    StreamAccumulator,
    build_config,
    build_contents,
    classify_api_error,
    classify_exception,
    downscale_reference,
    parse_duration,
    parse_response,
    sniff_mime,
    turn_outline,
    usage_from_metadata,
)
from generate.errors import ErrorCode, ModelCallError
from generate.testing import make_image

PRO = resolve_model("nano-banana-pro")
FLASH = resolve_model("gemini-2.5-flash-image")
PNG = make_image(1024, 1024, 1)
JPEG = make_image(1024, 1024, 1, fmt="JPEG")


def _request(**kw) -> ImageRequest:
    base = dict(
        index=0,
        prompt="Sketch 1 of 4: golf mascot",
        aspect_ratio="1:1",
        image_size="1K",
        layout="hero",
        exaggeration="bold",
    )
    return ImageRequest(**{**base, **kw})


def _image_part(
    data: bytes = PNG, thought: bool | None = None, signature: bytes | None = None, mime="image/png"
) -> types.Part:
    return types.Part(
        inline_data=types.Blob(data=data, mime_type=mime), thought=thought, thought_signature=signature
    )


def _response(parts=None, finish="STOP", details=True, **kw) -> types.GenerateContentResponse:
    usage = types.GenerateContentResponseUsageMetadata(
        prompt_token_count=100,
        candidates_token_count=1130,
        thoughts_token_count=291,
        total_token_count=1521,
        candidates_tokens_details=[
            types.ModalityTokenCount(modality="IMAGE", token_count=1120),
            types.ModalityTokenCount(modality="TEXT", token_count=10),
        ]
        if details
        else None,
    )
    cand = types.Candidate(content=types.Content(role="model", parts=parts), finish_reason=finish, index=0)
    fields = dict(
        candidates=[cand], usage_metadata=usage, model_version="gemini-3-pro-image", response_id="resp-1"
    )
    return types.GenerateContentResponse(**{**fields, **kw})


def test_sniff_mime_reads_magic_bytes():
    assert sniff_mime(PNG) == "image/png"
    assert sniff_mime(JPEG) == "image/jpeg"
    assert sniff_mime(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_mime(b"<html>") is None


def test_downscale_reference_makes_a_small_jpeg_and_keeps_small_jpegs():
    img = Image.new("RGBA", (3000, 2000), (255, 0, 0, 128))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    data, mime = downscale_reference(buf.getvalue())
    assert mime == "image/jpeg" and sniff_mime(data) == "image/jpeg"
    assert Image.open(io.BytesIO(data)).size == (1536, 1024)
    small, _ = downscale_reference(JPEG)
    assert small is JPEG


def test_build_contents_is_one_user_turn_with_inline_references():
    contents = build_contents("draw", [(JPEG, "image/jpeg")])
    assert len(contents) == 1 and contents[0].role == "user"
    assert contents[0].parts[0].text.startswith("draw\n\n")
    assert contents[0].parts[2].inline_data.data == JPEG


def test_build_contents_labels_each_reference_right_before_it():
    refs = [
        ReferenceImage(data=JPEG, mime_type="image/jpeg", name="golf-ball.png"),
        ReferenceImage(data=PNG, mime_type="image/png", name="caddie.png"),
    ]
    parts = build_contents("draw a mascot", refs)[0].parts
    assert len(parts) == 5
    intro = parts[0].text
    assert intro.startswith("draw a mascot\n\n")
    assert "2 images" in intro and "style references" in intro and "not the subject" in intro
    assert "Do not copy" in intro
    assert parts[1].text.startswith("Reference image 1 (style reference, golf-ball.png):")
    assert "do not copy its subject" in parts[1].text
    assert parts[2].inline_data.data == JPEG
    assert parts[3].text.startswith("Reference image 2 (style reference, caddie.png):")
    assert parts[4].inline_data.data == PNG
    # the dry run's outline is the same turn, as data
    outline = turn_outline("draw a mascot", refs)
    assert [p.get("text") for p in outline] == [parts[0].text, parts[1].text, None, parts[3].text, None]
    assert [p.get("image") for p in outline] == [None, None, "golf-ball.png", None, "caddie.png"]


def test_build_contents_without_references_is_just_the_prompt():
    parts = build_contents("draw", [])[0].parts
    assert len(parts) == 1 and parts[0].text == "draw"


def test_build_config_for_pro_uppercases_size_and_asks_for_thoughts():
    config = build_config(PRO, _request(aspect_ratio="16:9", image_size="2k", timeout_s=2.5))
    assert config.response_modalities == ["TEXT", "IMAGE"]
    assert config.image_config.aspect_ratio == "16:9" and config.image_config.image_size == "2K"
    assert config.thinking_config.include_thoughts is True
    assert config.candidate_count is None and config.system_instruction is None
    assert config.http_options.timeout == 2500  # the SDK's timeout is in milliseconds


def test_build_config_for_flash_25_omits_image_size_and_thinking():
    config = build_config(FLASH, _request(image_size="1K"))
    assert config.image_config.image_size is None
    assert config.thinking_config is None


def test_build_config_sends_seed_modalities_search_and_person_generation_when_asked():
    plain = build_config(PRO, _request())
    assert plain.seed is None and plain.tools is None and plain.image_config.person_generation is None
    config = build_config(
        PRO,
        _request(seed=7, response_modalities=("IMAGE",), google_search=True, person_generation="ALLOW_ADULT"),
    )
    assert config.seed == 7
    assert config.response_modalities == ["IMAGE"]
    assert config.tools[0].google_search is not None
    assert config.image_config.person_generation == "ALLOW_ADULT"


def test_parse_records_grounding_queries_and_sources():
    response = types.GenerateContentResponse(
        candidates=[
            types.Candidate(
                content=types.Content(role="model", parts=[_image_part(PNG)]),
                finish_reason="STOP",
                grounding_metadata=types.GroundingMetadata(
                    web_search_queries=["golf mascot history"],
                    grounding_chunks=[
                        types.GroundingChunk(
                            web=types.GroundingChunkWeb(uri="https://example.org/a", title="A")
                        )
                    ],
                ),
            )
        ]
    )
    image = parse_response(response, PRO, _request(seed=3))
    assert image.grounding == {
        "queries": ["golf mascot history"],
        "image_queries": [],
        "sources": [{"kind": "web", "title": "A", "uri": "https://example.org/a"}],
    }
    assert image.seed_sent == 3


def test_parse_picks_the_last_non_thought_image():
    final = make_image(1024, 1024, 5)
    parts = [
        types.Part(text="thinking", thought=True),
        _image_part(PNG, thought=True),
        _image_part(final, signature=b"sig-bytes"),
        types.Part(text="Here it is."),
        _image_part(make_image(512, 512, 3), thought=True),
    ]
    image = parse_response(_response(parts), PRO, _request())
    assert image.data == final and image.mime_type == "image/png"
    assert image.text == "Here it is."
    assert base64.b64decode(image.thought_signature) == b"sig-bytes"
    assert image.model == "gemini-3-pro-image" and image.model_version == "gemini-3-pro-image"
    assert image.response_id == "resp-1" and image.finish_reason == "STOP"
    assert image.extra["thought_images"] == 2 and image.warnings == []
    assert image.usage.output_image_tokens == 1120 and image.usage.thoughts_tokens == 291
    assert image.cost_usd == pytest.approx((100 * 2 + 1120 * 120 + (10 + 291) * 12) / 1e6)


def test_parse_falls_back_to_a_thought_image_only_when_the_candidate_finished_normally():
    image = parse_response(_response([_image_part(PNG, thought=True)]), PRO, _request())
    assert image.data == PNG and image.extra["final_was_thought"] is True
    with pytest.raises(ModelCallError) as info:
        parse_response(_response([_image_part(PNG, thought=True)], finish="IMAGE_SAFETY"), PRO, _request())
    assert info.value.code == ErrorCode.BLOCKED_OUTPUT


def test_jpeg_labelled_png_is_sniffed_and_warned_about():
    image = parse_response(_response([_image_part(JPEG, mime="image/png")]), PRO, _request())
    assert image.mime_type == "image/jpeg" and image.extra["wire_mime_type"] == "image/png"
    assert any("image/jpeg" in w for w in image.warnings)


def test_wrong_pixel_size_is_warned_about_and_garbage_bytes_fail():
    image = parse_response(_response([_image_part(PNG)]), PRO, _request(aspect_ratio="16:9"))
    assert any("1376x768" in w for w in image.warnings)
    with pytest.raises(ModelCallError) as info:
        parse_response(_response([_image_part(b"\x89PNG\r\n\x1a\nnot really")]), PRO, _request())
    assert info.value.code == ErrorCode.BAD_IMAGE and info.value.retryable


@pytest.mark.parametrize(
    ("reason", "code", "retryable"),
    [
        ("IMAGE_SAFETY", ErrorCode.BLOCKED_OUTPUT, False),
        ("IMAGE_PROHIBITED_CONTENT", ErrorCode.BLOCKED_OUTPUT, False),
        ("IMAGE_RECITATION", ErrorCode.BLOCKED_OUTPUT, False),
        ("SAFETY", ErrorCode.BLOCKED_OUTPUT, False),
        ("PROHIBITED_CONTENT", ErrorCode.BLOCKED_OUTPUT, False),
        ("BLOCKLIST", ErrorCode.BLOCKED_OUTPUT, False),
        ("SPII", ErrorCode.BLOCKED_OUTPUT, False),
        ("RECITATION", ErrorCode.BLOCKED_OUTPUT, False),
        ("NO_IMAGE", ErrorCode.NO_IMAGE, True),
        ("IMAGE_OTHER", ErrorCode.IMAGE_OTHER, True),
        ("STOP", ErrorCode.NO_IMAGE, True),
    ],
)
def test_finish_reasons_without_an_image_map_to_typed_errors(reason, code, retryable):
    with pytest.raises(ModelCallError) as info:
        parse_response(_response(None, finish=reason), PRO, _request())
    assert (info.value.code, info.value.retryable, info.value.finish_reason) == (code, retryable, reason)


def test_text_only_stop_is_no_image():
    with pytest.raises(ModelCallError) as info:
        parse_response(_response([types.Part(text="I cannot draw that")]), PRO, _request())
    assert info.value.code == ErrorCode.NO_IMAGE


def test_blocked_prompt_and_empty_response():
    blocked = types.GenerateContentResponse(
        prompt_feedback=types.GenerateContentResponsePromptFeedback(block_reason="OTHER")
    )
    with pytest.raises(ModelCallError) as info:
        parse_response(blocked, PRO)
    assert info.value.code == ErrorCode.BLOCKED_PROMPT and not info.value.retryable
    with pytest.raises(ModelCallError) as info:
        parse_response(types.GenerateContentResponse(), PRO)
    assert info.value.code == ErrorCode.NO_IMAGE and info.value.retryable


def test_usage_without_modality_details_counts_candidates_as_image_when_one_came_back():
    meta = _response(details=False).usage_metadata
    assert usage_from_metadata(meta, image_returned=True).output_image_tokens == 1130
    assert usage_from_metadata(meta, image_returned=False).output_text_tokens == 1130
    assert usage_from_metadata(None).total_tokens == 0


def test_stream_accumulator_yields_thought_images_as_previews():
    acc = StreamAccumulator(PRO, _request())
    thought = make_image(512, 512, 2)
    assert [p.data for p in acc.feed(_response([_image_part(thought, thought=True)], finish=None))] == [
        thought
    ]
    assert acc.feed(_response([_image_part(PNG, signature=b"s")], finish=None)) == []
    assert acc.feed(_response(None, finish="STOP")) == []
    final = acc.finish()
    assert final.data == PNG and final.finish_reason == "STOP"


def _api_error(code: int, status: str, details=(), message="boom") -> errors.APIError:
    body = {"error": {"code": code, "message": message, "status": status, "details": list(details)}}
    return (errors.ClientError if code < 500 else errors.ServerError)(code, body)


RETRY = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "53.016342224s"}


def _quota(quota_id: str) -> dict:
    return {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": quota_id}]}


@pytest.mark.parametrize(
    ("code", "status", "details", "expected", "retryable", "fatal"),
    [
        (
            429,
            "RESOURCE_EXHAUSTED",
            [_quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"), RETRY],
            ErrorCode.RATE_LIMITED,
            True,
            False,
        ),
        (
            429,
            "RESOURCE_EXHAUSTED",
            [_quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier")],
            ErrorCode.QUOTA_EXHAUSTED,
            False,
            True,
        ),
        (429, "RESOURCE_EXHAUSTED", [], ErrorCode.RATE_LIMITED, True, False),
        (429, "RESOURCE_EXHAUSTED", [RETRY], ErrorCode.RATE_LIMITED, True, False),
        (  # a per-day id among per-minute ones, with a RetryInfo: the day decides
            429,
            "RESOURCE_EXHAUSTED",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"},
                        {"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaValue": "20"},
                    ],
                },
                RETRY,
            ],
            ErrorCode.QUOTA_EXHAUSTED,
            False,
            True,
        ),
        (  # the standard ErrorInfo shape names the quota in its metadata
            429,
            "RESOURCE_EXHAUSTED",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "domain": "googleapis.com",
                    "metadata": {
                        "quota_limit": "GenerateRequestsPerDayPerProjectPerModel",
                        "quota_metric": "m",
                    },
                }
            ],
            ErrorCode.QUOTA_EXHAUSTED,
            False,
            True,
        ),
        (
            429,
            "RESOURCE_EXHAUSTED",
            [_quota("Gemini Image Requests per day per user per tier")],
            ErrorCode.QUOTA_EXHAUSTED,
            False,
            True,
        ),
        (  # a quota of 0 (the free tier of an image model): the next minute brings nothing
            429,
            "RESOURCE_EXHAUSTED",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "quotaValue": "0"}
                    ],
                },
                RETRY,
            ],
            ErrorCode.QUOTA_EXHAUSTED,
            False,
            True,
        ),
        (
            429,
            "RESOURCE_EXHAUSTED",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "metadata": {"quota_limit": "GenerateRequestsPerMinutePerProjectPerModel"},
                },
                RETRY,
            ],
            ErrorCode.RATE_LIMITED,
            True,
            False,
        ),
        (402, "RESOURCE_EXHAUSTED", [], ErrorCode.QUOTA_EXHAUSTED, False, True),
        (408, "DEADLINE_EXCEEDED", [], ErrorCode.TIMEOUT, True, False),
        (500, "INTERNAL", [], ErrorCode.SERVER_ERROR, True, False),
        (502, "UNAVAILABLE", [], ErrorCode.SERVER_ERROR, True, False),
        (503, "UNAVAILABLE", [], ErrorCode.SERVER_ERROR, True, False),
        (504, "DEADLINE_EXCEEDED", [], ErrorCode.SERVER_ERROR, True, False),
        (501, "UNIMPLEMENTED", [], ErrorCode.SERVER_ERROR, False, False),
        (400, "INVALID_ARGUMENT", [], ErrorCode.INVALID_REQUEST, False, False),
        (400, "FAILED_PRECONDITION", [], ErrorCode.PRECONDITION, False, True),
        (401, "UNAUTHENTICATED", [], ErrorCode.AUTH, False, True),
        (403, "PERMISSION_DENIED", [], ErrorCode.AUTH, False, True),
        (404, "NOT_FOUND", [], ErrorCode.NOT_FOUND, False, True),
    ],
)
def test_api_errors_are_classified_from_structured_fields(code, status, details, expected, retryable, fatal):
    err = classify_api_error(_api_error(code, status, details))
    assert (err.code, err.retryable, err.fatal_for_run, err.http_status) == (expected, retryable, fatal, code)


def test_retry_delay_comes_from_retry_info_not_from_the_message():
    err = classify_api_error(_api_error(429, "RESOURCE_EXHAUSTED", [RETRY]))
    assert err.retry_after_s == pytest.approx(53.016342224)
    tricky = classify_api_error(
        _api_error(400, "INVALID_ARGUMENT", message="quota exceeded, Please retry in 5s.")
    )
    assert tricky.code == ErrorCode.INVALID_REQUEST and tricky.retry_after_s is None and not tricky.retryable


def test_parse_duration():
    assert parse_duration("53s") == 53.0
    assert parse_duration("0.25s") == 0.25
    assert parse_duration("7") == 7.0
    assert parse_duration({"seconds": 2, "nanos": 500_000_000}) == 2.5
    assert parse_duration("soon") is None and parse_duration(None) is None


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx2.ReadTimeout("read timed out"), ErrorCode.TIMEOUT),
        (TimeoutError(), ErrorCode.TIMEOUT),
        (httpx2.ConnectError("refused"), ErrorCode.CONNECTION),
        (httpx2.RemoteProtocolError("peer closed"), ErrorCode.CONNECTION),
        (aiohttp.ServerDisconnectedError(), ErrorCode.CONNECTION),
        (aiohttp.ClientPayloadError("truncated"), ErrorCode.CONNECTION),
        (ConnectionResetError(), ErrorCode.CONNECTION),
        # A 200 body that is not valid UTF-8: aiohttp's text() raises this, httpx2 a JSONDecodeError.
        (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), ErrorCode.BAD_RESPONSE),
    ],
)
def test_transport_exceptions_are_retryable(exc, code):
    err = classify_exception(exc)
    assert err.code == code and err.retryable


def test_other_exceptions_and_cancellation_are_not_classified():
    assert classify_exception(ValueError("bug")) is None
    assert classify_exception(asyncio.CancelledError()) is None
