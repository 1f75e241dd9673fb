"""One brief through one of the generator's three modes, for tests that compare them."""

from __future__ import annotations

import asyncio

from generate import GenerationConfig, ImageGenerator
from prompt.compiler import PromptCompiler
from style.registry import StyleRegistry

MODES = ("sync", "gather", "stream")


def gemini_config(mode: str, output_dir, **overrides) -> GenerationConfig:
    """Three Nano Banana Pro sketches with quick retries; in "stream" mode with previews, so that the
    adapter reads the SSE stream while the other modes make unary calls."""
    options = {
        "num_images": 3,
        "model_name": "nano-banana-pro",
        "output_dir": output_dir,
        "initial_backoff_s": 0.01,
        "stream_previews": mode == "stream",
    }
    return GenerationConfig(**{**options, **overrides})


def run_in_mode(mode: str, config: GenerationConfig, brief: str = "playful golf mascot"):
    """(result, events) of one run in ``mode``: sync, gather or stream (``astream_events``)."""
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile(brief, style)
    gen, events = ImageGenerator(), []
    if mode == "sync":
        return gen.generate(prompt_spec=spec, style=style, config=config, on_event=events.append), events
    if mode == "gather":
        coro = gen.generate_async(prompt_spec=spec, style=style, config=config, on_event=events.append)
        return asyncio.run(coro), events

    async def stream():
        async for ev in gen.astream_events(prompt_spec=spec, style=style, config=config):
            events.append(ev)
        return gen.last_result

    return asyncio.run(stream()), events
