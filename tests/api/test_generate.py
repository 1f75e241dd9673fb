"""POST /generate against the real pipeline and the fake Gemini server: the JSON result, per-sketch
failures, validation before any paid call, the run cap, and cancel on disconnect."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from generate.testing import Behavior


async def test_generate_returns_the_run_as_json(client, fake_gemini, output_dir):
    r = await client.post("/generate", json={"brief": "playful golf mascot", "num_images": 3, "seed": 7})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "complete"
    assert body["model"] != "auto"  # the model actually used
    assert body["num_images"] == 3 and body["succeeded"] == 3 and body["failed"] == 0
    assert body["cost_usd"] > 0
    assert [s["index"] for s in body["sketches"]] == [0, 1, 2]
    assert fake_gemini.count == 3
    for sketch in body["sketches"]:
        assert sketch["status"] == "completed" and sketch["error"] is None
        assert sketch["variation"]["layout"]
        png = await client.get(sketch["url"])
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content == (output_dir / body["run_id"] / sketch["file"]).read_bytes()
    meta = await client.get(body["metadata_url"])
    assert meta.json()["run_id"] == body["run_id"]
    if body["contact_sheet_url"]:
        assert (await client.get(body["contact_sheet_url"])).headers["content-type"] == "image/png"
    listed = (await client.get("/runs")).json()["runs"]
    assert listed[0]["run_id"] == body["run_id"] and listed[0]["status"] == "complete"


async def test_a_failed_sketch_keeps_its_index_and_reason(client, fake_gemini):
    fake_gemini.script(Behavior.image_safety(), match="Sketch 2 of 3", then=Behavior.image_safety())
    r = await client.post("/generate", json={"brief": "playful golf mascot", "num_images": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "partial" and body["succeeded"] == 2 and body["failed"] == 1
    failed = body["sketches"][1]
    assert failed["status"] == "failed" and failed["url"] is None
    assert failed["error"]["code"] == "blocked_output" and failed["error"]["message"]
    assert body["sketches"][0]["status"] == body["sketches"][2]["status"] == "completed"


async def test_trace_model_runs_offline(client):
    r = await client.post(
        "/generate", json={"brief": "playful golf mascot", "model": "trace", "num_images": 3}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "trace" and body["cost_usd"] == 0 and body["succeeded"] == 3


@pytest.mark.parametrize(
    "body, field",
    [
        ({"brief": "golf mascot", "style_id": "no-such-style"}, "style_id"),
        ({"brief": "golf mascot", "aspect_ratio": "7:3"}, "aspect_ratio"),
        ({"brief": "golf mascot", "image_size": "9K"}, "image_size"),
        ({"brief": "golf mascot", "model": "no-such-model"}, "model"),
        ({"brief": "golf mascot", "model": "nano-banana-lite", "google_search": True}, "google_search"),
        (
            {"brief": "golf mascot", "google_search": True, "response_modalities": "image"},
            "response_modalities",
        ),
        ({"brief": "golf mascot", "person_generation": "ALLOW_ADULT"}, "person_generation"),
        ({"brief": "golf mascot", "model": "nano-banana", "seed": 2**40}, "seed"),
    ],
)
async def test_library_validation_is_422_before_any_paid_call(client, fake_gemini, body, field):
    for method, path, kwargs in [
        ("POST", "/generate", {"json": body}),
        ("POST", "/generate-stream", {"json": body}),
        ("GET", "/generate-stream", {"params": body}),
    ]:
        r = await client.request(method, path, **kwargs)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["field"] == field, r.json()
    assert fake_gemini.count == 0
    assert (await client.get("/runs")).json()["runs"] == []


async def test_request_options_reach_the_model_and_the_metadata(client, fake_gemini):
    body = {
        "brief": "playful golf mascot",
        "num_images": 3,
        "model": "nano-banana",
        "seed": 99,
        "google_search": True,
        "response_modalities": "text+image",
    }
    r = await client.post("/generate", json=body)
    assert r.status_code == 200, r.text
    assert [(rec.seed, rec.google_search) for rec in fake_gemini.requests] == [(99, True)] * 3
    meta = (await client.get(r.json()["metadata_url"])).json()
    assert meta["config"]["seed_best_effort"] is True and meta["config"]["google_search"] is True
    assert all(s["grounding"]["sources"] for s in meta["sketches"])
    r = await client.post("/generate", json={**body, "response_modalities": "audio"})
    assert r.status_code == 422 and r.json()["field"] == "response_modalities"


async def test_allow_retired_runs_a_shut_down_model(client, fake_gemini):
    body = {"brief": "golf mascot", "model": "gemini-3-pro-image-preview", "num_images": 3}
    r = await client.post("/generate", json=body)
    assert r.status_code == 422 and r.json()["field"] == "model" and "allow_retired" in r.json()["message"]
    assert fake_gemini.count == 0
    r = await client.post("/generate", json={**body, "allow_retired": True})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "complete"
    assert {rec.model for rec in fake_gemini.requests} == {"gemini-3-pro-image-preview"}


async def test_validation_messages_read_as_a_person_would_write_them(client):
    r = await client.post("/generate", json={"brief": "golf mascot", "num_images": 7})
    assert r.json()["message"] == "num_images must be between 3 and 6 (got 7)"
    r = await client.get("/generate-stream", params={"brief": "golf", "top_k": "many"})
    assert r.json()["message"] == "top_k must be a whole number between 0 and 14"


async def test_missing_credentials_is_422_naming_the_model(client):
    r = await client.post("/generate", json={"brief": "golf mascot", "model": "nano-banana"})
    assert r.status_code == 422 and r.json()["field"] == "model"


async def test_runs_beyond_the_cap_get_429_with_retry_after(live_server, fake_gemini):
    fake_gemini.set_default(Behavior.hang(30))
    server = live_server(max_runs=1, retry_after_s=3)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as c:
        async with c.stream(
            "POST", "/generate-stream", json={"brief": "golf mascot", "num_images": 3}
        ) as first:
            assert first.status_code == 200
            assert await asyncio.to_thread(fake_gemini.wait_for_requests, 3)
            for method, path in [("POST", "/generate"), ("POST", "/generate-stream")]:
                r = await c.request(method, path, json={"brief": "golf mascot", "num_images": 3})
                assert r.status_code == 429, r.text
                assert r.headers["retry-after"] == "3"
            assert (await c.get("/healthz")).json()["runs_in_flight"] == 1
        # Closing the first stream frees its slot.
        assert await _eventually(lambda: _in_flight(c), 0)
    assert fake_gemini.count == 3  # the refused runs made no model call


async def _in_flight(c) -> int:
    return (await c.get("/healthz")).json()["runs_in_flight"]


async def _succeeded(c) -> int:
    runs = (await c.get("/runs")).json()["runs"]
    return runs[0]["succeeded"] if runs else 0


async def _eventually(probe, expected, within_s: float = 60.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        if await probe() == expected:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_disconnect_during_post_generate_cancels_the_run(live_server, fake_gemini, output_dir):
    fake_gemini.script(Behavior.ok(), match="Sketch 1 of 3")
    fake_gemini.set_default(Behavior.hang(30))
    server = live_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as c:
        post = asyncio.create_task(c.post("/generate", json={"brief": "golf mascot", "num_images": 3}))
        assert await asyncio.to_thread(
            fake_gemini.wait_for, lambda f: sum(r.outcome == "completed" for r in f.requests) == 1
        )
        assert await asyncio.to_thread(fake_gemini.wait_for_requests, 3)
        # Wait until the service has written sketch 1 (the fake's "completed" only means it sent it).
        assert await _eventually(lambda: _succeeded(c), 1)
        post.cancel()  # closes the connection, like a user closing the tab
        with pytest.raises(asyncio.CancelledError):
            await post
        # The two hanging calls are aborted upstream, not left to finish and bill.
        assert await asyncio.to_thread(fake_gemini.wait_for, lambda f: f.aborted_count == 2)
        assert await _eventually(lambda: _in_flight(c), 0)
        runs = (await c.get("/runs")).json()["runs"]
    assert len(runs) == 1 and runs[0]["status"] == "cancelled"
    assert runs[0]["succeeded"] == 1
    assert (output_dir / runs[0]["run_id"] / runs[0]["images"][0]).is_file()


async def test_a_truncated_answer_is_a_retried_bad_response(client, fake_gemini, caplog):
    fake_gemini.script(Behavior.truncated(), match="Sketch 2 of 3")
    fake_gemini.script(match="Sketch 3 of 3", then=Behavior.truncated())
    body = {"brief": "playful golf mascot", "num_images": 3, "model": "nano-banana"}
    with caplog.at_level("DEBUG"):
        r = await client.post("/generate", json=body)
    assert r.status_code == 200, r.text
    sketches = r.json()["sketches"]
    assert sketches[1]["status"] == "completed" and sketches[1]["attempts"] == 2
    assert sketches[2]["status"] == "failed"
    assert (sketches[2]["error"]["code"], sketches[2]["error"]["retryable"]) == ("bad_response", True)
    assert not [rec for rec in caplog.records if rec.exc_info or rec.exc_text]  # (redacted: as text)


@pytest.mark.parametrize("bad", [0, -5, "soon", 7200])
async def test_a_bad_timeout_is_422_naming_the_field(client, fake_gemini, bad):
    r = await client.post("/generate", json={"brief": "playful golf mascot", "timeout_s": bad})
    assert r.status_code == 422 and r.json()["field"] == "timeout_s"
    assert fake_gemini.count == 0


async def test_the_request_timeout_applies_to_each_call(client, fake_gemini):
    fake_gemini.script(Behavior.hang(), match="Sketch 2 of 3")
    # 4.5 s: the sketches that answer stay clear of it on a loaded machine.
    body = {"brief": "playful golf mascot", "num_images": 3, "model": "nano-banana", "timeout_s": 4.5}
    r = await client.post("/generate", json=body)
    assert r.status_code == 200, r.text
    sketches = r.json()["sketches"]
    assert [s["status"] for s in sketches] == ["completed"] * 3 and sketches[1]["attempts"] == 2
    assert {req.headers.get("x-server-timeout") for req in fake_gemini.requests} == {"5"}
