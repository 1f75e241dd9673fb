"""PromptCompiler: deterministic specs, global rules, lettering, budget trimming."""

from __future__ import annotations

import warnings

import pytest

from generate.errors import ConfigError
from prompt import DEFAULT_TOKEN_BUDGET, PromptCompiler, PromptTrimmedWarning, estimate_tokens
from style import GLOBAL_NEGATIVE_RULES, GLOBAL_SKETCH_RULES, StyleRegistry

TYPO_RULE = "no typography, lettering or logos unless the brief asks for them"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    monkeypatch.delenv("SKETCHGEN_STYLES_DIR", raising=False)
    monkeypatch.delenv("SKETCHGEN_PROMPT_TOKEN_BUDGET", raising=False)


@pytest.fixture(scope="module")
def registry():
    return StyleRegistry()


@pytest.fixture
def mascot(registry):
    return registry.get_style("vintage-mascot")


def test_compile_is_deterministic(mascot):
    a = PromptCompiler().compile("playful golf mascot", mascot, context=["for a junior golf camp"])
    b = PromptCompiler().compile("playful golf mascot", mascot, context=["for a junior golf camp"])
    assert a == b
    assert a.model_dump_json() == b.model_dump_json()


def test_spec_fields(mascot):
    spec = PromptCompiler().compile("  Please draw me a playful   golf mascot!  ", mascot)
    assert spec.brief == "  Please draw me a playful   golf mascot!  "
    assert spec.intent == "Please draw me a playful golf mascot!"
    assert spec.subject_terms == ["playful", "golf", "mascot"]
    assert spec.style_id == "vintage-mascot"
    assert spec.compiler == "template-v1"
    assert (
        "concept sketch of: a playful golf mascot, in the Vintage Mascot house style" in spec.refined_intent
    )
    assert spec.token_budget == DEFAULT_TOKEN_BUDGET
    assert spec.token_estimate == estimate_tokens(spec.prompt_text)
    assert spec.trimmed is False


@pytest.mark.parametrize("style_id", ["vintage-mascot", "product-concept", "editorial-spot", "badge-emblem"])
def test_global_rules_always_present(registry, style_id):
    style = registry.get_style(style_id)
    spec = PromptCompiler().compile("a kettle that looks friendly", style)
    assert spec.visual_rules == list(GLOBAL_SKETCH_RULES) + style.visual_rules
    assert spec.negative_constraints == list(GLOBAL_NEGATIVE_RULES) + style.negative_rules
    for rule in (*GLOBAL_SKETCH_RULES, *GLOBAL_NEGATIVE_RULES, *style.visual_rules, *style.negative_rules):
        assert f"- {rule}" in spec.prompt_text
    assert spec.token_estimate <= spec.token_budget


def test_prompt_text_structure(mascot):
    text = (
        PromptCompiler().compile("playful golf mascot", mascot, context="club colours are navy").prompt_text
    )
    headings = ["TASK", "SUBJECT", "STYLE: Vintage Mascot", "SKETCH RULES", "AVOID", "CONTEXT", "OUTPUT"]
    positions = [text.index(h) for h in headings]
    assert positions == sorted(positions)
    assert "exactly one sketch" in text and "white background" in text and "grayscale only" in text
    assert "- club colours are navy" in text


@pytest.mark.parametrize("brief", ["", "   ", "\n\t "])
def test_empty_brief_is_a_config_error(mascot, brief):
    with pytest.raises(ConfigError) as info:
        PromptCompiler().compile(brief, mascot)
    assert info.value.field == "brief"


