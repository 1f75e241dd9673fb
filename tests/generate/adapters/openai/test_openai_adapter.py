"""The OpenAI adapter through the generator's three modes, the real openai SDK and the fake Images server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from generate import GenerationConfig, ImageGenerator
from generate.adapter import ImageRequest, ModelImage, ModelPreview, families, family_for, get_adapter
from generate.adapters.openai.catalog import cost_usd, load_catalog
from generate.errors import ConfigError, CredentialsError
from generate.testing import OpenAIBehavior
from prompt.compiler import PromptCompiler
from rag.types import RetrievalHit, RetrievalResult
from style.registry import StyleRegistry
from tests.generate.cold import run_cold
from tests.generate.modes import MODES, run_in_mode

MODEL = "openai:gpt-image-1.5"


def _config(mode: str, tmp_path, **overrides) -> GenerationConfig:
    options = {
        "num_images": 3,
        "model_name": MODEL,
        "output_dir": tmp_path,
        "initial_backoff_s": 0.01,
        "stream_previews": mode == "stream",
    }
    return GenerationConfig(**{**options, **overrides})


def _request(**overrides) -> ImageRequest:
    options = {
        "index": 0,
        "prompt": "a playful golf mascot, rough pencil sketch",
        "aspect_ratio": "1:1",
        "image_size": "1K",
        "layout": "centered-hero",
        "exaggeration": "moderate",
    }
    return ImageRequest(**{**options, **overrides})


def _reference(tmp_path: Path, name: str, size=(600, 400), mode="RGB") -> Path:
    path = tmp_path / name
    Image.new(mode, size, "white").save(path)
    return path


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_makes_every_sketch_and_prices_it_from_the_returned_usage(mode, fake_openai, tmp_path):
    result, events = run_in_mode(mode, _config(mode, tmp_path))

    assert result.status == "complete" and len(result.images) == 3
    assert result.model == MODEL
    requests = fake_openai.requests
    assert len(requests) == 3 and {r.endpoint for r in requests} == {"generations"}
    assert {(r.model, r.size, r.quality, r.fields["output_format"]) for r in requests} == {
        ("gpt-image-1.5", "1024x1024", "medium", "png")
    }
    assert all(r.stream == (mode == "stream") for r in requests)
    meta = json.loads(Path(result.metadata_path).read_text())
    entry = load_catalog().get("gpt-image-1.5")
    for sketch in meta["sketches"]:
        usage = sketch["usage"]
        text_tokens = usage["prompt_tokens"]  # no input image: every input token is text
        expected = cost_usd(entry, text_in=text_tokens, image_in=0, output=usage["output_tokens"])
        assert sketch["cost_usd"] == pytest.approx(expected) and expected > 0
        assert sketch["model"] == MODEL and sketch["extra"]["cost_source"] == "usage"
        assert usage["output_tokens"] == 1056  # medium 1024x1024, as the fake reports it
    assert meta["totals"]["cost_usd"] == pytest.approx(sum(s["cost_usd"] for s in meta["sketches"]))


def test_stream_mode_turns_partial_images_into_preview_events(fake_openai, tmp_path):
    result, events = run_in_mode("stream", _config("stream", tmp_path))

    assert result.status == "complete"
    assert {r.partial_images for r in fake_openai.requests} == {2}
    previews = [e for e in events if e.event == "sketch.preview"]
    assert sorted((e.index, e.sequence) for e in previews) == [(i, s) for i in range(3) for s in (0, 1)]
    assert {e.mime_type for e in previews} == {"image/png"}


def test_astream_yields_previews_then_the_final_image(fake_openai):
    adapter = get_adapter(MODEL)

    async def collect():
        try:
            return [item async for item in adapter.astream(_request())]
        finally:
            await adapter.aclose()

    items = asyncio.run(collect())
    assert [type(i) for i in items] == [ModelPreview, ModelPreview, ModelImage]
    assert items[-1].data.startswith(b"\x89PNG") and items[-1].usage.output_tokens == 1056


def test_references_go_through_the_edits_endpoint_with_a_note_on_each_image(fake_openai, tmp_path):
    refs = [_reference(tmp_path, "ref-a.png"), _reference(tmp_path, "ref-b.png", (2400, 1600))]
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    retrieval = RetrievalResult(hits=[RetrievalHit(path=p, score=0.9) for p in refs], method="lexical")

    result = ImageGenerator().generate(
        prompt_spec=spec, retrieval_result=retrieval, style=style, config=_config("sync", tmp_path)
    )

    assert result.status == "complete"
    for rec in fake_openai.requests:
        assert rec.endpoint == "edits"
        assert [i["filename"] for i in rec.images] == ["ref-a.png", "ref-b.png"]
        assert max(rec.images[1]["width"], rec.images[1]["height"]) == 1536  # downscaled before sending
        assert rec.fields["input_fidelity"] == "low"  # style references: only their style is wanted
        assert "Images 1-2 are style references" in rec.prompt
    meta = json.loads(Path(result.metadata_path).read_text())
    sent = meta["sketches"][0]["references_sent"]
    assert [s["name"] for s in sent] == ["ref-a.png", "ref-b.png"]
    usage = meta["sketches"][0]["usage"]
    assert usage["prompt_tokens"] > 0 and meta["sketches"][0]["extra"]["endpoint"] == "images/edits"


def test_an_image_to_edit_goes_first_with_high_fidelity(fake_openai, tmp_path):
    drawing = _reference(tmp_path, "my-drawing.png")
    ref = _reference(tmp_path, "style-ref.webp")
    adapter = get_adapter(MODEL)
    image = adapter.generate(_request(input_images=(drawing,), reference_images=(ref,)))

    rec = fake_openai.requests[0]
    assert [i["filename"] for i in rec.images] == ["my-drawing.png", "style-ref.webp"]
    assert rec.images[1]["content_type"] == "image/webp"  # sent as it is
    assert rec.fields["input_fidelity"] == "high"
    assert (
        "Image 1 is the drawing to work from" in rec.prompt and "Image 2 is a style reference" in rec.prompt
    )
    assert [s["name"] for s in image.references_sent] == ["style-ref.webp"]  # the drawing is no reference
    adapter.close()


def test_models_without_input_fidelity_are_not_sent_it(fake_openai, tmp_path):
    adapter = get_adapter("openai:gpt-image-2")
    adapter.generate(_request(reference_images=(_reference(tmp_path, "r.png"),)))
    assert "input_fidelity" not in fake_openai.requests[0].fields
    adapter.close()


@pytest.mark.parametrize(
    ("model", "aspect", "size"),
    [
        (MODEL, "1:1", "1024x1024"),
        (MODEL, "3:2", "1536x1024"),
        (MODEL, "2:3", "1024x1536"),
        ("openai:gpt-image-2", "16:9", "1536x864"),
        ("openai:gpt-image-2.5-flare", "3:4", "960x1280"),
    ],
)
def test_aspect_ratios_map_to_openai_sizes(model, aspect, size, fake_openai):
    adapter = get_adapter(model)
    image = adapter.generate(_request(aspect_ratio=aspect))
    assert fake_openai.requests[0].size == size
    width, height = (int(v) for v in size.split("x"))
    with Image.open(io.BytesIO(image.data)) as img:
        assert img.size == (width, height)
    adapter.close()


def test_quality_comes_from_the_environment_and_is_priced(fake_openai, monkeypatch):
    monkeypatch.setenv("SKETCHGEN_OPENAI_QUALITY", "high")
    adapter = get_adapter(MODEL)
    image = adapter.generate(_request())
    assert fake_openai.requests[0].quality == "high"
    assert image.usage.output_tokens == 4160 and image.extra["quality"] == "high"
    adapter.close()


def test_unknown_quality_is_refused_before_any_call(fake_openai, monkeypatch):
    monkeypatch.setenv("SKETCHGEN_OPENAI_QUALITY", "ultra")
    with pytest.raises(ConfigError, match="quality 'ultra' is not offered.*low, medium, high"):
        get_adapter(MODEL)
    assert fake_openai.count == 0


def test_an_answer_without_usage_is_priced_by_the_estimate_and_says_so(fake_openai):
    fake_openai.set_default(OpenAIBehavior.no_usage())
    adapter = get_adapter(MODEL)
    request = _request()
    image = adapter.generate(request)
    assert image.cost_usd == pytest.approx(adapter.estimate_cost(request)) and image.cost_usd > 0
    assert image.extra["cost_source"] == "estimate"
    assert any("no readable usage" in w for w in image.warnings)
    adapter.close()


@pytest.mark.parametrize(
    ("aspect", "size", "field", "offered"),
    [("16:9", "1K", "aspect_ratio", "1:1, 3:2, 2:3"), ("1:1", "2K", "image_size", "1K")],
)
def test_a_shape_the_model_lacks_is_refused_before_any_call(
    aspect, size, field, offered, fake_openai, tmp_path
):
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    config = _config("sync", tmp_path, aspect_ratio=aspect, image_size=size)
    with pytest.raises(ConfigError, match=f"it offers: {offered}") as info:
        ImageGenerator().generate(prompt_spec=spec, style=style, config=config)
    assert info.value.field == field and "\n" not in str(info.value)
    assert fake_openai.count == 0


def test_no_key_is_one_line_naming_the_variable_before_any_call(fake_openai, monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY")
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    with pytest.raises(CredentialsError, match="set OPENAI_API_KEY") as info:
        ImageGenerator().generate(prompt_spec=spec, style=style, config=_config("sync", tmp_path))
    assert "\n" not in str(info.value) and fake_openai.count == 0


def test_a_shut_down_model_is_refused_against_openai_itself(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    with pytest.raises(ConfigError, match="shut down by OpenAI on 2026-10-23.*gpt-image-2.5-sunburst"):
        get_adapter("openai:gpt-image-1")


def test_a_shut_down_model_runs_through_an_endpoint_that_serves_it_with_a_warning(fake_openai, tmp_path):
    result, _ = run_in_mode("sync", _config("sync", tmp_path, model_name="openai:gpt-image-1"))
    assert result.status == "complete" and {r.model for r in fake_openai.requests} == {"gpt-image-1"}
    meta = json.loads(Path(result.metadata_path).read_text())
    assert any("shut down" in w for w in meta["warnings"])


def test_a_seed_is_not_sent_and_the_run_says_so(fake_openai):
    adapter = get_adapter(MODEL)
    warnings = adapter.check_options(seed=7)
    assert any("takes no seed" in w for w in warnings)
    image = adapter.generate(_request(seed=7))
    assert image.seed_sent is None and "seed" not in fake_openai.requests[0].fields
    adapter.close()


def test_the_family_is_registered_and_reports_availability(monkeypatch):
    family = family_for("openai:gpt-image-1.5")
    assert family is not None and family.name == "openai" and family in families()
    assert family.auto_priority is not None and family.auto_priority > 0
    assert not family.availability().available and "OPENAI_API_KEY" in family.availability().reason
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    assert family.availability().available
    entries = {m["id"]: m for m in family.models()}
    assert entries["openai:gpt-image-1"]["status"] == "shutdown"
    assert entries[MODEL]["price_per_image_usd"]["1K"] > 0 and entries[MODEL]["prices_as_of"]
    assert family.default_model() in entries
    rows = family.estimate_costs(image_size="1K", num_references=3, num_images=4)
    assert "openai:gpt-image-1" not in {r["model"] for r in rows}
    row = next(r for r in rows if r["model"] == MODEL)
    assert row["run_usd"] == pytest.approx(row["per_image_usd"] * 4, abs=1e-3)


def test_a_dry_run_needs_no_key(monkeypatch):
    adapter = get_adapter(MODEL, dry_run=True)
    assert adapter.estimate_cost(_request()) > 0
    with pytest.raises(CredentialsError, match="OPENAI_API_KEY"):
        adapter.generate(_request())


def test_a_consumer_that_stops_listening_cancels_the_pending_calls(fake_openai, tmp_path):
    fake_openai.set_default(OpenAIBehavior.ok(latency=30))
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)

    async def listen_then_leave():
        async def consume():
            async for _ in ImageGenerator().astream_events(
                prompt_spec=spec, style=style, config=_config("stream", tmp_path)
            ):
                pass

        task = asyncio.create_task(consume())
        assert await asyncio.to_thread(fake_openai.wait_for_requests, 3)
        task.cancel()  # the consumer goes away, as a disconnected client's task is cancelled
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(listen_then_leave())
    assert fake_openai.wait_for(lambda f: all(r.outcome == "aborted" for r in f.requests))
    assert fake_openai.count == 3


def test_an_unknown_openai_model_names_the_nearest_and_the_known_ones(fake_openai):
    with pytest.raises(ConfigError, match="unknown OpenAI image model 'openai:gpt-image-2.7'") as info:
        get_adapter("openai:gpt-image-2.7")
    message = str(info.value)
    assert "did you mean" in message and "openai:gpt-image-1.5" in message and "\n" not in message
    assert info.value.field == "model" and fake_openai.count == 0


def test_the_family_registers_without_importing_the_sdk():
    outcome = run_cold(
        "import json, sys\n"
        "from generate.adapter import families, get_adapter\n"
        "get_adapter('trace')\n"
        "names = [f.name for f in families()]\n"
        "print(json.dumps(['openai' in names, 'openai' in sys.modules]))\n"
    )
    assert outcome == [True, False]  # listed, yet a run of another model never imports the SDK


def test_auto_picks_openai_when_only_an_openai_key_is_configured(fake_openai, tmp_path):
    result, events = run_in_mode("sync", _config("sync", tmp_path, model_name="auto"))
    assert result.status == "complete" and result.model == "openai:gpt-image-2.5-flare"
    started = next(e for e in events if e.event == "run.started")
    assert "openai:gpt-image-2.5-flare" in (started.model_reason or "")
    assert {r.model for r in fake_openai.requests} == {"gpt-image-2.5-flare"}


def test_a_dry_run_shows_the_edit_as_openai_gets_it(monkeypatch, tmp_path):
    adapter = get_adapter(MODEL, dry_run=True)
    drawing, ref = tmp_path / "mine.png", tmp_path / "style.jpg"
    outline = adapter.turn_outline("draw it", subjects=[drawing], references=[ref])
    assert outline[0]["text"].startswith("draw it\n\nAttached images, in order: Image 1 is the drawing")
    assert outline[1:] == [
        {"image": "mine.png", "mime_type": "image/png"},
        {"image": "style.jpg", "mime_type": "image/jpeg"},
    ]
