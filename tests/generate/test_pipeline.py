"""SketchPipeline: references that match nothing are never sent; trace is topped up, and says so."""

from __future__ import annotations

import json

import pytest
from PIL import Image, ImageDraw

from generate.errors import ConfigError
from generate.pipeline import RunRequest, SketchPipeline
from generate.testing import FakeGeminiServer


@pytest.fixture
def gemini_env(monkeypatch):
    with FakeGeminiServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        yield fake


def test_gemini_gets_only_references_that_match(gemini_env, tmp_path):
    # "light bulb idea" matches light-bulb-idea.png alone among editorial-spot's references.
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="light bulb idea", style_id="editorial-spot", model="nano-banana", top_k=3)
    )
    meta = json.loads(result.metadata_path.read_text())
    assert [p.rsplit("/", 1)[-1] for p in meta["reference_images"]] == ["light-bulb-idea.png"]
    assert meta["retrieval_scores"][0] > 0
    assert [len(r.images) for r in gemini_env.requests] == [1] * result.config.num_images


def test_trace_is_topped_up_with_the_styles_references_and_says_so(tmp_path):
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="light bulb idea", style_id="editorial-spot", model="trace", top_k=3)
    )
    meta = json.loads(result.metadata_path.read_text())
    names = [p.rsplit("/", 1)[-1] for p in meta["reference_images"]]
    assert names[0] == "light-bulb-idea.png" and len(names) == 3
    assert meta["retrieval_scores"][0] > 0 and meta["retrieval_scores"][1:] == [0.0, 0.0]
    assert meta["retrieval"]["method"] == "lexical" and "added in name order" in meta["retrieval"]["reason"]
    assert result.status == "complete"


@pytest.fixture
def plain_style(tmp_path, monkeypatch):
    """A user style whose references have meaningless names, no captions and no keywords."""
    refs = tmp_path / "plain-refs"
    refs.mkdir()
    for i in range(3):
        img = Image.new("RGB", (256, 256), "white")
        ImageDraw.Draw(img).ellipse((40 + 20 * i, 40, 200, 200 - 20 * i), outline="black", width=6)
        img.save(refs / f"scan-{i:03d}.png")
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "plain.toml").write_text(
        f'id = "plain"\nname = "Plain"\ndescription = "Test style"\nreference_dirs = ["{refs}"]\n'
    )
    monkeypatch.setenv("SKETCHGEN_STYLES_DIR", str(styles))
    return "plain"


def test_nothing_matching_sends_gemini_nothing(plain_style, gemini_env, tmp_path):
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", style_id=plain_style, model="nano-banana")
    )
    meta = json.loads(result.metadata_path.read_text())
    assert meta["reference_images"] == [] and result.status == "complete"
    assert all(len(r.images) == 0 for r in gemini_env.requests)


def test_nothing_matching_lets_trace_use_the_style_in_name_order(plain_style, tmp_path):
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", style_id=plain_style, model="trace")
    )
    meta = json.loads(result.metadata_path.read_text())
    assert meta["retrieval"]["method"] == "style-order"
    assert [p.rsplit("/", 1)[-1] for p in meta["reference_images"]] == [
        "scan-000.png",
        "scan-001.png",
        "scan-002.png",
    ]
    assert result.status == "complete"


def test_validate_names_the_field_before_any_call(tmp_path):
    pipeline = SketchPipeline(output_dir=tmp_path)
    with pytest.raises(ConfigError) as exc:
        pipeline.validate({"brief": "x", "num_images": 9})
    assert exc.value.field == "num_images"
    with pytest.raises(ConfigError) as exc:
        pipeline.validate({"brief": "x", "model": "trace", "image_size": "9K"})
    assert exc.value.field == "image_size"
    assert not list(tmp_path.iterdir())
