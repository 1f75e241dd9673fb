"""Blank every ``token=`` query value in uvicorn's log lines, right or wrong.

uvicorn's access log prints every request line, query string included, and ``GET /generate-stream``
(and ``/docs``) document ``?token=`` for browsers. The known secret values (the service's token, the
Gemini key) are taken out of every log line by :mod:`generate.redact`; this filter adds what that
module cannot know: a *wrong* token (often the right one mistyped, or another service's) sent as
``?token=``, which is logged with the refused request. The parameter's name is matched as the
server decodes it, so ``?tok%65n=`` is blanked too.

:func:`install` puts the filter on uvicorn's loggers, where its access and error lines are made;
``create_app`` calls it, so ``sketchgen serve`` and ``uvicorn api.main:app`` are both covered.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote_plus

from generate.redact import MASK

__all__ = ["TokenParamFilter", "blank_token_params", "install"]

_QUERY_PARAM = re.compile(r"([?&])([^=&#\s\"']*)=([^&#\s\"']*)")
_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def _blank(match: re.Match[str]) -> str:
    sep, name, value = match.group(1), match.group(2), match.group(3)
    if value and unquote_plus(name).strip().lower() == "token":
        return f"{sep}{name}={MASK}"
    return match.group(0)


def blank_token_params(text: str) -> str:
    """``text`` with the value of every ``token`` query parameter replaced by the mask."""
    return _QUERY_PARAM.sub(_blank, text) if "=" in text else text


def _arg(value: Any) -> Any:
    return blank_token_params(value) if isinstance(value, str) else value


class TokenParamFilter(logging.Filter):
    """Rewrites a record's message and arguments in place (keeping their shape); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _arg(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_arg(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _arg(v) for k, v in record.args.items()}
        return True


_FILTER = TokenParamFilter()


def install() -> None:
    """Put the filter on uvicorn's loggers (once). Safe to call for every app."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenParamFilter) for f in logger.filters):
            logger.addFilter(_FILTER)
