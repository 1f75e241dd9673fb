"""`sketchgen weights` / the first `sketchgen index` download the CLIP weights once, through the real
huggingface_hub code, from a local stand-in for the hub (``HF_ENDPOINT``); nothing reaches the internet.

Each command runs in a fresh process: huggingface_hub reads ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE``
when it is imported, and the suite itself runs with ``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from style.registry import BUILTIN_STYLES_DIR
from tests.rag.fake_hub import COMMIT, FakeHub, run_sketchgen

TINY_REPO = "sketchgen-test/tiny-clip"
DEFAULT_REPO = "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"  # the default tag's repo, as open_clip names it


@pytest.fixture
def hub_env(tmp_path):
    """A clean environment whose Hugging Face cache is empty and private to the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SKETCHGEN_CLIP", "GEMINI_"))}
    env.pop("TRANSFORMERS_OFFLINE", None)
    env["HF_HOME"] = str(tmp_path / "hf-home")
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    env["SKETCHGEN_INDEX_DIR"] = str(tmp_path / "index")
    env["SKETCHGEN_CLIP_DEVICE"] = "cpu"
    return env


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    from tests.rag.conftest import save_tiny_model

    folder = save_tiny_model(tmp_path_factory.mktemp("tiny-hub"))
    return {
        (TINY_REPO, "open_clip_config.json"): (folder / "open_clip_config.json").read_bytes(),
        (TINY_REPO, "open_clip_model.safetensors"): (folder / "open_clip_model.safetensors").read_bytes(),
    }


def test_first_index_downloads_once_with_the_size_up_front(hub_env, tiny_files, tmp_path):
    refs = tmp_path / "refs"
    shutil.copytree(BUILTIN_STYLES_DIR / "references" / "vintage-mascot", refs)
    with FakeHub(tiny_files) as hub:
        env = {**hub_env, "HF_ENDPOINT": hub.url, "SKETCHGEN_CLIP_MODEL": f"hf-hub:{TINY_REPO}"}
        # huggingface_hub draws its bar on terminals only; TQDM_POSITION=-1 is its switch to force it.
        first = run_sketchgen(
            "index",
            str(refs),
            "--style",
            "vintage-mascot",
            "--json",
            cwd=tmp_path,
            env={**env, "TQDM_POSITION": "-1"},
        )
        assert first.returncode == 0, first.stderr
        size = sum(len(b) for b in tiny_files.values())
        assert f"({size / 1e6:.1f} MB)" in first.stderr and "downloading CLIP weights" in first.stderr
        assert first.stderr.index("MB)") < first.stderr.index("100%")  # size first, then the progress bar
        assert json.loads(first.stdout)["added"] == 8
        assert len(hub.gets()) == 2
        snapshot = (
            Path(hub_env["HF_HOME"]) / "hub" / "models--sketchgen-test--tiny-clip" / "snapshots" / COMMIT
        )
        assert (snapshot / "open_clip_model.safetensors").read_bytes() == tiny_files[
            (TINY_REPO, "open_clip_model.safetensors")
        ]

        hub.requests.clear()
        again = run_sketchgen("weights", cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert "already on disk" in again.stdout and hub.requests == []  # once: no second request at all
        rebuilt = run_sketchgen(
            "index", str(refs), "--style", "vintage-mascot", "--json", cwd=tmp_path, env=env
        )
        assert rebuilt.returncode == 0 and hub.requests == [] and "downloading" not in rebuilt.stderr


def test_weights_fetches_the_default_tag_into_the_standard_cache(hub_env, tmp_path):
    payload = b"not really weights" * 1000  # fetch-only: the command never loads them
    with FakeHub({(DEFAULT_REPO, "open_clip_model.safetensors"): payload}) as hub:
        env = {**hub_env, "HF_ENDPOINT": hub.url}
        proc = run_sketchgen("weights", "--json", cwd=tmp_path, env=env)
    # The fetched bytes are not a loadable checkpoint, so the final check refuses them; where they
    # landed and what was asked for is what this test is about.
    target = (
        Path(hub_env["HF_HOME"])
        / "hub"
        / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
        / "snapshots"
        / COMMIT
        / "open_clip_model.safetensors"
    )
    assert target.read_bytes() == payload, proc.stderr
    assert hub.gets() == [f"/{DEFAULT_REPO}/resolve/main/open_clip_model.safetensors"]
    assert "ViT-B-32 / laion2b_s34b_b79k" in proc.stderr and "MB" in proc.stderr


def test_offline_mode_forbids_any_download(hub_env, tiny_files, tmp_path):
    with FakeHub(tiny_files) as hub:
        env = {
            **hub_env,
            "HF_ENDPOINT": hub.url,
            "HF_HUB_OFFLINE": "1",
            "SKETCHGEN_CLIP_MODEL": f"hf-hub:{TINY_REPO}",
        }
        proc = run_sketchgen("weights", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "HF_HUB_OFFLINE=1" in lines[0] and "`sketchgen weights`" in lines[0]
    assert hub.requests == []


def test_no_network_fails_at_once_with_the_command_to_run_elsewhere(hub_env, tmp_path):
    with socket.socket() as closed:  # a port nobody listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    env = {**hub_env, "HF_ENDPOINT": f"http://127.0.0.1:{port}"}
    refs = tmp_path / "refs"
    shutil.copytree(BUILTIN_STYLES_DIR / "references" / "vintage-mascot", refs)
    for args in (["weights"], ["index", str(refs), "--style", "vintage-mascot"]):
        proc = run_sketchgen(*args, cwd=tmp_path, env=env)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert "cannot be reached" in lines[0] and "`sketchgen weights` on a machine" in lines[0]
        assert "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K" in lines[0]


def test_a_plain_404_moves_on_to_the_next_file_name(hub_env, tiny_files, tmp_path):
    # Only the .bin name exists, and the hub's 404 for the safetensors name carries no X-Error-Code.
    files = {
        (TINY_REPO, "open_clip_config.json"): tiny_files[(TINY_REPO, "open_clip_config.json")],
        (TINY_REPO, "open_clip_pytorch_model.bin"): tiny_files[(TINY_REPO, "open_clip_model.safetensors")],
    }
    with FakeHub(files, plain_404=True) as hub:
        env = {**hub_env, "HF_ENDPOINT": hub.url, "SKETCHGEN_CLIP_MODEL": f"hf-hub:{TINY_REPO}"}
        proc = run_sketchgen("weights", "--json", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert [f["file"] for f in json.loads(proc.stdout)["files"]] == [
        "open_clip_config.json",
        "open_clip_pytorch_model.bin",
    ]
