"""The Gemini family: which names it owns, its availability line, its models and its dry-run prices."""

from __future__ import annotations

import pytest

from generate.adapter import family_for, get_adapter
from generate.adapters.gemini.adapter import NanoBananaAdapter
from generate.adapters.gemini.catalog import estimate_cost, load_catalog, resolve_model
from generate.adapters.gemini.family import GeminiFamily

FAMILY = GeminiFamily()
PRO = "gemini-3-pro-image"


@pytest.mark.parametrize(
    "name", [PRO, "nano-banana", "nano-banana-pro", "models/gemini-3-pro-image", "gemini-9-ultra-image"]
)
def test_owns_catalog_ids_aliases_prefixed_ids_and_new_image_ids(name):
    assert FAMILY.owns(name)
    assert family_for(name).name == "gemini"


@pytest.mark.parametrize("name", ["trace", "auto", "gemini-3-pro", "openai:gpt-image-1"])
def test_owns_nothing_else(name):
    assert not FAMILY.owns(name)


def test_creates_the_nano_banana_adapter_through_the_registry():
    adapter = get_adapter("nano-banana-pro", dry_run=True)
    assert isinstance(adapter, NanoBananaAdapter) and adapter.name == PRO


def test_availability_says_what_is_missing_and_what_to_do(monkeypatch):
    off = FAMILY.availability()
    assert (off.available, off.credentials) == (False, False)
    assert off.reason == "no Gemini credentials (GEMINI_API_KEY, GOOGLE_API_KEY or Vertex AI)"
    assert off.fix == "set GEMINI_API_KEY to use Nano Banana"
    monkeypatch.setenv("GEMINI_API_KEY", "secret-value-never-shown")
    on = FAMILY.availability()
    assert on.available and on.credentials and "GEMINI_API_KEY" in on.reason
    assert "secret-value-never-shown" not in repr(on)


def test_an_incomplete_vertex_setup_is_named_as_it_is(monkeypatch):
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    vertex = FAMILY.availability()
    assert not vertex.available and vertex.fix == ""
    assert vertex.reason == "GOOGLE_GENAI_USE_VERTEXAI is set but GOOGLE_CLOUD_PROJECT is not"


def test_default_model_follows_gemini_model(monkeypatch):
    assert FAMILY.default_model() == "nano-banana"
    monkeypatch.setenv("GEMINI_MODEL", PRO)
    assert FAMILY.default_model() == PRO


def test_models_are_the_catalog_entries():
    models = FAMILY.models()
    assert [m["id"] for m in models] == [e.id for e in load_catalog().models]
    assert all(m["network"] is True and m["price_per_image_usd"] for m in models)


def _rows(**kw):
    return {r["model"]: r for r in FAMILY.estimate_costs(**kw)}


def test_estimates_price_every_model_not_shut_down():
    rows = _rows(image_size="2K", num_references=3, num_images=4)
    live = [e for e in load_catalog().models if e.effective_status() != "shutdown"]
    assert set(rows) == {e.id for e in live}
    pro = resolve_model(PRO)
    assert rows[PRO]["per_image_usd"] == round(estimate_cost(pro, "2K", 3), 4)
    assert rows[PRO]["run_usd"] == round(estimate_cost(pro, "2K", 3) * 4, 4)
    flash_1k_only = next(e for e in live if "2K" not in e.image_sizes)
    assert rows[flash_1k_only.id]["image_size"] is None  # priced at its default size


def test_an_edit_counts_the_image_to_edit():
    plain = _rows(image_size="1K", num_references=1)
    edit = _rows(image_size="1K", num_references=1, input_images=1)
    assert edit[PRO]["per_image_usd"] > plain[PRO]["per_image_usd"]


def test_a_multi_turn_refinement_prices_the_history_for_its_model_only():
    history = {"image_size": "1K", "num_references": 2, "input_images": 3, "input_text_chars": 4000}
    rows = _rows(**history, conversation_model=PRO)
    pro = resolve_model(PRO)
    # The conversation's own model: the whole history as input, no new references.
    assert rows[PRO]["per_image_usd"] == round(
        estimate_cost(pro, "1K", 0, input_images=3, input_text_chars=4000), 4
    )
    # Another model cannot continue it: the sketch goes as one image to edit, with the references.
    other = resolve_model("nano-banana")
    assert rows[other.id]["per_image_usd"] == round(estimate_cost(other, "1K", 2, input_images=1), 4)
