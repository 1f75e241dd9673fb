"""The local diffusion models sketchgen knows, and where their weights are on this machine.

Everything here is cheap and offline: it reads the file system (a folder named by
``SKETCHGEN_LOCAL_MODEL_DIR``, or the Hugging Face cache through ``huggingface_hub``'s
``try_to_load_from_cache``), never the network, and imports neither torch nor diffusers. Only
:func:`download_weights` (called by ``sketchgen weights --local ID``, never by a run) downloads.

Weights come from, in order:

1. ``$SKETCHGEN_LOCAL_MODEL_DIR/<id>/``: a folder written by
   ``StableDiffusionXLControlNetPipeline.save_pretrained`` (its ``model_index.json`` names a
   ``controlnet``), e.g. a copy of weights fetched on another machine, or a fine-tune;
2. the Hugging Face cache (``HF_HOME`` / ``HF_HUB_CACHE``): every file of :attr:`LocalModelSpec.base_files`
   of the base repo and of :attr:`LocalModelSpec.controlnet_files` of the ControlNet repo.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generate.errors import ConfigError
from rag.weights import hf_cache_dir

__all__ = [
    "FAMILY",
    "EXTRA_HINT",
    "LocalModelSpec",
    "MODELS",
    "WeightsLocation",
    "ASPECT_BUCKETS",
    "IMAGE_SIZES",
    "extra_installed",
    "spec_for",
    "find_weights",
    "missing_weights_message",
    "download_weights",
]

FAMILY = "local"
EXTRA_HINT = "install the extra: pip install 'sketchgen[local]'"
MODEL_DIR_ENV = "SKETCHGEN_LOCAL_MODEL_DIR"
IMAGE_SIZES = ("1K",)  # SDXL's native megapixel; larger sizes are not what it was trained for
_EXTRA_MODULES = ("diffusers", "transformers", "accelerate")
_TRUE = {"1", "true", "yes", "on"}
_METADATA_TIMEOUT_S = 10.0

# SDXL's training buckets at 1K (width, height): each ratio at about one megapixel, multiples of 64.
# A model whose native size is not 1024 (a tiny test model) scales them down to its own.
ASPECT_BUCKETS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "4:5": (896, 1120),
    "5:4": (1120, 896),
    "3:4": (896, 1152),
    "4:3": (1152, 896),
    "2:3": (832, 1216),
    "3:2": (1216, 832),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
}


def _component_files(*, variant: str) -> tuple[str, ...]:
    """The files of an SDXL base repo a ControlNet pipeline needs, weights in ``variant`` only."""
    files = ["model_index.json", "scheduler/scheduler_config.json"]
    for tok in ("tokenizer", "tokenizer_2"):
        files += [f"{tok}/{name}" for name in ("vocab.json", "merges.txt", "special_tokens_map.json")]
        files.append(f"{tok}/tokenizer_config.json")
    for enc in ("text_encoder", "text_encoder_2"):
        files += [f"{enc}/config.json", f"{enc}/model.{variant}.safetensors"]
    for comp in ("unet", "vae"):
        files += [f"{comp}/config.json", f"{comp}/diffusion_pytorch_model.{variant}.safetensors"]
    return tuple(files)


@dataclass(frozen=True)
class LocalModelSpec:
    """One local model: an SDXL base checkpoint plus a line-drawing ControlNet, and how to run them."""

    id: str  # the part after "local:"
    display_name: str
    base_repo: str
    base_files: tuple[str, ...]
    controlnet_repo: str
    controlnet_files: tuple[str, ...]
    variant: str | None  # the weight files' variant in the base repo ("fp16"), or None
    download_gb: float  # roughly, for the message before a download
    steps: int = 30
    guidance_scale: float = 5.0
    controlnet_scale: float = 0.7  # below 1: the lines guide the drawing without tracing them
    negative_prompt: str = (
        "colour, color, photo, photorealistic, 3d render, gradient, shading, texture, "
        "text, watermark, signature, blurry, busy background"
    )
    note: str = ""
    # What about this entry has not been checked against the hub itself (shown by `sketchgen models`).
    unconfirmed: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{FAMILY}:{self.id}"


# Chosen for rough line-art concept sketches on one GPU: SDXL base with xinsir's scribble ControlNet,
# trained on scribble, canny, HED, PiDiNet and lineart inputs of any line width, so the retrieved
# reference's lines (as the trace model draws them) steer the composition. Apache-2.0 ControlNet,
# CreativeML Open RAIL++-M base.
#
# File names, as checked (2026-12) without the hub itself (no network here): the base repo's fp16
# files (model_index.json, scheduler/, tokenizer*/ vocab, merges and configs, text_encoder*/
# model.fp16.safetensors, unet/ and vae/ diffusion_pytorch_model.fp16.safetensors) agree with
# several independent public download lists of stabilityai/stable-diffusion-xl-base-1.0, and are
# the names diffusers' own save_pretrained(variant="fp16") writes (tests/cli/test_weights_local.py
# runs a tiny pipeline laid out this way); the ControlNet's diffusion_pytorch_model.safetensors is
# the file public scripts fetch from xinsir/controlnet-scribble-sdxl-1.0/resolve/main/, and its
# model card loads the repo with ControlNetModel.from_pretrained (so config.json is there). Sizes
# are from those lists (base fp16 ~6.9 GB: UNet 5.1, text encoders 0.25 + 1.4, VAE 0.17; ControlNet
# ~2.5 GB); ``unconfirmed`` says what only a real download settles.
MODELS: dict[str, LocalModelSpec] = {
    "sdxl-scribble": LocalModelSpec(
        id="sdxl-scribble",
        display_name="SDXL + scribble ControlNet (local)",
        base_repo="stabilityai/stable-diffusion-xl-base-1.0",
        base_files=_component_files(variant="fp16"),
        controlnet_repo="xinsir/controlnet-scribble-sdxl-1.0",
        controlnet_files=("config.json", "diffusion_pytorch_model.safetensors"),
        variant="fp16",
        download_gb=9.5,
        note="SDXL 1.0 guided by the retrieved reference's lines; runs on your GPU, free per image",
        unconfirmed=(
            "file names checked against public download lists and the model cards, not the hub's own listing",
            "download size (about 9.5 GB) from those lists",
            "no revision pinned: the repos' main branch is fetched",
            "GPU memory and seconds per image: not yet measured (bench/local_gpu.py)",
        ),
    ),
}


@dataclass(frozen=True)
class WeightsLocation:
    """Where a model's weights are: a saved pipeline folder, or cache snapshots of the two repos."""

    kind: str  # "folder" | "cache"
    pipeline_dir: Path
    controlnet_dir: Path | None = None  # the ControlNet's own snapshot (kind "cache")
    variant: str | None = None

    @property
    def version(self) -> str:
        """A stable id of the weights: the cache snapshot's commit, or the folder's name."""
        if self.kind == "cache":
            cn = self.controlnet_dir.name[:12] if self.controlnet_dir else "?"
            return f"{self.pipeline_dir.name[:12]}+{cn}"
        return f"folder:{self.pipeline_dir.name}"


