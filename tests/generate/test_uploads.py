"""Uploads retention: what a sweep removes (old, unreferenced, unheld) and keeps, and the size cap."""

from __future__ import annotations

import io
import json
import os
import time

import pytest
from PIL import Image

from generate.errors import ConfigError
from generate.inputs import UploadClaims, save_upload
from generate.uploads import (
    UploadsFull,
    expired_uploads,
    max_bytes_from_env,
    referenced_uploads,
    remove_unused,
    retention_hours_from_env,
    sweep_uploads,
    uploads_bytes,
)

DAY = 24 * 3600


def _png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (32, 32), shade).save(out, format="PNG")
    return out.getvalue()


def _age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _run_referring_to(root, run_id: str, *paths) -> None:
    """A run folder whose metadata names ``paths`` the way a run records its designer images."""
    folder = root / run_id
    folder.mkdir()
    sketches = [{"index": 0, "input_images": [str(paths[0])], "references": [str(p) for p in paths[1:]]}]
    (folder / "metadata.json").write_text(json.dumps({"run_id": run_id, "sketches": sketches}))


def test_a_sweep_removes_only_old_uploads_no_run_refers_to_and_no_request_holds(tmp_path):
    used, ref, orphan, young, held = (
        save_upload(_png(s), tmp_path, field="image")[0] for s in (10, 20, 30, 40, 50)
    )
    for path in (used, ref, orphan, held):
        _age(path, 2 * DAY)
    _age(young, 3600)
    _run_referring_to(tmp_path, "20260101_120000", used, ref)

    removed = sweep_uploads(tmp_path, 24, keep=[held])
    assert removed == [orphan]
    assert not orphan.exists()
    assert used.exists() and ref.exists() and young.exists() and held.exists()
    assert sweep_uploads(tmp_path, 24, keep=[held]) == []


def test_a_run_that_comes_to_name_an_old_upload_keeps_it(tmp_path):
    path, _ = save_upload(_png(15), tmp_path, field="image")
    _age(path, 2 * DAY)
    _run_referring_to(tmp_path, "20260101_120000", tmp_path / "elsewhere.png")
    assert referenced_uploads(tmp_path) == set()  # read once, and remembered
    meta = tmp_path / "20260101_120000" / "metadata.json"
    doc = json.loads(meta.read_text())
    doc["sketches"][0]["references"] = [str(path)]  # e.g. the run was edited, or resumed with it
    meta.write_text(json.dumps(doc))
    assert sweep_uploads(tmp_path, 24) == [] and path.exists()


def test_an_upload_sent_again_while_a_sweep_reads_the_runs_stays(tmp_path):
    data = _png(25)
    path, _ = save_upload(data, tmp_path, field="image")
    _age(path, 2 * DAY)
    listed = expired_uploads(tmp_path, 24)
    assert listed == [path]
    save_upload(data, tmp_path, field="image")  # a request sends it meanwhile: young again
    assert remove_unused(listed, set(), 24) == [] and path.exists()


def test_sending_an_upload_again_renews_its_time(tmp_path):
    data = _png(60)
    path, _ = save_upload(data, tmp_path, field="image")
    _age(path, 2 * DAY)
    again, new = save_upload(data, tmp_path, field="image")
    assert again == path and not new
    assert sweep_uploads(tmp_path, 24) == [] and path.exists()


def test_a_new_upload_past_the_cap_is_refused_and_nothing_is_written(tmp_path):
    first = _png(70)
    path, _ = save_upload(first, tmp_path, field="image")
    cap = uploads_bytes(tmp_path) + 10
    with pytest.raises(UploadsFull) as caught:
        save_upload(_png(80), tmp_path, field="references_base64", max_total_bytes=cap)
    assert caught.value.field == "references_base64" and "SKETCHGEN_UPLOADS_MAX_MB" in str(caught.value)
    assert sorted((tmp_path / "uploads").iterdir()) == [path]
    # The same image again is no new byte: it is taken even at the cap.
    assert save_upload(first, tmp_path, field="image", max_total_bytes=cap) == (path, False)


