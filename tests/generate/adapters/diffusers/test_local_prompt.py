"""What the local diffusion family sends to SDXL: subject and variation first, 77 tokens per encoder.

The run tests spy on the real pipeline call (the tiny random SDXL + ControlNet pipeline, whose
tokenizer reads the family's own words whole, like CLIP) and count what it got with the pipeline's
own tokenizers; the others check the prompt building on its own, with a one-token-per-word count.
"""

from __future__ import annotations

import json

import pytest

from generate import GenerationConfig, ImageGenerator
from generate.adapter import ImageRequest, PromptParts, get_adapter
from generate.adapters.diffusers.prompt import (
    EXAGGERATION_PHRASES,
    KEY_SKETCH_RULES,
    LAYOUT_PHRASES,
    build_prompts,
)
from prompt.compiler import PromptCompiler, prompt_parts
from prompt.variation import EXAGGERATION_LEVELS, LAYOUTS
from rag.retriever import ImageRetriever
from style.registry import BUILTIN_STYLES_DIR, StyleRegistry

REF = sorted((BUILTIN_STYLES_DIR / "references" / "vintage-mascot").glob("*.png"))[0]
LONG_BRIEF = (
    "a playful golf mascot for the Pinehurst junior championship: a cheerful gopher wearing a flat cap "
    "and argyle socks, holding a putter over one shoulder, winking, with a big toothy grin, a trophy "
    "under one arm and a scorecard in its back pocket, standing on a tee box beside a little flag"
)
TEXTS = ("prompt", "prompt_2", "negative_prompt", "negative_prompt_2")


@pytest.fixture
def pipeline_calls(local_env, monkeypatch):
    """Every call of the ControlNet pipeline: (pipeline, its keyword arguments), then the real call."""
    from diffusers import StableDiffusionXLControlNetPipeline

    calls = []
    real = StableDiffusionXLControlNetPipeline.__call__

    def spy(self, *args, **kwargs):
        calls.append((self, dict(kwargs)))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(StableDiffusionXLControlNetPipeline, "__call__", spy)
    return calls


def _tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, truncation=False, verbose=False).input_ids)


def test_a_long_brief_reaches_sdxl_subject_and_variation_first_within_77_tokens(pipeline_calls, tmp_path):
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile(LONG_BRIEF, style)
    result = ImageGenerator().generate(
        prompt_spec=spec,
        retrieval_result=ImageRetriever().retrieve(spec, style, top_k=3),
        style=style,
        config=GenerationConfig(num_images=3, model_name="local:sdxl-scribble", seed=3, output_dir=tmp_path),
    )
    meta = json.loads(result.metadata_path.read_text())
    assert meta["status"] == "complete" and len(pipeline_calls) == 3
    sent_to_pipeline = [{name: kwargs[name] for name in TEXTS} for _, kwargs in pipeline_calls]
    pipe = pipeline_calls[0][0]
    for rec in meta["sketches"]:
        sent = rec["prompt_sent"]
        assert sent in sent_to_pipeline  # the record is what the pipeline got, word for word
        for name, tokenizer in zip(
            TEXTS, (pipe.tokenizer, pipe.tokenizer_2, pipe.tokenizer, pipe.tokenizer_2), strict=True
        ):
            assert _tokens(tokenizer, sent[name]) <= tokenizer.model_max_length == 77, name
        assert sent["prompt"].startswith("a playful golf mascot for the Pinehurst junior championship")
        assert sent["prompt_2"].startswith("a playful golf mascot")
        variation = rec["variation"]
        assert LAYOUT_PHRASES[variation["layout"]][0] in sent["prompt"]
        assert EXAGGERATION_PHRASES[variation["exaggeration"]][0] in sent["prompt"]
        assert all(rule in sent["prompt_2"] for rule in KEY_SKETCH_RULES)
        trimmed = [w for w in rec["warnings"] if "first 77 tokens" in w]
        assert len(trimmed) == 1 and "the brief was cut at a word" in trimmed[0]
        assert "SKETCH RULES" in rec["prompt"]  # sketchgen's own prompt stays recorded beside it
    layouts = {rec["variation"]["layout"] for rec in meta["sketches"]}
    assert len(layouts) == 3  # each sketch's own layout reached the model, not one shared text


