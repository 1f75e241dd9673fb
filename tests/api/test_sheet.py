"""Sheet mode over HTTP: the ``sheet`` field on POST /generate and GET /generate-stream."""

from __future__ import annotations

import httpx

from tests.api.sse_helpers import read_events


async def test_post_generate_with_a_sheet_makes_one_call(client, fake_gemini):
    r = await client.post(
        "/generate", json={"brief": "playful golf mascot", "model": "nano-banana-pro", "sheet": "2x2"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "complete" and body["num_images"] == 4 and fake_gemini.count == 1
    assert [s["sheet"]["cell"] for s in body["sketches"]] == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert abs(sum(s["cost_usd"] for s in body["sketches"]) - body["cost_usd"]) < 1e-9
    raw = await client.get(f"{body['run_url']}/files/sheet_01.png")
    assert raw.status_code == 200 and raw.headers["content-type"] == "image/png"


async def test_num_images_may_be_the_cell_count_even_above_six(client, fake_gemini):
    body = {
        "brief": "mascot",
        "model": "nano-banana-pro",
        "sheet": "3x3",
        "image_size": "2K",
        "num_images": 9,
    }
    r = await client.post("/generate", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["num_images"] == 9 and fake_gemini.count == 1
    r = await client.post("/generate", json={**body, "num_images": 7})
    assert r.status_code == 422 and r.json()["field"] == "num_images"


async def test_bad_sheets_are_422_naming_the_field_before_any_call(client, fake_gemini):
    for body in (
        {"brief": "mascot", "sheet": "4x4"},
        {"brief": "mascot", "model": "nano-banana-pro", "sheet": "3x3"},  # 1K cannot hold 3x3
        {"brief": "mascot", "model": "trace", "sheet": "3x3"},  # trace at 1K: cells too small
    ):
        r = await client.post("/generate", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "sheet", r.json()
    assert fake_gemini.count == 0


async def test_get_stream_with_a_sheet_sends_one_outcome_per_cell(live_server, fake_gemini):
    server = live_server()
    params = {"brief": "playful golf mascot", "model": "nano-banana-pro", "sheet": "2x2"}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        async with c.stream("GET", "/generate-stream", params=params) as r:
            assert r.status_code == 200
            events = [e async for e in read_events(r)]
    assert events[0]["data"]["num_images"] == 4
    done = [e["data"] for e in events if e["event"] == "sketch.completed"]
    assert sorted(d["index"] for d in done) == [0, 1, 2, 3] and fake_gemini.count == 1
    assert events[-1]["data"]["status"] == "complete"
