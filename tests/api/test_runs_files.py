"""GET /runs (filters, paging), GET /runs/{id}, and file serving that no path can escape."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from generate.runs import atomic_write_json
from tests.api.asgi_helpers import http_scope, receive_once


def _png(colour: int = 200) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (16, 16), colour).save(buf, "PNG")
    return buf.getvalue()


def make_run(
    root, run_id, *, status="complete", style="vintage-mascot", model="trace", brief="golf mascot", n=3
):
    """A run folder shaped like the library's (metadata.json + sketches), at a chosen date."""
    folder = root / run_id
    folder.mkdir(parents=True)
    files = []
    for i in range(n):
        (folder / f"sketch_{i}.png").write_bytes(_png(40 * i))
        files.append(f"sketch_{i}.png")
    (folder / "contact_sheet.png").write_bytes(_png())
    stamp = f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:{run_id[11:13]}:{run_id[13:15]}"
    atomic_write_json(
        folder / "metadata.json",
        {
            "schema_version": 1,
            "run_id": run_id,
            "timestamp": stamp,
            "status": status,
            "style_id": style,
            "prompt_spec": {"brief": brief},
            "config": {"num_images": n, "model_name": model, "aspect_ratio": "1:1"},
            "model": {"requested": model, "used": model},
            "images": files,
            "sketches": [
                {"index": i, "file": f, "status": "completed", "variation": {"layout": "hero"}}
                for i, f in enumerate(files)
            ],
            "contact_sheet": "contact_sheet.png",
            "totals": {"succeeded": n, "failed": 0, "cancelled": 0, "cost_usd": 0.0},
        },
    )
    return folder


@pytest.fixture
def runs(output_dir):
    make_run(output_dir, "20250101_090000", style="vintage-mascot", model="trace", status="complete")
    make_run(output_dir, "20250102_090000", style="badge-emblem", model="trace", status="partial")
    make_run(
        output_dir, "20250103_090000", style="vintage-mascot", model="gemini-3-pro-image", status="complete"
    )
    make_run(output_dir, "20250103_090000_2", style="vintage-mascot", model="trace", status="cancelled")
    make_run(output_dir, "20250104_120000", style="badge-emblem", model="gemini-3-pro-image", status="failed")
    return output_dir


async def _ids(client, **params):
    r = await client.get("/runs", params=params)
    assert r.status_code == 200, r.text
    return [run["run_id"] for run in r.json()["runs"]]


async def test_runs_newest_first_with_urls(client, runs):
    r = await client.get("/runs")
    body = r.json()
    assert [x["run_id"] for x in body["runs"]] == [
        "20250104_120000",
        "20250103_090000_2",
        "20250103_090000",
        "20250102_090000",
        "20250101_090000",
    ]
    first = body["runs"][0]
    assert first["url"] == "/runs/20250104_120000"
    assert first["image_urls"][0] == "/runs/20250104_120000/files/sketch_0.png"
    assert first["contact_sheet_url"] == "/runs/20250104_120000/files/contact_sheet.png"
    assert first["brief"] == "golf mascot"
    assert body["next_offset"] is None


async def test_runs_filters(client, runs):
    assert await _ids(client, style="badge-emblem") == ["20250104_120000", "20250102_090000"]
    assert await _ids(client, model="gemini-3-pro-image") == ["20250104_120000", "20250103_090000"]
    assert await _ids(client, status="cancelled") == ["20250103_090000_2"]
    assert await _ids(client, since="2025-01-03") == [
        "20250104_120000",
        "20250103_090000_2",
        "20250103_090000",
    ]
    assert await _ids(client, until="2025-01-02") == ["20250102_090000", "20250101_090000"]
    assert await _ids(client, since="2025-01-02", until="2025-01-03", style="vintage-mascot") == [
        "20250103_090000_2",
        "20250103_090000",
    ]
    assert await _ids(client, since="2025-01-04T11:00:00") == ["20250104_120000"]


async def test_runs_paging(client, runs):
    page1 = (await client.get("/runs", params={"limit": 2})).json()
    assert [x["run_id"] for x in page1["runs"]] == ["20250104_120000", "20250103_090000_2"]
    assert page1["next_offset"] == 2
    page3 = (await client.get("/runs", params={"limit": 2, "offset": 4})).json()
    assert [x["run_id"] for x in page3["runs"]] == ["20250101_090000"]
    assert page3["next_offset"] is None


