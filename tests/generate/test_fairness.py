"""A run is not held back by another run's hung calls: slots rotate among runs, not FIFO over calls."""

from __future__ import annotations

import asyncio
import threading

import pytest

from generate import GenerationConfig, ImageGenerator
from generate.limiter import shared_limiter
from generate.testing import Behavior, FakeGeminiServer
from prompt.compiler import PromptCompiler
from style.registry import StyleRegistry


@pytest.fixture
def fake(monkeypatch):
    with FakeGeminiServer(latency=0.1) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        yield server


def _alpha_hangs(r) -> bool:
    return "alpha" in r.prompt and ("Sketch 1 of 3" in r.prompt or "Sketch 3 of 3" in r.prompt)


async def test_a_run_completes_while_another_runs_calls_hang(fake, tmp_path):
    """Cap 2. Run A: sketches 1 and 3 hang, sketch 2 answers once run B queues while A holds both
    slots. When A's sketch 2 ends, FIFO would hand the slot to A's sketch 3 (which hangs too),
    leaving B behind two hung calls until they time out; fair rotation hands it to B."""
    queued = threading.Event()  # B's three sketches wait behind A's third (not a latency to race)
    fake.script(match=_alpha_hangs, then=Behavior.hang())
    fake.script(match=lambda r: "alpha" in r.prompt, then=Behavior.ok(held_until=queued))
    style = StyleRegistry().get_style("vintage-mascot")

    def run(brief: str) -> asyncio.Task:
        config = GenerationConfig(
            num_images=3,
            model_name="nano-banana",
            output_dir=tmp_path,
            max_concurrency=2,
            timeout_s=120,
            max_attempts=1,
        )
        spec = PromptCompiler().compile(brief, style)
        return asyncio.create_task(
            ImageGenerator().generate_async(prompt_spec=spec, style=style, config=config)
        )

    run_a = run("alpha golf mascot")
    assert await asyncio.to_thread(fake.wait_for_requests, 2)  # A holds both slots
    slots = shared_limiter(fake.requests[0].model, 2)  # the model's slots, shared by both runs
    run_b = run("bravo golf mascot")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while slots.waiting < 4:  # noqa: ASYNC110 - a plain counter of the limiter's
        assert loop.time() < deadline, "run B never queued"
        await asyncio.sleep(0.01)
    queued.set()
    done, _ = await asyncio.wait({run_b}, timeout=60)  # a bound for a broken scheduler, not a timing
    try:
        assert run_b in done, "run B waited behind run A's hung calls"
        assert run_b.result().status == "complete"
        hanging = [r for r in fake.requests if _alpha_hangs(r) and r.outcome == "pending"]
        assert hanging, "B finished only after A's hung calls ended"
        assert not run_a.done()
    finally:
        run_a.cancel()
        await asyncio.gather(run_a, return_exceptions=True)
