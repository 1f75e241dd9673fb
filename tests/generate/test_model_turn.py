"""The model's own image, kept for a refinement, is named by the type its bytes show (not the label)."""

from __future__ import annotations

import json

import pytest

from generate.pipeline import RunRequest, SketchPipeline
from generate.testing import Behavior


@pytest.mark.parametrize(
    ("behavior", "suffix", "magic"),
    [(Behavior.ok(), ".png", b"\x89PNG"), (Behavior.jpeg_labelled_png(), ".jpg", b"\xff\xd8\xff")],
    ids=["png", "jpeg-labelled-png"],
)
def test_the_kept_model_image_has_the_suffix_of_its_bytes(fake, tmp_path, behavior, suffix, magic):
    fake.set_default(behavior)
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=3)
    )
    assert result.status == "complete"
    meta = json.loads((result.output_dir / "metadata.json").read_text())
    for rec in meta["sketches"]:
        source = rec["model_turn"]["source_file"]
        assert source == f"sketch_{rec['index']}.model{suffix}"
        assert (result.output_dir / source).read_bytes().startswith(magic)
