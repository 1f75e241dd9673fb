"""``AdapterCapabilities.max_concurrent_calls``: an adapter that serves one call at a time (one GPU
pipeline) gets one at a time from the generator, in every mode, the rest queued before their call."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest
from PIL import Image

from generate import GenerationConfig, ImageGenerator
from generate.adapter import AdapterCapabilities, ImageModelAdapter, ModelImage
from prompt.compiler import PromptCompiler
from style.registry import StyleRegistry


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buf, "PNG")
    return buf.getvalue()


class CountingAdapter(ImageModelAdapter):
    """Records the most calls it had in flight at once."""

    def __init__(self, name: str, cap: int | None) -> None:
        self.name = name
        self.capabilities = AdapterCapabilities(
            max_reference_images=0, aspect_ratios=("1:1",), image_sizes=("1K",), max_concurrent_calls=cap
        )
        self.in_flight = self.peak = 0
        self.lock = threading.Lock()
        # An uncapped adapter's calls are held until all three are in flight (a slow machine may
        # start them far apart); a capped one's are held a while, long enough to overlap were the
        # cap not kept.
        self.overlap = cap or 3

    def _enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def generate(self, request):
        self._enter()
        try:
            time.sleep(0.2)
            deadline = time.monotonic() + 60
            while self.peak < self.overlap and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            self._leave()
        return ModelImage(data=_png(), mime_type="image/png", model=self.name)

    async def agenerate(self, request):
        self._enter()
        try:
            await asyncio.sleep(0.2)
            deadline = time.monotonic() + 60
            while self.peak < self.overlap and time.monotonic() < deadline:  # noqa: ASYNC110 - a plain counter
                await asyncio.sleep(0.01)
        finally:
            self._leave()
        return ModelImage(data=_png(), mime_type="image/png", model=self.name)


def _run(adapter, mode, tmp_path):
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    config = GenerationConfig(num_images=3, model_name=adapter.name, output_dir=tmp_path)
    gen = ImageGenerator(adapter=adapter)
    if mode == "sync":
        return gen.generate(prompt_spec=spec, style=style, config=config)
    return asyncio.run(gen.generate_async(prompt_spec=spec, style=style, config=config))


@pytest.mark.parametrize("mode", ["sync", "gather"])
def test_an_adapter_capped_at_one_call_gets_one_at_a_time(mode, tmp_path):
    capped, free = CountingAdapter(f"capped-{mode}", 1), CountingAdapter(f"free-{mode}", None)
    assert _run(capped, mode, tmp_path / "capped").status == "complete"
    assert _run(free, mode, tmp_path / "free").status == "complete"
    assert capped.peak == 1
    assert free.peak == 3
