"""Loading a local diffusion pipeline once per process, and running one sketch on it.

Imports torch and diffusers (the ``local`` extra): only :mod:`generate.adapters.diffusers.adapter`
imports this module, and only once a run needs it, so sketchgen imports without the extra.

* **Device**: CUDA when present (fp16), else the CPU (fp32, with a warning: minutes per sketch);
  ``SKETCHGEN_LOCAL_DEVICE`` forces ``cpu`` or ``cuda``. ``SKETCHGEN_LOCAL_OFFLOAD=1`` keeps the
  components on the CPU and moves each to the GPU while it runs (for GPUs under ~12 GB).
* **One pipeline per weights and device**, shared by every adapter and run of the process, loaded
  with ``local_files_only`` (never a download). Sketches run on it one at a time (a lock): a
  diffusers pipeline and its scheduler are not safe to share between threads.
* **Seed**: a CPU ``torch.Generator`` seeded with the sketch's seed, so the same request gives the
  same pixels on the same machine and device.
* **Stopping**: the step callback raises :class:`Stopped` when the caller's flag is set or the
  deadline passed, so a cancelled or timed-out sketch stops at its next step.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from generate.adapters.diffusers.catalog import ASPECT_BUCKETS, LocalModelSpec, WeightsLocation

__all__ = [
    "LoadedPipeline",
    "Stopped",
    "load_pipeline",
    "pick_device",
    "pixel_size",
    "token_counters",
    "latents_preview",
    "run_pipeline",
]

log = logging.getLogger("sketchgen.generate")
PREVIEW_EDGE = 256  # a preview's longer side in pixels
_TRUE = {"1", "true", "yes", "on"}


class Stopped(Exception):
    """Raised from the step callback to stop a pipeline run: ``reason`` is "cancelled" or "timeout"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def pick_device() -> str:
    """``cuda`` when a CUDA device is usable, else ``cpu`` (``SKETCHGEN_LOCAL_DEVICE`` overrides)."""
    forced = os.environ.get("SKETCHGEN_LOCAL_DEVICE", "").strip().lower()
    if forced in ("cpu", "cuda"):
        return forced
    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass
class LoadedPipeline:
    """A loaded ControlNet pipeline, its text-to-image sibling (same components), and its lock."""

    pipe: Any
    device: str
    version: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    _plain: Any = None

    @property
    def plain(self) -> Any:
        """SDXL without the ControlNet (no reference to follow), sharing the loaded components."""
        if self._plain is None:
            from diffusers import StableDiffusionXLPipeline

            self._plain = StableDiffusionXLPipeline.from_pipe(self.pipe)
            self._plain.set_progress_bar_config(disable=True)
        return self._plain

    @property
    def native_edge(self) -> int:
        return int(self.pipe.unet.config.sample_size) * int(self.pipe.vae_scale_factor)

    @property
    def quantum(self) -> int:
        """Pixel sizes must be multiples of this (VAE scale times the UNet's downsampling)."""
        levels = len(self.pipe.unet.config.block_out_channels) - 1
        return int(self.pipe.vae_scale_factor) * 2**levels


_LOADED: dict[tuple[str, str], LoadedPipeline] = {}
_LOAD_LOCK = threading.Lock()


def load_pipeline(where: WeightsLocation) -> LoadedPipeline:
    """The process's pipeline for ``where`` on :func:`pick_device`, loaded on first use (from disk only)."""
    device = pick_device()
    key = (str(where.pipeline_dir), device)
    with _LOAD_LOCK:
        loaded = _LOADED.get(key)
        if loaded is None:
            loaded = _LOADED[key] = LoadedPipeline(_load(where, device), device, where.version)
        return loaded


def _load(where: WeightsLocation, device: str) -> Any:
    from diffusers import ControlNetModel, StableDiffusionXLControlNetPipeline

    dtype = torch.float16 if device == "cuda" else torch.float32
    options: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
    if where.variant:
        options["variant"] = where.variant
    if where.controlnet_dir is not None:
        controlnet = ControlNetModel.from_pretrained(where.controlnet_dir, dtype=dtype, local_files_only=True)
        pipe = StableDiffusionXLControlNetPipeline.from_pretrained(
            where.pipeline_dir, controlnet=controlnet, **options
        )
    else:
        pipe = StableDiffusionXLControlNetPipeline.from_pretrained(where.pipeline_dir, **options)
    pipe.set_progress_bar_config(disable=True)
    if device == "cuda" and os.environ.get("SKETCHGEN_LOCAL_OFFLOAD", "").strip().lower() in _TRUE:
        pipe.enable_model_cpu_offload()
    else:
        pipe.to(device)
    if device == "cpu":
        log.warning(
            "local diffusion runs on the CPU (no CUDA device): expect minutes per sketch at 1K; "
            "raise --timeout, or run on a machine with a GPU"
        )
    return pipe


