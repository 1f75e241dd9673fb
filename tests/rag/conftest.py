"""Fixtures for retrieval tests: a tiny, randomly initialised open_clip model saved as a real
``local-dir:`` folder (config + safetensors weights), so the real open_clip loading code runs, and
factories for images, styles and prompt specs.

The tiny ViT averages its patch tokens (``pool_type="avg"``) and has a scaled-up patch embedding:
a random class-token ViT maps every image to nearly the same vector (cosine ~0.9+), which would
make near-duplicate tests meaningless. With these settings distinct images land far apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from prompt.spec import PromptSpec
from style.models import Style

TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {
        "image_size": 32,
        "layers": 1,
        "width": 32,
        "patch_size": 8,
        "head_width": 16,
        "pool_type": "avg",
        "no_ln_pre": True,
    },
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY_PREPROCESS = {
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "interpolation": "bilinear",
    "resize_mode": "shortest",
}


def save_tiny_model(
    folder: Path, *, seed: int = 0, preprocess: dict | None = None, weights: bool = True
) -> Path:
    """Write ``open_clip_config.json`` (+ random weights) into ``folder``; returns the folder."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": TINY_CFG, "preprocess_cfg": preprocess or TINY_PREPROCESS}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    if weights:
        torch.manual_seed(seed)
        model = open_clip.CLIP(**TINY_CFG)
        with torch.no_grad():
            model.visual.conv1.weight.mul_(4.0)
        save_file(
            {k: v.contiguous() for k, v in model.state_dict().items()},
            str(folder / "open_clip_model.safetensors"),
        )
    return folder


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Weight hashes are cached under $XDG_CACHE_HOME/sketchgen: keep the user's cache untouched."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def embedder(tiny_model_dir):
    from rag import ClipEmbedder

    return ClipEmbedder(f"local-dir:{tiny_model_dir}", None, device="cpu", batch_size=4, workers=2)


@pytest.fixture(scope="session")
def other_embedder(tmp_path_factory):
    """Same architecture, different weights: a different embedder id."""
    from rag import ClipEmbedder

    folder = save_tiny_model(tmp_path_factory.mktemp("tiny-clip-b"), seed=1)
    return ClipEmbedder(f"local-dir:{folder}", None, device="cpu", batch_size=4, workers=2)


def _pixels(seed: int, size: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    kind = seed % 3
    if kind == 0:
        return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    if kind == 1:  # blocky pattern
        blocks = rng.integers(0, 256, (5, 5, 3), dtype=np.uint8)
        return np.kron(blocks, np.ones((size // 5, size // 5, 1), dtype=np.uint8))
    grad = np.linspace(0, 255, size, dtype=np.float32)
    angle = rng.uniform(0, np.pi)
    field = np.cos(angle) * grad[None, :] + np.sin(angle) * grad[:, None]
    img = np.stack([field, field[::-1], rng.uniform(0, 255) * np.ones_like(field)], axis=-1)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def make_image() -> Callable[..., Path]:
    """``make_image(path, seed)`` writes a distinct small PNG (same seed -> same bytes)."""
    from PIL import Image

    def make(path: Path, seed: int = 0, *, nudge: bool = False) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = _pixels(seed)
        if nudge:  # a near-duplicate: one pixel changed
            pixels = pixels.copy()
            pixels[0, 0] = 255 - pixels[0, 0]
        Image.fromarray(pixels).save(path)
        return path

    return make


@pytest.fixture
def make_style() -> Callable[..., Style]:
    def make(style_id: str, dirs: list[Path], **extra) -> Style:
        return Style(
            id=style_id, name=style_id.title(), description="test style", reference_dirs=dirs, **extra
        )

    return make


@pytest.fixture
def make_spec() -> Callable[..., PromptSpec]:
    def make(
        text: str = "a playful golf mascot", terms: list[str] | None = None, style_id: str = "test"
    ) -> PromptSpec:
        return PromptSpec(
            brief=text,
            intent=text,
            refined_intent=text,
            subject_terms=terms if terms is not None else text.split()[-2:],
            style_id=style_id,
            prompt_text=text,
        )

    return make
