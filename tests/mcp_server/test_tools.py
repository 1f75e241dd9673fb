"""Every tool's answers, through the SDK's Client connected to the server in-process."""

from __future__ import annotations

import asyncio
import os

import pytest
from mcp.shared.exceptions import MCPError

from generate.runs import load_run
from generate.testing import Behavior
from mcp_server.schemas import (
    EstimateOut,
    ModelsOut,
    RunDetailOut,
    RunListOut,
    RunOut,
    StylesOut,
)

TRACE_RUN = {"brief": "playful golf mascot", "model": "trace", "num_images": 3, "seed": 3}


async def _trace_run(client) -> RunOut:
    result = await client.call_tool("generate_sketches", TRACE_RUN)
    assert not result.is_error, result.content[0].text
    return RunOut.model_validate(result.structured_content)


async def test_list_styles_and_models(connect):
    async with connect() as client:
        styles = StylesOut.model_validate((await client.call_tool("list_styles", {})).structured_content)
        assert "vintage-mascot" in {s.id for s in styles.styles}
        models = ModelsOut.model_validate((await client.call_tool("list_models", {})).structured_content)
        ids = [m.id for m in models.models]
        assert ids[0] == "auto" and "trace" in ids and any(i.startswith("gemini-") for i in ids)


async def test_refine_and_vary_make_child_runs_of_a_sketch(connect, output_dir):
    async with connect() as client:
        parent = await _trace_run(client)
        refined = await client.call_tool(
            "refine_sketch", {"run_id": parent.run_id, "index": 1, "instruction": "bigger grin"}
        )
        assert not refined.is_error, refined.content[0].text
        child = RunOut.model_validate(refined.structured_content)
        assert child.parent["run_id"] == parent.run_id and child.parent["index"] == 1
        assert child.num_images == 1 and child.status == "complete"

        varied = await client.call_tool("vary_sketch", {"run_id": parent.run_id, "index": 0, "num_images": 2})
        assert not varied.is_error, varied.content[0].text
        kids = RunOut.model_validate(varied.structured_content)
        assert kids.num_images == 2 and kids.parent["kind"] == "vary"

        detail = RunDetailOut.model_validate(
            (await client.call_tool("get_run", {"run_id": parent.run_id})).structured_content
        )
        assert {c["run_id"] for c in detail.children} == {child.run_id, kids.run_id}

        empty = await client.call_tool(
            "refine_sketch", {"run_id": parent.run_id, "index": 0, "instruction": ""}
        )
        assert empty.is_error and empty.structured_content["error"]["field"] == "instruction"
        missing = await client.call_tool(
            "refine_sketch", {"run_id": parent.run_id, "index": 5, "instruction": "x"}
        )
        assert missing.is_error and missing.structured_content["error"]["field"] == "index"
        unknown = await client.call_tool(
            "vary_sketch", {"run_id": "19990101_000000", "index": 0, "num_images": 1}
        )
        error = unknown.structured_content["error"]
        assert unknown.is_error and error["code"] == "not_found" and "list_runs" in error["message"]


async def test_get_run_and_list_runs(connect, output_dir):
    async with connect() as client:
        run = await _trace_run(client)
        got = await client.call_tool("get_run", {"run_id": run.run_id, "thumbnails": True})
        detail = RunDetailOut.model_validate(got.structured_content)
        assert detail.status == "complete" and detail.brief == "playful golf mascot"
        assert {f.name for f in detail.files} >= {
            "metadata.json",
            "sketch_0.png",
            "sketch_1.png",
            "sketch_2.png",
        }
        assert sum(c.type == "image" for c in got.content) == 3
        assert (
            sum(
                c.type == "image" for c in (await client.call_tool("get_run", {"run_id": run.run_id})).content
            )
            == 0
        )

        listed = RunListOut.model_validate(
            (await client.call_tool("list_runs", {"limit": 5})).structured_content
        )
        assert [r.run_id for r in listed.runs] == [run.run_id] and listed.next_offset is None
        none = RunListOut.model_validate(
            (await client.call_tool("list_runs", {"status": "failed"})).structured_content
        )
        assert none.runs == []
        bad_date = await client.call_tool("list_runs", {"since": "last tuesday"})
        assert bad_date.is_error and bad_date.structured_content["error"]["code"] == "invalid_request"


