"""Turn every way a Gemini call can fail into one typed :class:`ModelCallError`.

Pure functions, no I/O. Classification reads structured fields only — ``APIError.code`` /
``.status`` / ``.details`` (the parsed ``{"error": {...}}`` body), ``finishReason``,
``promptFeedback.blockReason`` and exception *types* — never the text of a message.

==================================  ==================  =========  ==============
What failed                         code                retryable  fatal_for_run
==================================  ==================  =========  ==============
429, per-minute quota               rate_limited        yes        no
429 per-day id / limit 0, 402      quota_exhausted     no         yes
408, client-side timeout            timeout             yes        no
500 / 502 / 503 / 504               server_error        yes        no
other 5xx                           server_error        no         no
2xx body: broken JSON, bad shape    bad_response        yes        no
400 INVALID_ARGUMENT (or other 4xx) invalid_request     no         no
400 FAILED_PRECONDITION             precondition        no         yes
401 / 403                           auth                no         yes
404                                 model_not_found     no         yes
connection refused / reset / drop   connection          yes        no
blocked output finish reasons       blocked_output      no         no
NO_IMAGE, STOP without image        no_image            yes        no
IMAGE_OTHER                         image_other         yes        no
promptFeedback.blockReason          blocked_prompt      no         no
==================================  ==================  =========  ==============
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from generate.errors import ErrorCode, ModelCallError
from generate.quota import is_per_day

__all__ = [
    "BLOCKED_OUTPUT_REASONS",
    "classify_exception",
    "classify_api_error",
    "error_for_finish_reason",
    "parse_duration",
]

BLOCKED_OUTPUT_REASONS = frozenset(
    {
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "MODEL_ARMOR",
    }
)
_RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)s\s*$")


def parse_duration(value: Any) -> float | None:
    """Seconds from a protobuf Duration string (``"53s"``, ``"0.25s"``) or a number; None if unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1))
        try:  # Retry-After header: delta-seconds
            seconds = float(value)
        except ValueError:
            return None
        return seconds if seconds >= 0 else None
    if isinstance(value, dict):  # a Duration serialised as {"seconds": .., "nanos": ..}
        try:
            return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError):
            return None
    return None


def _error_details(details: Any) -> list[dict]:
    """The ``error.details`` array of an APIError body (``.details`` is the whole parsed body)."""
    if isinstance(details, dict):
        body = details.get("error", details)
        items = body.get("details") if isinstance(body, dict) else None
        if isinstance(items, list):
            return [d for d in items if isinstance(d, dict)]
    return []


def _detail_type(detail: dict) -> str:
    return str(detail.get("@type", "")).rsplit("/", 1)[-1].rsplit(".", 1)[-1]


def _retry_after(details: list[dict], response: Any) -> float | None:
    for d in details:
        if _detail_type(d) == "RetryInfo":
            seconds = parse_duration(d.get("retryDelay", d.get("retry_delay")))
            if seconds is not None:
                return seconds
    headers = getattr(response, "headers", None)
    if headers is not None:
        try:
            return parse_duration(headers.get("retry-after"))
        except Exception:  # noqa: BLE001 - headers of an unknown response type
            return None
    return None


def _quota_ids(details: list[dict]) -> list[str]:
    """The quotas a 429 names: QuotaFailure ``violations[].quotaId`` and ErrorInfo
    ``metadata.quota_limit`` (the standard google.rpc shape for ``RATE_LIMIT_EXCEEDED``)."""
    ids: list[str] = []
    for d in details:
        kind = _detail_type(d)
        if kind == "QuotaFailure":
            for v in d.get("violations") or []:
                if isinstance(v, dict) and (v.get("quotaId") or v.get("quota_id")):
                    ids.append(str(v.get("quotaId") or v.get("quota_id")))
        elif kind == "ErrorInfo" and isinstance(d.get("metadata"), dict):
            limit = d["metadata"].get("quota_limit") or d["metadata"].get("quotaLimit")
            if limit and str(limit) not in ids:
                ids.append(str(limit))
    return ids


def _zero_quota(details: list[dict]) -> bool:
    """Whether a violated quota's limit is 0 (``quotaValue: "0"``, ErrorInfo ``quota_limit_value``):
    the project's tier has no quota for this model at all (image models on the free tier), so
    waiting for the next minute cannot help."""
    values: list[Any] = []
    for d in details:
        kind = _detail_type(d)
        if kind == "QuotaFailure":
            values += [
                v.get("quotaValue", v.get("quota_value"))
                for v in d.get("violations") or []
                if isinstance(v, dict)
            ]
        elif kind == "ErrorInfo" and isinstance(d.get("metadata"), dict):
            values.append(d["metadata"].get("quota_limit_value"))
    return any(str(v).strip() == "0" for v in values if v is not None)


