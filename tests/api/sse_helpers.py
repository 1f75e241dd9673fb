"""Reading Server-Sent Events in tests (what a browser's EventSource does, minus reconnects)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx


def parse_sse(text: str) -> list[dict]:
    """Split an SSE body into {event, id, data} dicts; comments (pings) are dropped."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event: dict = {}
        data = []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                event[name] = value
        if data:
            event["data"] = json.loads("\n".join(data))
            events.append(event)
    return events


async def read_events(response: httpx.Response) -> AsyncIterator[dict]:
    """Yield parsed events as they arrive on the wire, not after the stream ends."""
    buffer = ""
    async for chunk in response.aiter_text():
        buffer += chunk.replace("\r\n", "\n")
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            for event in parse_sse(block + "\n\n"):
                yield event
