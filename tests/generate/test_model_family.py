"""A third-party family registered with ``register_family`` appears everywhere a built-in does:
name resolution, "auto", the model listing, a dry run's cost table, and a real run."""

from __future__ import annotations

import json

import pytest

from generate.adapter import (
    Availability,
    ImageModelAdapter,
    ModelFamily,
    adapter_names,
    families,
    get_adapter,
    register_family,
    unregister_family,
)
from generate.auto import choose_model
from generate.errors import ConfigError
from generate.models import list_families, list_models
from generate.pipeline import RunRequest, SketchPipeline
from tests.generate.stub_family import MODEL, READY_VAR, StubAdapter, registered


def _by_id(models):
    return {m["id"]: m for m in models}


def test_the_built_in_families_register_like_a_third_party_one():
    names = [f.name for f in families()]
    assert names[:2] == ["gemini", "trace"]
    priorities = {f.name: f.auto_priority for f in families()}
    assert priorities["gemini"] < priorities["trace"]  # auto: Gemini first, trace last


def test_a_registered_family_resolves_by_id_and_alias_and_is_named_in_hints():
    with registered():
        assert isinstance(get_adapter(MODEL), StubAdapter)
        assert MODEL in adapter_names() and "pencil-stub" in adapter_names()
        with pytest.raises(ConfigError, match=r"did you mean 'stub:pencil'") as info:
            get_adapter("stub:pencl")
        assert info.value.field == "model"
    with pytest.raises(ConfigError, match="unknown model"):  # gone with its family
        get_adapter(MODEL)


def test_the_listing_carries_the_family_and_its_availability(monkeypatch):
    with registered():
        listed = _by_id(list_models())
        entry = listed[MODEL]
        assert entry["family"] == "stub" and entry["available"] is False
        assert entry["availability"]["reason"] == f"{READY_VAR} is not set"
        assert entry["availability"]["fix"] == f"set {READY_VAR}"
        assert entry["price_per_image_usd"] == {"1K": 0.01, "2K": 0.02}
        assert listed["trace"]["family"] == "trace" and listed["trace"]["available"] is True
        gemini = listed["gemini-3-pro-image"]
        assert gemini["family"] == "gemini" and gemini["availability"]["credentials"] is False
        stub = next(f for f in list_families() if f["name"] == "stub")
        assert stub["available"] is False and stub["display_name"] == "Stub pencils"

        monkeypatch.setenv(READY_VAR, "1")
        assert _by_id(list_models())[MODEL]["available"] is True
    assert MODEL not in _by_id(list_models())


def test_auto_chooses_the_available_family_with_the_lowest_priority(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "dummy-key-for-auto")
    with registered(priority=0):
        # Not available: skipped, Gemini (credentials found) is next.
        assert choose_model()[0] == "nano-banana"
        monkeypatch.setenv(READY_VAR, "1")
        model, reason = choose_model()
        assert (model, reason) == (MODEL, f"auto: {READY_VAR} is set, using {MODEL}")
        adapter = get_adapter("auto")
        assert isinstance(adapter, StubAdapter) and adapter.selection_reason == reason
        assert list_models()[0]["resolves_to"] == MODEL
    with registered(priority=20):  # behind Gemini: Gemini wins while it has credentials
        assert choose_model()[0] == "nano-banana"
        monkeypatch.delenv("GEMINI_API_KEY")
        model, reason = choose_model()
        assert model == MODEL
        assert reason.startswith("auto: no Gemini credentials") and "set GEMINI_API_KEY" in reason
    with registered(priority=None):  # never chosen by auto, even when available
        assert choose_model()[0] == "trace"


def test_auto_says_which_families_it_skipped_and_how_to_enable_them():
    with registered(priority=0):
        model, reason = choose_model()
    assert model == "trace"
    assert f"{READY_VAR} is not set; no Gemini credentials" in reason
    # Each skipped family says how to enable it, in priority order (other built-ins may follow Gemini).
    assert f"set {READY_VAR}, set GEMINI_API_KEY to use Nano Banana, " in reason
    assert reason.endswith("or pass --model trace to choose it explicitly")


def test_a_dry_run_prices_every_registered_family(tmp_path):
    with registered():
        plan = SketchPipeline(output_dir=tmp_path).dry_run(
            RunRequest(brief="playful golf mascot", model="trace", image_size="2K")
        )
        costs = {c["model"]: c for c in plan["estimated_cost"]}
        assert costs[MODEL] == {
            "model": MODEL,
            "status": "live",
            "image_size": "2K",
            "per_image_usd": 0.02,
            "run_usd": round(0.02 * plan["num_images"], 4),
        }
        assert costs["trace"]["run_usd"] == 0 and costs["gemini-3-pro-image"]["per_image_usd"] > 0.1

        own = SketchPipeline(output_dir=tmp_path).dry_run(
            RunRequest(brief="playful golf mascot", model=MODEL)
        )
        assert own["model"] == MODEL
        turn = own["sketches"][0]["turn"]
        assert turn[0] == {"text": own["sketches"][0]["prompt"]}  # the interface's default outline


def test_a_run_with_a_registered_family_completes(tmp_path):
    with registered():
        result = SketchPipeline(output_dir=tmp_path).run(
            RunRequest(brief="playful golf mascot", model=MODEL, num_images=3, top_k=0)
        )
    assert result.status == "complete"
    meta = json.loads(result.metadata_path.read_text())
    assert meta["model"]["used"] == MODEL
    assert meta["totals"]["cost_usd"] == pytest.approx(0.03)


def test_a_family_whose_availability_check_breaks_is_listed_unavailable_and_skipped(monkeypatch):
    monkeypatch.setenv(READY_VAR, "1")
    with registered(priority=0) as family:

        def broken():
            raise RuntimeError("token sk-do-not-show was refused")

        monkeypatch.setattr(family, "availability", broken)
        entry = _by_id(list_models())[MODEL]
        assert entry["available"] is False
        assert entry["availability"]["reason"] == "its availability check failed (RuntimeError)"
        model, reason = choose_model()
    assert model == "trace" and "sk-do-not-show" not in reason


class _BrokenFamily(ModelFamily):
    """A third-party family whose every answer raises (a plug-in with a bug)."""

    name = "broken"
    auto_priority = 0

    def _boom(self, *args, **kwargs):
        raise RuntimeError("token sk-broken-secret refused")

    owns = create = models = default_model = estimate_costs = _boom

    def availability(self) -> Availability:
        return Availability(True, "claims to be ready")


def test_a_family_that_raises_everywhere_breaks_neither_listing_nor_auto_nor_dry_run(tmp_path, caplog):
    register_family(_BrokenFamily())
    try:
        listed = _by_id(list_models())
        assert "trace" in listed and "gemini-3-pro-image" in listed
        assert "sk-broken-secret" not in json.dumps(list(listed.values()))
        model, reason = choose_model()  # "broken" is first in priority but names no usable model
        assert model != "broken" and "sk-broken-secret" not in reason
        assert isinstance(get_adapter("trace"), ImageModelAdapter)
        with pytest.raises(ConfigError, match="unknown model"):
            get_adapter("no-such-model")
        plan = SketchPipeline(output_dir=tmp_path).dry_run(
            RunRequest(brief="playful golf mascot", model="trace")
        )
        assert "trace" in {c["model"] for c in plan["estimated_cost"]}
    finally:
        unregister_family("broken")
    assert "sk-broken-secret" not in caplog.text and "broken" in caplog.text  # logged, by type only
