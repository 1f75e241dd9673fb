"""References through a whole run: labelled in the turn, unreadable files never sent, what each call
carried recorded per sketch, and the dry run showing the same text."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from cli.main import main
from generate.pipeline import RunRequest, SketchPipeline

GOOD = ("golf-ball-mascot.png", "golf-mascot-caddie.png")
BAD = ("golf-mascot-hero.png", "golf-mascot-swing.jpg")  # the best name matches, and unreadable


@pytest.fixture
def golf_style(tmp_path, monkeypatch):
    """A user style with two good references and two files that only look like images."""
    refs = tmp_path / "golf-refs"
    refs.mkdir()
    for i, name in enumerate(GOOD):
        img = Image.new("RGB", (300, 300), "white")
        ImageDraw.Draw(img).ellipse((30 + 20 * i, 30, 270, 270 - 20 * i), outline="black", width=8)
        img.save(refs / name)
    (refs / BAD[0]).write_bytes(b"<html><body>403 Forbidden</body></html>")
    (refs / BAD[1]).write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 32)  # a JPEG cut off after its header
    for name in BAD:  # captions make them the strongest matches, so a careless ranking picks them
        (refs / name).with_suffix(".txt").write_text("playful golf mascot golf mascot")
    styles = tmp_path / "styles"
    styles.mkdir()
    (styles / "golf.toml").write_text(
        f'id = "golf"\nname = "Golf"\ndescription = "Test style"\nreference_dirs = ["{refs}"]\n'
    )
    monkeypatch.setenv("SKETCHGEN_STYLES_DIR", str(styles))
    return refs


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_gemini_gets_labelled_readable_references_and_metadata_says_which(
    golf_style, gemini_env, tmp_path, caplog
):
    with caplog.at_level(logging.WARNING, logger="sketchgen.rag"):
        result = SketchPipeline(output_dir=tmp_path / "out").run(
            RunRequest(brief="playful golf mascot", style_id="golf", model="nano-banana-pro", top_k=4)
        )
    assert result.status == "complete"
    skipped_lines = [r.getMessage() for r in caplog.records if "unreadable reference" in r.getMessage()]
    assert len(skipped_lines) == 1 and all(name in skipped_lines[0] for name in BAD)

    assert len(gemini_env.requests) == result.config.num_images
    for rec in gemini_env.requests:
        # prompt (saying what the images are), then a label before each image, in order
        assert [kind for kind, _ in rec.parts] == ["text", "text", "image", "text", "image"]
        intro, label1, label2 = rec.parts[0][1], rec.parts[1][1], rec.parts[3][1]
        assert "2 images" in intro and "style references" in intro and "draw a new concept" in intro
        labelled = sorted(
            [
                label1.split("style reference, ")[1].split(")")[0],
                label2.split("style reference, ")[1].split(")")[0],
            ]
        )
        assert labelled == sorted(GOOD)
        assert label1.startswith("Reference image 1 (") and label2.startswith("Reference image 2 (")
        assert "do not copy its subject, pose, composition" in label1

    meta = json.loads(result.metadata_path.read_text())
    assert sorted(Path(s["path"]).name for s in meta["retrieval"]["skipped"]) == sorted(BAD)
    assert sorted(Path(p).name for p in meta["reference_images"]) == sorted(GOOD)
    assert all(hit["sent"] for hit in meta["retrieval"]["hits"])
    for sketch in meta["sketches"]:
        sent = sketch["references_sent"]
        assert [r["name"] for r in sent] == [Path(p).name for p in sketch["references"]]
        for ref in sent:
            assert ref["sha256"] == _sha(golf_style / ref["name"])


def test_trace_never_gets_an_unreadable_reference(golf_style, tmp_path):
    result = SketchPipeline(output_dir=tmp_path / "out").run(
        RunRequest(brief="playful golf mascot", style_id="golf", model="trace", top_k=4)
    )
    meta = json.loads(result.metadata_path.read_text())
    assert result.status == "complete", [s["error"] for s in meta["sketches"]]
    for sketch in meta["sketches"]:
        assert len(sketch["references_sent"]) == 1  # trace draws over one reference per sketch
        assert sketch["references_sent"][0]["name"] in GOOD


def test_a_trace_dry_run_shows_the_prompt_and_the_images_it_would_draw_over(golf_style, tmp_path):
    plan = SketchPipeline(output_dir=tmp_path / "out").dry_run(
        RunRequest(brief="playful golf mascot", style_id="golf", model="trace", top_k=4)
    )
    turn = plan["sketches"][0]["turn"]
    assert turn[0] == {"text": plan["sketches"][0]["prompt"]}  # no Gemini labels: trace is not Gemini
    assert [p["image"] for p in turn[1:]] == [Path(r["path"]).name for r in plan["retrieval"]["references"]]


def test_dry_run_shows_the_reference_labels(golf_style, tmp_path, capsys):
    # The labels are what a Gemini model is sent; a dry run needs no credentials.
    plan = SketchPipeline(output_dir=tmp_path / "out").dry_run(
        RunRequest(brief="playful golf mascot", style_id="golf", model="nano-banana", top_k=4)
    )
    turn = plan["sketches"][0]["turn"]
    assert turn[0]["text"].startswith(plan["sketches"][0]["prompt"])
    assert "style references" in turn[0]["text"]
    assert [p.get("image") for p in turn if "image" in p] == [
        Path(r["path"]).name for r in plan["retrieval"]["references"]
    ]
    assert turn[1]["text"].startswith("Reference image 1 (style reference, ")

    code = main(
        [
            "generate",
            "playful golf mascot",
            "--style",
            "golf",
            "--model",
            "nano-banana",
            "--top-k",
            "4",
            "--dry-run",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Reference image 1 (style reference, " in out and "Reference image 2 (style reference, " in out
    images = [line for line in out.splitlines() if line.startswith("[image: ")]
    assert images and all(line[len("[image: ") : -1] in GOOD for line in images)


def test_a_failed_call_records_the_references_it_carried(golf_style, gemini_env, tmp_path, capsys):
    from generate.testing import Behavior

    gemini_env.script(Behavior.image_safety(), match="Sketch 2 of 3", then=Behavior.image_safety())
    code = main(
        [
            "generate",
            "playful golf mascot",
            "--style",
            "golf",
            "-n",
            "3",
            "--model",
            "nano-banana-pro",
            "--top-k",
            "4",
            "--output-dir",
            str(tmp_path / "out"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 3  # partial
    # the CLI says which files were passed over (its log lines are off by default)
    assert out.count("skipped 2 unreadable reference file(s)") == 1 and BAD[0] in out
    meta = json.loads(next((tmp_path / "out").glob("*/metadata.json")).read_text())
    failed = meta["sketches"][1]
    assert failed["status"] == "failed"
    assert sorted(r["name"] for r in failed["references_sent"]) == sorted(GOOD)
