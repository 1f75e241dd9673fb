"""A ``sketch.failed`` event says what the sketch was billed: its metadata's ``cost_usd``."""

from __future__ import annotations

import json

from generate.events import SketchFailed
from generate.pipeline import RunRequest, SketchPipeline
from generate.testing import Behavior


def _run(fake, tmp_path, behavior):
    """A run of three where sketch 2's every attempt answers ``behavior``."""
    fake.script(behavior, match="Sketch 2 of 3", then=behavior)
    events = []
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=3), on_event=events.append
    )
    (failed,) = [e for e in events if isinstance(e, SketchFailed)]
    meta = json.loads((tmp_path / result.run_id / "metadata.json").read_text())
    return failed, meta["sketches"][failed.index]


def test_a_billed_answer_without_an_image_says_what_it_cost(fake, tmp_path):
    # Pro thinks on every call: an answer with no image still bills its prompt and thought tokens.
    failed, rec = _run(fake, tmp_path, Behavior.no_image())
    assert failed.index == 1 and failed.code
    assert failed.cost_usd > 0 and failed.cost_usd == rec["cost_usd"]
    assert failed.to_dict()["cost_usd"] == failed.cost_usd  # the SSE payload carries it


def test_a_blocked_image_fails_at_no_cost(fake, tmp_path):
    failed, rec = _run(fake, tmp_path, Behavior.image_safety())
    assert failed.code == "blocked_output" and failed.cost_usd == 0 == (rec.get("cost_usd") or 0)
