"""Every way an OpenAI call fails, through the generator: the typed code, the retry decision, the key kept out."""

from __future__ import annotations

import email.utils
import json
import logging
import time

import pytest

from generate import GenerationConfig
from generate.adapters.openai.errors import retry_after_seconds
from generate.errors import ErrorCode
from generate.redact import MASK
from generate.testing import OpenAIBehavior
from tests.generate.modes import MODES, run_in_mode

SECRET = "sk-proj-THIS-IS-A-FAKE-OPENAI-KEY-0123456789"


def _config(mode: str, tmp_path, **overrides) -> GenerationConfig:
    options = {
        "num_images": 3,
        "model_name": "openai:gpt-image-1.5",
        "output_dir": tmp_path,
        "initial_backoff_s": 0.01,
        "stream_previews": mode == "stream",
    }
    return GenerationConfig(**{**options, **overrides})


def _events(events, name: str) -> list:
    return [e for e in events if e.event == name]


@pytest.mark.parametrize("mode", MODES)
def test_a_rate_limit_is_retried_after_the_servers_retry_after(mode, fake_openai, tmp_path):
    fake_openai.script(OpenAIBehavior.rate_limited(retry_after_s=0.2), match="Sketch 2 of 3")
    result, events = run_in_mode(mode, _config(mode, tmp_path))

    assert result.status == "complete"
    (retry,) = _events(events, "sketch.retry")
    assert retry.index == 1 and retry.reason == ErrorCode.RATE_LIMITED
    assert 0.2 <= retry.delay_s <= 0.25  # the server's delay, plus at most 10% jitter
    assert fake_openai.count == 4


def test_retry_after_ms_is_read_too(fake_openai, tmp_path):
    fake_openai.script(OpenAIBehavior.rate_limited(retry_after_s=0.05, ms=True), match="Sketch 1 of 3")
    result, events = run_in_mode("sync", _config("sync", tmp_path))
    (retry,) = _events(events, "sketch.retry")
    assert result.status == "complete" and 0.05 <= retry.delay_s <= 0.06


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        ({"retry-after": "7"}, 7, 7),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25, 0.25),  # the finer one wins, as in the SDK
        ({"retry-after": "soon"}, None, None),
        ({}, None, None),
    ],
)
def test_retry_after_headers(headers, low, high):
    seconds = retry_after_seconds(headers)
    if low is None:
        assert seconds is None
    else:
        assert low <= seconds <= high


def test_retry_after_as_an_http_date():
    seconds = retry_after_seconds({"retry-after": email.utils.formatdate(time.time() + 100, usegmt=True)})
    assert 90 <= seconds <= 100  # a date is whole seconds from now


@pytest.mark.parametrize("mode", MODES)
def test_a_moderation_block_is_blocked_prompt_kept_at_its_index_and_not_retried(mode, fake_openai, tmp_path):
    fake_openai.script(OpenAIBehavior.moderation_blocked(), match="Sketch 3 of 3")
    result, events = run_in_mode(mode, _config(mode, tmp_path))

    assert result.status == "partial"
    assert [s.status for s in result.sketches] == ["completed", "completed", "failed"]
    error = result.sketches[2].error
    assert error["code"] == ErrorCode.BLOCKED_PROMPT and not error["retryable"]
    assert "moderation_blocked" in error["message"]
    assert not _events(events, "sketch.retry") and fake_openai.count == 3


@pytest.mark.parametrize("flat", [False, True], ids=["nested-error", "flat-error"])
def test_a_block_after_partial_images_is_blocked_output(flat, fake_openai, tmp_path):
    fake_openai.script(OpenAIBehavior.blocked_output(partials_before=1, flat=flat), match="Sketch 1 of 3")
    result, events = run_in_mode("stream", _config("stream", tmp_path))

    assert result.sketches[0].error["code"] == ErrorCode.BLOCKED_OUTPUT
    assert [e.index for e in _events(events, "sketch.preview")].count(0) == 1  # the preview before the block
    assert result.sketches[1].status == result.sketches[2].status == "completed"


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(status, fake_openai, tmp_path):
    fake_openai.script(OpenAIBehavior.server_error(status), match="Sketch 1 of 3")
    result, events = run_in_mode("gather", _config("gather", tmp_path))
    (retry,) = _events(events, "sketch.retry")
    assert result.status == "complete" and retry.reason == ErrorCode.SERVER_ERROR


@pytest.mark.parametrize("mode", MODES)
def test_a_call_that_hangs_times_out_and_is_retried(mode, fake_openai, tmp_path):
    # 3 s: the sketches that answer stay clear of it on a loaded machine (one retry, not more).
    fake_openai.script(OpenAIBehavior.hang(), match="Sketch 2 of 3")
    result, events = run_in_mode(mode, _config(mode, tmp_path, timeout_s=3))
    (retry,) = _events(events, "sketch.retry")
    assert result.status == "complete" and retry.index == 1 and retry.reason == ErrorCode.TIMEOUT


