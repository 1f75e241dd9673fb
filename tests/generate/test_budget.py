"""max_cost_usd: a run whose worst-case estimate is over its cap is refused before any call."""

from __future__ import annotations

import pytest

from generate import GenerationConfig
from generate.budget import BudgetExceeded
from generate.errors import ConfigError
from generate.generator import ImageGenerator
from generate.pipeline import RunRequest, SketchPipeline
from prompt.compiler import PromptCompiler
from style.registry import StyleRegistry

PRO_1K = 0.134  # docs/gemini-api-facts.md §8: the image price alone, before prompt and thinking


def test_pipeline_refuses_a_run_over_its_cap_before_any_call(fake, tmp_path):
    request = RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=4, max_cost_usd=0.50)
    with pytest.raises(BudgetExceeded) as info:
        SketchPipeline(output_dir=tmp_path).validate(request)
    err = info.value
    assert err.field == "max_cost_usd"
    assert err.estimate_usd > 4 * PRO_1K and err.cap_usd == 0.50
    assert "$0.5000" in str(err) and f"${err.estimate_usd:.4f}" in str(err)
    assert fake.count == 0
    assert not any(tmp_path.iterdir())  # no run folder either


def test_a_run_under_its_cap_goes_ahead(fake, tmp_path):
    request = RunRequest(brief="golf mascot", model="nano-banana", num_images=3, max_cost_usd=0.50)
    result = SketchPipeline(output_dir=tmp_path).run(request)
    assert result.status == "complete" and fake.count == 3


def test_generator_checks_the_exact_requests_of_a_library_run(fake, tmp_path):
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("golf mascot", style)
    config = GenerationConfig(
        model_name="nano-banana-pro", num_images=3, max_cost_usd=0.30, output_dir=tmp_path
    )
    with pytest.raises(BudgetExceeded):
        ImageGenerator().generate(prompt_spec=spec, style=style, config=config)
    assert fake.count == 0


@pytest.mark.parametrize("cap", [0, -1, "nothing", float("nan")])
def test_a_cap_of_zero_or_less_or_not_a_number_is_refused(cap):
    with pytest.raises(ConfigError) as info:
        GenerationConfig(max_cost_usd=cap)
    assert info.value.field == "max_cost_usd"


@pytest.mark.parametrize("cap", [0, -0.5])
def test_run_request_names_the_cap(cap):
    with pytest.raises(ConfigError, match=r"--max-cost must be more than 0") as info:
        RunRequest.parse({"brief": "x", "max_cost_usd": cap}, labels={"max_cost_usd": "--max-cost"})
    assert info.value.field == "max_cost_usd"


def test_dry_run_says_a_real_run_would_stop(tmp_path):
    request = RunRequest(brief="golf mascot", model="nano-banana-pro", max_cost_usd=0.01)
    prepared = SketchPipeline(output_dir=tmp_path).validate(request, dry_run=True)
    assert any("max_cost_usd" in w for w in prepared.warnings)


def test_trace_is_free_under_any_cap(tmp_path):
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="trace", max_cost_usd=0.0001)
    )
    assert result.status == "complete" and result.cost_usd == 0


@pytest.mark.parametrize("cap", [True, False])
def test_a_cap_of_true_or_false_is_not_read_as_one_or_zero_dollars(cap):
    with pytest.raises(
        ConfigError, match=f"max_cost_usd must be a number of US dollars, not {str(cap).lower()}"
    ):
        RunRequest.parse({"brief": "golf mascot", "max_cost_usd": cap})