def test_a_short_prompt_fits_whole_and_warns_nothing(local_env):
    parts = PromptParts(
        subject="playful golf mascot",
        style_name="Vintage Mascot",
        style_rules=("oversized head",),
        negatives=("no busy backgrounds",),
    )
    request = ImageRequest(
        index=0,
        prompt="(sketchgen's long prompt, not sent to SDXL)",
        aspect_ratio="1:1",
        image_size="1K",
        layout="centered-hero",
        exaggeration="moderate",
        reference_images=(REF,),
        seed=1,
        prompt_parts=parts,
    )
    image = get_adapter("local:sdxl-scribble").generate(request)
    assert image.warnings == []
    assert image.prompt_sent["prompt"] == (
        "playful golf mascot, centred hero pose, moderate exaggeration, grayscale pencil line art, "
        "thick outlines, clean white background, full figure facing front, white margin all round, "
        "pushed proportions, lively lines"
    )
    assert image.prompt_sent["prompt_2"].startswith(
        "playful golf mascot, grayscale pencil line art, thick outlines, clean white background, "
        "Vintage Mascot style, oversized head"
    )
    assert image.prompt_sent["negative_prompt"].endswith(", busy backgrounds")
    assert image.prompt_sent["negative_prompt_2"] == image.prompt_sent["negative_prompt"]


# -- the building on its own: one token per word, plus start and end ------------------------------


def _words(text: str) -> int:
    return len(text.replace(",", " ,").split()) + 2


def _build(parts: PromptParts, *, layout="three-quarter", exaggeration="bold", negative="photo, text, blur"):
    request = ImageRequest(
        index=0,
        prompt="unused",
        aspect_ratio="1:1",
        image_size="1K",
        layout=layout,
        exaggeration=exaggeration,
        prompt_parts=parts,
    )
    return build_prompts(request, negative=negative, count=_words, count_2=_words, limit=40, limit_2=40)


def test_every_layout_and_exaggeration_of_the_catalogue_has_its_own_words():
    assert set(LAYOUT_PHRASES) == set(LAYOUTS)
    assert set(EXAGGERATION_PHRASES) == set(EXAGGERATION_LEVELS)
    firsts = [phrases[0] for phrases in LAYOUT_PHRASES.values()]
    assert len(set(firsts)) == len(firsts)


def test_style_rules_are_dropped_whole_from_the_least_important_end_and_named():
    rules = tuple(f"rule {i} with four words" for i in range(1, 9))
    texts = _build(PromptParts(subject="golf mascot", style_name="Retro", style_rules=rules))
    assert _words(texts.prompt_2) <= 40
    kept = [r for r in rules if r in texts.prompt_2]
    assert kept and list(rules[: len(kept)]) == kept  # a run from the front, nothing cut mid-rule
    assert texts.left_out["prompt_2"][: len(rules) - len(kept)] == list(rules[len(kept) :])
    [warning] = texts.warnings("local:x", 40)
    assert "left out of prompt_2: rule" in warning and "rule 8" in warning


def test_a_huge_subject_gives_way_to_the_variation_at_a_word_boundary():
    subject = " ".join(f"word{i}" for i in range(60))
    texts = _build(PromptParts(subject=subject))
    assert texts.prompt.startswith("word0 word1 ")
    assert "three-quarter view" in texts.prompt and "bold caricature" in texts.prompt
    assert all(rule in texts.prompt_2 for rule in KEY_SKETCH_RULES)
    assert _words(texts.prompt) <= 40 and _words(texts.prompt_2) <= 40
    assert texts.subject_cut == ("prompt", "prompt_2")
    assert "cut at a word in prompt and prompt_2" in texts.warnings("local:x", 40)[0]


def test_negatives_drop_no_and_lift_text_for_lettering_and_skip_conditional_rules():
    rules = ("no busy backgrounds", "no scary characters unless the brief asks for it")
    plain = _build(PromptParts(subject="golf mascot", negatives=rules))
    lettered = _build(PromptParts(subject="golf mascot", negatives=rules, lettering=True))
    assert plain.negative_prompt == "photo, text, blur, busy backgrounds"
    assert lettered.negative_prompt == "photo, blur, busy backgrounds"
    assert plain.warnings("local:x", 40) == []


