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
    for text in (stream_text, detail.text):
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
