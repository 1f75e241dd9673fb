"""HTTP clients get run-relative names and URLs, never the server's paths (the library keeps them)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.api.sse_helpers import parse_sse

REPO = Path(__file__).resolve().parents[2]


def test_stream_events_and_run_detail_carry_names_and_urls_not_paths(live_server, output_dir, tmp_path):
    server = live_server()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        r = http.post(
            "/generate-stream", json={"brief": "playful golf mascot", "model": "trace", "num_images": 3}
        )
        assert r.status_code == 200
        stream_text = r.text
        events = parse_sse(stream_text)
        run_id = events[0]["data"]["run_id"]
        detail = http.get(f"/runs/{run_id}")
        listing = http.get("/runs")
        answer = http.post("/generate", json={"brief": "golf bag", "model": "trace", "num_images": 3})
    for text in (stream_text, detail.text, listing.text, answer.text):
        assert str(tmp_path) not in text and str(REPO) not in text

    # Every event is exactly what the OpenAPI schema documents for it (the models forbid extras).
    from api.event_schemas import EVENT_MODELS

    for event in events:
        EVENT_MODELS[event["event"]].model_validate(event["data"])

    by_name = {e["event"]: e["data"] for e in events}
    started = by_name["run.started"]
    assert "output_dir" not in started and started["run_url"] == f"/runs/{run_id}"
    completed = [e["data"] for e in events if e["event"] == "sketch.completed"]
    assert completed and all("path" not in d and d["url"].endswith(d["file"]) for d in completed)
    finished = by_name["run.completed"]
    assert "output_dir" not in finished and "metadata_path" not in finished
    assert finished["metadata_url"] == f"/runs/{run_id}/files/metadata.json"
    refs = next(
        e["data"] for e in events if e["event"] == "stage" and e["data"]["name"] == "references_retrieved"
    )
    references = refs["details"]["references"]
    assert references and all(ref["path"] == ref["name"] and "/" not in ref["path"] for ref in references)

    body = detail.json()
    assert body["reference_images"] and all("/" not in p for p in body["reference_images"])
    assert all("/" not in h["path"] for h in body["retrieval"]["hits"])
    assert all("/" not in p for s in body["sketches"] for p in s["references"])

    # The run folder's own metadata.json (the library's record) keeps the full paths.
    on_disk = json.loads((output_dir / run_id / "metadata.json").read_text())
    assert all(Path(p).is_absolute() for p in on_disk["reference_images"])


async def test_a_refinements_input_images_and_turns_are_sent_by_name(client, output_dir):
    """Runs made by refine / edit record the images they edit and earlier turns, with their paths."""
    run_id = "20250101_090000"
    folder = output_dir / run_id
    folder.mkdir()
    secret_dir = str(output_dir.parent / "uploads")
    meta = {
        "run_id": run_id,
        "status": "complete",
        "sketches": [
            {
                "index": 0,
                "status": "completed",
                "file": "sketch_0.png",
                "input_images": [f"{secret_dir}/designer.png"],
                "history": [
                    {"role": "user", "text": "a mascot", "references": [f"{secret_dir}/ref.png"]},
                    {"role": "model", "parts": [{"text": None, "image": f"{secret_dir}/turn.png"}]},
                ],
            }
        ],
        "iteration": {"kind": "refine", "path": "multi_turn"},
    }
    (folder / "metadata.json").write_text(json.dumps(meta))
    r = await client.get(f"/runs/{run_id}")
    assert r.status_code == 200
    assert secret_dir not in r.text
    sketch = r.json()["sketches"][0]
    assert sketch["input_images"] == ["designer.png"]
    assert sketch["history"][0]["references"] == ["ref.png"]
    assert sketch["history"][1]["parts"][0]["image"] == "turn.png"
    assert r.json()["iteration"]["path"] == "multi_turn"
