"""`sketchgen weights --local ID`: a local diffusion model's weights fetched once into the Hugging
Face cache through the real huggingface_hub code, from a stand-in hub on 127.0.0.1; a run then reads
them from the cache. Each command runs in a fresh process (huggingface_hub reads HF_ENDPOINT and
HF_HUB_OFFLINE when imported, and the suite runs with HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.rag.fake_hub import FakeHub, run_sketchgen


@pytest.fixture
def hub_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SKETCHGEN_LOCAL", "GEMINI_"))}
    env.pop("TRANSFORMERS_OFFLINE", None)
    env["HF_HOME"] = str(tmp_path / "hf-home")
    env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd()), env.get("PYTHONPATH", "")])
    return env


def test_offline_the_weights_command_says_what_to_do_in_one_line(hub_env, tmp_path):
    out = run_sketchgen(
        "weights", "--local", "sdxl-scribble", env={**hub_env, "HF_HUB_OFFLINE": "1"}, cwd=tmp_path
    )
    assert out.returncode != 0
    [line] = out.stderr.strip().splitlines()
    assert (
        "HF_HUB_OFFLINE=1 forbids downloading" in line and "sketchgen weights --local sdxl-scribble" in line
    )


def test_an_unknown_local_model_is_refused_before_any_download(hub_env, tmp_path):
    out = run_sketchgen("weights", "--local", "nope", env={**hub_env, "HF_HUB_OFFLINE": "1"}, cwd=tmp_path)
    assert out.returncode != 0 and "unknown local model 'nope'" in out.stderr


def test_weights_land_in_the_cache_once_and_a_run_reads_them_there(hub_env, tmp_path):
    pytest.importorskip("diffusers", reason="the local extra is not installed")
    from generate.adapters.diffusers.catalog import MODELS
    from generate.testing.tiny_diffusion import save_tiny_controlnet_pipeline, tiny_hub_files

    spec = MODELS["sdxl-scribble"]
    files = tiny_hub_files(save_tiny_controlnet_pipeline(tmp_path / "tiny"), spec)
    with FakeHub(files) as hub:
        env = {**hub_env, "HF_ENDPOINT": hub.url}
        first = run_sketchgen("weights", "--local", "sdxl-scribble", "--json", env=env, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        assert json.loads(first.stdout)["downloaded"] is True
        fetched = len(hub.gets())
        assert fetched  # (files with equal bytes, tokenizer and tokenizer_2, share one download)
        again = run_sketchgen("weights", "--local", "sdxl-scribble", env=env, cwd=tmp_path)
        assert again.returncode == 0 and "already on disk" in again.stdout
        assert len(hub.gets()) == fetched  # nothing fetched twice
    run_env = {
        **hub_env,
        "HF_HUB_OFFLINE": "1",  # the run itself must not need the hub
        "SKETCHGEN_LOCAL_STEPS": "2",
        "SKETCHGEN_LOCAL_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",
        "SKETCHGEN_OUTPUT_DIR": str(tmp_path / "out"),
    }
    run = run_sketchgen(
        "generate",
        "playful golf mascot",
        "--model",
        "local:sdxl-scribble",
        "-n",
        "3",
        "--seed",
        "1",
        "--json",
        env=run_env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    [meta_path] = (tmp_path / "out").glob("*/metadata.json")
    meta = json.loads(meta_path.read_text())
    assert meta["status"] == "complete"
    assert all("+" in rec["model_version"] for rec in meta["sketches"])  # the two cache snapshots
