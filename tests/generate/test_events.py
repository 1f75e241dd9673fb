"""``drain``: how the awaitable forms run an event stream (every event handed on, the stream closed)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from generate.events import RunEvent, SketchCompleted, drain
from generate.run_state import RunState
from tests.generate.modes import MODES, gemini_config, run_in_mode


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
    await asyncio.wait_for(second_sent.wait(), 60)
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


@pytest.mark.parametrize("mode", MODES)
def test_seq_follows_the_order_events_are_delivered_in(mode, fake, tmp_path, monkeypatch):
    """A sketch's event is built on a worker thread; when sketch 0's thread is slow to hand its
    finished event on, sketch 1's arrives first, and the seq numbers must still run 1, 2, 3, ..."""
    original_complete, original_stamp = RunState.complete, RunState.stamp
    zero_built, others_delivered = threading.Event(), threading.Event()
    delivered: set[int] = set()

    def stamp(self, event):
        event = original_stamp(self, event)
        if isinstance(event, SketchCompleted) and event.index != 0:
            delivered.add(event.index)
            if len(delivered) == len(self.requests) - 1:
                others_delivered.set()
        return event

    def zero_built_first_delivered_last(self, index, *args, **kwargs):
        # The interleaving is made, not hoped for from a sleep: sketch 0's event is built before
        # any other, and handed on only once every other sketch's event has been delivered.
        if index != 0:
            assert zero_built.wait(60), "sketch 0 was never built"
        event = original_complete(self, index, *args, **kwargs)
        if index == 0:
            zero_built.set()
            assert others_delivered.wait(60), "the other sketches were never delivered"
        return event

    monkeypatch.setattr(RunState, "stamp", stamp)
    monkeypatch.setattr(RunState, "complete", zero_built_first_delivered_last)
    result, events = run_in_mode(mode, gemini_config(mode, tmp_path))
    assert result.status == "complete"
    completed = [e.index for e in events if isinstance(e, SketchCompleted)]
    assert completed[-1] == 0  # the slow one really came last
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
