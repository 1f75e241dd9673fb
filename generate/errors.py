"""Typed errors shared by every part of sketchgen.

Two families:

* :class:`SketchgenError` subclasses for problems the caller must fix (bad input, missing credentials,
  a broken style file). They are raised *before* any paid call and carry one clear line.
* :class:`ModelCallError` for a single model call that failed. The generator keeps it at the sketch's
  own index, retries it when ``retryable`` is true, and records ``code``/``message`` in metadata.

This module imports nothing outside the standard library.
"""

from __future__ import annotations

__all__ = [
    "SketchgenError",
    "ConfigError",
    "StyleError",
    "CredentialsError",
    "ModelCallError",
    "ErrorCode",
]


class SketchgenError(Exception):
    """Base for every error sketchgen raises on purpose. ``str(e)`` is one line for the user."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field


class ConfigError(SketchgenError, ValueError):
    """Bad input or configuration, found before any model call (``field`` names the culprit)."""


class StyleError(ConfigError):
    """A style file could not be read or validated; the message names the file and the field."""


class CredentialsError(ConfigError):
    """The chosen model needs credentials that are not configured.

    ``summary`` is what is missing without the how-to-fix (a dry run's warning says only that);
    it defaults to the whole message.
    """

    def __init__(self, message: str, *, field: str | None = None, summary: str | None = None) -> None:
        super().__init__(message, field=field)
        self.summary = summary or message


class ErrorCode:
    """The per-sketch error codes recorded in metadata and events."""

    BLOCKED_PROMPT = "blocked_prompt"  # promptFeedback.blockReason, no candidates
    BLOCKED_OUTPUT = "blocked_output"  # IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT, IMAGE_RECITATION, SAFETY, ...
    NO_IMAGE = "no_image"  # NO_IMAGE, or STOP with no image part
    IMAGE_OTHER = "image_other"
    RATE_LIMITED = "rate_limited"  # 429
    SERVER_ERROR = "server_error"  # 5xx
    TIMEOUT = "timeout"  # 408 or a client-side timeout
    CONNECTION = "connection"  # dropped connection, refused, reset
    INVALID_REQUEST = "invalid_request"  # 400 INVALID_ARGUMENT
    AUTH = "auth"  # 401/403
    NOT_FOUND = "model_not_found"  # 404: unknown or shut-down model id
    QUOTA_EXHAUSTED = "quota_exhausted"  # 402, or a 429 whose quota is per day
    PRECONDITION = "precondition"  # 400 FAILED_PRECONDITION
    BAD_IMAGE = "bad_image"  # bytes that do not decode as an image
    BAD_RESPONSE = "bad_response"  # a 2xx answer whose body is not valid JSON or not a valid response
    NO_REFERENCE = "no_reference"  # an adapter that needs a reference got none
    CANCELLED = "cancelled"
    BATCH_EXPIRED = "batch_expired"  # a Gemini Batch API job expired before it made the sketch
    BATCH_FAILED = "batch_failed"  # a Gemini Batch API job failed as a whole (no answer per sketch)
    # Sheet mode: a cell of the one image holding a grid of sketches that could not be cut cleanly.
    SHEET_GUTTER = "sheet_gutter_missing"  # the white gutter on one of its sides was not found
    SHEET_CELL_EMPTY = "sheet_cell_empty"  # (almost) nothing drawn in it
    SHEET_CELL_SHAPE = "sheet_cell_shape"  # too small, or far from the grid's cell shape
    INTERNAL = "internal"  # a bug in sketchgen itself, kept at its index instead of killing the run


class ModelCallError(Exception):
    """One model call failed.

    ``retryable``: the generator may try again (after ``retry_after_s`` if the server said so).
    ``fatal_for_run``: no point trying the other sketches either (bad key, unknown model); the
    generator still records every sketch, it just does not start new calls.
    ``cost_usd``: what the failed call was billed, as far as its answer tells (a response that
    came back without a usable image still bills its prompt and thinking tokens); 0 when no
    answer came back or the API says it does not charge (a blocked image). The run adds it to the
    sketch's cost, so a billed failure is counted in the run's totals and the daily budget.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after_s: float | None = None,
        finish_reason: str | None = None,
        http_status: int | None = None,
        fatal_for_run: bool = False,
        details: dict | None = None,
        cost_usd: float = 0.0,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.finish_reason = finish_reason
        self.http_status = http_status
        self.fatal_for_run = fatal_for_run
        self.details = details or {}
        self.cost_usd = cost_usd

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
            "finish_reason": self.finish_reason,
            "http_status": self.http_status,
        }
