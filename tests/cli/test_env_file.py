"""`sketchgen` reads ./.env in the folder it is run from, and the real environment always wins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _sketchgen(*args, cwd, env=None):
    """The installed entry point in a fresh process, with no Gemini variables but ``env``."""
    exe = Path(sys.executable).with_name("sketchgen")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "GOOGLE_"))}
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120
    )


def _auto_target(proc) -> str:
    assert proc.returncode == 0, proc.stderr
    return next(m for m in json.loads(proc.stdout) if m["id"] == "auto")["resolves_to"]


def test_env_file_in_the_working_folder_is_read(tmp_path):
    (tmp_path / ".env").write_text("GEMINI_API_KEY=dummy-env-file-key\nGEMINI_MODEL=nano-banana-pro\n")
    proc = _sketchgen("models", "--json", cwd=tmp_path)
    assert _auto_target(proc) == "gemini-3-pro-image"  # the key and the model both came from .env
    assert "dummy-env-file-key" not in proc.stdout + proc.stderr


def test_environment_wins_over_the_env_file(tmp_path):
    (tmp_path / ".env").write_text("GEMINI_API_KEY=dummy-env-file-key\nGEMINI_MODEL=nano-banana-pro\n")
    proc = _sketchgen("models", "--json", cwd=tmp_path, env={"GEMINI_MODEL": "gemini-3.1-flash-lite-image"})
    assert _auto_target(proc) == "gemini-3.1-flash-lite-image"


def test_without_env_file_nothing_is_read(tmp_path):
    assert _auto_target(_sketchgen("models", "--json", cwd=tmp_path)) == "trace"
