"""Refine and vary a sketch: multi-turn history with exact signatures, the edit fallback, lineage."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image, ImageChops, ImageStat

from generate import ImageGenerator
from generate.errors import ConfigError
from generate.iterate import MAX_INSTRUCTION_CHARS, RefineRequest, VaryRequest
from generate.pipeline import RunRequest, SketchPipeline
from generate.testing import Behavior
from generate.testing.fake_behaviors import signature_bytes

PRO = "gemini-3-pro-image"


def _first_run(tmp_path, n=3, model="nano-banana-pro"):
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="playful golf mascot", model=model, num_images=n, top_k=1)
    )
    assert result.status == "complete"
    return result


def _meta(result) -> dict:
    return json.loads(result.metadata_path.read_text())


def test_metadata_keeps_the_model_turn_as_received(fake, tmp_path):
    fake.set_default(Behavior.with_thoughts(2))
    result = _first_run(tmp_path)
    rec = _meta(result)["sketches"][0]
    parts = rec["model_turn"]["parts"]
    assert [(p["kind"], p["thought"], p["chosen"]) for p in parts] == [
        ("image", True, False),
        ("image", True, False),
        ("image", False, True),
        ("text", False, False),
    ]
    # The signature is stored exactly as the wire wrote it (standard base64, '+' and '/' kept).
    wire = base64.b64encode(signature_bytes(rec["response_id"])).decode()
    assert wire.startswith("+/+/")
    assert parts[2]["thought_signature"] == wire == rec["thought_signature"]
    assert [p["thought_signature"] for p in parts if not p["chosen"]] == [None, None, None]
    assert parts[2]["mime_type"] == "image/png" and parts[3]["text"] == "Here is a rough concept sketch."
    # The model's own bytes are kept beside the post-processed sketch.
    source = result.output_dir / rec["model_turn"]["source_file"]
    assert source.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert source.read_bytes() != (result.output_dir / rec["file"]).read_bytes()


def test_a_url_safe_signature_goes_back_as_the_same_bytes(fake, tmp_path):
    fake.set_default(Behavior.ok(urlsafe_signature=True))
    parent = _first_run(tmp_path)
    rec = _meta(parent)["sketches"][0]
    raw = signature_bytes(rec["response_id"])
    # Recorded in the standard alphabet (the Gemini API's own); the bytes are what count.
    assert base64.b64decode(rec["thought_signature"]) == raw
    fake.reset()
    SketchPipeline(output_dir=tmp_path).refine(RefineRequest(run_id=parent.run_id, index=0, instruction="x"))
    assert fake.requests[-1].contents[1]["parts"][0]["signature_bytes"] == raw


def _run_mode(mode: str, prepared):
    gen = ImageGenerator(adapter=prepared.adapter)
    kwargs = dict(
        prompt_spec=prepared.spec,
        retrieval_result=prepared.retrieval,
        style=prepared.style,
        config=prepared.config,
        plan=prepared.plan,
    )
    if mode == "sync":
        return gen.generate(**kwargs)
    if mode == "gather":
        return asyncio.run(gen.generate_async(**kwargs))

    async def stream():
        outcomes = [(i, p, e) async for i, p, e in gen.generate_streaming_async(**kwargs)]
        assert sorted(i for i, _, _ in outcomes) == list(range(prepared.config.num_images))
        return gen.last_result

    return asyncio.run(stream())


@pytest.mark.parametrize("mode", ["sync", "gather", "streaming"])
def test_refine_sends_the_parent_conversation_with_its_exact_signature(fake, tmp_path, mode):
    fake.set_default(Behavior.with_thoughts(1))
    parent = _first_run(tmp_path)
    parent_rec = _meta(parent)["sketches"][1]
    [parent_call] = [r for r in fake.requests if "Sketch 2 of 3" in r.prompt]
    fake.reset()
    pipeline = SketchPipeline(output_dir=tmp_path)
    prepared = pipeline.prepare_iteration(
        RefineRequest(run_id=parent.run_id, index=1, instruction="make the cap bigger", num_images=2)
    )
    child = _run_mode(mode, prepared)

    assert child.status == "complete" and len(child.images) == 2
    assert fake.count == 2
    source = (parent.output_dir / parent_rec["model_turn"]["source_file"]).read_bytes()
    for rec in fake.requests:
        assert [c["role"] for c in rec.contents] == ["user", "model", "user"]
        first, model, new = rec.contents
        # The first turn is rebuilt exactly as the parent's call sent it: texts, labels, image bytes.
        assert first == parent_call.contents[0]
        assert first["parts"][0]["text"].startswith(parent_rec["prompt"])
        # Only the chosen image and the text went back: no thought image, and the very bytes.
        assert [("data" in p, p.get("thought", False)) for p in model["parts"]] == [
            (True, False),
            (False, False),
        ]
        assert model["parts"][0]["data"] == source
        assert model["parts"][0]["signature_bytes"] == signature_bytes(parent_rec["response_id"])
        assert "make the cap bigger" in new["parts"][0]["text"] and "SKETCH RULES" in new["parts"][0]["text"]
        assert not any("data" in p for p in new["parts"])
    meta = _meta(child)
    assert meta["parent"] == {
        "run_id": parent.run_id,
        "index": 1,
        "instruction": "make the cap bigger",
        "kind": "refine",
        "file": "sketch_1.png",
        "model": PRO,
    }
    assert meta["iteration"]["path"] == "multi_turn" and meta["config"]["num_images"] == 2
    assert child.parent == meta["parent"] and child.iteration == meta["iteration"]
    # The history is counted as input: prompt tokens include the parent's images and text.
    assert all(s["usage"]["prompt_tokens"] > 1000 for s in meta["sketches"])


@pytest.mark.parametrize("mode", ["sync", "gather", "streaming"])
def test_vary_in_every_mode_sends_the_same_history(fake, tmp_path, mode):
    parent = _first_run(tmp_path)
    parent_rec = _meta(parent)["sketches"][0]
    fake.reset()
    prepared = SketchPipeline(output_dir=tmp_path).prepare_iteration(
        VaryRequest(run_id=parent.run_id, index=0, num_images=3)
    )
    child = _run_mode(mode, prepared)
    assert child.status == "complete" and fake.count == 3
    for rec in fake.requests:
        assert [c["role"] for c in rec.contents] == ["user", "model", "user"]
        assert rec.contents[1]["parts"][0]["signature_bytes"] == signature_bytes(parent_rec["response_id"])
        assert "MORE LIKE THIS" in rec.prompt
    assert sorted(r.prompt.split("Sketch ")[1][:6] for r in fake.requests) == ["1 of 3", "2 of 3", "3 of 3"]
    assert _meta(child)["parent"]["kind"] == "vary"


def test_fake_refuses_a_model_image_without_its_signature(fake):
    client = genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=fake.base_url))
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAG7buVgAAAABJRU5ErkJggg=="
    )
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text="a mascot")]),
        types.Content(role="model", parts=[types.Part.from_bytes(data=png, mime_type="image/png")]),
        types.Content(role="user", parts=[types.Part.from_text(text="bigger cap")]),
    ]
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model=PRO, contents=contents)
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert (
        info.value.message
        == "Image part is missing a thought_signature in content position 2, part position 1."
    )


def test_fake_refuses_a_leading_model_text_without_its_signature(fake):
    client = genai.Client(api_key="test-key", http_options=types.HttpOptions(base_url=fake.base_url))
    contents = [
        types.Content(role="user", parts=[types.Part.from_text(text="a mascot")]),
        types.Content(
            role="model",
            parts=[types.Part(text="thinking", thought=True), types.Part.from_text(text="Here it is.")],
        ),
        types.Content(role="user", parts=[types.Part.from_text(text="bigger cap")]),
    ]
    with pytest.raises(genai_errors.ClientError) as info:
        client.models.generate_content(model=PRO, contents=contents)
    assert info.value.code == 400
    assert (
        info.value.message
        == "Text part is missing a thought_signature in content position 2, part position 2."
    )


def test_a_signed_text_before_the_image_goes_back_with_its_signature(fake, tmp_path):
    fake.set_default(Behavior.with_thoughts(1, lead_text="Let me sketch it."))
    parent = _first_run(tmp_path)
    rec = _meta(parent)["sketches"][0]
    text_sig = signature_bytes(rec["response_id"] + ":text")
    assert [p["thought_signature"] for p in rec["model_turn"]["parts"]][1] == base64.b64encode(
        text_sig
    ).decode()
    fake.reset()
    child = SketchPipeline(output_dir=tmp_path).refine(
        RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap")
    )
    assert child.status == "complete"
    model = fake.requests[-1].contents[1]
    assert model["role"] == "model"
    # Thought image left out; the text, image and trailing text in their order, signatures as received.
    assert [(p.get("text"), p.get("signature_bytes")) for p in model["parts"]] == [
        ("Let me sketch it.", text_sig),
        (None, signature_bytes(rec["response_id"])),
        ("Here is a rough concept sketch.", None),
    ]


def test_a_parent_answer_with_two_final_images_refines_the_chosen_one(fake, tmp_path):
    # [draft image (signed), "Draft 1." (unsigned), final image (signed), text]: only the chosen image
    # is kept, and the draft's own unsigned text must not become the turn's unsigned first part.
    fake.set_default(Behavior.with_thoughts(1, extra_images=1))
    parent = _first_run(tmp_path)
    rec = _meta(parent)["sketches"][0]
    fake.reset()
    child = SketchPipeline(output_dir=tmp_path).refine(
        RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap")
    )
    assert child.status == "complete", _meta(child)["sketches"][0].get("error")
    model = fake.requests[-1].contents[1]
    assert [(p.get("text"), p.get("signature_bytes")) for p in model["parts"]] == [
        (None, signature_bytes(rec["response_id"])),
        ("Here is a rough concept sketch.", None),
    ]
    assert model["parts"][0]["data"] == (parent.output_dir / rec["model_turn"]["source_file"]).read_bytes()


def test_a_multi_turn_child_records_the_references_its_history_carries(fake, tmp_path):
    parent = _first_run(tmp_path)
    parent_rec = _meta(parent)["sketches"][0]
    child = SketchPipeline(output_dir=tmp_path).refine(
        RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap")
    )
    meta = _meta(child)
    assert meta["iteration"]["path"] == "multi_turn" and len(fake.requests[-1].contents[0]["parts"]) > 1
    # The parent's references went in, inside the history's first user turn: they were sent.
    assert [h["sent"] for h in meta["retrieval"]["hits"]] == [True] * len(parent_rec["references_sent"])
    sent = meta["sketches"][0]["references_sent"]
    assert [r["sha256"] for r in sent] == [r["sha256"] for r in parent_rec["references_sent"]]


def test_a_signed_final_image_flagged_thought_still_goes_back(fake, tmp_path):
    # §9.2: the only final image may come flagged thought=True; it is the sketch, so the model turn
    # must carry it (with its signature), not leave it out as a thought part.
    fake.set_default(Behavior.ok(signature=True, final_flagged_thought=True))
    parent = _first_run(tmp_path)
    rec = _meta(parent)["sketches"][0]
    fake.reset()
    child = SketchPipeline(output_dir=tmp_path).refine(
        RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap")
    )
    assert _meta(child)["iteration"]["path"] == "multi_turn"
    model = fake.requests[-1].contents[1]
    assert [p.get("signature_bytes") for p in model["parts"] if "data" in p] == [
        signature_bytes(rec["response_id"])
    ]


def test_three_generations_carry_the_whole_conversation(fake, tmp_path):
    pipeline = SketchPipeline(output_dir=tmp_path)
    parent = _first_run(tmp_path)
    child = pipeline.refine(RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap"))
    grandchild = pipeline.refine(RefineRequest(run_id=child.run_id, index=0, instruction="now wave"))

    assert grandchild.status == "complete"
    last = fake.requests[-1]
    assert [c["role"] for c in last.contents] == ["user", "model", "user", "model", "user"]
    child_rec = _meta(child)["sketches"][0]
    parent_rec = _meta(parent)["sketches"][0]
    assert last.contents[1]["parts"][0]["signature_bytes"] == signature_bytes(parent_rec["response_id"])
    assert last.contents[3]["parts"][0]["signature_bytes"] == signature_bytes(child_rec["response_id"])
    assert "bigger cap" in last.contents[2]["parts"][0]["text"] and "now wave" in last.prompt
    meta = _meta(grandchild)
    assert meta["parent"]["run_id"] == child.run_id and _meta(child)["parent"]["run_id"] == parent.run_id


def test_vary_keeps_the_design_and_varies_layouts(fake, tmp_path):
    parent = _first_run(tmp_path)
    fake.reset()
    child = SketchPipeline(output_dir=tmp_path).vary(VaryRequest(run_id=parent.run_id, index=2, num_images=4))
    meta = _meta(child)
    assert child.status == "complete" and meta["parent"]["kind"] == "vary"
    layouts = [s["variation"]["layout"] for s in meta["sketches"]]
    assert len(set(layouts)) == 4
    assert all("MORE LIKE THIS" in r.prompt and len(r.contents) == 3 for r in fake.requests)


def test_a_parent_from_another_model_or_unsigned_is_refined_as_an_edit(fake, tmp_path):
    pipeline = SketchPipeline(output_dir=tmp_path)
    traced = _first_run(tmp_path, model="trace")
    child = pipeline.refine(
        RefineRequest(run_id=traced.run_id, index=0, instruction="bigger cap", model="nano-banana-pro")
    )
    meta = _meta(child)
    assert meta["iteration"]["path"] == "edit" and "made by trace" in meta["iteration"]["reason"]
    request = fake.requests[-1]
    assert len(request.contents) == 1
    parts = request.contents[0]["parts"]
    assert "made by" not in parts[0]["text"] and "REVISION of the image given: bigger cap" in parts[0]["text"]
    assert parts[1]["text"].startswith("Reference image 1 (the image to work from, sketch_0.png)")
    # The parent sketch itself (inlined as JPEG, like every input image) right after that label.
    with (
        Image.open(io.BytesIO(parts[2]["data"])) as sent,
        Image.open(traced.output_dir / "sketch_0.png") as png,
    ):
        diff = ImageChops.difference(sent.convert("L"), png.convert("L"))
        assert sent.size == png.size and ImageStat.Stat(diff).mean[0] < 4

    fake.set_default(Behavior.ok(signature=False))
    unsigned = _first_run(tmp_path)
    child = pipeline.refine(RefineRequest(run_id=unsigned.run_id, index=0, instruction="bigger cap"))
    assert "no thought signature" in _meta(child)["iteration"]["reason"]
    assert child.status == "complete" and len(fake.requests[-1].contents) == 1


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"run_id": "20990101_000000"}, "run_id", "no run"),
        ({"index": 7}, "index", "no sketch 7"),
        ({"instruction": "   "}, "instruction", "must not be empty"),
        ({"instruction": "x" * (MAX_INSTRUCTION_CHARS + 1)}, "instruction", "at most"),
        ({"num_images": 7}, "num_images", "num_images must be between 1 and 6 (got 7)"),
        ({"num_images": 0}, "num_images", "num_images must be between 1 and 6 (got 0)"),
    ],
)
def test_bad_refine_input_is_refused_before_any_call(fake, tmp_path, change, field, words):
    parent = _first_run(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    fake.reset()
    data = {"run_id": parent.run_id, "index": 0, "instruction": "bigger cap", **change}
    with pytest.raises(ConfigError) as info:
        SketchPipeline(output_dir=tmp_path).refine(data)
    assert info.value.field == field and words in str(info.value)
    assert fake.count == 0 and sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_failed_parent_sketch_is_refused(fake, tmp_path):
    fake.script(Behavior.image_safety(), match="Sketch 2 of 3")
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="playful golf mascot", model="nano-banana-pro", num_images=3)
    )
    assert result.status == "partial"
    with pytest.raises(ConfigError, match="did not complete") as info:
        SketchPipeline(output_dir=tmp_path).refine(
            RefineRequest(run_id=result.run_id, index=1, instruction="bigger cap")
        )
    assert info.value.field == "index"


def test_the_estimate_counts_the_history(fake, tmp_path):
    parent = _first_run(tmp_path)
    pipeline = SketchPipeline(output_dir=tmp_path)
    first = pipeline.dry_run(
        pipeline.validate(RunRequest(brief="playful golf mascot", model="nano-banana-pro", top_k=1))
    )
    refine = pipeline.dry_run(
        pipeline.prepare_iteration(RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap"))
    )
    per_image = {c["model"]: c["per_image_usd"] for c in first["estimated_cost"]}
    refined = {c["model"]: c["per_image_usd"] for c in refine["estimated_cost"]}
    # Same reference; the refinement adds the parent image (~560 tokens at $2/1M) and its prompt text.
    assert refined[PRO] > per_image[PRO] + 0.0015
    assert refine["iteration"]["path"] == "multi_turn" and refine["num_images"] == 1


def test_trace_refines_offline_and_says_it_ignores_the_instruction(tmp_path):
    pipeline = SketchPipeline(output_dir=tmp_path)
    parent = _first_run(tmp_path, model="trace")
    child = pipeline.refine(
        RefineRequest(run_id=parent.run_id, index=1, instruction="bigger cap", num_images=2)
    )
    meta = _meta(child)
    assert child.status == "complete" and meta["iteration"]["path"] == "edit"
    assert any("ignores the instruction" in w for w in child.warnings)
    assert meta["model"]["used"] == "trace" and meta["parent"]["index"] == 1
    varied = pipeline.vary(VaryRequest(run_id=child.run_id, index=0, num_images=3))
    assert varied.status == "complete" and _meta(varied)["parent"]["run_id"] == child.run_id


def test_generate_with_the_designers_image_edits_it(fake, tmp_path):
    own = Path(__file__).parents[2] / "style" / "builtin" / "references"
    image = sorted(own.rglob("*.png"))[0]
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="clean up my napkin sketch", model="nano-banana-pro", num_images=3, image=str(image))
    )
    meta = _meta(result)
    assert meta["iteration"]["kind"] == "edit" and meta["parent"] is None
    assert meta["iteration"]["inputs"][0]["path"] == str(image.resolve())
    for rec in fake.requests:
        texts = [p["text"] for p in rec.contents[0]["parts"] if "text" in p]
        assert "EDIT: the image given" in texts[0] and any("subject" in t for t in texts[1:])
        assert len(rec.images) == 1 + len(meta["sketches"][0]["references"])


REFS = Path(__file__).parents[2] / "style" / "builtin" / "references"


def _other_styles_refs(n: int) -> list[Path]:
    return sorted(p for p in REFS.rglob("*.png") if p.parent.name != "vintage-mascot")[:n]


def test_bad_image_and_too_many_references_are_refused(fake, tmp_path):
    not_image = tmp_path / "sketch.png"
    not_image.write_text("not an image at all")
    pipeline = SketchPipeline(output_dir=tmp_path / "out")
    with pytest.raises(ConfigError, match="not a PNG, JPEG or WebP") as info:
        pipeline.validate(RunRequest(brief="mascot", model="nano-banana-pro", image=str(not_image)))
    assert info.value.field == "image"
    refs = [str(p) for p in _other_styles_refs(15)]
    with pytest.raises(
        ConfigError, match="15 references given but gemini-3-pro-image takes at most 14"
    ) as info:
        pipeline.validate(RunRequest(brief="mascot", model="nano-banana-pro", references=refs))
    assert info.value.field == "references" and fake.count == 0
    assert not (tmp_path / "out").exists()


def test_own_references_come_first_and_the_left_out_are_named(fake, tmp_path):
    refs = _other_styles_refs(13)
    result = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(
            brief="playful golf mascot",
            model="nano-banana-pro",
            num_images=3,
            top_k=3,
            references=[str(p) for p in refs],
        )
    )
    meta = _meta(result)
    assert meta["reference_images"][:13] == [str(p.resolve()) for p in refs]
    assert len(meta["reference_images"]) == 14
    assert all(len(r.images) == 14 for r in fake.requests)
    [warning] = [w for w in result.warnings if "were left out" in w]
    assert warning.startswith("gemini-3-pro-image takes at most 14 references")
    assert len(warning.split(": ", 1)[1].split(", ")) == 2  # the two retrieved ones that did not fit


def test_a_lost_model_image_falls_back_to_an_edit(fake, tmp_path):
    parent = _first_run(tmp_path)
    rec = _meta(parent)["sketches"][0]
    (parent.output_dir / rec["model_turn"]["source_file"]).unlink()
    child = SketchPipeline(output_dir=tmp_path).refine(
        RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap")
    )
    meta = _meta(child)
    assert meta["iteration"]["path"] == "edit" and "is missing" in meta["iteration"]["reason"]
    assert child.status == "complete" and len(fake.requests[-1].contents) == 1


def test_refine_streams_previews_of_the_new_thought_images(fake, tmp_path):
    parent = _first_run(tmp_path)
    fake.set_default(Behavior.with_thoughts(2))
    pipeline = SketchPipeline(output_dir=tmp_path)
    prepared = pipeline.prepare_iteration(
        RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap", previews=True)
    )

    async def collect():
        return [type(ev).__name__ async for ev in pipeline.astream(prepared)]

    names = asyncio.run(collect())
    assert names.count("SketchPreview") == 2 and names[-1] == "RunCompleted"
    assert fake.requests[-1].stream and len(fake.requests[-1].contents) == 3


def test_refinement_capability_is_declared(fake):
    from generate.adapter import get_adapter

    assert get_adapter("trace").describe()["refinement"] is False
    assert get_adapter("nano-banana-pro").describe()["refinement"] is True


def test_a_child_keeps_the_parents_request_options(fake, tmp_path):
    parent = SketchPipeline(output_dir=tmp_path).run(
        RunRequest(brief="golf mascot", model="nano-banana-pro", num_images=3, response_modalities="image")
    )
    assert fake.requests[-1].response_modalities == ["IMAGE"]
    SketchPipeline(output_dir=tmp_path).refine(RefineRequest(run_id=parent.run_id, index=0, instruction="x"))
    assert fake.requests[-1].response_modalities == ["IMAGE"] and len(fake.requests[-1].contents) == 3


def _symlink_outside(path: Path, outside: Path) -> None:
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)


def test_a_model_image_symlinked_out_of_the_run_is_not_sent_back(fake, tmp_path):
    parent = _first_run(tmp_path)
    rec = _meta(parent)["sketches"][0]
    _symlink_outside(parent.output_dir / rec["model_turn"]["source_file"], tmp_path.parent / "elsewhere.png")
    child = SketchPipeline(output_dir=tmp_path).refine(
        RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap")
    )
    meta = _meta(child)
    assert meta["iteration"]["path"] == "edit" and "is missing" in meta["iteration"]["reason"]


def test_a_parent_sketch_symlinked_out_of_the_run_is_refused_before_any_call(fake, tmp_path):
    parent = _first_run(tmp_path)
    rec = _meta(parent)["sketches"][0]
    _symlink_outside(parent.output_dir / rec["file"], tmp_path.parent / "elsewhere.png")
    fake.reset()
    with pytest.raises(ConfigError, match="is missing") as info:
        SketchPipeline(output_dir=tmp_path).refine(
            RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap")
        )
    assert info.value.field == "index" and fake.count == 0


def test_children_are_found_without_reading_every_run(tmp_path, monkeypatch):
    import generate.runs as runs

    pipeline = SketchPipeline(output_dir=tmp_path)
    trace = RunRequest(brief="playful golf mascot", model="trace", num_images=3, top_k=1)
    parent = pipeline.run(trace)
    child = pipeline.refine(RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap"))
    for _ in range(3):
        pipeline.run(trace)  # unrelated runs
    read: list[str] = []
    real = runs.load_run
    monkeypatch.setattr(runs, "load_run", lambda run_id, root=None: read.append(run_id) or real(run_id, root))

    assert [c["run_id"] for c in runs.run_children(parent.run_id, tmp_path)] == [child.run_id]
    read.clear()  # the first call catalogued the folder (or indexed older children without a catalog)
    assert [c["run_id"] for c in runs.run_children(parent.run_id, tmp_path)] == [child.run_id]
    assert set(read) <= {child.run_id}  # never the unrelated runs: the catalog answers, or the markers
    assert runs.run_children(child.run_id, tmp_path) == []


def test_children_made_before_the_lineage_markers_are_still_found(tmp_path):
    import shutil

    from generate.runs import run_children

    pipeline = SketchPipeline(output_dir=tmp_path)
    parent = pipeline.run(RunRequest(brief="playful golf mascot", model="trace", num_images=3, top_k=1))
    child = pipeline.refine(RefineRequest(run_id=parent.run_id, index=0, instruction="bigger cap"))
    shutil.rmtree(tmp_path / ".lineage")  # an output folder from before the markers
    assert [c["run_id"] for c in run_children(parent.run_id, tmp_path)] == [child.run_id]


def test_the_image_to_edit_counts_against_the_models_image_limit(fake, tmp_path):
    # Pro takes "up to 14 images in total" (docs/gemini-api-facts.md §9.1): the designer's image is one.
    image, *refs = _other_styles_refs(15)
    pipeline = SketchPipeline(output_dir=tmp_path)
    with pytest.raises(
        ConfigError, match="14 references given but gemini-3-pro-image takes at most 13"
    ) as info:
        pipeline.validate(
            RunRequest(
                brief="mascot", model="nano-banana-pro", image=str(image), references=[str(p) for p in refs]
            )
        )
    assert info.value.field == "references" and fake.count == 0
    result = pipeline.run(
        RunRequest(
            brief="playful golf mascot",
            model="nano-banana-pro",
            num_images=3,
            top_k=3,
            image=str(image),
            references=[str(p) for p in refs[:12]],
        )
    )
    assert result.status == "complete"
    assert all(len(r.images) == 14 for r in fake.requests)  # the image + 13 references
    [warning] = [w for w in result.warnings if "were left out" in w]
    assert len(warning.split(": ", 1)[1].split(", ")) == 2  # 12 own + 1 retrieved fit; 2 did not
