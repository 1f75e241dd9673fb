"""POST /runs/{run_id}/resume (JSON) and /resume-stream (SSE); running and complete runs are refused."""

from __future__ import annotations

import json

import httpx

from generate.run_lock import RunLock
from tests.api.sse_helpers import parse_sse


async def _interrupted_run(client, output_dir, *, lost=(1, 2)) -> tuple[str, dict]:
    """A real offline run, then made to look like its process died with ``lost`` sketches unmade."""
    made = await client.post(
        "/generate", json={"brief": "playful golf mascot", "model": "trace", "num_images": 4}
    )
    assert made.status_code == 200, made.text
    run_id = made.json()["run_id"]
    folder = output_dir / run_id
    meta = json.loads((folder / "metadata.json").read_text())
    meta["status"] = "running"
    for rec in meta["sketches"]:
        if rec["index"] in lost:
            (folder / rec["file"]).unlink()
            rec.update(status="running", file=None)
    (folder / "metadata.json").write_text(json.dumps(meta))
    return run_id, meta


async def test_resume_makes_the_missing_sketches_and_records_the_attempt(client, output_dir):
    run_id, before = await _interrupted_run(client, output_dir)
    assert (await client.get(f"/runs/{run_id}")).json()["status"] == "interrupted"

    r = await client.post(f"/runs/{run_id}/resume")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["run_id"] == run_id and body["status"] == "complete" and body["succeeded"] == 4
    assert [s["url"] for s in body["sketches"]] == [f"/runs/{run_id}/files/sketch_{i}.png" for i in range(4)]

    detail = (await client.get(f"/runs/{run_id}")).json()
    assert detail["status"] == "complete"
    assert [s["prompt"] for s in detail["sketches"]] == [s["prompt"] for s in before["sketches"]]
    assert detail["resumes"][0]["sketches"] == [1, 2]
    assert detail["resumes"][0]["previous_status"] == "interrupted"
    assert {f["name"] for f in detail["files"]} >= {f"sketch_{i}.png" for i in range(4)}

    again = await client.post(f"/runs/{run_id}/resume")
    assert again.status_code == 409
    assert again.json()["field"] == "run_id" and "complete" in again.json()["message"]


async def test_a_live_run_is_running_and_cannot_be_resumed(client, output_dir):
    run_id, _ = await _interrupted_run(client, output_dir)
    lock = RunLock(output_dir / run_id).acquire()  # as the process making the run holds it
    try:
        assert (await client.get(f"/runs/{run_id}")).json()["status"] == "running"
        assert (await client.get("/runs", params={"status": "running"})).json()["runs"][0]["run_id"] == run_id
        r = await client.post(f"/runs/{run_id}/resume")
        assert r.status_code == 409 and "still running" in r.json()["message"]
    finally:
        lock.release()
    assert (await client.get(f"/runs/{run_id}")).json()["status"] == "interrupted"


async def test_resuming_an_unknown_run_is_404(client):
    for run_id in ("20200101_000000", "not-a-run"):
        r = await client.post(f"/runs/{run_id}/resume")
        assert r.status_code == 404 and r.json()["field"] == "run_id"


def test_resume_stream_sends_the_run_events(live_server, output_dir):
    server = live_server()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        made = http.post(
            "/generate", json={"brief": "playful golf mascot", "model": "trace", "num_images": 3}
        )
        run_id = made.json()["run_id"]
        meta = json.loads((output_dir / run_id / "metadata.json").read_text())
        meta["status"] = "failed"
        meta["sketches"][0].update(status="failed", file=None, error={"code": "server_error", "message": "x"})
        (output_dir / run_id / "sketch_0.png").unlink()
        (output_dir / run_id / "metadata.json").write_text(json.dumps(meta))

        r = http.post(f"/runs/{run_id}/resume-stream")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(r.text)
    names = [e["event"] for e in events]
    assert names[0] == "run.started" and names[-1] == "run.completed"
    done = [e["data"] for e in events if e["event"] == "sketch.completed"]
    assert [d["index"] for d in done] == [0]
    assert done[0]["url"] == f"/runs/{run_id}/files/sketch_0.png"
    assert events[-1]["data"]["status"] == "complete"
    meta = json.loads((output_dir / run_id / "metadata.json").read_text())
    assert meta["sketches"][0]["earlier_errors"][0]["code"] == "server_error"
    assert meta["resumes"][0]["previous_status"] == "failed"