def extra_installed() -> bool:
    """Whether the ``local`` extra's libraries are importable (found, not imported: cheap)."""
    return all(importlib.util.find_spec(name) is not None for name in _EXTRA_MODULES)


def spec_for(model_name: str) -> LocalModelSpec:
    """The spec of ``local:<id>`` (or a bare id); ConfigError naming the known ones otherwise."""
    model_id = model_name.split(":", 1)[1] if model_name.startswith(f"{FAMILY}:") else model_name
    spec = MODELS.get(model_id)
    if spec is None:
        known = ", ".join(s.name for s in MODELS.values())
        raise ConfigError(f"unknown local model {model_name!r}; known: {known}", field="model")
    return spec


def _model_dir() -> Path | None:
    raw = os.environ.get(MODEL_DIR_ENV, "").strip()
    return Path(raw).expanduser() if raw else None


def _saved_pipeline(folder: Path) -> bool:
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(index, dict) and "controlnet" in index and "unet" in index


def _cached(repo: str, files: tuple[str, ...]) -> Path | None:
    """The cache snapshot folder holding every one of ``files`` of ``repo``, or None."""
    from huggingface_hub import try_to_load_from_cache

    snapshot: Path | None = None
    for name in files:
        found = try_to_load_from_cache(repo, name, cache_dir=hf_cache_dir())
        if not isinstance(found, str):  # None (never fetched) or the "known missing" marker
            return None
        here = Path(found)
        for _ in name.split("/"):
            here = here.parent
        if snapshot is not None and here != snapshot:
            return None  # files of two revisions: let a fresh download settle it
        snapshot = here
    return snapshot


