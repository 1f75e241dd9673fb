"""The local diffusion adapter on a tiny random SDXL + ControlNet pipeline, 2 steps at 64x64 on the CPU."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from generate.adapter import ImageRequest, ModelImage, ModelPreview, get_adapter
from generate.errors import ErrorCode, ModelCallError
from style.registry import BUILTIN_STYLES_DIR

pytest.importorskip("diffusers", reason="the local extra is not installed: pip install 'sketchgen[local]'")

REFS = sorted((BUILTIN_STYLES_DIR / "references" / "vintage-mascot").glob("*.png"))


def _request(**overrides) -> ImageRequest:
    fields = {
        "index": 0,
        "prompt": "playful golf mascot, rough pencil sketch",
        "aspect_ratio": "1:1",
        "image_size": "1K",
        "layout": "centered-hero",
        "exaggeration": "moderate",
        "reference_images": (REFS[0],),
        "seed": 7,
    }
    return ImageRequest(**{**fields, **overrides})


def test_same_request_and_seed_give_the_same_bytes_and_another_seed_does_not(local_env):
    adapter = get_adapter("local:sdxl-scribble")
    assert adapter.capabilities.deterministic and not adapter.capabilities.network
    first, again = adapter.generate(_request()), adapter.generate(_request())
    other_seed = adapter.generate(_request(seed=8))
    assert first.data == again.data
    assert first.data != other_seed.data
    assert (first.seed_sent, other_seed.seed_sent) == (7, 8)
    with Image.open(io.BytesIO(first.data)) as img:
        assert (img.format, img.mode, img.size) == ("PNG", "L", (64, 64))
    assert first.model == "local:sdxl-scribble" and first.cost_usd == 0.0


def test_each_sketch_of_a_run_gets_its_own_seed(local_env):
    adapter = get_adapter("local:sdxl-scribble")
    zero = adapter.generate(_request(index=0, seed=None, layout="three-quarter"))
    one = adapter.generate(_request(index=1, seed=None, layout="three-quarter"))
    assert (zero.seed_sent, one.seed_sent) == (0, 1)
    assert zero.data != one.data


def test_the_reference_lines_drive_the_controlnet(local_env):
    adapter = get_adapter("local:sdxl-scribble")
    with_first = adapter.generate(_request(reference_images=(REFS[0],)))
    with_second = adapter.generate(_request(reference_images=(REFS[1],)))
    plain = adapter.generate(_request(reference_images=()))
    assert len({with_first.data, with_second.data, plain.data}) == 3  # same seed: only the control differs
    assert with_first.references_sent[0]["name"] == REFS[0].name
    assert with_first.extra["conditioning"] == "reference lines"
    assert plain.references_sent == [] and plain.extra["conditioning"].startswith("none")
    assert any("prompt alone" in w for w in plain.warnings)


def test_an_unreadable_reference_fails_that_sketch_only(local_env, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ModelCallError) as err:
        get_adapter("local:sdxl-scribble").generate(_request(reference_images=(bad,)))
    assert err.value.code == ErrorCode.BAD_IMAGE and "broken.png" in str(err.value)


def test_a_long_prompt_is_said_to_be_cut_at_77_tokens(local_env):
    image = get_adapter("local:sdxl-scribble").generate(_request(prompt="golf " * 100))
    assert any("first 77" in w for w in image.warnings)


def test_astream_yields_step_previews_then_the_same_final_image(local_env, monkeypatch):
    monkeypatch.setenv("SKETCHGEN_LOCAL_STEPS", "4")
    adapter = get_adapter("local:sdxl-scribble")

    async def collect():
        return [item async for item in adapter.astream(_request())]

    items = asyncio.run(collect())
    previews, final = items[:-1], items[-1]
    assert isinstance(final, ModelImage) and previews
    assert all(isinstance(p, ModelPreview) for p in previews)
    assert [p.sequence for p in previews] == list(range(1, len(previews) + 1))
    with Image.open(io.BytesIO(previews[0].data)) as img:
        assert img.format == "PNG" and img.mode == "L"
    assert final.data == adapter.generate(_request()).data  # previews do not change the result


def test_closing_the_stream_stops_the_pipeline_at_its_next_step(local_env, monkeypatch):
    from generate.adapters.diffusers.runtime import load_pipeline

    monkeypatch.setenv("SKETCHGEN_LOCAL_STEPS", "40")  # a preview every 10 steps
    adapter = get_adapter("local:sdxl-scribble")
    loaded = load_pipeline(adapter.weights)

    async def first_preview_then_leave():
        stream = adapter.astream(_request())
        assert isinstance(await anext(stream), ModelPreview)
        await stream.aclose()
        await asyncio.to_thread(loaded.lock.acquire)  # the worker lets go of the pipeline
        loaded.lock.release()

    asyncio.run(first_preview_then_leave())
    assert loaded.pipe.scheduler.step_index < 20  # stopped soon after step 10, not after all 40


def test_a_sketch_past_its_timeout_stops_with_a_timeout_error(local_env):
    with pytest.raises(ModelCallError) as err:
        get_adapter("local:sdxl-scribble").generate(_request(timeout_s=1e-9))
    assert err.value.code == ErrorCode.TIMEOUT and "--timeout" in str(err.value)


def test_the_model_folder_is_read_and_nothing_else(local_env):
    adapter = get_adapter("local:sdxl-scribble")
    assert adapter.weights.kind == "folder"
    assert adapter.weights.pipeline_dir == Path(local_env) / "sdxl-scribble"


def test_cancelling_agenerate_stops_the_pipeline_at_its_next_step(local_env, monkeypatch):
    from generate.adapters.diffusers.runtime import load_pipeline

    monkeypatch.setenv("SKETCHGEN_LOCAL_STEPS", "40")
    adapter = get_adapter("local:sdxl-scribble")
    loaded = load_pipeline(adapter.weights)

    async def start_then_cancel():
        task = asyncio.create_task(adapter.agenerate(_request()))
        # Polled: the step count belongs to the pipeline's worker thread, which signals nothing.
        while not loaded.lock.locked() or (loaded.pipe.scheduler.step_index or 0) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.to_thread(loaded.lock.acquire)
        loaded.lock.release()

    asyncio.run(start_then_cancel())
    assert loaded.pipe.scheduler.step_index < 20
