"""What google-genai leaves to its HTTP clients: noticing a dead connection before the total timeout.

The SDK gives every phase of a request the same number, the call's total timeout (httpx2: connect,
read, write and pool; aiohttp: ``ClientTimeout(total=...)``). An image model legitimately sends
nothing back for minutes while it draws, so a read timeout shorter than the total would cut live
calls. What can be told apart early is a connection that cannot be opened, or whose peer is gone:

* connect: at most :data:`CONNECT_TIMEOUT_S`, whatever the total;
* TCP keepalive: probes after :data:`KEEPALIVE_IDLE_S` of silence, every :data:`KEEPALIVE_INTERVAL_S`,
  and :data:`KEEPALIVE_PROBES` unanswered ones fail the socket (~35 s). A server that is still
  working on the answer acknowledges them at the TCP level, so only a vanished peer is noticed.

Sync client (httpx2) only. The async path runs on the SDK's own per-event-loop aiohttp session
(``TCPConnector(limit=0)``, ``ClientTimeout(total=...)`` on each request); google-genai 3.4 exposes
neither its connector nor socket options without replacing that session, so there the total
timeout, and the generator's guard above it, apply. (Checked: ``async_client_args={"timeout": ...}``
collides with the ``timeout=`` the SDK passes to every request, a TypeError; and
``HttpOptions(aiohttp_client=...)`` is one session for every event loop, which the SDK's own
per-loop sessions exist to avoid, while the per-request ``ClientTimeout(total=...)`` would still
replace any connect timeout set on it.)
"""

from __future__ import annotations

import socket
import ssl

import httpx2

__all__ = ["CONNECT_TIMEOUT_S", "DeadConnectionTransport", "sync_transport"]

CONNECT_TIMEOUT_S = 10.0
KEEPALIVE_IDLE_S = 15
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_PROBES = 4


def _keepalive_options() -> list[tuple[int, int, int]]:
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE_S),  # Linux; macOS calls it TCP_KEEPALIVE
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL_S),
        ("TCP_KEEPCNT", KEEPALIVE_PROBES),
    ):
        if hasattr(socket, name):
            options.append((socket.IPPROTO_TCP, getattr(socket, name), value))
    return options


class DeadConnectionTransport(httpx2.BaseTransport):
    """Caps each request's connect timeout at :data:`CONNECT_TIMEOUT_S` (read, write and pool keep
    the SDK's total), then hands the request to ``inner``."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        timeouts = dict(request.extensions.get("timeout") or {})
        connect = timeouts.get("connect")
        timeouts["connect"] = CONNECT_TIMEOUT_S if connect is None else min(connect, CONNECT_TIMEOUT_S)
        request.extensions = {**request.extensions, "timeout": timeouts}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def sync_transport(verify: ssl.SSLContext) -> DeadConnectionTransport:
    """The transport for the SDK's sync client: ``verify``'s trust store, keepalive probes, bounded connect."""
    return DeadConnectionTransport(httpx2.HTTPTransport(verify=verify, socket_options=_keepalive_options()))
