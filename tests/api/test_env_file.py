"""The service as `uvicorn api.main:app` loads it reads ./.env in its working folder, never overriding."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_PROBE = """
import json
from fastapi.testclient import TestClient
from api.main import app
with TestClient(app) as client:
    models = client.get("/models").json()
print(json.dumps(next(m for m in models if m["id"] == "auto")))
"""


def _auto(cwd, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    # A script file, as uvicorn's is: under ``python -c`` python-dotenv treats the session as
    # interactive and searches the cwd anyway, which would hide the bug.
    script = cwd / "probe.py"
    script.write_text(_PROBE)
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_service_reads_the_working_folders_env_file(tmp_path):
    (tmp_path / ".env").write_text("GEMINI_API_KEY=dummy-env-file-key\nGEMINI_MODEL=nano-banana-pro\n")
    auto = _auto(tmp_path)
    assert auto["resolves_to"] == "gemini-3-pro-image"
    assert "dummy-env-file-key" not in json.dumps(auto)


def test_service_environment_wins_over_the_env_file(tmp_path):
    (tmp_path / ".env").write_text("GEMINI_API_KEY=dummy-env-file-key\nGEMINI_MODEL=nano-banana-pro\n")
    assert _auto(tmp_path, GEMINI_MODEL="gemini-3.1-flash-lite-image")["resolves_to"] == (
        "gemini-3.1-flash-lite-image"
    )