async def test_resources_are_listed_templated_and_confined_to_the_run_folder(connect, output_dir):
    async with connect() as client:
        run = await _trace_run(client)
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["sketchgen://runs/{run_id}/{file}"]
        uris = {r.uri for r in (await client.list_resources()).resources}
        assert f"sketchgen://runs/{run.run_id}/sketch_0.png" in uris

        # A symlink inside the run folder that points elsewhere is not a run file.
        secret = output_dir.parent / "secret.txt"
        secret.write_text("not yours")
        os.symlink(secret, output_dir / run.run_id / "leak.txt")
        for uri in (
            f"sketchgen://runs/{run.run_id}/leak.txt",
            f"sketchgen://runs/{run.run_id}/../secret.txt",
            "sketchgen://runs/19990101_000000/metadata.json",
        ):
            with pytest.raises(MCPError) as info:
                await client.read_resource(uri)
            assert info.value.code == -32002


async def test_estimate_cost_and_max_cost_refuse_before_any_model_call(connect, fake):
    async with connect() as client:
        request = {"brief": "golf mascot", "model": "nano-banana", "num_images": 4}
        est = EstimateOut.model_validate(
            (await client.call_tool("estimate_cost", request)).structured_content
        )
        assert est.num_images == 4 and est.run_usd > 0
        assert est.run_usd == pytest.approx(4 * est.per_image_usd, rel=1e-3)

        refused = await client.call_tool("generate_sketches", {**request, "max_cost_usd": est.run_usd / 2})
        assert refused.is_error
        error = refused.structured_content["error"]
        assert error["code"] == "over_budget" and error["field"] == "max_cost_usd"
        assert fake.count == 0  # nothing was sent to the model

        allowed = await client.call_tool("generate_sketches", {**request, "max_cost_usd": est.run_usd * 2})
        assert not allowed.is_error, allowed.content[0].text
        assert fake.count == 4


async def test_a_partial_run_is_a_result_with_the_failure_at_its_index(connect, fake):
    async with connect() as client:
        fake.script(Behavior.image_safety(), match="Sketch 2 of 3")
        result = await client.call_tool(
            "generate_sketches", {"brief": "golf mascot", "model": "nano-banana", "num_images": 3}
        )
        assert not result.is_error
        run = RunOut.model_validate(result.structured_content)
        assert run.status == "partial" and run.error is None
        assert [s.status for s in run.sketches] == ["completed", "failed", "completed"]
        assert run.sketches[1].error.code == "blocked_output"


async def test_a_billed_failure_says_what_it_cost_in_progress_and_result(connect, fake, output_dir):
    async with connect() as client:
        # Pro thinks on every call: an answer without an image still bills its prompt and thinking.
        fake.script(Behavior.no_image(), match="Sketch 2 of 3", then=Behavior.no_image())
        messages: list[str] = []

        async def on_progress(done, total, message):
            messages.append(message)

        result = await client.call_tool(
            "generate_sketches",
            {"brief": "golf mascot", "model": "nano-banana-pro", "num_images": 3},
            progress_callback=on_progress,
        )
        run = RunOut.model_validate(result.structured_content)
        failed = run.sketches[1]
        assert failed.status == "failed" and failed.cost_usd > 0
        assert failed.cost_usd == load_run(run.run_id, output_dir)["sketches"][1]["cost_usd"]
        (line,) = [m for m in messages if m.startswith("sketch 1 failed")]
        assert f"billed ${failed.cost_usd:.4f}" in line
        assert not [m for m in messages if "completed" in m and "billed" in m]


async def test_rate_limited_after_the_retries_is_a_retryable_tool_error(connect, fake, output_dir):
    async with connect() as client:
        fake.set_default(Behavior.rate_limited(retry_delay_s=0.01))
        result = await client.call_tool(
            "generate_sketches", {"brief": "golf mascot", "model": "nano-banana", "num_images": 3}
        )
        assert result.is_error
        error = result.structured_content["error"]
        assert error["code"] == "rate_limited" and error["retryable"] is True
        assert "wait" in error["message"]
        assert load_run(result.structured_content["run_id"], output_dir)["status"] == "failed"


async def test_missing_credentials_are_an_auth_tool_error(connect, monkeypatch):
    async with connect() as client:
        result = await client.call_tool("generate_sketches", {"brief": "golf mascot", "model": "nano-banana"})
        assert result.is_error and result.structured_content["error"]["code"] == "auth"


async def test_no_secret_in_a_tool_result(connect, fake, monkeypatch):
    async with connect() as client:
        key = "AIzaSy-not-a-real-key-but-long-enough-0123"
        monkeypatch.setenv("GEMINI_API_KEY", key)
        fake.set_default(Behavior.echo_key())
        result = await client.call_tool(
            "generate_sketches", {"brief": "golf mascot", "model": "nano-banana", "num_images": 3}
        )
        text = " ".join(getattr(c, "text", "") for c in result.content) + str(result.structured_content)
        assert key not in text


async def test_an_unexpected_failure_is_an_internal_tool_error_without_the_secret(
    output_dir, monkeypatch, caplog
):
    from mcp.client import Client

    from mcp_server import SketchTools, create_server

    key = "AIzaSy-another-fake-key-long-enough-4567"
    monkeypatch.setenv("GEMINI_API_KEY", key)

    class Broken(SketchTools):
        async def list_styles(self, args, progress):
            raise RuntimeError(f"the style folder said {key}")

    async with Client(create_server(Broken(output_dir))) as client:
        result = await client.call_tool("list_styles", {})
        assert result.is_error
        assert result.structured_content["error"]["code"] == "internal"
        assert "RuntimeError" in result.content[0].text and key not in result.content[0].text
        assert not (await client.call_tool("list_models", {})).is_error  # still serving
    assert "list_styles failed unexpectedly" in caplog.text and key not in caplog.text


async def test_two_concurrent_runs_on_one_session_each_get_their_own_run_and_progress(connect, fake):
    async with connect() as client:
        progress: dict[str, list[float]] = {"a": [], "b": []}

        def recorder(key):
            async def on_progress(done, total, message):
                progress[key].append(done)

            return on_progress

        results = await asyncio.gather(
            *(
                client.call_tool(
                    "generate_sketches",
                    {"brief": f"golf mascot {key}", "model": "nano-banana", "num_images": n},
                    progress_callback=recorder(key),
                )
                for key, n in (("a", 3), ("b", 4))
            )
        )
        runs = [RunOut.model_validate(r.structured_content) for r in results]
        assert [r.num_images for r in runs] == [3, 4] and all(r.status == "complete" for r in runs)
        assert runs[0].run_id != runs[1].run_id
        assert progress == {"a": [0, 1, 2, 3], "b": [0, 1, 2, 3, 4]}
        assert fake.count == 7


async def test_a_fallback_chain_names_the_model_each_sketch_came_from(connect, fake, output_dir):
    async with connect() as client:
        fake.set_default(Behavior.rate_limited(retry_delay_s=0.01))
        result = await client.call_tool(
            "generate_sketches", {"brief": "golf mascot", "model": "nano-banana, trace", "num_images": 3}
        )
        assert not result.is_error, result.content[0].text
        run = RunOut.model_validate(result.structured_content)
        assert run.status == "complete" and [s.model for s in run.sketches] == ["trace"] * 3
        assert all(len(s.fallbacks) == 1 and s.fallbacks[0].startswith("gemini-") for s in run.sketches)
        detail = RunDetailOut.model_validate(
            (await client.call_tool("get_run", {"run_id": run.run_id})).structured_content
        )
        assert [s.model for s in detail.sketches] == ["trace"] * 3