async def test_runs_model_filter_resolves_aliases(client, output_dir):
    make_run(output_dir, "20250105_090000", model="gemini-nano-banana-2.1")
    make_run(output_dir, "20250106_090000", model="trace")
    r = await client.get("/runs", params={"model": "nano-banana"})
    assert r.status_code == 200
    assert [x["run_id"] for x in r.json()["runs"]] == ["20250105_090000"]


@pytest.mark.parametrize(
    "params, field",
    [({"status": "bogus"}, "status"), ({"limit": 0}, "limit"), ({"since": "yesterday"}, "since")],
)
async def test_runs_bad_filters_are_422(client, params, field):
    r = await client.get("/runs", params=params)
    assert r.status_code == 422 and r.json()["field"] == field


async def test_run_detail_lists_files(client, runs):
    r = await client.get("/runs/20250101_090000")
    assert r.status_code == 200
    body = r.json()
    assert body["run_id"] == "20250101_090000" and body["status"] == "complete"
    assert body["sketches"][0]["file"] == "sketch_0.png"
    files = {f["name"]: f for f in body["files"]}
    assert set(files) == {
        "sketch_0.png",
        "sketch_1.png",
        "sketch_2.png",
        "contact_sheet.png",
        "metadata.json",
    }
    assert files["metadata.json"]["content_type"] == "application/json"
    assert files["sketch_1.png"]["url"] == "/runs/20250101_090000/files/sketch_1.png"


async def test_files_are_served_with_their_content_type(client, runs):
    png = await client.get("/runs/20250101_090000/files/sketch_1.png")
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.headers["x-content-type-options"] == "nosniff"
    assert png.content == (runs / "20250101_090000" / "sketch_1.png").read_bytes()
    meta = await client.get("/runs/20250101_090000/files/metadata.json")
    assert meta.headers["content-type"].startswith("application/json")
    assert meta.json()["run_id"] == "20250101_090000"


async def test_unknown_run_or_file_is_404(client, runs):
    assert (await client.get("/runs/20991231_000000")).status_code == 404
    assert (await client.get("/runs/not-a-run")).status_code == 404
    assert (await client.get("/runs/20991231_000000/files/sketch_0.png")).status_code == 404
    assert (await client.get("/runs/20250101_090000/files/sketch_9.png")).status_code == 404


@pytest.fixture
def secrets(tmp_path, runs):
    """Things outside any run folder that traversal would like to reach."""
    (tmp_path / "secret.txt").write_text("TOP SECRET")
    (runs / "secret.txt").write_text("TOP SECRET")  # in the output root, but not in a run folder
    run = runs / "20250101_090000"
    os.symlink(tmp_path / "secret.txt", run / "link_out.txt")  # a symlink out of the run folder
    os.symlink(runs / "20250102_090000" / "sketch_0.png", run / "other_run.png")  # into another run
    os.symlink(tmp_path, runs / "20250105_000000")  # a run "folder" that is a symlink out of the root
    (run / ".metadata.json.tmp").write_text("{}")  # a temporary file mid-write
    return tmp_path


@pytest.mark.parametrize(
    "path",
    [
        "/runs/20250101_090000/files/../../secret.txt",
        "/runs/20250101_090000/files/..%2F..%2Fsecret.txt",
        "/runs/20250101_090000/files/%2E%2E%2Fsecret.txt",
        "/runs/20250101_090000/files/..%252F..%252Fsecret.txt",
        "/runs/20250101_090000/files/%2Fetc%2Fpasswd",
        "/runs/20250101_090000/files//etc/passwd",
        "/runs/20250101_090000/files/..",
        "/runs/20250101_090000/files/.",
        "/runs/20250101_090000/files/..%5C..%5Csecret.txt",
        "/runs/20250101_090000/files/sketch_0.png%00.txt",
        "/runs/20250101_090000/files/link_out.txt",
        "/runs/20250101_090000/files/other_run.png",
        "/runs/20250101_090000/files/.metadata.json.tmp",
        "/runs/..%2F/files/secret.txt",
        "/runs/%2E%2E/files/secret.txt",
        "/runs/20250105_000000/files/secret.txt",
        "/runs/20250105_000000",
    ],
)
async def test_traversal_in_every_form_is_404(app, secrets, path):
    status, body = await raw_get(app, path)
    assert status == 404, (path, status, body[:200])
    assert b"TOP SECRET" not in body


