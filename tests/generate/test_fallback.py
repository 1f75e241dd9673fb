"""Fallback chains: per sketch, a call that fails for capacity is tried on the next model.

Gemini runs go through the real google-genai client and the fake Gemini server; the offline trace
model and a tiny registered family stand for the later models of a chain.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from generate import GenerationConfig, ImageGenerator
from generate.adapter import (
    AdapterCapabilities,
    Availability,
    ImageModelAdapter,
    ImageRequest,
    ModelFamily,
    get_adapter,
    register_family,
)
from generate.errors import ConfigError, CredentialsError, ErrorCode, ModelCallError
from generate.events import SketchCompleted, SketchFailed, SketchFallback
from generate.testing import Behavior
from prompt.compiler import PromptCompiler
from rag.types import RetrievalHit, RetrievalResult
from style.registry import StyleRegistry
from tests.generate.test_generator import colour_png

MODES = ("sync", "gather", "stream")
REFS = sorted(Path("style/builtin/references/vintage-mascot").glob("*.png"))[:3]


def _retrieval() -> RetrievalResult:
    hits = [RetrievalHit(path=p.resolve(), score=0.5) for p in REFS]
    return RetrievalResult(hits=hits, method="lexical", reason="test", style_id="vintage-mascot")


def _run(mode: str, config: GenerationConfig, gen: ImageGenerator | None = None):
    """(result, events) of one vintage-mascot run in ``mode``, with style references for trace."""
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    kwargs = {"prompt_spec": spec, "style": style, "config": config, "retrieval_result": _retrieval()}
    gen, events = gen or ImageGenerator(), []
    if mode == "sync":
        return gen.generate(**kwargs, on_event=events.append), events
    if mode == "gather":
        return asyncio.run(gen.generate_async(**kwargs, on_event=events.append)), events

    async def stream():
        async for ev in gen.astream_events(**kwargs):
            events.append(ev)
        return gen.last_result

    return asyncio.run(stream()), events


def _config(tmp_path, model, **overrides) -> GenerationConfig:
    options = {
        "num_images": 3,
        "model_name": model,
        "output_dir": tmp_path,
        "initial_backoff_s": 0.01,
        "max_attempts": 2,
    }
    return GenerationConfig(**{**options, **overrides})


# -- naming a chain ---------------------------------------------------------------------------------
def test_a_list_or_a_comma_list_is_one_chain():
    assert GenerationConfig(model_name=["nano-banana-pro", " trace"]).model_name == "nano-banana-pro,trace"
    config = GenerationConfig(model_name="nano-banana-pro, trace")
    assert config.model_name == "nano-banana-pro,trace"
    assert config.model_chain == ["nano-banana-pro", "trace"]
    assert GenerationConfig(model_name="trace").model_chain == ["trace"]


@pytest.mark.parametrize(
    ("model", "words"),
    [("nano-banana-pro,,trace", "empty element"), (["trace", "trace"], "more than once")],
)
def test_a_malformed_chain_is_refused(model, words):
    with pytest.raises(ConfigError, match=words) as info:
        GenerationConfig(model_name=model)
    assert info.value.field == "model"


def test_every_bad_element_of_a_chain_is_named_in_one_line_before_any_call(fake_gemini):
    # No GEMINI_API_KEY: the Gemini element cannot be used; "nonsense" is not a model at all.
    with pytest.raises(ConfigError) as info:
        get_adapter("nano-banana-pro,nonsense,trace")
    message = str(info.value)
    assert "\n" not in message and info.value.field == "model"
    assert "nano-banana-pro:" in message and "GEMINI_API_KEY" in message
    assert "nonsense:" in message and "unknown model" in message
    assert "; trace:" not in message  # the usable element is not blamed
    assert fake_gemini.count == 0


def test_a_missing_credential_is_an_error_even_as_the_last_resort():
    """An element the user named explicitly but cannot use is an error wherever it stands."""
    with pytest.raises(CredentialsError, match="nano-banana:"):
        get_adapter("trace,nano-banana")


def test_a_chain_builds_every_adapter(gemini_env):
    chain = get_adapter("nano-banana-pro,trace")
    try:
        assert [m.name for m in chain.members] == ["gemini-3-pro-image", "trace"]
        assert chain.name == "gemini-3-pro-image"  # outside the generator it stands for its first model
        assert chain.describe()["fallbacks"] == ["trace"]
        request = ImageRequest(
            index=0, prompt="p", aspect_ratio="1:1", image_size="1K", layout="x", exaggeration="y"
        )
        # The worst case a budget checks: the dearest model, whichever position it holds.
        pro = chain.members[0].estimate_cost(request)
        assert pro > 0 and chain.estimate_cost(request) == pro
        reverse = get_adapter("trace,nano-banana-pro")
        assert reverse.name == "trace" and reverse.estimate_cost(request) == pro
        reverse.close()
    finally:
        chain.close()


# -- per sketch ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_only_the_sketch_whose_call_failed_falls_back(gemini_env, tmp_path, mode):
    gemini_env.script(Behavior.server_error(503), match="Sketch 2 of 3", then=Behavior.server_error(503))
    result, events = _run(mode, _config(tmp_path, "nano-banana-pro,trace"))

    assert result.status == "complete"
    models = [s.model for s in result.sketches]
    assert models == ["gemini-3-pro-image", "trace", "gemini-3-pro-image"]
    moved = result.sketches[1]
    assert [f["model"] for f in moved.fallbacks] == ["gemini-3-pro-image"]
    assert moved.fallbacks[0]["error_code"] == ErrorCode.SERVER_ERROR
    assert moved.fallbacks[0]["attempts"] == 2  # its retries on Gemini came first
    assert "503" in moved.fallbacks[0]["message"]
    assert result.sketches[0].fallbacks == [] and result.sketches[2].fallbacks == []
    # Gemini saw two attempts of sketch 2 and one of each other sketch; trace made sketch 2.
    assert sum("Sketch 2 of 3" in r.prompt for r in gemini_env.requests) == 2
    assert gemini_env.count == 4

    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # the fallback event is numbered too
    fallback_events = [e for e in events if isinstance(e, SketchFallback)]
    assert [(e.index, e.from_model, e.to_model, e.reason) for e in fallback_events] == [
        (1, "gemini-3-pro-image", "trace", ErrorCode.SERVER_ERROR)
    ]
    completed = {e.index: e for e in events if isinstance(e, SketchCompleted)}
    assert completed[1].model == "trace" and completed[1].fallbacks[0]["error_code"] == "server_error"
    assert completed[0].model == "gemini-3-pro-image" and completed[0].fallbacks == []

    meta = json.loads(result.metadata_path.read_text())
    rec = meta["sketches"][1]
    assert rec["model"] == "trace" and rec["status"] == "completed"
    assert rec["fallbacks"] == moved.fallbacks
    assert meta["model"]["chain"] == [
        {"model": "gemini-3-pro-image", "skipped": None},
        {"model": "trace", "skipped": None},
    ]
    assert "test-key" not in result.metadata_path.read_text()


@pytest.mark.parametrize("mode", MODES)
def test_blocked_content_never_falls_back(gemini_env, tmp_path, mode):
    gemini_env.script(Behavior.image_safety(), match="Sketch 2 of 3")
    result, events = _run(mode, _config(tmp_path, "nano-banana-pro,trace"))

    assert result.status == "partial"
    blocked = result.sketches[1]
    assert blocked.status == "failed" and blocked.error["code"] == ErrorCode.BLOCKED_OUTPUT
    assert blocked.model == "gemini-3-pro-image" and blocked.fallbacks == []
    assert not [e for e in events if isinstance(e, SketchFallback)]
    failed = [e for e in events if isinstance(e, SketchFailed)]
    assert [(e.index, e.model) for e in failed] == [(1, "gemini-3-pro-image")]
    assert {s.model for s in result.sketches} == {"gemini-3-pro-image"}


def test_the_last_model_failing_too_fails_the_sketch_with_every_model_recorded(gemini_env, tmp_path):
    gemini_env.set_default(Behavior.server_error(503))
    result, _ = _run("gather", _config(tmp_path, ["nano-banana-pro", "nano-banana-2.1"]))
    assert result.status == "failed"
    for sketch in result.sketches:
        assert sketch.error["code"] == ErrorCode.SERVER_ERROR
        assert sketch.model == "gemini-nano-banana-2.1"
        assert [f["model"] for f in sketch.fallbacks] == ["gemini-3-pro-image"]


# -- a registered family as the next model ----------------------------------------------------------
class _TinyAdapter(ImageModelAdapter):
    """A test family's adapter: square only, 2K only; records the requests it got."""

    capabilities = AdapterCapabilities(
        max_reference_images=1,
        aspect_ratios=("1:1",),
        image_sizes=("2K",),
        network=False,
        request_options=frozenset({"response_modalities"}),
    )

    def __init__(self, name: str, fail: ModelCallError | None = None) -> None:
        self.name = name
        self.fail = fail
        self.requests: list[ImageRequest] = []

    def generate(self, request: ImageRequest):
        from generate.adapter import ModelImage

        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        return ModelImage(data=colour_png(), mime_type="image/png", model=self.name, cost_usd=0.01)


