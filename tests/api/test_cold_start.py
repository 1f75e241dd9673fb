"""A freshly started service answers its first concurrent requests with the full model registry."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Sixteen first requests at once against a cold app (validation runs in worker threads, so they
# look the model up concurrently). The image size is one no model offers: every answer must be the
# 422 naming image_size that a resolved model gives, never "unknown model 'auto'".
_REQUESTS = textwrap.dedent(
    """
    import asyncio, json, tempfile
    import httpx
    from api.main import create_app

    async def main():
        app = create_app(output_dir=tempfile.mkdtemp())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sketchgen") as client:
            body = {"brief": "playful golf mascot", "model": "auto", "image_size": "9K"}
            answers = await asyncio.gather(*(client.post("/generate", json=body) for _ in range(16)))
        return [[a.status_code, a.json()["field"]] for a in answers]

    print(json.dumps(asyncio.run(main())))
    """
)


def test_concurrent_first_requests_resolve_the_model():
    answers = run_cold(_REQUESTS)
    assert answers == [[422, "image_size"]] * 16, answers


def run_cold(script: str) -> list:
    """Run ``script`` in a fresh interpreter (a cold registry) with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
