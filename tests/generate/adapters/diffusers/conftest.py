"""A tiny random SDXL + ControlNet pipeline on disk, built once for the local diffusion tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A folder for ``SKETCHGEN_LOCAL_MODEL_DIR`` holding ``sdxl-scribble/`` (built once per session)."""
    pytest.importorskip(
        "diffusers", reason="the local extra is not installed: pip install 'sketchgen[local]'"
    )
    pytest.importorskip("transformers", reason="the local extra is not installed")
    from generate.testing.tiny_diffusion import save_tiny_controlnet_pipeline

    root = tmp_path_factory.mktemp("local-models")
    save_tiny_controlnet_pipeline(root)
    return root


@pytest.fixture
def local_env(tiny_model_dir, monkeypatch):
    """The tiny model as ``local:sdxl-scribble``, two steps per sketch, on the CPU."""
    import torch

    monkeypatch.setenv("SKETCHGEN_LOCAL_MODEL_DIR", str(tiny_model_dir))
    monkeypatch.setenv("SKETCHGEN_LOCAL_STEPS", "2")
    monkeypatch.setenv("SKETCHGEN_LOCAL_DEVICE", "cpu")
    # One thread: on a shared CI machine torch's thread pool fighting for cores makes a 64x64 step
    # ten times slower. Restored after the test, for the suite's other torch users.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield tiny_model_dir
    torch.set_num_threads(threads)
