"""Local diffusion (``local:<id>``): SDXL with a line-drawing ControlNet, on this machine's GPU or CPU.

Needs the optional extra (``pip install 'sketchgen[local]'``: diffusers, transformers, accelerate) and
the weights on disk (:mod:`generate.adapters.diffusers.catalog`); this module imports without
either (torch and diffusers load on the first call). The ``local`` family
(:mod:`generate.adapters.diffusers.family`) checks both before building it.

Contract of one call:

* **Conditioning**: the sketch's reference (``input_images`` first: the image to edit; else
  ``reference_images[index % len]``, so the sketches of a run follow different references) is drawn
  as lines by :func:`generate.adapters.trace.sketchify.sketchify` with the sketch's layout and
  exaggeration, inverted to white lines on black, and drives the ControlNet. No reference: plain SDXL
  text-to-image from the prompt, with a warning saying so.
* **Deterministic**: seed = ``(request.seed or 0) + request.index``, drawn by a CPU generator; the same
  request gives the same PNG bytes on the same machine and device (``seed_sent`` records it).
* **Output**: PNG, mode "L", SDXL's 1K bucket for the aspect ratio (1:1 = 1024x1024). Only "1K".
* **Previews** (``astream``): a grayscale look at the latents every few steps (no VAE decode).
* **Stopping**: cancelling ``agenerate`` / ``astream`` stops the pipeline at its next step;
  ``request.timeout_s`` is counted from when the pipeline is free (sketches run one at a time).
* **Prompt**: not ``request.prompt`` (a page written for Gemini; SDXL's CLIP encoders read 77 tokens)
  but texts built from ``request.prompt_parts`` and the variation, subject and layout first
  (:mod:`generate.adapters.diffusers.prompt`); ``prompt_sent`` records them, a warning names what
  did not fit. Without ``prompt_parts``, ``request.prompt`` is taken as the subject.
* Cost 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from generate.adapter import (
    AdapterCapabilities,
    ImageModelAdapter,
    ImageRequest,
    ModelImage,
    ModelPreview,
)
from generate.adapters.diffusers.catalog import ASPECT_BUCKETS, IMAGE_SIZES, LocalModelSpec, WeightsLocation
from generate.adapters.diffusers.prompt import build_prompts
from generate.adapters.trace.adapter import load_reference
from generate.adapters.trace.sketchify import png_bytes, sketchify
from generate.errors import ConfigError, ErrorCode, ModelCallError

__all__ = ["LocalDiffusionAdapter", "steps_from_env"]

STEPS_ENV = "SKETCHGEN_LOCAL_STEPS"
PREVIEWS_PER_SKETCH = 4


def steps_from_env(default: int) -> int:
    """Denoising steps: ``SKETCHGEN_LOCAL_STEPS`` (1-200) or the model's default."""
    raw = os.environ.get(STEPS_ENV, "").strip()
    if not raw:
        return default
    try:
        steps = int(raw)
    except ValueError:
        steps = 0
    if not 1 <= steps <= 200:
        raise ConfigError(f"{STEPS_ENV} must be a whole number from 1 to 200 (got {raw!r})", field=STEPS_ENV)
    return steps


