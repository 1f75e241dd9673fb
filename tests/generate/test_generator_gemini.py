"""The seed usage and every mode, through the real google-genai client and the fake Gemini server."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from generate import GenerationConfig, ImageGenerator
from generate.errors import ErrorCode
from generate.events import SketchCompleted, SketchPreview, SketchRetry
from generate.postprocess import sniff_mime
from generate.testing import Behavior, FakeGeminiServer
from prompt.compiler import PromptCompiler
from rag.retriever import ImageRetriever
from style.registry import StyleRegistry


@pytest.fixture
def fake(monkeypatch):
    with FakeGeminiServer(latency=0.05) as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        yield server


def test_seed_usage_runs_against_gemini(fake, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the seed writes to ./generated_outputs by default
    monkeypatch.delenv("SKETCHGEN_OUTPUT_DIR")
    monkeypatch.setenv("GEMINI_MODEL", "nano-banana-pro")

    # --- DESIGN §1, unchanged ---
    style = StyleRegistry().get_style("vintage-mascot")
    prompt_spec = PromptCompiler().compile("playful golf mascot", style)
    retrieval_result = ImageRetriever().retrieve(prompt_spec, style, top_k=3)
    result = ImageGenerator().generate(
        prompt_spec=prompt_spec,
        retrieval_result=retrieval_result,
        style=style,
        config=GenerationConfig(num_images=4, resolution=(1024, 1024)),
    )
    result.images, result.metadata_path, result.timestamp  # noqa: B018 - the seed line, verbatim
    # ---

    assert result.status == "complete" and len(result.images) == 4
    folder = result.metadata_path.parent
    assert folder.parent == tmp_path / "generated_outputs"
    assert re.fullmatch(r"\d{8}_\d{6}(_\d+)?", folder.name)
    for i, path in enumerate(result.images):
        assert path == folder / f"sketch_{i}.png"
        with Image.open(path) as img:
            assert img.mode == "L" and img.size == (1024, 1024)
    meta = json.loads(result.metadata_path.read_text())
    for key in (
        "timestamp",
        "prompt_spec",
        "reference_images",
        "retrieval_scores",
        "style_id",
        "config",
        "images",
        "schema_version",
        "run_id",
        "status",
        "retrieval",
        "sketches",
        "totals",
        "versions",
    ):
        assert key in meta, key
    assert meta["config"]["model_name"] == "gemini-3-pro-image"
    rec = meta["sketches"][0]
    assert rec["model_version"] and rec["response_id"] and rec["finish_reason"] == "STOP"
    assert rec["usage"]["output_image_tokens"] > 0 and rec["cost_usd"] > 0
    assert rec["source"]["width"] > 0 and rec["quality"]["source_colourfulness"] > 0
    assert meta["totals"]["cost_usd"] == pytest.approx(result.cost_usd)
    assert "test-key" not in result.metadata_path.read_text()
    # One request per sketch, each with its own variation block, never candidateCount.
    assert fake.count == 4
    prompts = sorted(r.prompt for r in fake.requests)
    assert [p.count("Sketch ") >= 1 for p in prompts] == [True] * 4
    assert len(set(prompts)) == 4


def _scripted(fake):
    fake.script(Behavior.rate_limited(retry_delay_s=0.05), Behavior.ok(), match="Sketch 2 of 4")
    fake.script(Behavior.image_safety(), match="Sketch 3 of 4")
    fake.script(Behavior.server_error(503), Behavior.ok(), match="Sketch 4 of 4")


@pytest.mark.parametrize("mode", ["sync", "gather", "stream"])
def test_one_scenario_every_mode(fake, mode, tmp_path):
    _scripted(fake)
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    config = GenerationConfig(
        num_images=4, model_name="nano-banana", output_dir=tmp_path, initial_backoff_s=0.01
    )
    gen = ImageGenerator()
    events = []
    if mode == "sync":
        result = gen.generate(prompt_spec=spec, style=style, config=config, on_event=events.append)
    elif mode == "gather":
        result = asyncio.run(
            gen.generate_async(prompt_spec=spec, style=style, config=config, on_event=events.append)
        )
    else:

        async def consume():
            async for index, path, error in gen.generate_streaming_async(
                prompt_spec=spec, style=style, config=config
            ):
                events.append((index, path, error))

        asyncio.run(consume())
        result = gen.last_result

    assert [s.status for s in result.sketches] == ["completed", "completed", "failed", "completed"]
    assert [s.attempts for s in result.sketches] == [1, 2, 1, 2]
    assert result.sketches[2].error["code"] == ErrorCode.BLOCKED_OUTPUT
    assert result.sketches[2].record["finish_reason"] == "IMAGE_SAFETY"
    assert result.sketches[2].cost_usd == 0  # blocked images are not charged
    assert result.status == "partial"
    meta = json.loads(result.metadata_path.read_text())
    assert meta["sketches"][1]["retries"][0]["code"] == ErrorCode.RATE_LIMITED
    assert meta["sketches"][3]["retries"][0]["code"] == ErrorCode.SERVER_ERROR
    if mode != "stream":
        retries = [e for e in events if isinstance(e, SketchRetry)]
        assert sorted(e.index for e in retries) == [1, 3]
        rate = next(e for e in retries if e.index == 1)
        assert rate.delay_s >= 0.05  # the server's RetryInfo delay was honoured
    else:
        assert sorted(i for i, _, _ in events) == [0, 1, 2, 3]
        assert all((p is None) == (e is not None) for _, p, e in events)
    assert fake.count == 6


def test_closing_the_stream_aborts_pending_calls_upstream(fake, tmp_path):
    fake.script(Behavior.ok(latency=0.05), match="Sketch 1 of 3")
    fake.set_default(Behavior.ok(latency=30))
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    config = GenerationConfig(num_images=3, model_name="nano-banana", output_dir=tmp_path)
    gen = ImageGenerator()

    async def leave_after_first():
        stream = gen.astream_events(prompt_spec=spec, style=style, config=config)
        async for ev in stream:
            if isinstance(ev, SketchCompleted):
                break
        await stream.aclose()

    asyncio.run(leave_after_first())
    assert fake.wait_for(lambda f: f.aborted_count == 2)
    assert gen.last_result.status == "cancelled"
    assert Path(gen.last_result.images[0]).exists()


def test_streaming_previews_from_thought_images(fake, tmp_path):
    """Pro's interim (thought) images arrive as sketch.preview events; the final image is the non-thought one."""
    fake.set_default(Behavior.with_thoughts(2))
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    config = GenerationConfig(
        num_images=3, model_name="nano-banana-pro", output_dir=tmp_path, stream_previews=True
    )
    gen = ImageGenerator()

    async def consume():
        return [ev async for ev in gen.astream_events(prompt_spec=spec, style=style, config=config)]

    events = asyncio.run(consume())
    previews = [e for e in events if isinstance(e, SketchPreview)]
    assert sorted(e.index for e in previews) == [0, 0, 1, 1, 2, 2]
    for index in range(3):
        order = [e.event for e in events if getattr(e, "index", None) == index]
        assert order == ["sketch.preview", "sketch.preview", "sketch.completed"]
    assert all(sniff_mime(base64.b64decode(e.data_b64)) == e.mime_type for e in previews)
    assert gen.last_result.status == "complete"
    assert all(r.stream for r in fake.requests)  # the streaming endpoint was used
    meta = json.loads(gen.last_result.metadata_path.read_text())
    assert all(s["thought_signature"] for s in meta["sketches"])  # the final, signed image was kept
