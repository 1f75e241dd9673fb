"""Optional bearer-token auth, as FastAPI dependencies (no middleware).

With ``SKETCHGEN_API_TOKEN`` unset the service is open (bind it to 127.0.0.1, the default). With it
set, every API endpoint needs ``Authorization: Bearer <token>``, except:

* ``GET /healthz`` (load balancers and probes carry no secrets);
* the page shell ``/`` and ``/static/*``: a browser cannot send a header when it navigates, and the
  shell holds no data. The page asks for the token on its first 401, keeps it in ``sessionStorage``
  and sends it as a header on every call, images and downloads included (fetched as blobs);
* ``GET /generate-stream`` also accepts ``?token=...``, because the browser ``EventSource`` API cannot
  set headers, and so do ``/docs``, ``/redoc`` and ``/openapi.json``, which a browser opens by
  navigating. Only those do: a token in a URL can end up in history (never in the service's log,
  see :mod:`api.access_log`), so use the header (or ``POST /generate-stream``) wherever the client
  allows it.

Tokens are compared in constant time. A 401 carries ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

__all__ = ["require_token", "require_token_or_query"]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="Needed on every endpoint but /healthz when SKETCHGEN_API_TOKEN is set.",
)


def _matches(given: str | None, expected: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _check(conn: HTTPConnection, given: str | None) -> None:
    expected = conn.app.state.sketchgen.settings.api_token
    if not expected:
        return
    if _matches(given, expected):
        return
    raise HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="missing or wrong API token: send 'Authorization: Bearer <SKETCHGEN_API_TOKEN>'",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def require_token(
    conn: HTTPConnection,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Dependency for every protected endpoint."""
    _check(conn, credentials.credentials if credentials else None)


async def require_token_or_query(
    conn: HTTPConnection,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Dependency for ``GET /generate-stream``: the header, or ``?token=`` for EventSource (the
    parameter is declared in that endpoint's query model, so it shows in the OpenAPI schema)."""
    _check(conn, credentials.credentials if credentials else conn.query_params.get("token"))
