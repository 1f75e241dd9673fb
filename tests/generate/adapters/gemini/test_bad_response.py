"""A malformed 200 answer (truncated JSON, a body the SDK rejects) is a typed, retried bad_response
in every mode: never an ``internal`` error, never a logged traceback."""

from __future__ import annotations

import logging

import pytest

from generate.errors import ErrorCode
from generate.events import SketchRetry
from generate.testing import Behavior
from tests.generate.modes import MODES, gemini_config, run_in_mode


# "stream" asks for previews from a thinking model: the adapter reads the SSE stream, whose second
# data: line is broken JSON; the other modes make unary calls whose body is cut in half.
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("behavior", [Behavior.truncated(), Behavior.echo_key()], ids=lambda b: b.kind)
def test_a_malformed_answer_is_retried_then_succeeds(fake, tmp_path, mode, behavior, caplog):
    fake.script(behavior, match="Sketch 2 of 3")
    config = gemini_config(mode, tmp_path)
    with caplog.at_level(logging.DEBUG):
        result, events = run_in_mode(mode, config)
    assert result.status == "complete", result.image_errors
    retries = [ev for ev in events if isinstance(ev, SketchRetry)]
    assert [(ev.index, ev.reason) for ev in retries] == [(1, ErrorCode.BAD_RESPONSE)]
    assert result.sketches[1].attempts == 2 and fake.count == 4
    if mode == "stream":
        assert all(r.stream for r in fake.requests)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info or r.exc_text]


@pytest.mark.parametrize("mode", MODES)
def test_a_proxy_that_always_truncates_fails_the_sketch_as_bad_response(fake, tmp_path, mode):
    fake.script(match="Sketch 1 of 3", then=Behavior.truncated())
    config = gemini_config(mode, tmp_path, max_attempts=2)
    result, _ = run_in_mode(mode, config)
    assert result.status == "partial"
    error = result.sketches[0].error
    assert (error["code"], error["retryable"]) == (ErrorCode.BAD_RESPONSE, True)
    assert result.sketches[0].attempts == 2


# Valid JSON that is not a response object: the SDK's converters raise TypeError on it ("argument of
# type 'int' is not iterable"), which must read as the answer's fault, not ours.
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("body", ["42", "true", '{"candidates": 5}'])
def test_a_json_body_that_is_not_a_response_object_is_a_retried_bad_response(
    fake, tmp_path, mode, body, caplog
):
    fake.script(Behavior.raw_body(body), match="Sketch 2 of 3")
    config = gemini_config(mode, tmp_path)
    with caplog.at_level(logging.DEBUG):
        result, events = run_in_mode(mode, config)
    assert result.status == "complete", result.image_errors
    retries = [ev for ev in events if isinstance(ev, SketchRetry)]
    assert [(ev.index, ev.reason) for ev in retries] == [(1, ErrorCode.BAD_RESPONSE)]
    assert result.sketches[1].attempts == 2
    if mode == "stream":
        assert all(r.stream for r in fake.requests)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info or r.exc_text]


# Stream events the SDK's stream reader and error builder trip over: an "error" that is not an
# object, an error whose code is not a number. Only a stream carries them (unary answers read them
# as a response without candidates).
@pytest.mark.parametrize("body", ['{"error": 5}', '{"error": {"code": "x", "message": "m"}}'])
def test_a_malformed_error_event_in_a_stream_is_a_retried_bad_response(fake, tmp_path, body, caplog):
    fake.script(Behavior.raw_body(body), match="Sketch 2 of 3")
    config = gemini_config("stream", tmp_path)
    with caplog.at_level(logging.DEBUG):
        result, events = run_in_mode("stream", config)
    assert result.status == "complete", result.image_errors
    retries = [ev for ev in events if isinstance(ev, SketchRetry)]
    assert [(ev.index, ev.reason) for ev in retries] == [(1, ErrorCode.BAD_RESPONSE)]
    assert all(r.stream for r in fake.requests)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info or r.exc_text]


def test_a_type_error_raised_outside_the_sdks_answer_reading_stays_unclassified():
    from generate.adapters.gemini.errors import classify_exception

    try:
        len(5)  # a bug of ours, not the answer's
    except TypeError as exc:
        assert classify_exception(exc) is None
