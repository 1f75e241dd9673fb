"""Helpers shared by the MCP server tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio

from generate.testing import Behavior


async def eventually(probe, within_s: float = 60.0) -> bool:
    """Whether the blocking ``probe()`` turns true within ``within_s`` (polled in a thread)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if await asyncio.to_thread(probe):
            return True
        await asyncio.sleep(0.05)
    return False


async def start_half_hung_run(session, fake) -> asyncio.Task:
    """A 3-sketch Gemini run whose first sketch completes and the other two hang upstream: the
    call's task, returned once the first sketch has settled (seen by progress)."""
    fake.script(Behavior.ok(), match="Sketch 1 of 3")
    fake.set_default(Behavior.hang(60))
    settled = asyncio.Event()

    async def on_progress(done, total, message):
        if done >= 1:
            settled.set()

    call = asyncio.create_task(
        session.call_tool(
            "generate_sketches",
            {"brief": "golf mascot", "model": "nano-banana", "num_images": 3},
            progress_callback=on_progress,
        )
    )
    await asyncio.wait_for(settled.wait(), 60)
    return call
