"""Resuming a run never forgets what its earlier attempts were billed: the sketch's cost, the run's
totals, the resume's own record, ``summarize_spend``, the daily budget and the run catalog count both."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

from generate.adapter import Usage
from generate.adapters.gemini.catalog import cost_usd, resolve_model
from generate.pipeline import RunRequest, SketchPipeline
from generate.resume import aresume, astream_resume, prepare_resume
from generate.run_catalog import catalog_for
from generate.spend import DailySpend, summarize_spend
from generate.testing import Behavior


def _meta(folder) -> dict:
    return json.loads((folder / "metadata.json").read_text())


def _resume(run_id, root):
    return asyncio.run(aresume(prepare_resume(run_id, root)))


def _one_sketch():
    """A script match for the sketch whose prompt reaches the fake first (and its later attempts)."""
    chosen: list[str] = []

    def match(rec) -> bool:
        if not chosen:
            chosen.append(rec.prompt)
        return rec.prompt == chosen[0]

    return match


def _failed(meta) -> dict:
    (rec,) = [r for r in meta["sketches"] if r["status"] != "completed"]
    return rec


def _today(root, meta) -> float:
    """Today's spend as the daily budget sees it, on the run's own UTC day."""
    return DailySpend(root).today(datetime.fromisoformat(meta["timestamp"]))


def test_a_billed_failure_and_its_resume_are_both_counted(fake, tmp_path):
    # Pro thinks on every call: an answer with no image still bills its prompt and 291 thought tokens.
    fake.script(*[Behavior.no_image()] * 4, match=_one_sketch())  # every attempt of one sketch
    failed = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=3)
    )
    assert failed.status == "partial" and fake.count == 2 + 4
    folder = tmp_path / failed.run_id
    before = _meta(folder)
    rec = _failed(before)
    made = before["totals"]["cost_usd"] - rec["cost_usd"]  # the two sketches made
    per_attempt = [r["cost_usd"] for r in rec["retries"]]
    assert len(per_attempt) == 3 and all(c > 0 for c in per_attempt)  # the fourth attempt was the last
    billed = rec["cost_usd"]
    assert billed > 0 and billed >= sum(per_attempt)
    assert before["totals"]["cost_usd"] == failed.cost_usd == round(made + billed, 6)

    again = _resume(failed.run_id, tmp_path)
    assert again.status == "complete"
    after = _meta(folder)
    rec = after["sketches"][rec["index"]]
    assert rec["status"] == "completed" and rec["prior_cost_usd"] == billed
    new = round(rec["cost_usd"] - billed, 6)
    assert new > 0  # the image the resume made
    total = round(made + billed + new, 6)
    assert after["totals"]["cost_usd"] == again.cost_usd == total
    assert after["resumes"][-1]["cost_usd"] == new  # what the resume itself was billed

    assert summarize_spend(tmp_path)["total_usd"] == total
    assert _today(tmp_path, after) == total
    catalog = catalog_for(tmp_path)
    assert catalog is not None
    catalog.refresh()
    assert round(catalog.spend(), 6) == total


def test_a_paid_sketch_whose_file_was_lost_keeps_its_cost_when_remade(fake, tmp_path):
    made = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=3)
    )
    folder = tmp_path / made.run_id
    meta = _meta(folder)
    first_cost = meta["totals"]["cost_usd"]
    lost = meta["sketches"][1]
    paid = lost["cost_usd"]
    assert paid > 0
    (folder / lost["file"]).unlink()
    meta["status"] = "running"  # as if its process had died before the run settled
    lost.update(status="running", file=None)
    (folder / "metadata.json").write_text(json.dumps(meta))

    _resume(made.run_id, tmp_path)
    after = _meta(folder)
    remade = after["sketches"][1]
    assert remade["status"] == "completed" and remade["prior_cost_usd"] == paid
    assert remade["cost_usd"] > paid
    assert after["totals"]["cost_usd"] == round(first_cost + remade["cost_usd"] - paid, 6)
    assert after["totals"]["cost_usd"] > first_cost
    assert summarize_spend(tmp_path)["total_usd"] == after["totals"]["cost_usd"]


def test_a_blocked_image_costs_nothing(fake, tmp_path):
    # "You will not be charged for blocked images" (the API's finishMessage), thought tokens or not.
    fake.script(Behavior.image_safety(), match=_one_sketch())
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=3)
    )
    meta = _meta(tmp_path / result.run_id)
    rec = _failed(meta)
    assert rec["status"] == "failed" and rec["error"]["code"] == "blocked_output"
    assert rec["cost_usd"] == 0.0
    assert (
        result.cost_usd
        == meta["totals"]["cost_usd"]
        == round(sum(r["cost_usd"] for r in meta["sketches"]), 6)
    )


def test_an_image_less_answer_bills_its_prompt_and_thought_tokens_at_the_catalogs_rates(fake, tmp_path):
    match = _one_sketch()
    fake.script(Behavior.no_image(), match=match)
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=3)
    )
    assert result.status == "complete"
    (rec,) = [r for r in _meta(tmp_path / result.run_id)["sketches"] if r["retries"]]
    assert [r.behavior for r in fake.requests if match(r)] == ["finish", "image"]
    entry = resolve_model("nano-banana-pro")
    # The fake bills what the real API reports for such an answer: the prompt and 291 thought tokens.
    failed = cost_usd(entry, Usage(prompt_tokens=rec["usage"]["prompt_tokens"], thoughts_tokens=291))
    assert rec["retries"][0]["cost_usd"] == failed > 0
    made = cost_usd(entry, Usage(**rec["usage"]))
    assert rec["cost_usd"] == round(failed + made, 6)


def test_a_resume_counts_on_the_day_it_ran_not_the_runs_start_day(fake, tmp_path):
    from datetime import UTC, timedelta

    fake.script(*[Behavior.no_image()] * 4, match=_one_sketch())
    failed = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=3)
    )
    folder = tmp_path / failed.run_id
    before = _meta(folder)
    started = datetime.now(UTC) - timedelta(days=3)  # as if the run had been made three days ago
    before["timestamp"] = started.astimezone().isoformat(timespec="seconds")
    (folder / "metadata.json").write_text(json.dumps(before))

    _resume(failed.run_id, tmp_path)
    after = _meta(folder)
    entry = after["resumes"][-1]
    resumed_on = datetime.fromisoformat(entry["at"]).astimezone(UTC).date().isoformat()
    assert entry["cost_usd"] > 0
    days = {g["key"]: g["cost_usd"] for g in summarize_spend(tmp_path)["groups"]}
    assert days == {started.date().isoformat(): before["totals"]["cost_usd"], resumed_on: entry["cost_usd"]}
    on_that_day = datetime.fromisoformat(entry["at"])
    assert DailySpend(tmp_path).today(on_that_day) == entry["cost_usd"]
    catalog = catalog_for(tmp_path)
    assert catalog is not None and catalog.spend(resumed_on, resumed_on) == entry["cost_usd"]


def test_a_resume_records_what_it_billed_as_each_sketch_settles(fake, tmp_path):
    """A resume that dies part-way still says what it billed, so its day counts it."""
    fake.script(*[Behavior.no_image()] * 8, match=lambda rec: "Sketch 1 of 3" not in rec.prompt)
    failed = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=3)
    )
    folder = tmp_path / failed.run_id
    assert failed.status == "partial"
    fake.script(Behavior.hang(), match="Sketch 3 of 3")  # the resume cannot settle while we look

    async def first_sketch_of_the_resume() -> dict:
        stream = astream_resume(prepare_resume(failed.run_id, tmp_path))
        try:
            async for event in stream:
                if event.event == "sketch.completed":
                    return _meta(folder)  # as it stands on disk with the resume still running
        finally:
            await stream.aclose()  # cancels the hung call
        raise AssertionError("no sketch was remade")

    during = asyncio.run(first_sketch_of_the_resume())
    assert during["status"] == "running"
    made = during["sketches"][1]
    assert made["status"] == "completed"
    assert during["resumes"][-1]["cost_usd"] == round(made["cost_usd"] - made["prior_cost_usd"], 6) > 0


def test_a_damaged_recorded_cost_resumes_as_nothing_billed_before(tmp_path):
    """A sketch whose recorded cost is not a number of dollars (hand-edited, or damaged) is remade
    as one that cost nothing so far, instead of the resume failing on it."""
    made = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="trace", num_images=3)
    )
    folder = tmp_path / made.run_id
    meta = _meta(folder)
    lost = meta["sketches"][1]
    (folder / lost["file"]).unlink()
    lost.update(status="failed", file=None, cost_usd="n/a")
    meta["status"] = "partial"
    (folder / "metadata.json").write_text(json.dumps(meta))

    again = _resume(made.run_id, tmp_path)
    assert again.status == "complete"
    remade = _meta(folder)["sketches"][1]
    assert remade["status"] == "completed" and remade["prior_cost_usd"] == 0.0
    assert isinstance(remade["cost_usd"], float)
