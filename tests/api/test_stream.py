"""The SSE endpoints under a real uvicorn on 127.0.0.1, against the fake Gemini server."""

from __future__ import annotations

import asyncio
import threading

import httpx

from generate.testing import Behavior
from tests.api.asgi_helpers import http_scope, receive_once
from tests.api.sse_helpers import parse_sse, read_events


def _check_order(events: list[dict], n: int) -> str:
    names = [e["event"] for e in events]
    assert names[0] == "run.started" and names[-1] == "run.completed"
    assert names.count("sketch.completed") + names.count("sketch.failed") == n
    run_id = events[0]["data"]["run_id"]
    seqs = []
    for e in events:
        assert e["data"]["run_id"] == run_id
        rid, _, seq = e["id"].rpartition(":")
        assert rid == run_id
        seqs.append(int(seq))
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    return run_id


async def test_get_stream_for_eventsource(live_server, fake_gemini, output_dir):
    server = live_server()
    params = {"brief": "playful golf mascot", "style_id": "vintage-mascot", "num_images": 4}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        async with c.stream("GET", "/generate-stream", params=params) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["cache-control"] == "no-store"
            events = [e async for e in read_events(r)]
        run_id = _check_order(events, 4)
        started = events[0]["data"]
        assert started["num_images"] == 4 and started["style_id"] == "vintage-mascot"
        assert started["model"] != "auto" and started["run_url"] == f"/runs/{run_id}"
        assert [e["data"]["name"] for e in events if e["event"] == "stage"] == [
            "prompt_compiled",
            "references_retrieved",
        ]
        done = [e["data"] for e in events if e["event"] == "sketch.completed"]
        assert sorted(d["index"] for d in done) == [0, 1, 2, 3]
        for d in done:
            assert d["url"] == f"/runs/{run_id}/files/{d['file']}"
            assert {"variation", "latency_s", "cost_usd"} <= set(d)
            png = await c.get(d["url"])
            assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        end = events[-1]["data"]
        assert end["status"] == "complete" and end["succeeded"] == 4 and end["failed"] == 0
        assert end["metadata_url"] == f"/runs/{run_id}/files/metadata.json"
        assert (await c.get(end["metadata_url"])).json()["status"] == "complete"
        assert (await c.get("/healthz")).json()["runs_in_flight"] == 0


async def test_each_sketch_arrives_as_soon_as_its_file_is_written(live_server, fake_gemini, output_dir):
    # Sketch 1 answers at once; the others are held in flight until sketch 1's event was checked.
    release = threading.Event()
    fake_gemini.script(Behavior.ok(latency=0.0), match="Sketch 1 of 3")
    fake_gemini.set_default(Behavior.ok(held_until=release))
    server = live_server()
    seen: list[tuple[str, dict]] = []
    checked = False
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        async with c.stream("POST", "/generate-stream", json={"brief": "golf mascot", "num_images": 3}) as r:
            async for event in read_events(r):
                seen.append((event["event"], event["data"]))
                if event["event"] == "sketch.completed" and not checked:
                    checked = True
                    data = event["data"]
                    # The event came before the run finished: two calls are still in flight...
                    pending = [x for x in fake_gemini.requests if x.outcome == "pending"]
                    assert len(pending) == 2
                    # ...and the file it names is already complete on disk.
                    assert data["index"] == 0
                    assert await asyncio.to_thread((output_dir / data["run_id"] / data["file"]).is_file)
                    assert (await c.get(data["url"])).status_code == 200
                    release.set()
    assert checked
    assert seen[-1][0] == "run.completed" and seen[-1][1]["succeeded"] == 3


async def test_failed_sketch_event_carries_the_reason(live_server, fake_gemini):
    fake_gemini.script(Behavior.image_safety(), match="Sketch 3 of 3", then=Behavior.image_safety())
    server = live_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post("/generate-stream", json={"brief": "golf mascot", "num_images": 3})
    events = parse_sse(r.text)
    _check_order(events, 3)
    failed = [e["data"] for e in events if e["event"] == "sketch.failed"]
    assert len(failed) == 1 and failed[0]["index"] == 2
    assert failed[0]["code"] == "blocked_output" and failed[0]["message"] and "retryable" in failed[0]
    assert failed[0]["cost_usd"] == 0  # a blocked image is not billed
    assert events[-1]["data"]["status"] == "partial"


async def test_failed_sketch_event_says_what_a_billed_answer_cost(live_server, fake_gemini):
    # Pro thinks on every call: an answer without an image still bills its prompt and thought tokens.
    fake_gemini.script(Behavior.no_image(), match="Sketch 3 of 3", then=Behavior.no_image())
    server = live_server()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post(
            "/generate-stream", json={"brief": "golf mascot", "num_images": 3, "model": "nano-banana-pro"}
        )
        events = parse_sse(r.text)
        (failed,) = [e["data"] for e in events if e["event"] == "sketch.failed"]
        meta = (await c.get(events[-1]["data"]["metadata_url"])).json()
    assert failed["cost_usd"] > 0 and failed["cost_usd"] == meta["sketches"][2]["cost_usd"]