def find_weights(spec: LocalModelSpec) -> WeightsLocation | None:
    """Where ``spec``'s weights are on disk, or None. Reads the file system only."""
    root = _model_dir()
    if root is not None and _saved_pipeline(root / spec.id):
        return WeightsLocation("folder", root / spec.id)
    base = _cached(spec.base_repo, spec.base_files)
    if base is None:
        return None
    controlnet = _cached(spec.controlnet_repo, spec.controlnet_files)
    if controlnet is None:
        return None
    return WeightsLocation("cache", base, controlnet, spec.variant)


def missing_weights_message(spec: LocalModelSpec) -> str:
    """One line: no weights for ``spec``, and the two ways to get them."""
    root = _model_dir()
    folder = f"{root / spec.id} is not a saved pipeline folder; " if root is not None else ""
    return (
        f"no weights for {spec.name} on disk ({folder}nothing in the Hugging Face cache {hf_cache_dir()}): "
        f"run `sketchgen weights --local {spec.id}` once (about {spec.download_gb:.0f} GB), or set "
        f"{MODEL_DIR_ENV} to a folder holding {spec.id}/ saved with "
        "StableDiffusionXLControlNetPipeline.save_pretrained"
    )


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def download_weights(spec: LocalModelSpec, *, say: Callable[[str], None] | None = None) -> bool:
    """Fetch ``spec``'s files into the Hugging Face cache; False when they were all there already.

    The only code path that downloads local weights (``sketchgen weights --local ID``). Files
    already cached are not fetched again; a stopped download resumes. Raises ConfigError naming what
    to do when the hub cannot be used (``HF_HUB_OFFLINE=1``, no network, an unknown repo).
    """
    if find_weights(spec) is not None:
        return False
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    elsewhere = (
        f"run `sketchgen weights --local {spec.id}` on a machine that can reach the Hugging Face hub and "
        f"copy {hf_cache_dir()} here (or point HF_HOME at a shared cache, or set {MODEL_DIR_ENV})"
    )
    if _offline():
        raise ConfigError(
            f"no weights for {spec.name} on disk, and HF_HUB_OFFLINE=1 forbids downloading them: "
            f"unset it, or {elsewhere}",
            field="weights",
        )
    import httpx2
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or None
    say(
        f"downloading {spec.name} (about {spec.download_gb:.0f} GB) from {spec.base_repo} and "
        f"{spec.controlnet_repo} into {hf_cache_dir()} (once; runs read them from there)"
    )
    for repo, files in ((spec.base_repo, spec.base_files), (spec.controlnet_repo, spec.controlnet_files)):
        for name in files:
            try:
                hf_hub_download(
                    repo,
                    name,
                    cache_dir=str(hf_cache_dir()),
                    endpoint=endpoint,
                    etag_timeout=_METADATA_TIMEOUT_S,
                )
            except HfHubHTTPError as exc:
                status = exc.response.status_code if exc.response is not None else "an error"
                raise ConfigError(
                    f"downloading {spec.name}: the hub answered {status} for {repo}/{name}; {elsewhere}",
                    field="weights",
                ) from None
            except (httpx2.HTTPError, OSError) as exc:
                raise ConfigError(
                    f"downloading {spec.name} stopped at {repo}/{name} ({type(exc).__name__}); run the "
                    f"same command again to resume, or {elsewhere}",
                    field="weights",
                ) from None
    if find_weights(spec) is None:  # what was fetched must now be found the way a run looks
        raise ConfigError(missing_weights_message(spec), field="weights")
    return True