class _TinyFamily(ModelFamily):
    name = "tiny"

    def __init__(self) -> None:
        self.built: dict[str, _TinyAdapter] = {}

    def owns(self, model_name: str) -> bool:
        return model_name.startswith("tiny:")

    def create(self, model_name: str, **options):
        fail = None
        if model_name == "tiny:busy":
            fail = ModelCallError(ErrorCode.RATE_LIMITED, "tiny is busy", retryable=True, http_status=429)
        adapter = self.built[model_name] = _TinyAdapter(model_name, fail)
        return adapter

    def availability(self) -> Availability:
        return Availability(True, "always")

    def models(self):
        return []


@pytest.fixture
def tiny():
    family = _TinyFamily()
    register_family(family)
    yield family
    from generate import adapter as adapter_module

    adapter_module._FAMILIES.pop("tiny", None)


def test_a_later_model_gets_the_request_reshaped_to_what_it_offers(tiny, tmp_path):
    config = _config(tmp_path, "tiny:busy,tiny:ok", aspect_ratio="1:1", image_size="2K")
    result, events = _run("sync", config)
    assert result.status == "complete"
    assert {s.model for s in result.sketches} == {"tiny:ok"}
    assert all(s.fallbacks[0]["error_code"] == ErrorCode.RATE_LIMITED for s in result.sketches)
    # tiny takes one reference: the fallback's requests carry one, not the run's three.
    assert {len(r.reference_images) for r in tiny.built["tiny:ok"].requests} == {1}


