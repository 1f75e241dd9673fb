"""``drain``: how the awaitable forms run an event stream (every event handed on, the stream closed)."""

from __future__ import annotations

import asyncio

from generate.events import RunEvent, drain


async def test_drain_hands_on_every_event_and_closes_the_stream_when_cancelled():
    closed = asyncio.Event()
    second_sent = asyncio.Event()

    async def events():
        try:
            yield RunEvent(run_id="r", seq=1)
            yield RunEvent(run_id="r", seq=2)
            second_sent.set()
            await asyncio.Event().wait()  # a run whose calls are still in flight
        finally:
            closed.set()

    seen: list[int] = []
    task = asyncio.create_task(drain(events(), lambda ev: seen.append(ev.seq)))
    await asyncio.wait_for(second_sent.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and closed.is_set()
    assert seen == [1, 2]


async def test_drain_without_a_listener_runs_the_stream_to_its_end():
    ended: list[bool] = []

    async def events():
        yield RunEvent(run_id="r", seq=1)
        ended.append(True)

    await drain(events())
    assert ended == [True]
