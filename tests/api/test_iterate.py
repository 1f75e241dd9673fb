"""Refine / vary over HTTP (JSON and SSE), image uploads in the generate request, and lineage."""

from __future__ import annotations

import asyncio
import base64
import io
import threading

import httpx
import pytest
from PIL import Image

from generate.testing.fake_behaviors import signature_bytes
from tests.api.sse_helpers import read_events

PRO = "nano-banana-pro"


def _png(size=(64, 64)) -> bytes:
    out = io.BytesIO()
    img = Image.new("L", size, 255)
    img.paste(0, (10, 10, 50, 50))
    img.save(out, format="PNG")
    return out.getvalue()


async def _first(client, **extra) -> dict:
    body = {"brief": "playful golf mascot", "num_images": 3, "model": PRO, "top_k": 1, **extra}
    r = await client.post("/generate", json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def test_refine_and_vary_as_json_and_the_lineage(client, fake_gemini, output_dir):
    first = await _first(client)
    fake_gemini.reset()
    r = await client.post(
        f"/runs/{first['run_id']}/sketches/2/refine",
        json={"instruction": "make the cap bigger", "num_images": 2},
    )
    assert r.status_code == 200, r.text
    child = r.json()
    assert child["status"] == "complete" and child["num_images"] == 2 and child["succeeded"] == 2
    assert child["parent"]["run_id"] == first["run_id"] and child["parent"]["index"] == 2
    assert child["iteration"]["path"] == "multi_turn"
    parent_meta = (await client.get(first["metadata_url"])).json()
    sent = parent_meta["sketches"][2]
    for rec in fake_gemini.requests:
        assert [c["role"] for c in rec.contents] == ["user", "model", "user"]
        assert rec.contents[1]["parts"][0]["signature_bytes"] == signature_bytes(sent["response_id"])
        assert "make the cap bigger" in rec.prompt

    r = await client.post(f"/runs/{child['run_id']}/sketches/0/vary", json={"num_images": 3})
    assert r.status_code == 200, r.text
    grandchild = r.json()
    assert grandchild["parent"]["kind"] == "vary" and len(fake_gemini.requests[-1].contents) == 5

    detail = (await client.get(f"/runs/{child['run_id']}")).json()
    assert detail["parent"]["run_id"] == first["run_id"] and detail["parent"]["url"] == first["run_url"]
    assert [c["run_id"] for c in detail["children"]] == [grandchild["run_id"]]
    assert detail["children"][0]["kind"] == "vary"
    top = (await client.get(f"/runs/{first['run_id']}")).json()
    assert top["parent"] is None and [c["run_id"] for c in top["children"]] == [child["run_id"]]


async def test_refine_stream_sends_the_generate_stream_events(live_server, fake_gemini, output_dir):
    server = live_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        first = await _first(c)
        for kind, body, n in (("refine", {"instruction": "bigger cap"}, 1), ("vary", {"num_images": 2}, 2)):
            path = f"/runs/{first['run_id']}/sketches/0/{kind}-stream"
            async with c.stream("POST", path, json=body) as r:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
                events = [e async for e in read_events(r)]
            names = [e["event"] for e in events]
            assert names[0] == "run.started" and names[-1] == "run.completed"
            assert names.count("sketch.completed") == n and events[0]["data"]["num_images"] == n
            assert events[-1]["data"]["status"] == "complete"
            assert fake_gemini.requests[-1].contents[1]["role"] == "model"


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/runs/20990101_000000/sketches/0/refine", {"instruction": "x"}, 404, "no run"),
        ("/runs/RUN/sketches/5/refine", {"instruction": "x"}, 422, "no sketch 5"),
        ("/runs/RUN/sketches/0/refine", {"instruction": "  "}, 422, "instruction"),
        ("/runs/RUN/sketches/0/refine", {"instruction": "x" * 1001}, 422, "instruction"),
        ("/runs/RUN/sketches/0/vary-stream", {"num_images": 7}, 422, "num_images"),
        ("/runs/RUN/sketches/-1/vary", {}, 422, "index"),
    ],
)
async def test_bad_refine_requests_are_4xx_before_any_call(
    client, fake_gemini, output_dir, path, body, status, words
):
    first = await _first(client)
    before = sorted(p.name for p in output_dir.iterdir())
    calls = fake_gemini.count
    r = await client.post(path.replace("RUN", first["run_id"]), json=body)
    assert r.status_code == status, r.text
    assert words in r.text
    assert fake_gemini.count == calls and sorted(p.name for p in output_dir.iterdir()) == before


