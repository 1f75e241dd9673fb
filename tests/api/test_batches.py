"""POST /batches and GET /batches/{id}: checked whole, run in the background, the manifest served."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.main import create_app
from tests.generate.spend_helpers import freeze_now, recorded_run


async def _settled(client, batch_id, wait_s=60.0):
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        r = await client.get(f"/batches/{batch_id}")
        assert r.status_code == 200, r.text
        body = r.json()
        if not body["running"] and body["status"] not in ("pending", "running"):
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


async def test_rows_as_json_run_and_the_manifest_is_served(client, output_dir):
    r = await client.post(
        "/batches",
        json={
            "rows": [{"brief": "golf mascot"}, {"brief": "coffee cup logo", "num_images": 4}],
            "defaults": {"model": "trace", "num_images": 3},
        },
    )
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["rows"] == 2 and accepted["url"] == f"/batches/{accepted['batch_id']}"
    body = await _settled(client, accepted["batch_id"])
    assert body["status"] == "complete"
    assert [(row["row"], row["status"], row["succeeded"]) for row in body["rows"]] == [
        (1, "complete", 3),
        (2, "complete", 4),
    ]
    for row in body["rows"]:
        assert row["run_url"] == f"/runs/{row['run_id']}"
        assert (await client.get(row["run_url"])).status_code == 200
    assert str(output_dir) not in str(body)  # no server paths


async def test_csv_text_with_bad_rows_is_422_listing_each_before_any_call(client, fake_gemini, output_dir):
    csv = "brief,style_id,num_images\ngolf mascot,nope,3\ncoffee,vintage-mascot,9\nok,vintage-mascot,3\n"
    r = await client.post("/batches", json={"csv": csv})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "rows" and body["message"].startswith("2 problems")
    msgs = [item["msg"] for item in body["detail"]]
    assert msgs[0].startswith("row 2: ") and msgs[1] == "row 3: num_images must be between 3 and 6 (got 9)"
    assert fake_gemini.count == 0 and not (output_dir / "batches").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "rows"),
        ({"rows": [{"brief": "a"}], "csv": "brief\na\n"}, "rows"),
        ({"rows": [{"brief": "a", "image": "/etc/passwd"}]}, "rows"),
        ({"rows": [{"brief": "a"}], "max_cost_usd": 0}, "max_cost_usd"),
    ],
)
async def test_bad_bodies_are_422(client, body, field):
    r = await client.post("/batches", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field


async def test_one_bad_row_is_said_in_the_message_itself(client, output_dir):
    r = await client.post("/batches", json={"rows": [{"brief": "a", "max_cost_usd": -1}]})
    assert r.status_code == 422, r.text
    assert r.json()["message"] == (
        "1 problem in the batch, nothing was run: row 1: max_cost_usd must be more than 0 US dollars (got -1)"
    )


async def test_a_damaged_manifest_is_409_without_the_server_path(client, output_dir):
    body = {"rows": [{"brief": "golf mascot"}], "defaults": {"model": "trace"}}
    first = (await client.post("/batches", json=body)).json()
    await _settled(client, first["batch_id"])
    path = output_dir / "batches" / first["batch_id"] / "manifest.json"
    path.write_text(path.read_text()[:300])  # cut short, past its source
    for r in (await client.get(first["url"]), await client.post("/batches", json=body)):
        assert r.status_code == 409, r.text
        assert r.json()["message"].startswith(
            f"batch {first['batch_id']}'s manifest is damaged (not valid JSON"
        )
        assert str(output_dir) not in r.text


async def test_a_batch_ending_while_its_manifest_is_read_is_not_called_interrupted(
    app, client, output_dir, monkeypatch
):
    """The poll reads a manifest written while the batch ran; the batch ends before the poll asks
    whether it runs. That snapshot must read as running (the next poll sees it settled), never
    as the manifest of a process that is gone."""
    from api import routes_batches

    body = {"rows": [{"brief": "golf mascot"}], "defaults": {"model": "trace"}}
    first = (await client.post("/batches", json=body)).json()
    await _settled(client, first["batch_id"])
    batch_id = first["batch_id"]
    real_open = routes_batches.Manifest.open

    def read_while_it_ends(root, bid):
        manifest = real_open(root, bid)
        manifest.data["status"] = "running"  # the snapshot taken while it ran
        running.pop(bid, None)  # ... and the batch ends just after
        return manifest

    running = app.state.sketchgen.batches
    monkeypatch.setitem(running, batch_id, object())  # running when the poll starts
    monkeypatch.setattr(routes_batches.Manifest, "open", read_while_it_ends)
    polled = (await client.get(first["url"])).json()
    assert (polled["status"], polled["running"]) == ("running", True)
    monkeypatch.setattr(routes_batches.Manifest, "open", real_open)
    settled = (await client.get(first["url"])).json()
    assert (settled["status"], settled["running"]) == ("complete", False)


async def test_unknown_batch_is_404(client):
    assert (await client.get("/batches/20990101_000000")).status_code == 404
    assert (await client.get("/batches/..%2Fetc")).status_code == 404


async def test_posting_the_same_rows_again_resumes_that_batch(client):
    body = {"rows": [{"brief": "golf mascot"}], "defaults": {"model": "trace"}}
    first = (await client.post("/batches", json=body)).json()
    await _settled(client, first["batch_id"])
    again = (await client.post("/batches", json=body)).json()
    assert again["batch_id"] == first["batch_id"] and again["resumed"] is True
    done = await _settled(client, first["batch_id"])
    assert done["rows"][0]["run_id"] and done["status"] == "complete"


async def test_batches_need_the_token_and_respect_the_daily_budget(output_dir, monkeypatch):
    monkeypatch.setenv("SKETCHGEN_DAILY_BUDGET_USD", "1")
    now = freeze_now(monkeypatch)  # "today" is one UTC day throughout
    app = create_app(output_dir=output_dir, api_token="s3cret-token")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sketchgen") as c:
        body = {"rows": [{"brief": "golf mascot"}], "defaults": {"model": "trace"}}
        assert (await c.post("/batches", json=body)).status_code == 401
        assert (await c.get("/batches/20990101_000000")).status_code == 401
        recorded_run(output_dir, now, 2.0)
        r = await c.post("/batches", json=body, headers={"Authorization": "Bearer s3cret-token"})
        assert r.status_code == 429 and r.json()["code"] == "budget_exceeded"


async def test_a_batch_running_in_one_service_is_not_running_in_another(
    app, client, fake_gemini, output_dir, tmp_path
):
    """Batch ids are times: another service in the same process (another output folder) can hold
    a batch of the very id this one runs. Its copy, written by no live process, is interrupted."""
    import shutil

    from generate.testing import Behavior

    fake_gemini.set_default(Behavior.hang(60))
    hung = {"rows": [{"brief": "golf mascot"}], "defaults": {"model": "nano-banana"}}
    batch_id = (await client.post("/batches", json=hung)).json()["batch_id"]
    running = app.state.sketchgen.batches
    try:
        assert await asyncio.to_thread(fake_gemini.wait_for_requests, 1)  # its run is under way
        other_root = tmp_path / "other-outputs"
        shutil.copytree(output_dir / "batches" / batch_id, other_root / "batches" / batch_id)
        other = create_app(output_dir=other_root)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://o") as c:
            copy = (await c.get(f"/batches/{batch_id}")).json()
        assert (copy["status"], copy["running"]) == ("interrupted", False)
        assert (await client.get(f"/batches/{batch_id}")).json()["running"] is True
    finally:
        for task in list(running.values()):
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)
