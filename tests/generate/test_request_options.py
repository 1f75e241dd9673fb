"""Request options (seed, response modalities, Google Search grounding, person generation): checked
against the catalog before any call, sent on the wire, recorded in metadata."""

from __future__ import annotations

import json

import pytest

from generate import GenerationConfig, ImageGenerator
from generate.errors import ConfigError
from generate.pipeline import RunRequest, SketchPipeline
from prompt.compiler import PromptCompiler
from rag.retriever import ImageRetriever
from style.registry import StyleRegistry


def _run(tmp_path, **config):
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    refs = ImageRetriever().retrieve(spec, style, top_k=2)
    result = ImageGenerator().generate(
        prompt_spec=spec,
        retrieval_result=refs,
        style=style,
        config=GenerationConfig(num_images=3, output_dir=tmp_path, **config),
    )
    return result, json.loads(result.metadata_path.read_text())


def test_seed_is_sent_to_gemini_and_recorded_as_best_effort(gemini_env, tmp_path):
    result, meta = _run(tmp_path, model_name="nano-banana-pro", seed=1234)
    assert result.status == "complete"
    assert [rec.seed for rec in gemini_env.requests] == [1234] * 3
    assert meta["config"]["seed"] == 1234 and meta["config"]["seed_best_effort"] is True
    assert all(s["seed_sent"] == 1234 for s in meta["sketches"])


def test_no_seed_sends_none(gemini_env, tmp_path):
    _, meta = _run(tmp_path, model_name="nano-banana-pro")
    assert all(rec.seed is None for rec in gemini_env.requests)
    assert "seed" not in gemini_env.requests[0].body["generationConfig"]
    assert meta["config"]["seed_best_effort"] is False


def test_seed_outside_gemini_range_is_refused_before_any_call(gemini_env, tmp_path):
    with pytest.raises(ConfigError) as info:
        _run(tmp_path, model_name="nano-banana-pro", seed=2**40)
    assert info.value.field == "seed" and "2147483647" in info.value.message
    assert gemini_env.count == 0


def test_image_only_modality_goes_on_the_wire_and_into_metadata(gemini_env, tmp_path):
    result, meta = _run(tmp_path, model_name="nano-banana-pro", response_modalities="image")
    assert result.status == "complete"
    assert [rec.response_modalities for rec in gemini_env.requests] == [["IMAGE"]] * 3
    assert meta["config"]["response_modalities"] == ["IMAGE"]


def test_default_modalities_are_text_and_image(gemini_env, tmp_path):
    _, meta = _run(tmp_path, model_name="nano-banana-pro")
    assert all(rec.response_modalities == ["TEXT", "IMAGE"] for rec in gemini_env.requests)
    assert meta["config"]["response_modalities"] == ["TEXT", "IMAGE"]


@pytest.mark.parametrize("bad", ["text", "audio+image", ["TEXT"], ["IMAGE", "AUDIO"]])
def test_unknown_modalities_are_refused(bad):
    with pytest.raises(ConfigError) as info:
        GenerationConfig(response_modalities=bad)
    assert info.value.field == "response_modalities"


def test_google_search_grounding_is_sent_and_its_metadata_recorded(gemini_env, tmp_path):
    result, meta = _run(tmp_path, model_name="nano-banana-pro", google_search=True)
    assert result.status == "complete"
    assert all(rec.google_search for rec in gemini_env.requests)
    assert meta["config"]["google_search"] is True
    for sketch in meta["sketches"]:
        grounding = sketch["grounding"]
        assert grounding["queries"] and grounding["queries"][0].endswith("reference")
        assert [s["uri"] for s in grounding["sources"]] == [
            "https://example.org/search-result-1",
            "https://example.com/search-result-2",
        ]


def test_no_grounding_asked_records_none(gemini_env, tmp_path):
    _, meta = _run(tmp_path, model_name="nano-banana-pro")
    assert not any(rec.google_search for rec in gemini_env.requests)
    assert "tools" not in gemini_env.requests[0].body
    assert all(s["grounding"] is None for s in meta["sketches"])


def test_google_search_on_a_model_without_it_is_refused_before_any_call(gemini_env, tmp_path):
    with pytest.raises(ConfigError) as info:
        _run(tmp_path, model_name="nano-banana-lite", google_search=True)
    assert info.value.field == "google_search"
    assert "gemini-3.1-flash-lite-image" in info.value.message and "gemini-3-pro-image" in info.value.message
    assert gemini_env.count == 0
    with pytest.raises(ConfigError) as info:
        _run(tmp_path, model_name="trace", google_search=True)
    assert info.value.field == "google_search"


def test_image_only_with_grounding_is_refused():
    with pytest.raises(ConfigError) as info:
        GenerationConfig(response_modalities=("IMAGE",), google_search=True)
    assert info.value.field == "response_modalities" and "google_search" in info.value.message


def test_person_generation_is_refused_in_gemini_api_mode_before_any_call(gemini_env, tmp_path):
    with pytest.raises(ConfigError) as info:
        _run(tmp_path, model_name="nano-banana-pro", person_generation="allow_adult")
    assert info.value.field == "person_generation" and "Vertex AI" in info.value.message
    assert gemini_env.count == 0


def test_person_generation_values_are_checked():
    assert GenerationConfig(person_generation="allow_none").person_generation == "ALLOW_NONE"
    with pytest.raises(ConfigError) as info:
        GenerationConfig(person_generation="ALLOW_KIDS")
    assert info.value.field == "person_generation" and "ALLOW_ADULT" in info.value.message


def test_person_generation_is_offered_on_vertex_for_models_that_take_it(monkeypatch):
    from generate.adapters.gemini.adapter import NanoBananaAdapter

    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-project")
    client = object()  # an injected client: no credentials are looked up, and no call is made
    pro = NanoBananaAdapter("nano-banana-pro", client=client)
    assert pro.check_options(person_generation="ALLOW_ADULT") == []
    flash = NanoBananaAdapter("gemini-2.5-flash-image", allow_retired=True, client=client)
    with pytest.raises(ConfigError) as info:
        flash.check_options(person_generation="ALLOW_ADULT")
    assert info.value.field == "person_generation"


def test_the_pipeline_checks_options_in_validate(gemini_env, tmp_path):
    pipeline = SketchPipeline(output_dir=tmp_path)
    with pytest.raises(ConfigError) as info:
        pipeline.validate(RunRequest(brief="golf mascot", model="nano-banana-lite", google_search=True))
    assert info.value.field == "google_search"
    with pytest.raises(ConfigError) as info:
        pipeline.validate(
            RunRequest(
                brief="golf mascot", model="nano-banana-pro", google_search=True, response_modalities="image"
            )
        )
    assert info.value.field == "response_modalities"
    plan = pipeline.dry_run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", seed=5, google_search=True)
    )
    assert plan["options"]["seed"] == 5 and plan["options"]["google_search"] is True
    assert gemini_env.count == 0


def test_the_catalog_says_which_models_take_which_option():
    from generate.adapters.gemini.catalog import resolve_model

    assert resolve_model("nano-banana-pro").describe()["google_search"] is True
    assert resolve_model("nano-banana").describe()["google_search"] is True
    assert resolve_model("nano-banana-lite").describe()["google_search"] is False
    assert resolve_model("gemini-2.5-flash-image").describe()["person_generation"] is False
