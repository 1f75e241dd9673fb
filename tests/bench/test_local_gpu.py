"""``bench/local_gpu.py --tiny``: the GPU check runs end to end on the CPU, so it is known to work
before GPU time is spent on it (the real-weights run is the same code with the real pipeline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the local extra is not installed: pip install 'sketchgen[local]'")

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "local_gpu.py"


@pytest.mark.timeout(900)  # past its own subprocess bound (600 s), which fails with the script's output
def test_the_gpu_check_runs_end_to_end_on_the_tiny_model_on_the_cpu(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--n", "3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,  # a slow shared CI machine: about 40 s here
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout)
    assert figures["tiny"] is True and figures["device"] == "cpu" and figures["status"] == "complete"
    assert figures["n"] == 3 and len(figures["per_image_s"]) == 3 and figures["peak_gpu_mb"] is None
    assert figures["same_bytes_again"] is True and figures["blank_sketches"] == 0
    assert all(0 < n <= figures["token_window"] == 77 for n in figures["prompt_tokens"].values())
    assert Path(figures["run_dir"], "metadata.json").is_file()
    assert not list(tmp_path.glob("sketchgen-tiny-local-*"))  # the tiny model's folder is removed


def test_without_tiny_and_without_a_gpu_it_says_so_in_one_line(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cuda"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith("no CUDA device")