def classify_api_error(exc: Any) -> ModelCallError:
    """Map a ``google.genai.errors.APIError`` to a ModelCallError using code/status/details."""
    code = int(getattr(exc, "code", 0) or 0)
    status = str(getattr(exc, "status", "") or "")
    server_message = str(getattr(exc, "message", "") or "").strip()
    details = _error_details(getattr(exc, "details", None))
    retry_after = _retry_after(details, getattr(exc, "response", None))
    quota_ids = _quota_ids(details)
    text = f"Gemini API {code} {status}".strip() + (f": {server_message}" if server_message else "")
    kw: dict[str, Any] = {"http_status": code, "details": {"status": status, "quota_ids": quota_ids}}

    if code == 429:
        if any(is_per_day(q) for q in quota_ids):  # structured quota ids, not message text
            return ModelCallError(ErrorCode.QUOTA_EXHAUSTED, text, retryable=False, fatal_for_run=True, **kw)
        if _zero_quota(details):
            text = f"{text} (the quota's limit is 0: this project's tier has no quota for the model)"
            return ModelCallError(ErrorCode.QUOTA_EXHAUSTED, text, retryable=False, fatal_for_run=True, **kw)
        return ModelCallError(ErrorCode.RATE_LIMITED, text, retryable=True, retry_after_s=retry_after, **kw)
    if code == 402:
        return ModelCallError(ErrorCode.QUOTA_EXHAUSTED, text, retryable=False, fatal_for_run=True, **kw)
    if code == 408:
        return ModelCallError(ErrorCode.TIMEOUT, text, retryable=True, retry_after_s=retry_after, **kw)
    if code in (401, 403):
        return ModelCallError(ErrorCode.AUTH, text, retryable=False, fatal_for_run=True, **kw)
    if code == 404:
        return ModelCallError(ErrorCode.NOT_FOUND, text, retryable=False, fatal_for_run=True, **kw)
    if code == 499:
        return ModelCallError(ErrorCode.CANCELLED, text, retryable=False, **kw)
    if code == 400 and status == "FAILED_PRECONDITION":
        return ModelCallError(ErrorCode.PRECONDITION, text, retryable=False, fatal_for_run=True, **kw)
    if 500 <= code < 600:
        return ModelCallError(
            ErrorCode.SERVER_ERROR, text, retryable=code in _RETRYABLE_HTTP, retry_after_s=retry_after, **kw
        )
    return ModelCallError(ErrorCode.INVALID_REQUEST, text, retryable=False, **kw)