def pixel_size(loaded: LoadedPipeline, aspect_ratio: str) -> tuple[int, int]:
    """(width, height) for ``aspect_ratio``: SDXL's 1K bucket scaled to the model's native size."""
    width, height = ASPECT_BUCKETS[aspect_ratio]
    scale, q = loaded.native_edge / 1024, loaded.quantum
    return max(q, round(width * scale / q) * q), max(q, round(height * scale / q) * q)


def token_counters(loaded: LoadedPipeline) -> tuple[Callable[[str], int], Callable[[str], int], int, int]:
    """(count for ``text_encoder``, count for ``text_encoder_2``, their token windows), from the
    pipeline's own tokenizers: a text's tokens with its start and end tokens, as the encoder reads it."""
    first = loaded.pipe.tokenizer or loaded.pipe.tokenizer_2
    second = loaded.pipe.tokenizer_2 or first

    def counter(tokenizer: Any) -> Callable[[str], int]:
        return lambda text: len(tokenizer(text, truncation=False, verbose=False).input_ids)

    return counter(first), counter(second), int(first.model_max_length), int(second.model_max_length)


def latents_preview(latents: torch.Tensor) -> Image.Image:
    """A cheap grayscale look at the latents (their channel mean, stretched), no VAE decode.

    Rough on purpose: it shows the composition forming, a few milliseconds per preview.
    """
    plane = latents[0].float().mean(dim=0).cpu().numpy()
    lo, hi = np.percentile(plane, (1, 99))
    grey = np.clip((plane - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)
    img = Image.fromarray((grey * 255).astype(np.uint8), mode="L")
    scale = PREVIEW_EDGE / max(img.size)
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BILINEAR)


def run_pipeline(
    loaded: LoadedPipeline,
    spec: LocalModelSpec,
    *,
    texts: dict[str, str],
    control: Image.Image | None,
    size: tuple[int, int],
    seed: int,
    steps: int,
    stop: threading.Event,
    timeout_s: float,
    on_preview: Callable[[Image.Image, int], None] | None = None,
    preview_every: int = 1,
) -> Image.Image:
    """One image (PIL) on ``loaded``: ControlNet-guided by ``control``, or plain text-to-image.

    ``texts`` are the pipeline's text arguments (``prompt``, ``prompt_2``, ``negative_prompt``,
    ``negative_prompt_2``), already fitted to the encoders (:mod:`generate.adapters.diffusers.prompt`).

    Raises :class:`Stopped` at the step after ``stop`` is set or ``timeout_s`` have passed since the
    pipeline was free (waiting for another sketch to finish does not count). ``on_preview(image, step)`` gets :func:`latents_preview` every ``preview_every`` steps.
    """

    def step_end(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        if stop.is_set():
            raise Stopped("cancelled")
        if time.monotonic() > deadline:
            raise Stopped("timeout")
        if on_preview is not None and (step + 1) % preview_every == 0 and step + 1 < steps:
            on_preview(latents_preview(tensors["latents"]), step)
        return tensors

    width, height = size
    options: dict[str, Any] = {
        **texts,
        "width": width,
        "height": height,
        "num_inference_steps": steps,
        "guidance_scale": spec.guidance_scale,
        # On the CPU whatever the device: the same seed draws the same noise on every machine.
        "generator": torch.Generator(device="cpu").manual_seed(seed),
        "callback_on_step_end": step_end,
        "callback_on_step_end_tensor_inputs": ["latents"],
        "output_type": "pil",
    }
    with loaded.lock, torch.inference_mode():
        deadline = time.monotonic() + timeout_s
        if control is None:
            return loaded.plain(**options).images[0]
        return loaded.pipe(
            image=control, controlnet_conditioning_scale=spec.controlnet_scale, **options
        ).images[0]
