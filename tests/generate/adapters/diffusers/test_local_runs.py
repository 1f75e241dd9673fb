"""Whole runs on ``local:sdxl-scribble`` (the tiny random pipeline): the same seed gives the same
sketches whether they are made on threads, gathered, or streamed with previews."""

from __future__ import annotations

import asyncio
import json

import pytest

from generate import GenerationConfig, ImageGenerator
from generate.errors import ConfigError
from generate.pipeline import SketchPipeline
from prompt.compiler import PromptCompiler
from rag.retriever import ImageRetriever
from style.registry import StyleRegistry

pytest.importorskip("diffusers", reason="the local extra is not installed: pip install 'sketchgen[local]'")

BRIEF = "playful golf mascot"


def _run(mode: str, output_dir):
    """(run folder, events) of one 3-sketch run in ``mode``, with the references retrieval finds."""
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile(BRIEF, style)
    retrieval = ImageRetriever().retrieve(spec, style, top_k=3)
    config = GenerationConfig(
        num_images=3,
        model_name="local:sdxl-scribble",
        seed=11,
        output_dir=output_dir,
        stream_previews=mode == "stream",
    )
    gen, events = ImageGenerator(), []
    args = {"prompt_spec": spec, "retrieval_result": retrieval, "style": style, "config": config}
    if mode == "sync":
        result = gen.generate(**args, on_event=events.append)
    elif mode == "gather":
        result = asyncio.run(gen.generate_async(**args, on_event=events.append))
    else:

        async def consume():
            async for event in gen.astream_events(**args):
                events.append(event)
            return gen.last_result

        result = asyncio.run(consume())
    return result.metadata_path.parent, events


def test_sync_gather_and_stream_make_the_same_seeded_sketches(local_env, tmp_path):
    sketches = {}
    for mode in ("sync", "gather", "stream"):
        run_dir, events = _run(mode, tmp_path / mode)
        meta = json.loads((run_dir / "metadata.json").read_text())
        assert meta["status"] == "complete", mode
        assert [img["seed_sent"] for img in meta["sketches"]] == [11, 12, 13]
        assert all(img["references_sent"] for img in meta["sketches"])  # each drew over a reference
        assert (mode == "stream") == any(e.event == "sketch.preview" for e in events)
        sketches[mode] = [(run_dir / f"sketch_{i}.png").read_bytes() for i in range(3)]
    assert sketches["sync"] == sketches["gather"] == sketches["stream"]
    assert len(set(sketches["sync"])) == 3


def test_the_pipeline_runs_local_models_by_name_and_records_them(local_env, tmp_path):
    result = SketchPipeline(output_dir=tmp_path).run(
        {"brief": BRIEF, "model": "local:sdxl-scribble", "num_images": 3, "seed": 5}
    )
    meta = json.loads(result.metadata_path.read_text())
    assert result.status == "complete" and meta["config"]["model_name"] == "local:sdxl-scribble"
    assert {img["model_version"] for img in meta["sketches"]} == {"folder:sdxl-scribble"}
    assert all(rec["cost_usd"] == 0.0 for rec in meta["sketches"])
    assert meta["config"]["seed_best_effort"] is False  # the same seed gives the same bytes here


def test_a_size_the_model_lacks_is_refused_before_any_call(local_env, tmp_path):
    with pytest.raises(ConfigError, match="image size '2K' is not offered by model 'local:sdxl-scribble'"):
        SketchPipeline(output_dir=tmp_path).validate(
            {"brief": BRIEF, "model": "local:sdxl-scribble", "image_size": "2K"}
        )