class LocalDiffusionAdapter(ImageModelAdapter):
    """One local model on its weights. Build it through ``get_adapter("local:<id>")``."""

    def __init__(self, spec: LocalModelSpec, weights: WeightsLocation, **_ignored: Any) -> None:
        self.spec = spec
        self.weights = weights
        self.name = spec.name
        self.steps = steps_from_env(spec.steps)
        self.capabilities = AdapterCapabilities(
            max_reference_images=14,  # one per sketch, rotated over the run like the trace model's
            aspect_ratios=tuple(ASPECT_BUCKETS),
            image_sizes=IMAGE_SIZES,
            streaming_previews=True,
            network=False,
            deterministic=True,
            max_concurrent_calls=1,  # one pipeline per device: the others queue before their call starts
            request_options=frozenset({"response_modalities"}),  # it only ever makes an image
        )
        self._stops: set[threading.Event] = set()

    # -- before any call --------------------------------------------------------------------------
    def check_request(self, *, aspect_ratio: str, image_size: str, num_references: int) -> list[str]:
        warnings = super().check_request(
            aspect_ratio=aspect_ratio, image_size=image_size, num_references=num_references
        )
        from generate.adapters.diffusers.runtime import pick_device

        if pick_device() == "cpu":
            warnings.append(
                f"{self.name} runs on the CPU here (no CUDA device): expect minutes per sketch; "
                "raise --timeout to match"
            )
        return warnings

    # -- the call ---------------------------------------------------------------------------------
    def generate(self, request: ImageRequest) -> ModelImage:
        """Make one sketch, blocking (the generator calls it from a worker thread)."""
        return self._make(request, threading.Event(), None)

    async def agenerate(self, request: ImageRequest) -> ModelImage:
        stop = threading.Event()
        try:
            return await asyncio.to_thread(self._make, request, stop, None)
        finally:
            stop.set()  # cancelled: the worker stops at its next step; done: no effect

    async def astream(self, request: ImageRequest):
        """Previews of the latents as they form, then the final image."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def preview(data: bytes, sequence: int) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ModelPreview(data, "image/png", sequence))

        worker = asyncio.ensure_future(asyncio.to_thread(self._make, request, stop, preview))
        worker.add_done_callback(lambda _: loop.call_soon_threadsafe(queue.put_nowait, None))
        try:
            while (item := await queue.get()) is not None:
                yield item
            yield worker.result()
        finally:
            stop.set()
            if not worker.done():
                worker.cancel()

    def _make(self, request: ImageRequest, stop: threading.Event, preview) -> ModelImage:
        from generate.adapters.diffusers import runtime

        source = _control_source(request)
        seed = (0 if request.seed is None else int(request.seed)) + request.index
        warnings: list[str] = []
        loaded = runtime.load_pipeline(self.weights)
        size = runtime.pixel_size(loaded, request.aspect_ratio)
        control = None
        if source is not None:
            lines = sketchify(
                load_reference(source),
                size,
                layout=request.layout,
                exaggeration=request.exaggeration,
                seed=seed,
                index=request.index,
            )
            control = ImageOps.invert(lines.convert("L")).convert("RGB")  # white lines on black
        else:
            warnings.append(
                f"{self.name}: no reference image, so this sketch was drawn from the prompt alone"
            )
        count, count_2, limit, limit_2 = runtime.token_counters(loaded)
        # Under the pipeline's lock: a fast tokenizer used by two threads at once (here, and the
        # pipeline's own call in another sketch) can fail with "Already borrowed".
        with loaded.lock:
            texts = build_prompts(
                request,
                negative=self.spec.negative_prompt,
                count=count,
                count_2=count_2,
                limit=limit,
                limit_2=limit_2,
            )
        warnings += texts.warnings(self.name, min(limit, limit_2))
        every = max(1, self.steps // PREVIEWS_PER_SKETCH)
        sent = [0]

        def on_preview(img: Image.Image, step: int) -> None:
            sent[0] += 1
            preview(png_bytes(img), sent[0])

        try:
            image = runtime.run_pipeline(
                loaded,
                self.spec,
                texts=texts.kwargs(),
                control=control,
                size=size,
                seed=seed,
                steps=self.steps,
                stop=stop,
                timeout_s=request.timeout_s,
                on_preview=on_preview if preview is not None else None,
                preview_every=every,
            )
        except runtime.Stopped as exc:
            if exc.reason == "timeout":
                raise ModelCallError(
                    ErrorCode.TIMEOUT,
                    f"{self.name} did not finish {self.steps} steps within {request.timeout_s:.0f} s "
                    f"on {loaded.device}; raise --timeout or lower {STEPS_ENV}",
                ) from None
            raise ModelCallError(ErrorCode.CANCELLED, "cancelled") from None
        except MemoryError as exc:
            raise ModelCallError(ErrorCode.SERVER_ERROR, f"{self.name} ran out of memory: {exc}") from None
        except RuntimeError as exc:
            if "out of memory" not in str(exc).lower():
                raise
            raise ModelCallError(
                ErrorCode.SERVER_ERROR,
                f"{self.name} ran out of GPU memory; set SKETCHGEN_LOCAL_OFFLOAD=1 to keep parts on the CPU",
            ) from None
        return ModelImage(
            data=png_bytes(image.convert("L")),
            mime_type="image/png",
            model=self.name,
            model_version=loaded.version,
            finish_reason="STOP",
            cost_usd=0.0,
            warnings=warnings,
            references_sent=[_reference_record(source)] if source is not None else [],
            seed_sent=seed,
            prompt_sent=texts.kwargs(),
            extra={
                "device": loaded.device,
                "steps": self.steps,
                "size": list(size),
                "conditioning": "reference lines" if source is not None else "none (text to image)",
                "reference": str(source) if source is not None else None,
                "weights": self.weights.kind,
            },
        )

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(
            {
                "deterministic": True,
                "cost_per_image_usd": 0.0,
                "steps": self.steps,
                "weights": self.weights.kind,
                "note": self.spec.note,
            }
        )
        return info


def _control_source(request: ImageRequest) -> Path | None:
    images = request.input_images or request.reference_images
    return Path(images[request.index % len(images)]) if images else None


def _reference_record(path: Path) -> dict[str, Any]:
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        digest = None
    return {"name": path.name, "path": str(path), "sha256": digest}
