"""The studio's management endpoints: DELETE /runs/{id}, GET /runs/{id}/archive,
PUT /runs/{id}/favourite, GET /runs/{id}/files/{name}?format=, GET /spend."""

from __future__ import annotations

import io
import json
import os
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from generate.run_lock import RunLock
from generate.runs import atomic_write_json
from tests.api.asgi_helpers import http_scope, receive_once
from tests.api.test_runs_files import make_run
from tests.generate.spend_helpers import freeze_now, recorded_run, resumed


async def _ids(client, **params):
    r = await client.get("/runs", params=params)
    assert r.status_code == 200, r.text
    return [run["run_id"] for run in r.json()["runs"]]


# ---- DELETE ------------------------------------------------------------------------------------------
async def test_delete_removes_the_folder_and_the_catalog_row(client, output_dir):
    make_run(output_dir, "20250101_090000")
    make_run(output_dir, "20250102_090000")
    assert await _ids(client) == ["20250102_090000", "20250101_090000"]  # catalog built

    r = await client.delete("/runs/20250101_090000")
    assert r.status_code == 204, r.text
    assert not (output_dir / "20250101_090000").exists()
    assert not [p for p in output_dir.iterdir() if p.name.startswith(".trash-")]
    assert await _ids(client) == ["20250102_090000"]
    assert (await client.get("/runs/20250101_090000")).status_code == 404
    assert (await client.delete("/runs/20250101_090000")).status_code == 404


async def test_delete_refuses_a_running_run_with_409(client, output_dir):
    folder = make_run(output_dir, "20250101_090000", status="running")
    lock = RunLock(folder).acquire()
    try:
        r = await client.delete("/runs/20250101_090000")
        assert r.status_code == 409
        assert "running" in r.json()["message"]
        assert (folder / "metadata.json").is_file()
    finally:
        lock.release()
    assert (await client.delete("/runs/20250101_090000")).status_code == 204


async def test_delete_refuses_a_symlinked_run_folder_and_keeps_its_target(client, output_dir, tmp_path):
    make_run(tmp_path / "elsewhere", "20250101_090000")
    outside = tmp_path / "elsewhere" / "20250101_090000"
    os.symlink(outside, output_dir / "20250101_090000")
    inside = make_run(output_dir, "20250102_090000")
    os.symlink(inside, output_dir / "20250103_090000")  # a second name for a real run

    assert (await client.delete("/runs/20250101_090000")).status_code == 404
    assert (await client.delete("/runs/20250103_090000")).status_code == 404
    assert (outside / "metadata.json").is_file()
    assert (inside / "metadata.json").is_file()


@pytest.mark.parametrize(
    "raw",
    ["/runs/..", "/runs/%2E%2E", "/runs/20250101_090000%2F..", "/runs/outputs", "/runs/.catalog.sqlite3"],
)
async def test_delete_traversal_is_refused(app, output_dir, raw):
    make_run(output_dir, "20250101_090000")
    scope = http_scope("DELETE", raw)
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    await app(scope, receive_once(b""), send)
    assert sent[0]["status"] in (404, 405)
    assert (output_dir / "20250101_090000" / "metadata.json").is_file()
    assert output_dir.is_dir()


# ---- archive -----------------------------------------------------------------------------------------
async def test_archive_holds_the_run_files_and_no_symlink(client, output_dir, tmp_path):
    folder = make_run(output_dir, "20250101_090000", n=2)
    (tmp_path / "secret.txt").write_text("api key")
    os.symlink(tmp_path / "secret.txt", folder / "leak.txt")
    os.symlink(tmp_path, folder / "leakdir")
    (folder / ".lock").write_text("")
    (folder / "refs").mkdir()
    (folder / "refs" / "ref_0.png").write_bytes(b"\x89PNG fake")

    r = await client.get("/runs/20250101_090000/archive")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert 'attachment; filename="sketchgen_20250101_090000.zip"' == r.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(
            f"20250101_090000/{n}"
            for n in ["contact_sheet.png", "metadata.json", "sketch_0.png", "sketch_1.png", "refs/ref_0.png"]
        )
        assert archive.read("20250101_090000/sketch_1.png") == (folder / "sketch_1.png").read_bytes()
        assert json.loads(archive.read("20250101_090000/metadata.json"))["run_id"] == "20250101_090000"
        assert archive.testzip() is None


async def test_archive_of_unknown_or_symlinked_run_is_404(client, output_dir, tmp_path):
    make_run(tmp_path / "elsewhere", "20250101_090000")
    os.symlink(tmp_path / "elsewhere" / "20250101_090000", output_dir / "20250101_090000")
    assert (await client.get("/runs/20250101_090000/archive")).status_code == 404
    assert (await client.get("/runs/20259999_000000/archive")).status_code == 404