def _transport_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(timeout types, connection types) from whichever HTTP packages are importable."""
    timeouts: list[type] = [asyncio.TimeoutError, TimeoutError]
    connections: list[type] = [ConnectionError]
    for name in ("httpx2", "httpx"):
        try:
            mod = __import__(name)
        except ImportError:
            continue
        timeouts.append(mod.TimeoutException)
        connections.extend([mod.TransportError, mod.StreamError])
    try:
        import aiohttp
    except ImportError:
        pass
    else:
        connections.extend([aiohttp.ClientConnectionError, aiohttp.ClientPayloadError])
    return tuple(timeouts), tuple(connections)


def classify_exception(exc: BaseException) -> ModelCallError | None:
    """A ModelCallError for an SDK or transport exception, or None if it is not a call failure.

    ``asyncio.CancelledError`` is never classified: cancellation must propagate.
    """
    if isinstance(exc, ModelCallError):
        return exc
    if isinstance(exc, asyncio.CancelledError):
        return None
    from google.genai import errors as genai_errors

    if isinstance(exc, genai_errors.APIError):
        return classify_api_error(exc)
    bad = _bad_response(exc, genai_errors)
    if bad is not None:
        return bad
    timeouts, connections = _transport_types()
    kind = type(exc).__name__
    if isinstance(exc, timeouts):
        return ModelCallError(ErrorCode.TIMEOUT, f"Gemini call timed out ({kind})", retryable=True)
    if isinstance(exc, connections):
        return ModelCallError(ErrorCode.CONNECTION, f"connection to Gemini failed ({kind})", retryable=True)
    return None


# (module, function) of the SDK's stream readers (``async_generator`` is the one inside
# ``async_request_streamed``) and of its error builder.
_RESPONSE_READERS = frozenset(
    {
        ("_api_client.py", "request_streamed"),
        ("_api_client.py", "async_request_streamed"),
        ("_api_client.py", "async_generator"),
        ("errors.py", "raise_error"),
        ("errors.py", "raise_error_async"),
    }
)


def _raised_by_response_converter(exc: BaseException) -> bool:
    """Whether ``exc`` came out of the SDK's reading of an answer it did not check the shape of.

    Two places, by where it was raised, not by its text (so our own bugs elsewhere stay
    ``internal``): the wire-to-model converters (``*_from_mldev`` / ``*_from_vertex``), which index
    the parsed body (``42``, ``{"candidates": 5}`` end there as TypeError); and the stream reader
    and error builder, when they are the innermost SDK frame (a ``data: {"error": 5}`` event, an
    error whose ``code`` is not a number). Request building runs deeper than the stream reader, so
    its errors are not taken for the answer's.
    """
    innermost = None
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        path = code.co_filename.replace("\\", "/")
        if "google/genai/" in path:
            if code.co_name.endswith(("_from_mldev", "_from_vertex")):
                return True
            innermost = (path.rsplit("/", 1)[-1], code.co_name)
        tb = tb.tb_next
    return innermost in _RESPONSE_READERS


def _bad_response(exc: BaseException, genai_errors: Any) -> ModelCallError | None:
    """A retryable ``bad_response`` for a 2xx answer that is not a valid response, like a 5xx.

    What the SDK (3.4) raises for one, by path: a unary body of broken JSON is ``json.JSONDecodeError``
    (httpx2 and aiohttp alike); a stream line of broken JSON is ``UnknownApiResponseError``; JSON
    that does not fit the response model is pydantic's ``ValidationError`` titled
    ``GenerateContentResponse``. The message names the problem only: the SDK's own texts quote the
    body, which a misbehaving proxy may have filled with anything, the API key included. A body that
    is not UTF-8 is ``UnicodeDecodeError`` on aiohttp (``JSONDecodeError`` on httpx2). Valid JSON
    of the wrong shape (a bare number, ``{"candidates": 5}``, a stream event ``{"error": 5}``) is a
    TypeError or AttributeError from the SDK's converters or stream reader.
    """
    if isinstance(exc, genai_errors.UnknownApiResponseError | json.JSONDecodeError | UnicodeDecodeError):
        return ModelCallError(
            ErrorCode.BAD_RESPONSE, "Gemini answered with a body that is not valid JSON", retryable=True
        )
    if isinstance(exc, TypeError | AttributeError | KeyError) and _raised_by_response_converter(exc):
        return ModelCallError(
            ErrorCode.BAD_RESPONSE,
            "Gemini answered with JSON that is not a response object",
            retryable=True,
        )
    try:
        from pydantic import ValidationError
    except ImportError:  # pragma: no cover - google-genai depends on pydantic
        return None
    if isinstance(exc, ValidationError) and exc.title.endswith("Response"):
        where = ", ".join(
            sorted({".".join(str(p) for p in e.get("loc", ())) or "(body)" for e in exc.errors()})
        )
        return ModelCallError(
            ErrorCode.BAD_RESPONSE,
            f"Gemini answered with a response the SDK rejects (invalid {where})",
            retryable=True,
        )
    return None


def error_for_finish_reason(
    reason: str | None, *, finish_message: str | None = None, had_thought_image: bool = False
) -> ModelCallError:
    """The error for a candidate that ended without a final image."""
    extra = f": {finish_message}" if finish_message else ""
    details = {"thought_image_seen": had_thought_image}
    if reason in BLOCKED_OUTPUT_REASONS:
        return ModelCallError(
            ErrorCode.BLOCKED_OUTPUT,
            f"the model blocked the generated image ({reason}){extra}",
            retryable=False,
            finish_reason=reason,
            details=details,
        )
    if reason == "IMAGE_OTHER":
        return ModelCallError(
            ErrorCode.IMAGE_OTHER,
            f"image generation stopped for another reason (IMAGE_OTHER){extra}",
            retryable=True,
            finish_reason=reason,
            details=details,
        )
    label = reason or "no finish reason"
    return ModelCallError(
        ErrorCode.NO_IMAGE,
        f"the model returned no image ({label}){extra}",
        retryable=True,
        finish_reason=reason,
        details=details,
    )
