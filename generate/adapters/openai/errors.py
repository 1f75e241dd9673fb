"""Turn every way an OpenAI Images call can fail into one typed :class:`ModelCallError`.

Pure functions, no I/O. Classification reads the SDK's exception *types*, the HTTP status, the
error body's ``code`` / ``type`` and the ``retry-after-ms`` / ``retry-after`` headers — never the
text of a message.

==========================================  ==================  =========  ==============
What failed                                 code                retryable  fatal_for_run
==========================================  ==================  =========  ==============
429 RateLimitError                          rate_limited        yes        no
429 ``insufficient_quota``, 402             quota_exhausted     no         yes
400 ``moderation_blocked`` /                blocked_prompt      no         no
``content_policy_violation``
the same code as a stream ``error`` event   blocked_output      no         no
after partial images arrived
400 ``billing_hard_limit_reached``          quota_exhausted     no         yes
other 400 / 422                             invalid_request     no         no
401 / 403                                   auth                no         yes
404                                         model_not_found     no         yes
408, APITimeoutError                        timeout             yes        no
409, 5xx (InternalServerError)              server_error        yes        no
APIConnectionError                          connection          yes        no
2xx body the SDK cannot read                bad_response        yes        no
other stream ``error`` event                server_error        yes        no
==========================================  ==================  =========  ==============

The Images API answers a moderation block with the same 400 whether the prompt, an input image or
the image being made tripped it; only a block that arrives mid-stream, after partial images, is
known to be about the output.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from typing import Any

import openai

from generate.errors import ErrorCode, ModelCallError

__all__ = ["MODERATION_CODES", "classify_exception", "error_for_event", "retry_after_seconds"]

MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached"})
_RATE_CODES = frozenset({"rate_limit_exceeded", "rate_limit_error"})


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds the server asked to wait: ``retry-after-ms``, else ``retry-after`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, AttributeError):
        return None


def _body_error(body: Any) -> dict[str, Any]:
    """The ``error`` object of an OpenAI error body (the SDK hands over either the body or its ``error``)."""
    if isinstance(body, dict):
        inner = body.get("error")
        return inner if isinstance(inner, dict) else body
    return {}


def _text(prefix: str, err: dict[str, Any]) -> str:
    code = err.get("code") or err.get("type")
    message = str(err.get("message") or "").strip()
    return f"{prefix}{f' {code}' if code else ''}" + (f": {message}" if message else "")


def error_for_event(err: dict[str, Any], *, after_output: bool) -> ModelCallError:
    """The error of a stream ``error`` event (``after_output``: partial images had arrived)."""
    code = str(err.get("code") or err.get("type") or "")
    text = _text("OpenAI stream error", err)
    details = {"code": code}
    if code in MODERATION_CODES:
        kind = ErrorCode.BLOCKED_OUTPUT if after_output else ErrorCode.BLOCKED_PROMPT
        return ModelCallError(kind, text, details=details)
    if code in _QUOTA_CODES:
        return ModelCallError(ErrorCode.QUOTA_EXHAUSTED, text, fatal_for_run=True, details=details)
    if code in _RATE_CODES:
        return ModelCallError(ErrorCode.RATE_LIMITED, text, retryable=True, details=details)
    return ModelCallError(ErrorCode.SERVER_ERROR, text, retryable=True, details=details)


def _status_error(exc: openai.APIStatusError) -> ModelCallError:
    status = exc.status_code
    err = _body_error(exc.body)
    code = str(err.get("code") or exc.code or "")
    # Older and third-party bodies name the kind in ``type`` with a null ``code``
    # ({"type": "insufficient_quota", "code": null}): match either.
    kinds = {code, str(err.get("type") or "")}
    text = _text(f"OpenAI API {status}", {**err, "code": code or err.get("type")})
    kw: dict[str, Any] = {"http_status": status, "details": {"code": code, "request_id": exc.request_id}}
    if status == 429:
        if kinds & _QUOTA_CODES:
            return ModelCallError(ErrorCode.QUOTA_EXHAUSTED, text, fatal_for_run=True, **kw)
        wait = retry_after_seconds(exc.response.headers)
        return ModelCallError(ErrorCode.RATE_LIMITED, text, retryable=True, retry_after_s=wait, **kw)
    if status == 402 or kinds & _QUOTA_CODES:
        return ModelCallError(ErrorCode.QUOTA_EXHAUSTED, text, fatal_for_run=True, **kw)
    if kinds & MODERATION_CODES:
        return ModelCallError(ErrorCode.BLOCKED_PROMPT, text, **kw)
    if status in (401, 403):
        return ModelCallError(ErrorCode.AUTH, text, fatal_for_run=True, **kw)
    if status == 404:
        if not err:  # no OpenAI error body: the path itself is wrong, not the model
            text += " (no Images API at that address: check OPENAI_BASE_URL, which should end in /v1)"
        return ModelCallError(ErrorCode.NOT_FOUND, text, fatal_for_run=True, **kw)
    if status == 408:
        wait = retry_after_seconds(exc.response.headers)
        return ModelCallError(ErrorCode.TIMEOUT, text, retryable=True, retry_after_s=wait, **kw)
    if status == 409 or status >= 500:  # the SDK's own retry policy treats these as transient
        wait = retry_after_seconds(exc.response.headers)
        return ModelCallError(ErrorCode.SERVER_ERROR, text, retryable=True, retry_after_s=wait, **kw)
    return ModelCallError(ErrorCode.INVALID_REQUEST, text, **kw)


def classify_exception(exc: BaseException, *, after_output: bool = False) -> ModelCallError | None:
    """A ModelCallError for an SDK or transport exception, or None if it is not a call failure.

    ``asyncio.CancelledError`` is never classified: cancellation must propagate.
    """
    if isinstance(exc, ModelCallError):
        return exc
    if isinstance(exc, asyncio.CancelledError):
        return None
    kind = type(exc).__name__
    if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError, its base class
        return ModelCallError(ErrorCode.TIMEOUT, "OpenAI call timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return ModelCallError(ErrorCode.CONNECTION, f"connection to OpenAI failed ({kind})", retryable=True)
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc)
    if isinstance(exc, openai.APIResponseValidationError):
        return ModelCallError(
            ErrorCode.BAD_RESPONSE,
            "OpenAI answered with a body that is not an Images response",
            retryable=True,
        )
    if isinstance(exc, openai.APIError):  # an ``error`` event inside a stream
        return error_for_event(_body_error(exc.body) or {"message": exc.message}, after_output=after_output)
    if isinstance(exc, json.JSONDecodeError):  # an answer (or a stream event) that is not JSON
        return ModelCallError(ErrorCode.BAD_RESPONSE, "OpenAI answered with invalid JSON", retryable=True)
    return None