async def raw_get(app, raw_path: str) -> tuple[int, bytes]:
    """GET exactly ``raw_path`` the way uvicorn hands it to the app (percent-decoded ``path``, no
    normalisation of ``..``); an HTTP client library would clean the path up before sending."""
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    await app(http_scope("GET", raw_path), receive_once(), send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def test_run_detail_hides_files_outside_the_folder(client, secrets):
    names = {f["name"] for f in (await client.get("/runs/20250101_090000")).json()["files"]}
    assert "link_out.txt" not in names and "other_run.png" not in names and ".metadata.json.tmp" not in names


@pytest.fixture
def linked_runs(tmp_path, runs):
    """A run folder symlinked from outside the root, and a metadata.json symlinked out of its folder."""
    outside = tmp_path / "elsewhere"
    make_run(outside, "20250106_000000", brief="OUTSIDE THE ROOT")
    os.symlink(outside / "20250106_000000", runs / "20250106_000000")
    (runs / "20250107_000000").mkdir()
    os.symlink(outside / "20250106_000000" / "metadata.json", runs / "20250107_000000" / "metadata.json")
    return runs


async def test_runs_and_run_detail_never_read_metadata_through_a_symlink_out(client, linked_runs):
    r = await client.get("/runs")
    assert r.status_code == 200
    assert "OUTSIDE THE ROOT" not in r.text
    assert "20250106_000000" not in r.text and "20250107_000000" not in r.text
    for run_id in ("20250106_000000", "20250107_000000"):
        detail = await client.get(f"/runs/{run_id}")
        assert detail.status_code == 404, detail.text
        assert "OUTSIDE THE ROOT" not in detail.text
    assert (await client.get("/runs/20250101_090000")).status_code == 200


async def test_runs_text_search_sort_and_favourites(client, output_dir):
    make_run(output_dir, "20250105_090000", brief="stern owl crest")
    make_run(output_dir, "20250106_090000", brief="golfing bear badge")
    make_run(output_dir, "20250107_090000", brief="playful golf mascot")
    meta_path = output_dir / "20250105_090000" / "metadata.json"
    meta = __import__("json").loads(meta_path.read_text())
    meta["totals"]["cost_usd"] = 0.402
    atomic_write_json(meta_path, meta)
    (output_dir / "20250106_090000" / ".favourite").touch()

    assert await _ids(client, q="golf") == ["20250107_090000"]
    assert await _ids(client, q="golf*") == ["20250107_090000", "20250106_090000"]
    assert await _ids(client, q="owl", sort="oldest") == ["20250105_090000"]
    assert (await _ids(client, sort="cost"))[0] == "20250105_090000"
    assert await _ids(client, favourite="true") == ["20250106_090000"]
    body = (await client.get("/runs", params={"favourite": "true"})).json()
    assert body["runs"][0]["favourite"] is True
    assert await _ids(client, q="golf*", sort="oldest", limit=1, offset=1) == ["20250107_090000"]

    r = await client.get("/runs", params={"q": "***"})
    assert r.status_code == 422 and r.json()["field"] == "q"
    r = await client.get("/runs", params={"sort": "random"})
    assert r.status_code == 422


async def test_runs_search_with_control_characters_is_an_answer_not_a_500(client, output_dir):
    make_run(output_dir, "20250106_090000", brief="golfing bear badge")
    make_run(output_dir, "20250107_090000", brief="playful golf mascot")
    # A NUL (or a tab, a newline) pasted into the search box separates words, as in the briefs.
    assert await _ids(client, q="golf\x00mascot") == ["20250107_090000"]
    assert await _ids(client, q="golf\tmascot\n") == ["20250107_090000"]
    r = await client.get("/runs", params={"q": "\x00\x01"})
    assert r.status_code == 422 and r.json()["field"] == "q"