async def test_disconnect_after_first_sketch_aborts_the_rest(live_server, fake_gemini, output_dir):
    """The issue's promise: a sketch that is paid for is never lost, a sketch nobody waits for is
    not paid for."""
    fake_gemini.script(Behavior.ok(latency=0.0), match="Sketch 1 of 4")
    fake_gemini.set_default(Behavior.hang(60))
    server = live_server()
    first: dict | None = None
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        async with c.stream("GET", "/generate-stream", params={"brief": "golf mascot", "num_images": 4}) as r:
            async for event in read_events(r):
                if event["event"] == "sketch.completed":
                    first = event["data"]
                    break  # leaving the block closes the connection
        assert first is not None
        assert await asyncio.to_thread(fake_gemini.wait_for_requests, 4)
        # The fake server's record: the three pending calls were aborted by the client side.
        assert await asyncio.to_thread(fake_gemini.wait_for, lambda f: f.aborted_count == 3)
        outcomes = sorted(x.outcome for x in fake_gemini.requests)
        assert outcomes == ["aborted", "aborted", "aborted", "completed"]
        # The run records itself as cancelled; the sketch already written stays.
        run_id = first["run_id"]
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            meta = (await c.get(f"/runs/{run_id}")).json()
            if meta["status"] == "cancelled" or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.05)
        assert meta["status"] == "cancelled"
        statuses = {s["index"]: s["status"] for s in meta["sketches"]}
        assert statuses == {0: "completed", 1: "cancelled", 2: "cancelled", 3: "cancelled"}
        assert (output_dir / run_id / first["file"]).is_file()
        assert (await c.get(first["url"])).status_code == 200
        assert (await c.get("/healthz")).json()["runs_in_flight"] == 0
    # Nothing was retried or re-sent after the client left.
    assert fake_gemini.count == 4


async def test_stream_pings_keep_idle_connections_alive(live_server, fake_gemini):
    fake_gemini.set_default(Behavior.ok(latency=1.0))
    server = live_server(sse_ping_s=0.2)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post("/generate-stream", json={"brief": "golf mascot", "num_images": 3})
    assert ": ping" in r.text
    assert parse_sse(r.text)[-1]["event"] == "run.completed"


async def test_query_token_works_for_eventsource(live_server, fake_gemini):
    server = live_server(api_token="tok-123456")
    params = {"brief": "golf mascot", "num_images": 3}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        assert (await c.get("/generate-stream", params=params)).status_code == 401
        r = await c.get("/generate-stream", params={**params, "token": "tok-123456"})
        assert r.status_code == 200
        assert parse_sse(r.text)[-1]["data"]["status"] == "complete"
        assert fake_gemini.count == 3


async def test_client_that_stops_reading_has_its_run_cancelled(fake_gemini, output_dir, caplog):
    """A client that keeps its connection open but stops reading (a frozen tab, a stuck proxy) is
    treated like one that left: once a send has waited ``sse_send_timeout_s``, the run is cancelled and
    its pending model calls are aborted. Driven at the ASGI level, where "stops reading" is exact: the
    server's ``send`` for anything after the first sketch never returns."""
    import json

    from api.main import create_app

    fake_gemini.script(Behavior.ok(latency=0.0), match="Sketch 1 of 4")
    fake_gemini.set_default(Behavior.hang(60))
    app = create_app(output_dir=output_dir, sse_send_timeout_s=0.3, sse_ping_s=0.2)
    body = json.dumps({"brief": "golf mascot", "num_images": 4}).encode()
    received: list[bytes] = []
    stalled = asyncio.Event()

    async def send(message):
        if stalled.is_set():
            await asyncio.Event().wait()  # the client no longer reads: this send never completes
        if message["type"] == "http.response.body":
            received.append(message.get("body", b""))
            if b"event: sketch.completed" in received[-1]:
                stalled.set()

    with caplog.at_level("WARNING", logger="api.sse"):
        request = http_scope("POST", "/generate-stream", headers=((b"content-type", b"application/json"),))
        await asyncio.wait_for(app(request, receive_once(body), send), 30)  # returns: the response gave up
    assert stalled.is_set()
    assert any("stopped reading" in r.getMessage() for r in caplog.records)
    first = next(e for e in parse_sse(b"".join(received).decode()) if e["event"] == "sketch.completed")
    assert await asyncio.to_thread(fake_gemini.wait_for, lambda f: f.aborted_count == 3)
    assert sorted(x.outcome for x in fake_gemini.requests) == ["aborted", "aborted", "aborted", "completed"]
    meta = json.loads((output_dir / first["data"]["run_id"] / "metadata.json").read_text())
    assert meta["status"] == "cancelled"
    assert {s["index"]: s["status"] for s in meta["sketches"]} == {
        0: "completed",
        1: "cancelled",
        2: "cancelled",
        3: "cancelled",
    }
    assert (output_dir / first["data"]["run_id"] / first["data"]["file"]).is_file()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sketchgen") as c:
        assert (await c.get("/healthz")).json()["runs_in_flight"] == 0
