"""The one place secrets are taken out of whatever leaves the process.

A secret is the value of ``GEMINI_API_KEY``, ``GOOGLE_API_KEY``, ``OPENAI_API_KEY`` or ``SKETCHGEN_API_TOKEN`` (read at
each call, so a changed environment is honoured), or any value handed to :func:`register_secret`
(an ``api_key=`` passed to the Nano Banana adapter, a token passed to ``create_app``). Every channel
that carries text out of sketchgen goes through here:

* per-sketch errors, as they enter a run's state (:func:`redact_error`): so events (``sketch.failed``,
  ``sketch.retry``), ``metadata.json``, ``GenerationResult``/``SketchResult``, the ``/generate``
  answer, SSE and the CLI all carry the redacted text;
* exceptions re-raised to library users (:func:`redact_exception`, on the whole cause chain);
* HTTP error bodies, SSE payloads and CLI output (:func:`redact` / :func:`redact_value`) as a last
  line of defence;
* log lines at every level (:class:`RedactingFilter`): installed on sketchgen's own loggers when
  this module is imported, and on the root and uvicorn handlers by the CLI and the service
  (:func:`install_log_redaction`), which covers third-party loggers (the SDK, uvicorn's access log).

Values shorter than :data:`MIN_SECRET_LEN` are not treated as secrets: replacing a two-letter
"token" everywhere would garble every message and protect nothing.

This module imports nothing outside the standard library.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = [
    "MIN_SECRET_LEN",
    "MASK",
    "SECRET_ENV_VARS",
    "register_secret",
    "known_secrets",
    "redact",
    "redact_value",
    "redact_error",
    "redact_exception",
    "redacts_exceptions",
    "RedactingFilter",
    "install_log_redaction",
]

SECRET_ENV_VARS = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "SKETCHGEN_API_TOKEN")
MIN_SECRET_LEN = 4
MASK = "[redacted]"

_REGISTERED: set[str] = set()
_LOCK = threading.Lock()


def register_secret(value: str | None) -> None:
    """Treat ``value`` as a secret from now on, in this process (no-op for None or short values)."""
    if value and len(value.strip()) >= MIN_SECRET_LEN:
        with _LOCK:
            _REGISTERED.add(value.strip())


def known_secrets() -> list[str]:
    """Every secret value known now, longest first (so a key that contains another is masked whole).

    Each value also in its URL-encoded forms: a token sent as ``?token=`` appears so in a request line.
    """
    with _LOCK:
        values = set(_REGISTERED)
    for name in SECRET_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if len(value) >= MIN_SECRET_LEN:
            values.add(value)
    for value in list(values):
        values.update({urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value, safe="")})
    return sorted(values, key=len, reverse=True)


def redact(text: Any) -> Any:
    """``text`` with every known secret replaced by :data:`MASK`; non-strings are returned as they are."""
    if not isinstance(text, str) or not text:
        return text
    for secret in known_secrets():
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_value(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, tuples, strings) with every string redacted."""
    secrets = known_secrets()
    if not secrets:
        return value

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            for secret in secrets:
                if secret in v:
                    v = v.replace(secret, MASK)
            return v
        if isinstance(v, dict):
            return {walk(k): walk(item) for k, item in v.items()}
        if isinstance(v, list | tuple):
            return type(v)(walk(item) for item in v)
        return v

    return walk(value)


def redact_error(error: Any) -> Any:
    """Redact a ``ModelCallError`` in place (message, args, details) and return it."""
    error.message = redact(error.message)
    error.args = tuple(redact(a) for a in error.args)
    if getattr(error, "details", None):
        error.details = redact_value(error.details)
    return error


def redact_exception(exc: BaseException) -> BaseException:
    """Redact ``exc`` and its causes in place, as far as Python allows, and return it.

    String arguments and a ``message`` attribute are rewritten. An exception whose text still shows a
    secret afterwards (one that renders its message from private state, like pydantic's
    ``ValidationError``) is cut from the chain, so a printed traceback cannot show it.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        current.args = tuple(redact(a) for a in current.args)
        if isinstance(getattr(current, "message", None), str):
            try:
                current.message = redact(current.message)
            except AttributeError:  # a read-only property
                pass
        for attr in ("__cause__", "__context__"):
            linked = getattr(current, attr)
            if linked is not None and _still_leaks(linked):
                setattr(current, attr, None)
                current.__suppress_context__ = True
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return exc


F = TypeVar("F", bound=Callable[..., Any])


def redacts_exceptions(fn: F) -> F:
    """Decorate a public function or coroutine function: what it raises is redacted first."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def acall(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                redact_exception(exc)
                raise

        return acall  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            redact_exception(exc)
            raise

    return call  # type: ignore[return-value]


def _still_leaks(exc: BaseException) -> bool:
    try:
        text = f"{exc!s} {exc!r}"
    except Exception:  # noqa: BLE001 - an exception that cannot even render itself
        return True
    return any(secret in text for secret in known_secrets())


class RedactingFilter(logging.Filter):
    """Rewrites each record so that its message, traceback and stack carry no known secret.

    ``msg`` and each of ``args`` are redacted in place, keeping their shape: formatters that read the
    arguments themselves (uvicorn's access log unpacks ``(client, method, path, version, status)``)
    keep working. An argument that is not a string is replaced by its redacted text only when that
    text shows a secret. The traceback is rendered into ``exc_text``, redacted, and ``exc_info``
    dropped so no handler renders the raw exception again. Records are never dropped.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_sketchgen_redacted", False):
            return True
        record.msg = _redact_arg(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _redact_arg(v) for k, v in record.args.items()}
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self._formatter.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._sketchgen_redacted = True
        return True


def _redact_arg(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int | float):
        return value
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - it will fail the same way in the handler, which reports it
        return value
    cleaned = redact(text)
    return cleaned if cleaned != text else value


_FILTER = RedactingFilter()

# sketchgen's own loggers: a filter on a logger sees only records made on that logger, and the
# record it rewrites is the one every handler (the application's included) receives.
LIBRARY_LOGGERS = (
    "sketchgen",
    "sketchgen.generate",
    "sketchgen.rag",
    "sketchgen.batch",
    "sketchgen.catalog",
    "sketchgen.api",
    "sketchgen.mcp",
    "sketchgen.uploads",
    "generate",
    "generate.adapters.gemini.adapter",
    "generate.adapters.gemini.wire",
    "generate.adapters.openai.adapter",
    "generate.adapters.openai.family",
    "api",
    "api.sse",
    "prompt.compiler",
    "style.registry",
)
# uvicorn's own loggers (its access log prints every request line, query string included).
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# The loggers whose handlers the CLI and the service own (logging.basicConfig, uvicorn's config).
SERVICE_LOGGERS = ("", *UVICORN_LOGGERS)


def install_log_redaction(logger_names: tuple[str, ...] = SERVICE_LOGGERS) -> None:
    """Redact every log line the CLI or the service emits (idempotent; the CLI and ``create_app`` call it).

    The filter goes on uvicorn's loggers themselves (so it holds whenever uvicorn configures its
    handlers, before or after the app is built), and on the handlers ``logger_names`` have now plus
    ``logging.lastResort``: a handler filter sees every record it emits, whichever logger made it
    (the SDK's, httpx's).
    """
    _add_to_loggers(UVICORN_LOGGERS)
    handlers = [h for name in logger_names for h in logging.getLogger(name).handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)


def _add_to_loggers(names: tuple[str, ...]) -> None:
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


_add_to_loggers(LIBRARY_LOGGERS)
