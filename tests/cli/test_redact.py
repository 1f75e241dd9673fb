"""The CLI never prints a key: plain output, --json and -v (log lines with tracebacks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "AIzaSy-LEAK-0123456789abcdefXYZ"
# A third-party adapter that quotes the key in its errors (tests/generate/leaky.py), run by the CLI.
_SCRIPT = "import sys, tests.generate.leaky; from cli.main import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize("flags", [[], ["--json"], ["-v"]], ids=["plain", "json", "verbose"])
def test_cli_output_carries_no_key(tmp_path, flags):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GEMINI_API_KEY": SECRET,
        "SKETCHGEN_OUTPUT_DIR": str(tmp_path),
    }
    verbose = ["-v"] if "-v" in flags else []
    args = [*verbose, "generate", "playful golf mascot", "-n", "3", "--model", "leaky-test", "--top-k", "0"]
    args += [f for f in flags if f != "-v"]
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert done.returncode == 3, done.stderr  # partial: sketch 1 failed, the others were made
    output = done.stdout + done.stderr
    assert "Traceback" in done.stderr  # the bug is logged (ERROR) with its traceback, redacted
    assert SECRET not in output and "[redacted]" in output
    if "--json" in flags:
        sketch = json.loads(done.stdout)["sketches"][1]
        assert sketch["error"]["code"] == "internal"