def test_a_bare_prompt_is_the_subject_and_the_variation_still_follows():
    request = ImageRequest(
        index=0,
        prompt="golf " * 100,
        aspect_ratio="1:1",
        image_size="1K",
        layout="side-profile",
        exaggeration="subtle",
    )
    texts = build_prompts(request, negative="photo", count=_words, count_2=_words)
    assert texts.prompt.startswith("golf golf") and _words(texts.prompt) <= 77
    assert "strict side profile view" in texts.prompt and "subtle exaggeration" in texts.prompt


def test_the_spec_gives_its_subject_and_the_style_its_own_rules_only():
    style = StyleRegistry().get_style("vintage-mascot")
    parts = prompt_parts(PromptCompiler().compile("Please draw me a playful golf mascot.", style), style.name)
    assert parts.subject == "a playful golf mascot"
    assert parts.style_name == "Vintage Mascot" and parts.style_rules == tuple(style.visual_rules)
    assert parts.negatives == tuple(style.negative_rules) and not parts.lettering


def test_a_resumed_sketch_is_sent_the_same_texts_as_its_first_try(pipeline_calls, tmp_path):
    import asyncio

    from generate.pipeline import SketchPipeline
    from generate.resume import aresume, prepare_resume

    result = SketchPipeline(output_dir=tmp_path).run(
        {"brief": LONG_BRIEF, "model": "local:sdxl-scribble", "num_images": 3, "seed": 5}
    )
    folder = tmp_path / result.run_id
    meta = json.loads((folder / "metadata.json").read_text())
    first = meta["sketches"][1]["prompt_sent"]
    meta["status"] = "running"  # as if its process had died while sketch 2 was drawn
    lost = meta["sketches"][1]
    (folder / lost["file"]).unlink()
    lost.update(status="running", file=None)
    (folder / "metadata.json").write_text(json.dumps(meta))
    pipeline_calls.clear()

    again = asyncio.run(aresume(prepare_resume(result.run_id, tmp_path)))
    assert again.status == "complete" and len(pipeline_calls) == 1
    assert {name: pipeline_calls[0][1][name] for name in TEXTS} == first


def test_a_brief_asking_for_lettering_lifts_text_without_sending_gemini_instructions():
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile(
        'a golf mascot with the words "Tee Time"', style, context="for the spring open"
    )
    parts = prompt_parts(spec, style.name)
    assert parts.lettering and parts.subject == 'a golf mascot with the words "Tee Time"'
    assert parts.notes == ("for the spring open",)  # the compiler's lettering note is Gemini's alone
    assert any(n.startswith("The brief asks for lettering") for n in spec.context_notes)


def test_one_giant_word_is_cut_by_characters_to_leave_room_for_the_variation():
    request = ImageRequest(
        index=0,
        prompt="x" * 300,
        aspect_ratio="1:1",
        image_size="1K",
        layout="side-profile",
        exaggeration="bold",
    )
    characters = len  # one token per character: the 300-character "word" alone is over the window
    texts = build_prompts(
        request, negative="photo", count=characters, count_2=characters, limit=77, limit_2=77
    )
    assert texts.prompt.startswith("xxx") and texts.prompt.endswith(
        "strict side profile view, bold caricature"
    )
    assert len(texts.prompt) <= 77 and len(texts.prompt_2) <= 77
    assert texts.subject_cut == ("prompt", "prompt_2")


def test_a_local_refine_sends_the_designers_instruction_right_after_the_variation(pipeline_calls, tmp_path):
    from generate.iterate import RefineRequest
    from generate.pipeline import SketchPipeline

    pipeline = SketchPipeline(output_dir=tmp_path)
    parent = pipeline.run({"brief": "playful golf mascot", "model": "local:sdxl-scribble", "num_images": 3})
    pipeline_calls.clear()
    child = pipeline.refine(
        RefineRequest(run_id=parent.run_id, index=1, instruction="a much bigger cap", num_images=1)
    )
    meta = json.loads(child.metadata_path.read_text())
    assert child.status == "complete" and len(pipeline_calls) == 1
    [rec] = meta["sketches"]
    variation = rec["variation"]
    head = (
        f"playful golf mascot, {LAYOUT_PHRASES[variation['layout']][0]}, "
        f"{EXAGGERATION_PHRASES[variation['exaggeration']][0]}, a much bigger cap"
    )
    assert rec["prompt_sent"]["prompt"].startswith(head)
    assert "a much bigger cap" in rec["prompt_sent"]["prompt_2"]
    assert pipeline_calls[0][1]["prompt"] == rec["prompt_sent"]["prompt"]