async def test_an_uploaded_image_is_the_subject(client, fake_gemini, output_dir):
    data = _png()
    r = await client.post(
        "/generate",
        json={
            "brief": "clean up my napkin sketch",
            "num_images": 3,
            "model": PRO,
            "top_k": 0,
            "image_base64": base64.b64encode(data).decode(),
            "references_base64": [
                "data:image/png;base64," + base64.urlsafe_b64encode(_png((80, 80))).decode()
            ],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["iteration"]["kind"] == "edit" and body["parent"] is None
    uploads = sorted((output_dir / "uploads").iterdir())
    assert len(uploads) == 2 and data in [p.read_bytes() for p in uploads]
    for rec in fake_gemini.requests:
        assert len(rec.images) == 2 and "EDIT: the image given" in rec.contents[0]["parts"][0]["text"]


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (12000, 12000), 1).save(out, format="PNG")  # ~144M pixels, a few KB on the wire
    return out.getvalue()


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (b"GIF89a not really", "not a PNG, JPEG or WebP"),
        (b"%PDF-1.4 named sketch.png", "not a PNG, JPEG or WebP"),
        (None, "decompression bomb"),
    ],
)
async def test_bad_uploads_are_422_and_nothing_is_written(client, fake_gemini, output_dir, image, words):
    data = _bomb() if image is None else image
    r = await client.post(
        "/generate",
        json={"brief": "mascot", "model": PRO, "image_base64": base64.b64encode(data).decode()},
    )
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "image_base64" and words in r.json()["message"]
    assert fake_gemini.count == 0 and list(output_dir.iterdir()) == []


async def test_an_upload_of_a_refused_request_is_taken_back(client, fake_gemini, output_dir):
    r = await client.post(
        "/generate",
        json={
            "brief": "mascot",
            "model": PRO,
            "style_id": "no-such-style",
            "image_base64": base64.b64encode(_png()).decode(),
        },
    )
    assert r.status_code == 422 and r.json()["field"] == "style_id"
    assert not any(output_dir.rglob("*.png"))


async def test_a_refused_request_keeps_an_upload_another_request_uses(
    client, fake_gemini, output_dir, monkeypatch
):
    # A saves the upload, B (same bytes) finds it there, then A is refused: B's run still needs it.
    from generate.errors import ConfigError
    from generate.pipeline import SketchPipeline

    a_saved, b_validated = threading.Event(), threading.Event()
    real = SketchPipeline.validate

    def validate(self, request, **kw):
        if request.brief == "refused":
            a_saved.set()
            b_validated.wait(10)
            raise ConfigError("refused here", field="brief")
        prepared = real(self, request, **kw)
        b_validated.set()
        return prepared

    monkeypatch.setattr(SketchPipeline, "validate", validate)
    upload = base64.b64encode(_png()).decode()

    async def post(brief):
        body = {"brief": brief, "model": PRO, "num_images": 3, "top_k": 0, "image_base64": upload}
        return await client.post("/generate", json=body)

    refused = asyncio.create_task(post("refused"))
    assert await asyncio.to_thread(a_saved.wait, 10)
    kept = await post("clean up my napkin sketch")
    assert (await refused).status_code == 422
    assert kept.status_code == 200 and kept.json()["status"] == "complete", kept.text
    assert len(list((output_dir / "uploads").iterdir())) == 1


async def test_a_refinement_count_out_of_range_names_its_own_range(client, fake_gemini):
    first = await _first(client)
    calls = fake_gemini.count
    for kind, body in (
        ("refine", {"instruction": "bigger cap", "num_images": 7}),
        ("vary", {"num_images": 0}),
    ):
        r = await client.post(f"/runs/{first['run_id']}/sketches/0/{kind}", json=body)
        assert r.status_code == 422 and r.json()["field"] == "num_images"
        assert r.json()["message"].startswith("num_images must be between 1 and 6"), r.text
    r = await client.post("/generate", json={"brief": "mascot", "num_images": 7})
    assert r.json()["message"] == "num_images must be between 3 and 6 (got 7)"
    assert fake_gemini.count == calls


async def test_upload_that_is_not_base64_is_422(client, fake_gemini):
    r = await client.post("/generate", json={"brief": "mascot", "image_base64": "!!not base64!!"})
    assert r.status_code == 422 and "base64" in r.text and fake_gemini.count == 0


async def test_an_upload_over_the_size_limit_is_422(client, fake_gemini, output_dir):
    big = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(20 * 1024 * 1024)).decode()
    r = await client.post("/generate", json={"brief": "mascot", "model": PRO, "image_base64": big})
    assert r.status_code == 422 and r.json()["field"] == "image_base64"
    assert "20 MiB" in r.json()["message"] and fake_gemini.count == 0 and list(output_dir.iterdir()) == []
