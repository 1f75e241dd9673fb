"""Tool errors: a typed code, a message an agent can act on, the field at fault.

Codes are :class:`generate.errors.ErrorCode` values (a model call's failures, ``invalid_request``
for bad input, ``auth`` for missing credentials), plus :data:`mcp_server.schemas.OVER_BUDGET` and
:data:`mcp_server.schemas.NOT_FOUND`. Every message is redacted (:func:`generate.redact.redact`).
"""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from generate.errors import ConfigError, CredentialsError, ErrorCode
from generate.redact import redact
from generate.validation import field_bounds, human_message
from mcp_server import schemas

__all__ = ["ToolFailure", "HINTS", "FIELD_HINTS", "bad_input", "config_failure", "internal_failure"]

# What an agent can do about each failure: appended to the message of a tool error.
HINTS: dict[str, str] = {
    ErrorCode.BLOCKED_PROMPT: "the model refused the prompt: rephrase the brief and call again",
    ErrorCode.BLOCKED_OUTPUT: "the model's safety filter blocked the image: rephrase the brief "
    "(or try another seed) and call again",
    ErrorCode.NO_IMAGE: "the model answered without an image: call again, perhaps with another seed",
    ErrorCode.IMAGE_OTHER: "the model answered without an image: call again, perhaps with another seed",
    ErrorCode.RATE_LIMITED: "the model's rate limit was still hit after the retries: wait a minute "
    "and call again, or ask for fewer sketches",
    ErrorCode.QUOTA_EXHAUSTED: "the API quota is used up: wait for it to reset, or use model 'trace'",
    ErrorCode.SERVER_ERROR: "the model service failed: call again in a minute",
    ErrorCode.TIMEOUT: "the model did not answer in time: call again, or use a smaller image_size",
    ErrorCode.CONNECTION: "the model service could not be reached: call again in a minute",
    ErrorCode.AUTH: "the server's model credentials are missing or refused: ask the operator to set "
    "GEMINI_API_KEY, or use model 'trace'",
    ErrorCode.NOT_FOUND: "that model is unknown or retired: pick one from list_models",
    ErrorCode.INVALID_REQUEST: "fix the named field and call again",
    schemas.OVER_BUDGET: "raise max_cost_usd, or ask for fewer sketches, a smaller image_size or a "
    "cheaper model (see estimate_cost)",
    schemas.NOT_FOUND: "see list_runs for the runs there are",
}


# Where the fix for a bad field is another tool's answer, say which.
FIELD_HINTS: dict[str, str] = {
    "model": "pick a model from list_models",
    "style_id": "pick a style from list_styles",
    "run_id": "see list_runs for the runs there are",
    "index": "see get_run for the sketches of that run",
}


class ToolFailure(Exception):
    """A tool call refused or failed as a whole; ``error`` is what the agent is told."""

    def __init__(self, code: str, message: str, *, field: str | None = None, retryable: bool = False):
        hint = FIELD_HINTS.get(field or "") if code == ErrorCode.INVALID_REQUEST else None
        hint = hint or HINTS.get(code)
        text = redact(message)
        super().__init__(text)
        self.error = schemas.ToolErrorOut(
            code=code, message=f"{text} ({hint})" if hint else text, retryable=retryable, field=field
        )


def bad_input(model: type[BaseModel], exc: ValidationError) -> ToolFailure:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"][:1]) or "arguments"
    return ToolFailure(
        ErrorCode.INVALID_REQUEST, human_message(err, where, field_bounds(model, where)), field=where
    )


def config_failure(exc: ConfigError) -> ToolFailure:
    field = getattr(exc, "field", None)
    if isinstance(exc, CredentialsError):
        code = ErrorCode.AUTH
    elif field == "run_id":  # the only thing wrong with a well-formed run id is that it is not there
        code = schemas.NOT_FOUND
    else:
        code = ErrorCode.INVALID_REQUEST
    return ToolFailure(code, str(exc), field=field)


def internal_failure(exc: BaseException) -> ToolFailure:
    """A bug of ours, as one line for the agent (the traceback is for the log)."""
    return ToolFailure(ErrorCode.INTERNAL, f"unexpected {type(exc).__name__}: {exc}")