# ---- favourite ---------------------------------------------------------------------------------------
async def test_favourite_stars_and_unstars(client, output_dir):
    make_run(output_dir, "20250101_090000")
    make_run(output_dir, "20250102_090000")
    r = await client.put("/runs/20250101_090000/favourite", json={"favourite": True})
    assert r.status_code == 200 and r.json() == {"favourite": True}
    assert (output_dir / "20250101_090000" / ".favourite").exists()
    assert await _ids(client, favourite="true") == ["20250101_090000"]
    assert (await client.get("/runs")).json()["runs"][1]["favourite"] is True

    r = await client.put("/runs/20250101_090000/favourite", json={"favourite": False})
    assert r.status_code == 200
    assert not (output_dir / "20250101_090000" / ".favourite").exists()
    assert await _ids(client, favourite="true") == []


async def test_favourite_bad_body_and_unknown_run(client, output_dir):
    make_run(output_dir, "20250101_090000")
    r = await client.put("/runs/20250101_090000/favourite", json={"favourite": "maybe"})
    assert r.status_code == 422
    assert (await client.put("/runs/20259999_000000/favourite", json={"favourite": True})).status_code == 404


# ---- format download ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "suffix", "ctype", "magic"),
    [
        ("jpeg", ".jpg", "image/jpeg", b"\xff\xd8\xff"),
        ("webp", ".webp", "image/webp", b"RIFF"),
        ("png", ".png", "image/png", b"\x89PNG"),
    ],
)
async def test_file_download_in_another_format_keeps_gray(client, output_dir, fmt, suffix, ctype, magic):
    folder = make_run(output_dir, "20250101_090000", n=1)
    gradient = Image.linear_gradient("L").resize((64, 64))
    gradient.save(folder / "sketch_0.png")
    r = await client.get("/runs/20250101_090000/files/sketch_0.png", params={"format": fmt})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == ctype
    assert r.headers["content-disposition"] == f'attachment; filename="sketch_0{suffix}"'
    assert r.content.startswith(magic)
    with Image.open(io.BytesIO(r.content)) as got:
        assert got.size == (64, 64)
        rgb = got.convert("RGB")
        assert all(r_ == g == b for r_, g, b in rgb.getdata()), "colour crept into a grayscale sketch"
        # Lossy formats stay close to the original values.
        diff = [abs(a - b) for a, b in zip(got.convert("L").getdata(), gradient.getdata(), strict=True)]
        assert max(diff) <= 12


async def test_an_rgb_sketch_that_is_gray_comes_back_gray_as_webp(client, output_dir):
    folder = make_run(output_dir, "20250101_090000", n=1)
    Image.linear_gradient("L").resize((32, 32)).convert("RGB").save(folder / "sketch_0.png")
    r = await client.get("/runs/20250101_090000/files/sketch_0.png", params={"format": "webp"})
    with Image.open(io.BytesIO(r.content)) as got:
        assert all(r_ == g == b for r_, g, b in got.convert("RGB").getdata())


async def test_format_on_a_non_image_or_bad_value_is_refused(client, output_dir, tmp_path):
    folder = make_run(output_dir, "20250101_090000", n=1)
    r = await client.get("/runs/20250101_090000/files/metadata.json", params={"format": "jpeg"})
    assert r.status_code == 422 and r.json()["field"] == "format"
    r = await client.get("/runs/20250101_090000/files/sketch_0.png", params={"format": "gif"})
    assert r.status_code == 422
    # The symlink rule still holds with a format.
    Image.new("L", (8, 8), 9).save(tmp_path / "outside.png")
    os.symlink(tmp_path / "outside.png", folder / "sneaky.png")
    r = await client.get("/runs/20250101_090000/files/sneaky.png", params={"format": "jpeg"})
    assert r.status_code == 404


# ---- spend -------------------------------------------------------------------------------------------
def _costed(root, run_id, cost, model):
    folder = make_run(root, run_id, model=model)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["totals"]["cost_usd"] = cost
    atomic_write_json(folder / "metadata.json", meta)


def _run_id_at(moment: datetime, n: int = 0) -> str:
    """The run id a run started at ``moment`` gets (local time), with a distinct ``_N`` suffix."""
    return moment.astimezone().strftime("%Y%m%d_%H%M%S") + (f"_{n}" if n else "")