@pytest.mark.parametrize(
    "brief",
    [
        'golf club crest with the lettering "FAIRWAY FC"',
        "retro diner badge with a wordmark",
        "hand-lettered logo for a bakery",
        "mascot holding a sign that says hello",
    ],
)
def test_lettering_brief_drops_typography_rule(mascot, brief):
    spec = PromptCompiler().compile(brief, mascot)
    assert TYPO_RULE not in spec.negative_constraints
    assert TYPO_RULE not in spec.prompt_text
    assert any("lettering" in note and "lifted" in note for note in spec.context_notes)
    # Every other global rule survives.
    assert set(GLOBAL_NEGATIVE_RULES) - {TYPO_RULE} <= set(spec.negative_constraints)
    assert "no textures or halftone fills" in spec.negative_constraints


def test_quoted_lettering_is_spelled_out(mascot):
    spec = PromptCompiler().compile('crest with the words "EST. 1962" under a ram', mascot)
    assert 'Spell it exactly: "EST. 1962".' in spec.context_notes[-1]
    assert 'Spell it exactly: "EST. 1962".' in spec.prompt_text


def test_plain_brief_keeps_typography_rule(mascot):
    spec = PromptCompiler().compile("a beaver mascot for a textile mill", mascot)
    assert TYPO_RULE in spec.negative_constraints
    assert not spec.context_notes


def test_context_notes(mascot):
    spec = PromptCompiler().compile("owl mascot", mascot, context=["  for a library  ", "", "kid friendly"])
    assert spec.context_notes == ["for a library", "kid friendly"]
    with pytest.raises(ConfigError) as info:
        PromptCompiler().compile("owl mascot", mascot, context=[3])
    assert info.value.field == "context"


def test_over_long_brief_is_trimmed_with_warning(mascot):
    brief = " ".join(f"word{i}" for i in range(2000))
    compiler = PromptCompiler(token_budget=800)
    with pytest.warns(PromptTrimmedWarning, match="trimmed the brief"):
        spec = compiler.compile(brief, mascot)
    assert spec.trimmed is True
    assert spec.token_estimate <= 800 and spec.token_budget == 800
    assert spec.intent.endswith(" …")
    kept = spec.intent.removesuffix(" …").split(" ")
    assert kept == brief.split(" ")[: len(kept)]  # cut at a word boundary, in order
    assert len(kept) > 20
    for rule in (*GLOBAL_SKETCH_RULES, *GLOBAL_NEGATIVE_RULES):
        assert rule in spec.prompt_text


def test_context_is_trimmed_before_the_brief(mascot):
    notes = [f"note {i} " + "detail " * 40 for i in range(20)]
    with pytest.warns(PromptTrimmedWarning, match="context notes"):
        spec = PromptCompiler(token_budget=900).compile("pelican mascot", mascot, context=notes)
    assert spec.trimmed and spec.intent == "pelican mascot"
    assert 0 < len(spec.context_notes) < 20 and spec.context_notes == [
        n.strip() for n in notes[: len(spec.context_notes)]
    ]
    assert spec.token_estimate <= 900


def test_brief_within_budget_does_not_warn(mascot):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not PromptCompiler().compile("playful golf mascot", mascot).trimmed


def test_budget_from_env_and_validation(monkeypatch):
    monkeypatch.setenv("SKETCHGEN_PROMPT_TOKEN_BUDGET", "2000")
    assert PromptCompiler().token_budget == 2000
    assert PromptCompiler(token_budget=900).token_budget == 900
    monkeypatch.setenv("SKETCHGEN_PROMPT_TOKEN_BUDGET", "lots")
    with pytest.raises(ConfigError) as info:
        PromptCompiler()
    assert info.value.field == "token_budget"
    with pytest.raises(ConfigError):
        PromptCompiler(token_budget=10)


def test_estimate_tokens():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


def test_giant_unbroken_brief_is_cut_by_characters(mascot):
    with pytest.warns(PromptTrimmedWarning):
        spec = PromptCompiler(token_budget=700).compile("x" * 20000, mascot)
    assert spec.trimmed and spec.intent.endswith(" …") and len(spec.intent) < 1000
    assert spec.token_estimate <= 700 + 80  # at most the ~64-token floor over