def test_a_full_folder_is_swept_before_an_upload_is_refused(tmp_path):
    claims = UploadClaims()
    old = claims.save(_png(90), tmp_path, field="image")
    claims.settle([old], accepted=True)
    _age(old, 2 * DAY)
    cap = uploads_bytes(tmp_path) + 10
    fresh = claims.save(_png(100), tmp_path, field="image", max_total_bytes=cap, retention_hours=24)
    assert fresh.exists() and not old.exists()
    # Nothing expired left to sweep: refused.
    with pytest.raises(UploadsFull):
        claims.save(_png(110), tmp_path, field="image", max_total_bytes=cap, retention_hours=24)


def test_a_held_upload_is_not_swept_even_when_old(tmp_path):
    claims = UploadClaims()
    path = claims.save(_png(120), tmp_path, field="image")  # a request being prepared holds it
    _age(path, 2 * DAY)
    assert claims.sweep(tmp_path, 24) == [] and path.exists()
    claims.settle([path], accepted=True)
    assert claims.sweep(tmp_path, 24) == [path]


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_a_bad_setting_is_one_line_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("SKETCHGEN_UPLOAD_RETENTION_HOURS", value)
    monkeypatch.setenv("SKETCHGEN_UPLOADS_MAX_MB", value)
    with pytest.raises(ConfigError, match="SKETCHGEN_UPLOAD_RETENTION_HOURS"):
        retention_hours_from_env()
    with pytest.raises(ConfigError, match="SKETCHGEN_UPLOADS_MAX_MB"):
        max_bytes_from_env()


def test_the_settings_default_to_a_day_and_a_gibibyte(monkeypatch):
    monkeypatch.delenv("SKETCHGEN_UPLOAD_RETENTION_HOURS", raising=False)
    monkeypatch.setenv("SKETCHGEN_UPLOADS_MAX_MB", "")
    assert retention_hours_from_env() == 24.0 and max_bytes_from_env() == 2**30
    monkeypatch.setenv("SKETCHGEN_UPLOAD_RETENTION_HOURS", "0.5")
    assert retention_hours_from_env() == 0.5


def test_a_huge_cap_means_no_cap_rather_than_a_crash(monkeypatch, tmp_path):
    """1e308 MiB is a finite number above 0, as the variable asks, but not an int of bytes."""
    monkeypatch.setenv("SKETCHGEN_UPLOADS_MAX_MB", "1e308")
    cap = max_bytes_from_env()
    assert isinstance(cap, int) and cap >= 2**62
    path, new = save_upload(_png(60), tmp_path, field="image", max_total_bytes=cap)
    assert new and path.exists()


def test_a_write_that_never_ended_is_swept_once_old_and_one_in_flight_is_not(tmp_path):
    """A process killed while writing an upload leaves its temp file (not counted, never read):
    the sweep takes it once it is older than the retention, as it would the upload."""
    kept = save_upload(_png(70), tmp_path, field="image")[0]
    dead = kept.with_name(f".{'a' * 64}.png.4242.139872.tmp")
    dead.write_bytes(b"\x89PNG half")
    _age(dead, 2 * DAY)
    in_flight = kept.with_name(f".{'b' * 64}.png.4243.139873.tmp")
    in_flight.write_bytes(b"\x89PNG half")
    other = kept.with_name(".notes")  # not ours: never touched
    other.write_text("x")
    _age(other, 2 * DAY)
    assert sweep_uploads(tmp_path, 24) == [dead]
    assert not dead.exists() and in_flight.exists() and other.exists() and kept.exists()


def test_a_batch_whose_defaults_name_an_old_upload_keeps_it(tmp_path):
    """A batch's rows that have not started have no run folder yet: its manifest names the image."""
    named, orphan = (save_upload(_png(s), tmp_path, field="image")[0] for s in (80, 90))
    for path in (named, orphan):
        _age(path, 2 * DAY)
    folder = tmp_path / "batches" / "20260101_120000"
    folder.mkdir(parents=True)
    manifest = {
        "batch_id": folder.name,
        "defaults": {"image": str(named)},
        "rows": [{"row": 1, "run_id": None}],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert referenced_uploads(tmp_path) == {named.name}
    assert sweep_uploads(tmp_path, 24) == [orphan]
    assert named.exists()
