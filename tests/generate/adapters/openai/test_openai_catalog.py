"""The OpenAI catalog is dated data whose figures reproduce the prices OpenAI publishes."""

from __future__ import annotations

import datetime as dt

import pytest

from generate.adapters.openai.catalog import cost_usd, load_catalog, resolve_model
from generate.errors import ConfigError

# developers.openai.com/api/docs/models/gpt-image-1 (per image, USD): quality -> size -> price.
GPT_IMAGE_1_PAGE = {
    "low": {"1024x1024": 0.011, "1536x1024": 0.016, "1024x1536": 0.016},
    "medium": {"1024x1024": 0.042, "1536x1024": 0.063, "1024x1536": 0.063},
    "high": {"1024x1024": 0.167, "1536x1024": 0.25, "1024x1536": 0.25},
}


def test_the_catalog_is_dated_and_names_what_is_unconfirmed():
    catalog = load_catalog()
    assert dt.date.fromisoformat(catalog.prices_as_of)
    assert resolve_model(catalog.default_model).effective_status() == "live"
    for entry in catalog.models:
        assert entry.prices_as_of == catalog.prices_as_of
        if entry.id not in ("gpt-image-1", "gpt-image-1-mini"):  # the two read on OpenAI's own pages
            assert entry.unconfirmed, entry.id


@pytest.mark.parametrize("quality", ["low", "medium", "high"])
def test_gpt_image_1_token_table_reproduces_the_published_per_image_prices(quality):
    entry = resolve_model("openai:gpt-image-1")
    for size, price in GPT_IMAGE_1_PAGE[quality].items():
        assert entry.price_per_image(quality, size) == pytest.approx(price, abs=0.0015)


def test_a_call_is_priced_per_kind_of_token():
    entry = resolve_model("gpt-image-1.5")  # $5 text in, $8 image in, $32 out per 1M
    assert cost_usd(entry, text_in=1_000_000, image_in=0, output=0) == pytest.approx(5.0)
    assert cost_usd(entry, text_in=0, image_in=1_000_000, output=0) == pytest.approx(8.0)
    assert cost_usd(entry, text_in=200, image_in=1000, output=1056) == pytest.approx(
        (200 * 5 + 1000 * 8 + 1056 * 32) / 1e6
    )


def test_other_sizes_scale_by_area_on_flexible_models():
    entry = resolve_model("openai:gpt-image-2")
    assert entry.size_for("16:9") == "1536x864"
    assert entry.image_tokens("medium", "1536x864") == pytest.approx(1056 * 1536 * 864 / 1024**2, abs=1)


def test_unknown_ids_are_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match="Known: openai:gpt-image-1, openai:gpt-image-1-mini"):
        resolve_model("openai:dall-e-3")


def test_the_dry_run_prices_openai_at_the_size_the_aspect_ratio_makes(tmp_path, monkeypatch):
    from generate.adapter import ImageRequest, get_adapter
    from generate.pipeline import RunRequest, SketchPipeline

    monkeypatch.delenv("SKETCHGEN_OPENAI_QUALITY", raising=False)

    def row(aspect: str, model: str = "openai:gpt-image-1.5") -> dict:
        plan = SketchPipeline(output_dir=tmp_path).dry_run(
            RunRequest(brief="playful golf mascot", model=model, aspect_ratio=aspect, top_k=0)
        )
        return {c["model"]: c for c in plan["estimated_cost"]}

    square, wide = row("1:1"), row("3:2")
    own = get_adapter("openai:gpt-image-1.5", dry_run=True).estimate_cost(
        ImageRequest(index=0, prompt="p", aspect_ratio="3:2", image_size="1K", layout="x", exaggeration="y")
    )
    assert wide["openai:gpt-image-1.5"]["per_image_usd"] == pytest.approx(
        own, abs=1e-4
    )  # as the budget counts it
    assert wide["openai:gpt-image-1.5"]["per_image_usd"] > square["openai:gpt-image-1.5"]["per_image_usd"]
    # A ratio a model does not offer is shown as not offered, as an unsupported size is.
    ratio = row("16:9", model="openai:gpt-image-2")
    assert (
        ratio["openai:gpt-image-1.5"]["image_size"] is None
        and ratio["openai:gpt-image-2"]["image_size"] == "1K"
    )