def test_a_dropped_connection_is_retried(fake_openai, tmp_path):
    fake_openai.script(OpenAIBehavior.drop(), match="Sketch 1 of 3")
    result, events = run_in_mode("sync", _config("sync", tmp_path))
    (retry,) = _events(events, "sketch.retry")
    assert result.status == "complete" and retry.reason == ErrorCode.CONNECTION


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", ErrorCode.BAD_RESPONSE),
        ('{"data": 5}', ErrorCode.BAD_RESPONSE),
        ('{"data": [{"b64_json": "aGVsbG8="}]}', ErrorCode.BAD_IMAGE),
        ('{"data": []}', ErrorCode.NO_IMAGE),
    ],
)
def test_a_broken_answer_is_typed_and_retried(body, code, fake_openai, tmp_path):
    fake_openai.script(OpenAIBehavior.raw_body(body), match="Sketch 1 of 3")
    result, events = run_in_mode("sync", _config("sync", tmp_path))
    (retry,) = _events(events, "sketch.retry")
    assert result.status == "complete" and retry.reason == code


@pytest.mark.parametrize(
    ("behavior", "code"),
    [
        (OpenAIBehavior.http_error(401, "invalid_api_key", "Incorrect API key provided."), ErrorCode.AUTH),
        (OpenAIBehavior.http_error(403, None, "Your organization must be verified."), ErrorCode.AUTH),
        (OpenAIBehavior.insufficient_quota(), ErrorCode.QUOTA_EXHAUSTED),
        (OpenAIBehavior.http_error(404, "model_not_found", "The model does not exist."), ErrorCode.NOT_FOUND),
    ],
)
def test_errors_no_retry_can_fix_stop_the_run(behavior, code, fake_openai, tmp_path):
    fake_openai.set_default(behavior)
    result, events = run_in_mode("gather", _config("gather", tmp_path, max_concurrency=1))
    assert result.status == "failed"
    assert {s.error["code"] for s in result.sketches if s.error} == {code}
    assert fake_openai.count == 1  # fatal for the run: no call after the first


def test_a_400_that_is_not_moderation_is_invalid_request(fake_openai, tmp_path):
    fake_openai.script(
        OpenAIBehavior.http_error(400, "invalid_value", "Invalid size."), match="Sketch 1 of 3"
    )
    result, _ = run_in_mode("sync", _config("sync", tmp_path))
    assert result.sketches[0].error["code"] == ErrorCode.INVALID_REQUEST and result.status == "partial"


@pytest.mark.parametrize("mode", MODES)
def test_the_key_never_leaves_even_when_the_server_quotes_it(
    mode, fake_openai, monkeypatch, tmp_path, caplog
):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    fake_openai.script(OpenAIBehavior.echo_key(), match="Sketch 2 of 3")
    with caplog.at_level(logging.DEBUG):
        result, events = run_in_mode(mode, _config(mode, tmp_path))

    error = result.sketches[1].error
    assert error["code"] == ErrorCode.AUTH and MASK in error["message"]
    texts = [repr(result), result.metadata_path.read_text(), caplog.text]
    texts += [repr(s) for s in result.sketches]
    texts += [json.dumps(e.to_dict(), default=str) for e in events]
    assert SECRET not in "\n".join(texts)


def test_a_block_before_any_partial_image_is_blocked_prompt(fake_openai, tmp_path):
    fake_openai.script(OpenAIBehavior.blocked_output(partials_before=0, flat=True), match="Sketch 1 of 3")
    result, _ = run_in_mode("stream", _config("stream", tmp_path))
    assert result.sketches[0].error["code"] == ErrorCode.BLOCKED_PROMPT


def test_stream_events_the_adapter_does_not_know_are_skipped(fake_openai, tmp_path):
    progress = {"type": "image_generation.in_progress", "created_at": 0}
    fake_openai.set_default(OpenAIBehavior.with_events_first(progress))
    result, events = run_in_mode("stream", _config("stream", tmp_path))
    assert result.status == "complete" and len(_events(events, "sketch.preview")) == 6


def test_a_failed_event_is_typed_by_its_code(fake_openai, tmp_path):
    failed = {"type": "image_generation.failed", "code": "moderation_blocked", "message": "rejected"}
    fake_openai.script(OpenAIBehavior.with_events_first(failed), match="Sketch 1 of 3")
    result, _ = run_in_mode("stream", _config("stream", tmp_path))
    assert result.sketches[0].error["code"] == ErrorCode.BLOCKED_PROMPT