async def test_spend_today_this_month_and_by_model(client, output_dir, monkeypatch):
    # UTC days and months, as `sketchgen spend` and the daily budget count them.
    now = freeze_now(monkeypatch)
    _costed(output_dir, _run_id_at(now, 2), 0.25, "gemini-3-pro-image")
    _costed(output_dir, _run_id_at(now, 3), 0.5, "gemini-2.5-flash-image")
    _costed(output_dir, _run_id_at(now, 4), 0.0, "trace")
    first = now.replace(day=1, hour=0, minute=0, second=1)
    if first.date() != now.date():
        _costed(output_dir, _run_id_at(first), 1.0, "gemini-3-pro-image")
        month_total, pro = 1.75, 1.25
    else:
        month_total, pro = 0.75, 0.25
    last_month = first - timedelta(seconds=2)  # the last seconds of the month before
    _costed(output_dir, _run_id_at(last_month), 4.0, "gemini-3-pro-image")
    _costed(output_dir, "20000101_000001", 9.0, "gemini-3-pro-image")  # long ago

    r = await client.get("/spend")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["day"] == now.strftime("%Y-%m-%d") and body["month"] == now.strftime("%Y-%m")
    assert body["today_usd"] == pytest.approx(0.75)
    assert body["month_usd"] == pytest.approx(month_total)
    assert body["by_model"] == pytest.approx({"gemini-3-pro-image": pro, "gemini-2.5-flash-image": 0.5})
    assert list(body["by_model"])[0] == ("gemini-3-pro-image" if pro > 0.5 else "gemini-2.5-flash-image")


async def test_spend_without_a_catalog_reads_the_folders(client, output_dir, monkeypatch):
    import generate.run_catalog

    monkeypatch.setattr(generate.run_catalog, "catalog_for", lambda root: None)  # read-only outputs
    now = freeze_now(monkeypatch)
    _costed(output_dir, _run_id_at(now, 2), 0.25, "gemini-3-pro-image")
    _costed(output_dir, "20000101_000001", 9.0, "gemini-3-pro-image")
    body = (await client.get("/spend")).json()
    assert body["today_usd"] == pytest.approx(0.25) and body["month_usd"] == pytest.approx(0.25)
    assert body["by_model"] == pytest.approx({"gemini-3-pro-image": 0.25})


async def test_spend_with_no_runs_is_zero(client):
    body = (await client.get("/spend")).json()
    assert body["today_usd"] == 0 and body["month_usd"] == 0 and body["by_model"] == {}


async def test_spend_in_the_last_second_of_a_month_counts_that_day_and_month(client, output_dir, monkeypatch):
    last = freeze_now(monkeypatch, datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))
    _costed(output_dir, _run_id_at(last), 0.25, "gemini-3-pro-image")
    _costed(output_dir, _run_id_at(last + timedelta(seconds=2)), 4.0, "gemini-3-pro-image")  # December
    body = (await client.get("/spend")).json()
    assert (body["day"], body["month"]) == ("2026-11-30", "2026-11")
    assert body["today_usd"] == pytest.approx(0.25) and body["month_usd"] == pytest.approx(0.25)


async def test_spend_counts_a_resume_on_the_day_it_ran(client, output_dir, monkeypatch):
    now = freeze_now(monkeypatch, datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    run_id = recorded_run(output_dir, datetime(2026, 11, 30, 22, 0, tzinfo=UTC), 0.5, model="m-pro")
    resumed(output_dir, run_id, now - timedelta(hours=1), 0.25)
    body = (await client.get("/spend")).json()
    assert body["today_usd"] == pytest.approx(0.25) and body["month_usd"] == pytest.approx(0.25)
    assert body["by_model"] == pytest.approx({"m-pro": 0.25})
    (run,) = (await client.get("/runs")).json()["runs"]
    assert run["billed"] == {"2026-11-30": 0.5, "2026-12-01": 0.25}


async def test_spend_while_another_process_rebuilds_the_catalog_reads_the_folders(
    client, output_dir, monkeypatch
):
    """A rebuild elsewhere (``sketchgen reindex`` beside the service) empties the catalog and fills
    it again: its rows are partial until it ends, so GET /spend answers as the daily budget does,
    from the folders, instead of from a part of the runs."""
    import sqlite3

    from generate.run_catalog import BUILD_LOCK_NAME, CATALOG_NAME
    from generate.spend import DailySpend, summarize_spend

    now = freeze_now(monkeypatch)
    _costed(output_dir, _run_id_at(now, 2), 0.25, "gemini-3-pro-image")
    _costed(output_dir, _run_id_at(now, 3), 0.5, "gemini-2.5-flash-image")
    assert (await client.get("/spend")).json()["today_usd"] == pytest.approx(0.75)  # the catalog, built
    other = RunLock(output_dir, BUILD_LOCK_NAME).acquire()  # another process's build, as its lock says
    try:
        db = sqlite3.connect(output_dir / CATALOG_NAME)
        with db:  # its first step: every row forgotten, to be read again from the folders
            for table in ("runs", "charges"):
                db.execute(f"DELETE FROM {table}")
        db.close()
        body = (await client.get("/spend")).json()
        assert body["today_usd"] == pytest.approx(0.75) and body["month_usd"] == pytest.approx(0.75)
        assert body["by_model"] == pytest.approx({"gemini-2.5-flash-image": 0.5, "gemini-3-pro-image": 0.25})
        assert DailySpend(output_dir).today(now) == pytest.approx(0.75)
        assert summarize_spend(output_dir)["total_usd"] == pytest.approx(0.75)  # sketchgen spend
    finally:
        other.release()
