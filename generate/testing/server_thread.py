"""Run an aiohttp application on its own event loop in a daemon thread (for the fake servers).

``AppThread(make_app).start()`` serves on 127.0.0.1 (port 0: any free port, read back from
:attr:`port`) until :meth:`stop`; handlers run on that loop, so a test's own event loop, or none,
can drive the client side. Handlers are cancelled when their client goes away
(``handler_cancellation=True``), which is how a fake records an aborted call.

:class:`FakeServer` is what every fake shares on top of that: the context-manager lifecycle, the
recorded requests (read under one condition variable, which handlers notify), ``wait_for`` and
``set_default``; :func:`abort_connection` closes a socket halfway through an answer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, NoReturn, Self, TypeVar

from aiohttp import web

__all__ = ["AppThread", "FakeServer", "abort_connection"]

RecordT = TypeVar("RecordT")


class AppThread:
    """One aiohttp app served from a background thread."""

    def __init__(
        self,
        make_app: Callable[[], web.Application],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "fake",
    ) -> None:
        self.host, self.port, self.name = host, port, name
        self._make_app = make_app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def start(self) -> None:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=30)

    async def _serve(self) -> None:
        self._runner = web.AppRunner(
            self._make_app(), handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, backlog=1024).start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = self._thread = self._runner = None


class FakeServer(Generic[RecordT]):
    """Base of the fake API servers: a subclass builds its routes in :meth:`_app` and hands each
    request's record to :meth:`_keep`."""

    default: Any

    def __init__(self, *, host: str, port: int, name: str) -> None:
        self.host = host
        self._server = AppThread(self._app, host=host, port=port, name=name)
        self._requests: list[RecordT] = []
        self._cond = threading.Condition()

    def _app(self) -> web.Application:
        raise NotImplementedError

    def _keep(self, rec: RecordT) -> RecordT:
        """Record ``rec`` as the next request (its ``seq`` is its place) and wake every waiter."""
        with self._cond:
            rec.seq = len(self._requests)  # type: ignore[attr-defined]
            self._requests.append(rec)
            self._cond.notify_all()
        return rec

    def _finish(self, rec: RecordT, outcome: str, status: int | None) -> None:
        raise NotImplementedError

    async def _send_body(
        self,
        request: web.Request,
        rec: RecordT,
        status: int,
        data: bytes,
        content_type: str,
        headers: dict | None = None,
        drop: bool = False,
    ) -> web.StreamResponse:
        """Answer with ``data`` whole, or (``drop``) half of it and then a dropped connection. The
        record is finished just before the last bytes go out, so a client never sees its answer
        before the record says so."""
        resp = web.StreamResponse(status=status, headers={"Content-Type": content_type, **(headers or {})})
        resp.content_length = len(data)
        await resp.prepare(request)
        if drop:
            return await self._drop(request, rec, resp, data[: len(data) // 2])
        self._finish(rec, "completed" if status == 200 else "error", status)
        await resp.write(data)
        await resp.write_eof()
        return resp

    async def _drop(
        self, request: web.Request, rec: RecordT, resp: web.StreamResponse, partial: bytes
    ) -> web.StreamResponse:
        """Send ``partial``, record the request ``dropped``, and close the socket mid-answer."""
        await resp.write(partial)
        self._finish(rec, "dropped", resp.status)
        abort_connection(request)

    # ---- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    # ---- public state -----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._server.port

    @property
    def requests(self) -> list[RecordT]:
        with self._cond:
            return list(self._requests)

    @property
    def count(self) -> int:
        with self._cond:
            return len(self._requests)

    def set_default(self, behavior: Any) -> None:
        with self._cond:
            self.default = behavior

    def wait_for(self, predicate: Callable[[Self], bool], timeout: float = 60.0) -> bool:
        """Block until ``predicate(self)`` holds (re-checked on every request event); False on timeout.

        The default bound is generous on purpose: it is only reached when something is wrong, and
        a loaded CI machine can take seconds to let a client's threads run."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_for_requests(self, n: int, timeout: float = 60.0) -> bool:
        """Block until at least ``n`` requests have arrived; False on timeout."""
        return self.wait_for(lambda s: len(s._requests) >= n, timeout)


def abort_connection(request: web.Request) -> NoReturn:
    """Close the client's socket mid-answer, and stop aiohttp from finishing the response."""
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError
