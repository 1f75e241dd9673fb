"""Sheet mode end to end: one call to the fake Gemini server, a grid cut into sketches, every mode."""

from __future__ import annotations

import asyncio
import json
import math

import numpy as np
import pytest
from PIL import Image

from generate import GenerationConfig, ImageGenerator
from generate.errors import ConfigError, ErrorCode
from generate.events import SketchCompleted, SketchFailed, SketchPreview, SketchRetry
from generate.pipeline import SketchPipeline
from generate.testing import Behavior
from prompt.compiler import PromptCompiler
from style.registry import StyleRegistry
from tests.generate.modes import MODES, gemini_config, run_in_mode


def sheet_config(mode, tmp_path, **overrides):
    return gemini_config(mode, tmp_path, **{"num_images": None, "sheet": "2x2", **overrides})


def outcomes(events):
    return [ev for ev in events if isinstance(ev, (SketchCompleted, SketchFailed))]


@pytest.mark.parametrize("mode", MODES)
def test_a_2x2_sheet_is_one_call_and_four_sketches(fake, mode, tmp_path):
    result, events = run_in_mode(mode, sheet_config(mode, tmp_path))

    assert fake.count == 1  # one call made every sketch
    prompt = fake.requests[0].prompt
    assert "2 columns by 2 rows" in prompt and "exactly one sketch" not in prompt
    assert result.status == "complete" and len(result.images) == 4
    folder = result.output_dir
    assert (folder / "sheet_01.png").is_file()  # the raw sheet is kept
    with Image.open(folder / "sheet_01.png") as sheet:
        assert sheet.size == (1024, 1024)
    meta = json.loads(result.metadata_path.read_text())
    assert meta["config"]["sheet"] == "2x2" and meta["config"]["num_images"] == 4
    boxes = []
    for i, rec in enumerate(meta["sketches"]):
        assert rec["status"] == "completed" and rec["file"] == f"sketch_{i}.png"
        row, col = divmod(i, 2)
        assert rec["sheet"]["layout"] == "2x2" and rec["sheet"]["cell"] == [row, col]
        assert rec["sheet"]["source"] == "sheet_01.png"
        x0, y0, x1, y1 = rec["sheet"]["box"]
        assert 0 <= x0 < x1 <= 1024 and 0 <= y0 < y1 <= 1024
        boxes.append((x0, y0, x1, y1))
        # Each cell's variation is named in the prompt, at its place in reading order.
        var = rec["variation"]
        assert f"Cell {i + 1} (row {row + 1}, column {col + 1}): layout ({var['layout']})" in prompt
        assert f"Exaggeration ({var['exaggeration']})" in prompt
        with Image.open(folder / rec["file"]) as img:
            assert img.mode == "L" and img.size == (1024, 1024)  # post-processed as any sketch
    # The cells tile the sheet in reading order and do not overlap.
    assert boxes[0][2] <= boxes[1][0] and boxes[2][2] <= boxes[3][0]
    assert boxes[0][3] <= boxes[2][1] and boxes[1][3] <= boxes[3][1]
    assert len({rec["variation"]["layout"] for rec in meta["sketches"]}) == 4
    assert [ev.index for ev in outcomes(events)] == [0, 1, 2, 3]
    assert all(isinstance(ev, SketchCompleted) for ev in outcomes(events))
    seqs = [ev.seq for ev in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.mark.parametrize("mode", MODES)
def test_cost_shares_sum_to_the_one_call(fake, mode, tmp_path):
    result, events = run_in_mode(mode, sheet_config(mode, tmp_path, sheet="3x3", image_size="2K"))
    meta = json.loads(result.metadata_path.read_text())
    shares = [rec["cost_usd"] for rec in meta["sketches"]]
    assert len(shares) == 9 and fake.count == 1
    assert max(shares) - min(shares) < 1.5e-6 and min(shares) > 0  # equal, to the micro-dollar
    # What one call costs when made alone (the same request without the sheet): the shares sum to it.
    call = meta["totals"]["cost_usd"]
    assert math.isclose(sum(shares), call, abs_tol=1e-9) and math.isclose(result.cost_usd, call, abs_tol=1e-9)
    assert call == pytest.approx(0.134, abs=0.02)  # one Pro 2K image, not nine
    usage = meta["totals"]["usage"]
    assert usage["output_image_tokens"] == 1120  # one image's tokens, split over the cells
    completed = [ev for ev in events if isinstance(ev, SketchCompleted)]
    assert math.isclose(sum(ev.cost_usd for ev in completed), call, abs_tol=1e-9)


@pytest.mark.parametrize("mode", MODES)
def test_a_missing_gutter_fails_that_rows_cells_and_keeps_the_others(fake, mode, tmp_path):
    fake.set_default(Behavior.sheet_missing_gutter(row=1))
    result, events = run_in_mode(
        mode, sheet_config(mode, tmp_path, sheet="3x2", aspect_ratio="3:2", image_size="2K")
    )

    assert result.status == "partial" and fake.count == 1  # a bad cut is not retried (it is paid for)
    statuses = [s.status for s in result.sketches]
    assert statuses == ["completed"] * 3 + ["failed"] * 3
    meta = json.loads(result.metadata_path.read_text())
    for rec in meta["sketches"][3:]:
        assert rec["error"]["code"] == ErrorCode.SHEET_GUTTER and rec["file"] is None
        assert rec["sheet"]["box"] is None and rec["cost_usd"] > 0  # its share was paid
        assert "could not be separated" in rec["error"]["message"]
    files = sorted(p.name for p in result.output_dir.iterdir() if p.name.startswith("sketch_"))
    assert files == ["sketch_0.png", "sketch_1.png", "sketch_2.png"]  # nothing broken saved
    failed = [ev for ev in events if isinstance(ev, SketchFailed)]
    assert [ev.index for ev in failed] == [3, 4, 5] and {ev.code for ev in failed} == {ErrorCode.SHEET_GUTTER}
    assert math.isclose(sum(r["cost_usd"] for r in meta["sketches"]), meta["totals"]["cost_usd"])


def test_an_empty_cell_is_one_failed_sketch(fake, tmp_path):
    fake.set_default(Behavior.sheet_empty_cell(row=0, col=1))
    result, _ = run_in_mode("sync", sheet_config("sync", tmp_path))
    assert [s.status for s in result.sketches] == ["completed", "failed", "completed", "completed"]
    assert result.sketches[1].error["code"] == ErrorCode.SHEET_CELL_EMPTY


@pytest.mark.parametrize("mode", MODES)
def test_a_failed_call_is_retried_once_for_the_sheet_and_fails_every_cell_at_the_end(fake, mode, tmp_path):
    fake.script(Behavior.server_error(503), Behavior.ok())
    result, events = run_in_mode(mode, sheet_config(mode, tmp_path))
    assert result.status == "complete" and fake.count == 2
    retries = [ev for ev in events if isinstance(ev, SketchRetry)]
    assert sorted(ev.index for ev in retries) == [0, 1, 2, 3]  # every cell hears of the retry

    fake.reset()
    fake.set_default(Behavior.image_safety())
    result, events = run_in_mode(mode, sheet_config(mode, tmp_path))
    assert result.status == "failed" and fake.count == 1
    assert {ev.code for ev in outcomes(events)} == {ErrorCode.BLOCKED_OUTPUT}
    assert [ev.index for ev in outcomes(events)] == [0, 1, 2, 3]


def test_stream_previews_belong_to_the_sheet(fake, tmp_path):
    fake.set_default(Behavior.with_thoughts(2))
    result, events = run_in_mode("stream", sheet_config("stream", tmp_path))
    previews = [ev for ev in events if isinstance(ev, SketchPreview)]
    assert previews and {ev.index for ev in previews} == {0}  # reported at the sheet's first cell
    assert result.status == "complete" and fake.count == 1


def test_a_sheet_cell_carries_no_signature_of_the_sheet(fake, tmp_path):
    fake.set_default(Behavior.with_thoughts(1))
    result, _ = run_in_mode("gather", sheet_config("gather", tmp_path))
    for sketch in result.sketches:
        assert sketch.record.get("model_turn") is None and sketch.record.get("thought_signature") is None


# -- bad input: one clear error, before any call --------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"sheet": "4x4"}, "sheet", "sheet must be one of 2x2, 3x2, 2x3, 3x3"),
        ({"sheet": "2x2", "num_images": 3}, "num_images", "does not match sheet 2x2 (4 cells)"),
        ({"sheet": "3x3", "num_images": 4}, "num_images", "set it to 9"),
    ],
)
def test_bad_sheet_configs_are_refused(overrides, field, text):
    with pytest.raises(ConfigError) as info:
        GenerationConfig(**overrides)
    assert info.value.field == field and text in str(info.value)


def test_num_images_follows_the_sheet():
    assert GenerationConfig(sheet="3x3").num_images == 9
    assert GenerationConfig(sheet="3x2", num_images=6).num_images == 6
    assert GenerationConfig().num_images == 4


@pytest.mark.parametrize(
    ("request_fields", "text"),
    [
        # 3x3 at 1K: cells of ~341 px, and the catalog lists only 2x2 at 1K.
        ({"sheet": "3x3"}, "sheet 3x3 is not offered by gemini-3-pro-image at image size 1K"),
        # Listed at 2K, but a 1:4 image is 1024 px wide: three columns of ~341 px.
        ({"sheet": "3x3", "image_size": "2K", "aspect_ratio": "1:4", "model": "nano-banana-2.1"}, "too fine"),
        ({"sheet": "3x3", "model": "trace"}, "sheet 3x3 is too fine for trace at 1:1 1K"),
        ({"sheet": "2x2", "image": "drawing.png"}, "cannot redraw an image"),
        ({"sheet": "5x1"}, "sheet must be one of"),
    ],
)
def test_a_layout_the_model_or_size_cannot_hold_is_refused_before_any_call(
    fake, request_fields, text, tmp_path
):
    Image.new("RGB", (64, 64), "white").save(tmp_path / "drawing.png")
    fields = {"brief": "playful golf mascot", "model": "nano-banana-pro", **request_fields}
    if "image" in fields:
        fields["image"] = str(tmp_path / fields["image"])
    with pytest.raises(ConfigError) as info:
        SketchPipeline(output_dir=tmp_path / "out").run(fields)
    assert text in str(info.value) and info.value.field == "sheet"
    assert fake.count == 0 and not (tmp_path / "out").exists()


def test_a_dry_run_of_a_sheet_prices_one_call(fake, tmp_path):
    plan = SketchPipeline(output_dir=tmp_path).dry_run(
        {"brief": "playful golf mascot", "model": "nano-banana-pro", "sheet": "2x2"}
    )
    assert plan["num_images"] == 4 and plan["sheet"]["layout"] == "2x2" and plan["sheet"]["calls"] == 1
    assert "2 columns by 2 rows" in plan["sheet"]["prompt"]
    pro = next(row for row in plan["estimated_cost"] if row["model"] == "gemini-3-pro-image")
    assert pro["run_usd"] == pro["per_image_usd"]
    assert fake.count == 0


def test_leaving_the_stream_aborts_the_sheet_call_and_records_every_cell_cancelled(fake, tmp_path):
    fake.set_default(Behavior.ok(latency=30))
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    gen = ImageGenerator()

    async def leave_once_the_call_is_out():
        async def listen():
            async for _ in gen.astream_events(
                prompt_spec=spec, style=style, config=sheet_config("gather", tmp_path)
            ):
                pass

        listener = asyncio.create_task(listen())
        await asyncio.to_thread(fake.wait_for_requests, 1)
        listener.cancel()  # the consumer goes away while the one call is in flight
        with pytest.raises(asyncio.CancelledError):
            await listener

    asyncio.run(leave_once_the_call_is_out())
    assert fake.wait_for(lambda f: f.aborted_count == 1) and fake.count == 1
    assert gen.last_result.status == "cancelled"
    assert [s.status for s in gen.last_result.sketches] == ["cancelled"] * 4


def test_the_model_listing_names_each_models_sheets():
    from generate.models import list_models

    pro = next(m for m in list_models() if m.get("id") == "gemini-3-pro-image")
    assert pro["sheet_layouts"]["1K"] == ["2x2"] and "3x3" in pro["sheet_layouts"]["2K"]
    # trace lists the sheets its own check takes at each size (square): 3x3 only from 2K.
    trace = next(m for m in list_models() if m.get("id") == "trace")
    assert trace["sheet_layouts"] == {
        "1K": ["2x2"],
        "2K": ["2x2", "3x2", "2x3", "3x3"],
        "4K": ["2x2", "3x2", "2x3", "3x3"],
    }
    other = next(m for m in list_models() if m.get("id") == "openai:gpt-image-2")
    assert not other.get("sheet_layouts")  # makes no sheets: none offered


def test_refining_a_sheet_cell_edits_that_cell_alone(fake, tmp_path):
    from generate.iterate import RefineRequest

    fake.set_default(Behavior.with_thoughts(1))
    parent, _ = run_in_mode("sync", sheet_config("sync", tmp_path))
    fake.reset()
    pipeline = SketchPipeline(output_dir=tmp_path)
    prepared = pipeline.prepare_iteration(
        RefineRequest(run_id=parent.run_id, index=2, instruction="make the cap bigger", num_images=1)
    )
    child = pipeline.run(prepared)
    assert child.status == "complete" and fake.count == 1
    (call,) = fake.requests
    assert "columns by" not in call.prompt and "make the cap bigger" in call.prompt
    assert [c["role"] for c in call.contents] == ["user"]  # no sheet conversation is continued
    assert child.iteration["path"] == "edit" and "cell of a sheet" in child.iteration["reason"]


def test_a_model_that_makes_no_sheets_refuses_one():
    from generate.adapter import AdapterCapabilities, ImageModelAdapter
    from generate.sheet_cut import SheetLayout

    class OnePerCall(ImageModelAdapter):
        name = "one-per-call"
        capabilities = AdapterCapabilities(
            max_reference_images=0, aspect_ratios=("1:1",), image_sizes=("1K",)
        )

        def generate(self, request):
            raise AssertionError("never called")

    with pytest.raises(ConfigError) as info:
        OnePerCall().check_sheet(SheetLayout.parse("2x2"), aspect_ratio="1:1", image_size="1K")
    assert info.value.field == "sheet" and "does not make sheets" in str(info.value)


@pytest.mark.parametrize("mode", ["sync", "gather"])
def test_the_trace_model_makes_sheets_offline(mode, tmp_path):
    from generate.adapters.trace.sheet import cell_boxes
    from rag.retriever import ImageRetriever

    config = GenerationConfig(
        model_name="trace", sheet="3x2", aspect_ratio="3:2", image_size="2K", output_dir=tmp_path
    )
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    retrieval = ImageRetriever().retrieve(spec, style, top_k=3)
    gen = ImageGenerator()
    if mode == "sync":
        result = gen.generate(prompt_spec=spec, retrieval_result=retrieval, style=style, config=config)
    else:
        result = asyncio.run(
            gen.generate_async(prompt_spec=spec, retrieval_result=retrieval, style=style, config=config)
        )
    assert result.status == "complete" and len(result.images) == 6 and result.cost_usd == 0
    meta = json.loads(result.metadata_path.read_text())
    with Image.open(result.output_dir / "sheet_01.png") as sheet:
        page = np.asarray(sheet.convert("L"))
    for rec, (x0, y0, x1, y1) in zip(meta["sketches"], cell_boxes(page.shape[::-1], 3, 2), strict=True):
        ys, xs = np.nonzero(page[y0:y1, x0:x1] < 200)
        bx0, by0, bx1, by1 = rec["sheet"]["box"]
        # Each cut holds the whole drawing of the cell it was composed from.
        assert bx0 <= x0 + xs.min() and by0 <= y0 + ys.min() and bx1 > x0 + xs.max() and by1 > y0 + ys.max()
        assert rec["variation"]["layout"] in rec["prompt"]


def test_a_budget_counts_a_sheet_as_one_call(fake, tmp_path):
    fields = {"brief": "playful golf mascot", "model": "nano-banana-pro", "sheet": "2x2", "max_cost_usd": 0.2}
    # One Pro call is about $0.14; four would be about $0.56: a $0.20 cap lets the sheet through.
    result = SketchPipeline(output_dir=tmp_path).run(fields)
    assert result.status == "complete" and fake.count == 1 and result.cost_usd <= 0.2
    with pytest.raises(ConfigError) as info:
        SketchPipeline(output_dir=tmp_path).run({**fields, "max_cost_usd": 0.05})
    assert info.value.field == "max_cost_usd" and "this 2x2 sheet of 4 sketches (one call)" in str(info.value)
    assert fake.count == 1


@pytest.mark.parametrize("mode", ["sync", "gather"])
def test_a_spent_daily_quota_fails_every_cell_at_once(fake, mode, tmp_path):
    fake.set_default(Behavior.rate_limited(retry_delay_s=0.01, per_day=True))
    result, events = run_in_mode(mode, sheet_config(mode, tmp_path))
    assert result.status == "failed" and fake.count == 1  # not retried into a wall
    assert {ev.code for ev in outcomes(events)} == {ErrorCode.QUOTA_EXHAUSTED}
    assert sorted(ev.index for ev in outcomes(events)) == [0, 1, 2, 3]


@pytest.mark.parametrize("mode", MODES)
def test_a_billed_failed_sheet_call_is_shared_by_the_cells_and_counted(fake, mode, tmp_path):
    fake.script(Behavior.no_image())  # the first call bills its prompt and thought tokens, no image
    result, _ = run_in_mode(mode, sheet_config(mode, tmp_path, image_size="2K"))
    assert result.status == "complete" and fake.count == 2
    meta = json.loads(result.metadata_path.read_text())
    shares = [r["retries"][0]["cost_usd"] for r in meta["sketches"]]  # each cell's share of the failed call
    assert max(shares) - min(shares) < 1.5e-6 and min(shares) > 0
    failed = sum(shares)
    made = sum(r["cost_usd"] for r in meta["sketches"]) - failed
    assert made == pytest.approx(0.134, abs=0.02)  # one Pro 2K image, as the sheet test above
    assert math.isclose(meta["totals"]["cost_usd"], made + failed, abs_tol=1e-6)
