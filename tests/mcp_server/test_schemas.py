"""The tools' published schemas hold for what the server really answers, and bound what it takes."""

from __future__ import annotations

import pytest
from jsonschema.validators import validator_for

TRACE = {"brief": "playful golf mascot", "model": "trace", "num_images": 3, "seed": 5}


def _check(schema: dict, instance: dict) -> list[str]:
    cls = validator_for(schema)
    cls.check_schema(schema)
    return [e.message for e in cls(schema).iter_errors(instance)]


async def test_every_structured_result_follows_the_output_schema_error_results_too(connect):
    async with connect() as client:
        schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
        run = (await client.call_tool("generate_sketches", TRACE)).structured_content
        run_id = run["run_id"]
        calls = [
            ("generate_sketches", TRACE),
            ("generate_sketches", {"brief": ""}),  # bad input
            ("generate_sketches", {"brief": "x", "model": "nano-banana"}),  # no credentials
            ("refine_sketch", {"run_id": run_id, "index": 0, "instruction": "bigger grin"}),
            ("refine_sketch", {"run_id": run_id, "index": 9, "instruction": "x"}),  # no such sketch
            ("vary_sketch", {"run_id": run_id, "index": 1, "num_images": 1}),
            ("vary_sketch", {"run_id": "19990101_000000", "index": 0}),  # no such run
            ("estimate_cost", TRACE),
            ("estimate_cost", {"brief": "x", "model": "no-such-model"}),
            ("list_styles", {}),
            ("list_styles", {"surprise": 1}),
            ("list_models", {}),
            ("get_run", {"run_id": run_id, "thumbnails": True}),
            ("get_run", {"run_id": "19990101_000000"}),
            ("list_runs", {}),
            ("list_runs", {"since": "last tuesday"}),
        ]
        for name, args in calls:
            result = await client.call_tool(name, args)
            assert result.structured_content is not None, (name, args)
            assert _check(schemas[name], result.structured_content) == [], (name, args, result.is_error)
        assert {n for n, _ in calls} == set(schemas)  # every tool was called


@pytest.mark.parametrize(
    ("tool", "args", "field"),
    [
        ("generate_sketches", {"brief": "x", "style_id": "s" * 5000}, "style_id"),
        ("generate_sketches", {"brief": "x", "style_id": "../etc"}, "style_id"),
        ("generate_sketches", {"brief": "x", "model": "m" * 5000}, "model"),
        ("generate_sketches", {"brief": "x", "aspect_ratio": "wide"}, "aspect_ratio"),
        ("generate_sketches", {"brief": "x", "image_size": "8K"}, "image_size"),
        ("generate_sketches", {"brief": "x", "seed": 10**30}, "seed"),
        ("estimate_cost", {"brief": "x", "image_size": "huge"}, "image_size"),
        ("refine_sketch", {"run_id": "../../etc", "index": 0, "instruction": "x"}, "run_id"),
        ("vary_sketch", {"run_id": "20260101_000000", "index": 10**12}, "index"),
        ("get_run", {"run_id": "x" * 39}, "run_id"),
        ("list_runs", {"status": "bogus"}, "status"),
        ("list_runs", {"since": "last tuesday"}, "since"),
        ("list_runs", {"until": "2026-13-45"}, "until"),
        ("list_runs", {"model": "m" * 500}, "model"),
    ],
)
async def test_out_of_bounds_input_is_refused_naming_the_field_before_any_model_call(
    connect, fake, tool, args, field
):
    async with connect() as client:
        schema = next(t.input_schema for t in (await client.list_tools()).tools if t.name == tool)
        if field not in ("since", "until"):  # a date's form is checked by the server only
            assert _check(schema, args) != []  # the published schema already says it is wrong
        result = await client.call_tool(tool, args)
        error = result.structured_content["error"]
        assert result.is_error and error["code"] == "invalid_request" and error["field"] == field
        assert field in error["message"] and len(error["message"]) < 400
        assert fake.count == 0


def test_every_string_input_is_capped_or_an_enum():
    from mcp_server.schemas import TOOL_SPECS

    for spec in TOOL_SPECS:
        for name, prop in spec.input_schema()["properties"].items():
            for branch in prop.get("anyOf", [prop]):
                if branch.get("type") == "string":
                    assert "maxLength" in branch or "enum" in branch, (spec.name, name)


@pytest.mark.parametrize("cap", [0, -1, True, "inf"])
def test_a_cap_the_library_refuses_is_refused_by_the_tool_schema_too(cap):
    """The same rule as a run, a batch and HTTP: more than 0 US dollars, a number, finite."""
    from pydantic import ValidationError

    from mcp_server.schemas import GenerateSketchesInput

    with pytest.raises(ValidationError, match="max_cost_usd"):
        GenerateSketchesInput(brief="playful golf mascot", max_cost_usd=cap)
