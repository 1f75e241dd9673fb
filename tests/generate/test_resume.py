"""Resuming a run sends the missing sketches with the request options the run was made with."""

from __future__ import annotations

import asyncio
import json

from generate.pipeline import RunRequest, SketchPipeline
from generate.resume import aresume, prepare_resume


def test_a_resumed_sketch_is_asked_for_with_the_runs_recorded_options(fake, tmp_path):
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=3, response_modalities="image")
    )
    assert result.status == "complete" and fake.requests[-1].response_modalities == ["IMAGE"]
    folder = tmp_path / result.run_id
    meta = json.loads((folder / "metadata.json").read_text())
    meta["status"] = "running"  # as if its process had died while sketch 2 was drawn
    lost = meta["sketches"][1]
    (folder / lost["file"]).unlink()
    lost.update(status="running", file=None)
    (folder / "metadata.json").write_text(json.dumps(meta))
    fake.reset()

    prepared = prepare_resume(result.run_id, tmp_path)
    assert prepared.indexes == [1]
    again = asyncio.run(aresume(prepared))
    assert again.status == "complete" and fake.count == 1
    assert fake.requests[0].response_modalities == ["IMAGE"]
