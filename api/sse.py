"""Streaming a run as Server-Sent Events, and cancelling it when nobody listens any more.

Shape of one run on the wire (DESIGN §3): each library event becomes one SSE message with
``event: <ev.event>``, ``id: <run_id>:<seq>`` and ``data: <json of ev.to_dict()>``, with server paths
replaced by names and URLs (``run_url`` on ``run.started``, ``url`` on ``sketch.completed``,
``metadata_url``/``contact_sheet_url``/``run_url`` on ``run.completed``; no ``output_dir``,
``path`` or ``metadata_path``). If the library fails unexpectedly mid-run, one ``error`` event {code, message}
ends the stream.

Why the run is driven by its own task (:class:`RunHandle`) instead of iterating the pipeline inside
the response generator: sse-starlette cancels the response's task group when the client disconnects,
and anyio keeps re-cancelling every ``await`` inside that scope, so the pipeline's own cleanup
(cancelling its model calls, recording the run as ``cancelled``) could be cut short. A plain asyncio
task is cancelled exactly once and its cleanup runs normally; the response only waits for it, shielded
and bounded by ``cancel_grace_s``.

Every way a response can end goes through :meth:`RunHandle.close`: the generator's ``finally``
(disconnect, ``send_timeout`` on a client that stopped reading, server shutdown) and
:class:`RunEventStream.__call__`'s ``finally`` (a response that never started iterating).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError

from api.state import RunSlot
from generate.redact import redact

__all__ = ["RunHandle", "RunEventStream", "event_payload", "to_sse", "run_urls", "without_server_paths"]

logger = logging.getLogger(__name__)

_END = object()


def run_urls(run_id: str) -> dict[str, str]:
    base = f"/runs/{run_id}"
    return {"run_url": base, "metadata_url": f"{base}/files/metadata.json", "files_url": f"{base}/files"}


# Fields whose values are server paths. HTTP clients get names and URLs instead: a path on the
# server is of no use to them and tells them how the server is laid out.
_DROPPED_PATHS = {"output_dir", "metadata_path"}
_PATH_FIELDS = {
    "path",
    "source",
    "image",
    "input_images",
    "reference",
    "references",
    "reference_images",
    "reference_dirs",
}


def without_server_paths(value: Any) -> Any:
    """A copy of ``value`` (metadata or an event payload) fit for an HTTP client: ``output_dir`` and
    ``metadata_path`` removed, every other path field (``path``, ``references``, ``source``...)
    reduced to its file name. The library's own events, result and metadata.json keep the paths."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _DROPPED_PATHS:
                continue
            out[key] = _file_names(item) if key in _PATH_FIELDS else without_server_paths(item)
        return out
    if isinstance(value, list):
        return [without_server_paths(item) for item in value]
    return value


def _file_names(value: Any) -> Any:
    if isinstance(value, str):
        return Path(value.replace("\\", "/")).name if value else value
    if isinstance(value, list):
        return [_file_names(item) for item in value]
    return without_server_paths(value)


def event_payload(ev: Any) -> dict[str, Any]:
    """``ev.to_dict()`` with run-relative names and URLs instead of server paths
    (:func:`without_server_paths`): ``run_url`` on ``run.started``, ``url`` on ``sketch.completed``,
    ``metadata_url``/``run_url``/``contact_sheet_url`` on ``run.completed``."""
    data = without_server_paths(ev.to_dict())
    urls = run_urls(ev.run_id)
    if ev.event == "run.started":
        data["run_url"] = urls["run_url"]
    elif ev.event == "sketch.completed":
        data.pop("path", None)  # the same as ``file``, once it is not a server path
        data["url"] = f"{urls['files_url']}/{ev.file}"
    elif ev.event == "run.completed":
        data["metadata_url"] = urls["metadata_url"]
        data["run_url"] = urls["run_url"]
        output_dir = getattr(ev, "output_dir", "") or ""
        sheet = Path(output_dir) / "contact_sheet.png" if output_dir else None
        data["contact_sheet_url"] = (
            f"{urls['files_url']}/contact_sheet.png" if sheet is not None and sheet.is_file() else None
        )
    return data


def to_sse(ev: Any) -> ServerSentEvent:
    """The event as one SSE message; its text passes :func:`generate.redact.redact` on the way out."""
    data = redact(json.dumps(event_payload(ev), default=str))
    return ServerSentEvent(data=data, event=ev.event, id=ev.sse_id)


class RunHandle:
    """One run in flight: the pipeline's event iterator, driven by its own task into a queue.

    ``close()`` cancels the run if it is still going (which cancels its pending model calls), waits
    (bounded) for the pipeline to record itself, and releases the run's slot. Idempotent.
    """

    def __init__(self, events: AsyncIterator[Any], slot: RunSlot, *, cancel_grace_s: float = 10.0) -> None:
        self._events = events
        self._slot = slot
        self._grace = cancel_grace_s
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.cancelled_by_client = False
        self._closed = False
        self.task = asyncio.create_task(self._drive(), name="sketchgen-run")

    async def _drive(self) -> None:
        try:
            async for ev in self._events:
                self.queue.put_nowait(ev)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a library bug or I/O failure: tell the client, log the trace
            logger.exception("run failed while streaming")
            self.queue.put_nowait(exc)
        finally:
            # Closing the pipeline's iterator is what cancels its pending model calls; it is a no-op
            # when the iterator already finished or raised.
            aclose = getattr(self._events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            self.queue.put_nowait(_END)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if not self.task.done():
                self.cancelled_by_client = True
                self.task.cancel()
            with anyio.move_on_after(self._grace, shield=True) as scope:
                await asyncio.wait({self.task})
            if scope.cancel_called:
                logger.warning("run did not finish cancelling within %.0f s", self._grace)
            elif not self.task.cancelled() and self.task.exception() is not None:
                logger.error("run task failed: %r", self.task.exception())
        finally:
            self._slot.release()

    async def events(self) -> AsyncIterator[Any]:
        """The run's events, then the end; an unexpected failure comes as the exception object."""
        while True:
            item = await self.queue.get()
            if item is _END:
                return
            yield item


async def _serialise(handle: RunHandle) -> AsyncIterator[ServerSentEvent]:
    try:
        async for item in handle.events():
            if isinstance(item, BaseException):
                message = redact(str(item) or type(item).__name__)
                yield ServerSentEvent(
                    data=json.dumps({"code": "internal", "message": message}), event="error"
                )
                return
            yield to_sse(item)
    finally:
        await handle.close()


class RunEventStream(EventSourceResponse):
    """The SSE response of one run, with keep-alive pings and a send timeout."""

    def __init__(self, handle: RunHandle, *, ping_s: float, send_timeout_s: float) -> None:
        super().__init__(
            _serialise(handle),
            ping=ping_s,
            send_timeout=send_timeout_s,
            headers={"Cache-Control": "no-store"},
        )
        self.handle = handle

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[override]
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            # A client that stopped reading: its run is cancelled below, like a disconnect; one log
            # line instead of a traceback per stalled client.
            logger.warning("SSE client stopped reading for %s s; cancelling its run", self.send_timeout)
        finally:
            await self.handle.close()
