"""The service's uploads: swept at start (never one a recorded run refers to), capped with a 507."""

from __future__ import annotations

import base64
import io
import os
import time

from fastapi.testclient import TestClient
from PIL import Image

from api.main import create_app

PRO = "nano-banana-pro"
DAY = 24 * 3600


def _png(shade: int) -> bytes:
    out = io.BytesIO()
    img = Image.new("L", (64, 64), 255)
    img.paste(shade, (10, 10, 50, 50))
    img.save(out, format="PNG")
    return out.getvalue()


def _body(image: bytes) -> dict:
    return {
        "brief": "clean up my napkin sketch",
        "num_images": 3,
        "model": PRO,
        "top_k": 0,
        "image_base64": base64.b64encode(image).decode(),
    }


def test_the_service_sweeps_expired_uploads_at_start_but_keeps_a_runs(fake_gemini, output_dir):
    with TestClient(create_app(output_dir=output_dir)) as client:
        r = client.post("/generate", json=_body(_png(0)))
        assert r.status_code == 200, r.text
    (used,) = (output_dir / "uploads").iterdir()
    orphan = output_dir / "uploads" / ("0" * 64 + ".png")
    orphan.write_bytes(_png(90))
    then = time.time() - 2 * DAY
    for path in (used, orphan):
        os.utime(path, (then, then))

    with TestClient(create_app(output_dir=output_dir)):  # its start-up sweeps
        deadline = time.monotonic() + 60
        while orphan.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not orphan.exists()
        assert used.exists()  # the run's metadata.json names it: a resume would send it again


def test_an_upload_past_the_cap_is_507_before_any_call(fake_gemini, output_dir):
    with TestClient(create_app(output_dir=output_dir, uploads_max_bytes=100)) as client:
        r = client.post("/generate", json=_body(_png(0)))
    assert r.status_code == 507, r.text
    body = r.json()
    assert body["code"] == "uploads_full" and body["field"] == "image_base64"
    assert "SKETCHGEN_UPLOADS_MAX_MB" in body["message"]
    assert fake_gemini.count == 0 and not any((output_dir / "uploads").iterdir())
