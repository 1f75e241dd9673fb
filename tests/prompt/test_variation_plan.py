"""plan_variations: distinct layouts, spread exaggeration, exact prompts, determinism."""

from __future__ import annotations

import pytest

from generate.errors import ConfigError
from prompt import EXAGGERATION_LEVELS, LAYOUTS, PromptCompiler, plan_variations
from style import StyleRegistry


@pytest.fixture(autouse=True)
def _no_user_styles(monkeypatch):
    monkeypatch.delenv("SKETCHGEN_STYLES_DIR", raising=False)


@pytest.fixture(scope="module")
def registry():
    return StyleRegistry()


@pytest.fixture
def mascot(registry):
    return registry.get_style("vintage-mascot")


@pytest.fixture
def spec(mascot):
    return PromptCompiler().compile("playful golf mascot", mascot)


@pytest.mark.parametrize("n", [3, 4, 5, 6])
@pytest.mark.parametrize("seed", [None, 0, 7, 12345])
def test_plan_has_distinct_layouts_and_exact_prompts(spec, mascot, n, seed):
    plan = plan_variations(spec, n, seed, style=mascot)
    assert [v.index for v in plan] == list(range(n))
    assert len({v.layout for v in plan}) == n
    for v in plan:
        assert v.layout in LAYOUTS and v.layout_description == LAYOUTS[v.layout]
        assert v.exaggeration in EXAGGERATION_LEVELS
        assert v.exaggeration_description == EXAGGERATION_LEVELS[v.exaggeration]
        assert v.prompt.startswith(spec.prompt_text)
        assert f"Sketch {v.index + 1} of {n}" in v.prompt
        assert v.layout_description in v.prompt and v.exaggeration_description in v.prompt


def test_default_plan_is_fixed(spec):
    plan = plan_variations(spec, 4)
    assert [v.layout for v in plan] == ["centered-hero", "three-quarter", "close-up-bust", "action-pose"]
    assert [v.exaggeration for v in plan] == ["subtle", "moderate", "moderate", "bold"]
    assert [v.exaggeration for v in plan_variations(spec, 3)] == ["subtle", "moderate", "bold"]
    assert {v.exaggeration for v in plan_variations(spec, 6)} == {"subtle", "moderate", "bold"}


def test_same_seed_same_plan_different_seed_may_differ(spec, mascot):
    assert plan_variations(spec, 5, 42, style=mascot) == plan_variations(spec, 5, 42, style=mascot)
    plans = {tuple((v.layout, v.exaggeration) for v in plan_variations(spec, 5, s)) for s in range(10)}
    assert len(plans) > 1


def test_style_layout_and_exaggeration_overrides(registry):
    product = registry.get_style("product-concept")
    spec = PromptCompiler().compile("a cordless kettle", product)
    plan = plan_variations(spec, 4, style=product)
    assert [v.layout for v in plan] == product.layouts[:4]
    assert [v.exaggeration for v in plan] == ["subtle", "moderate", "subtle", "moderate"]

    badge = registry.get_style("badge-emblem")
    badge_spec = PromptCompiler().compile("golf club crest", badge)
    assert plan_variations(badge_spec, 3, style=badge)[0].layout == "badge-emblem"
    for seed in range(5):
        assert {v.layout for v in plan_variations(badge_spec, 6, seed, style=badge)} == set(badge.layouts)


def test_short_layout_override_is_topped_up_distinctly(mascot, spec):
    short = mascot.model_copy(update={"layouts": ["side-profile", "side-profile"], "exaggeration": ["bold"]})
    plan = plan_variations(spec, 5, style=short)
    layouts = [v.layout for v in plan]
    assert layouts[0] == "side-profile" and len(set(layouts)) == 5
    assert {v.exaggeration for v in plan} == {"bold"}


@pytest.mark.parametrize("n", [0, 2, 7, 4.0, True, "4"])
def test_n_out_of_range_is_a_config_error(spec, n):
    with pytest.raises(ConfigError) as info:
        plan_variations(spec, n)
    assert info.value.field == "num_images"


def test_style_must_match_spec(spec, registry):
    with pytest.raises(ConfigError) as info:
        plan_variations(spec, 4, style=registry.get_style("badge-emblem"))
    assert info.value.field == "style_id"


def test_plan_does_not_change_spec(spec):
    before = spec.model_dump()
    plan_variations(spec, 6, 3)
    assert spec.model_dump() == before