def test_a_size_the_fallback_lacks_is_mapped_with_a_warning(tiny, gemini_env, tmp_path):
    gemini_env.set_default(Behavior.rate_limited(retry_delay_s=0.01))
    result, _ = _run("gather", _config(tmp_path, "nano-banana-pro,tiny:ok", aspect_ratio="1:1"))
    assert result.status == "complete" and {s.model for s in result.sketches} == {"tiny:ok"}
    assert {r.image_size for r in tiny.built["tiny:ok"].requests} == {"2K"}
    assert any("tiny:ok does not offer 1K; it would make 2K" in w for w in result.warnings)


def test_a_fallback_that_cannot_take_the_request_is_passed_over_with_its_reason(tiny, gemini_env, tmp_path):
    gemini_env.script(Behavior.server_error(503), match="Sketch 1 of 3", then=Behavior.server_error(503))
    config = _config(tmp_path, "nano-banana-pro,tiny:ok,trace", aspect_ratio="3:4")
    result, _ = _run("gather", config)
    assert result.status == "complete"
    assert tiny.built["tiny:ok"].requests == []  # 3:4 is not a ratio tiny offers
    moved = result.sketches[0]
    assert moved.model == "trace"
    assert [(f["model"], f["error_code"]) for f in moved.fallbacks] == [
        ("gemini-3-pro-image", "server_error"),
        ("tiny:ok", "skipped"),
    ]
    assert "aspect ratio 3:4" in moved.fallbacks[1]["message"]
    assert any("tiny:ok is out of this run's chain" in w for w in result.warnings)


# -- a refinement through a chain -------------------------------------------------------------------
def test_a_refinement_falls_back_as_an_edit_not_with_another_models_conversation(fake, tmp_path):
    """The parent's stored turn (its thought signatures) belongs to the model that made it: a later
    model of the chain gets the parent's image to edit, never that conversation."""
    from generate.iterate import RefineRequest
    from generate.pipeline import RunRequest, SketchPipeline

    pipeline = SketchPipeline(output_dir=tmp_path)
    parent = pipeline.run(
        RunRequest(brief="playful golf mascot", model="nano-banana-pro", num_images=3, top_k=1)
    )
    assert parent.status == "complete"
    fake.script(*[Behavior.server_error(503)] * 8, model="gemini-3-pro-image")
    child = pipeline.refine(
        RefineRequest(
            run_id=parent.run_id,
            index=0,
            instruction="a bigger hat",
            num_images=1,
            model="nano-banana-pro,nano-banana-2",
        )
    )
    assert child.status == "complete", child.sketches[0].error
    assert child.sketches[0].model == "gemini-3.1-flash-image"
    assert any("image to edit" in w for w in child.warnings)
    second = [r for r in fake.requests if r.model == "gemini-3.1-flash-image"]
    assert second and all(len(r.contents) == 1 for r in second)  # one user turn: no model turn sent
    assert all(any(kind == "image" for kind, _ in r.parts) for r in second)  # the parent image to edit

    # trace cannot continue a conversation either: it redraws the parent image
    fake.script(*[Behavior.server_error(503)] * 8, model="gemini-3-pro-image")
    traced = pipeline.refine(
        RefineRequest(
            run_id=parent.run_id, index=0, instruction="x", num_images=1, model="nano-banana-pro,trace"
        )
    )
    assert traced.status == "complete" and traced.sketches[0].model == "trace"


def test_the_runs_listing_finds_a_run_by_the_model_its_sketches_fell_back_to(gemini_env, tmp_path):
    from generate.runs import list_runs

    gemini_env.set_default(Behavior.rate_limited(retry_delay_s=1, per_day=True))
    result, _ = _run("sync", _config(tmp_path, "nano-banana-pro,trace"))
    assert {s.model for s in result.sketches} == {"trace"}
    for name in ("trace", "nano-banana-pro", "gemini-3-pro-image"):
        assert [r["run_id"] for r in list_runs(tmp_path, model=name)] == [result.run_id], name
    assert list_runs(tmp_path, model="nano-banana-2") == []
