"""The offline ``trace`` model: a reference image traced into a rough pencil sketch.

No network, no key, no cost. It exists so that a new user gets real, draw-over-ready sketches out of
sketchgen before they have a Gemini key, and so that demos and tests run offline. It is honest about
what it is: a **tracing aid and dry-run model, not text-to-image generation** - the prompt is not
read; the sketch's variation (layout and exaggeration from the variation plan) is applied to a
retrieved reference image by :func:`generate.adapters.trace.sketchify.sketchify`.

Contract:

* one reference per sketch: ``request.reference_images[request.index % len(...)]``, so the sketches of a
  run come from different references when several were retrieved;
* an image to edit (``request.input_images``: the designer's own image, or the parent sketch of a
  refine / vary run) is traced instead of any reference. The prompt, and so a refinement's
  instruction, is still not read: the result and the run's warnings say so;
* deterministic: the same request (reference bytes, ratio, size, layout, exaggeration, seed, index)
  gives identical PNG bytes; ``seed=None`` counts as 0;
* output: PNG, mode "L", paper-white (255) background, dark lines, pixel size from the ratio/size table
  in :mod:`generate.adapters.trace.sketchify` (1K 1:1 = 1024x1024, 2K = twice that, ...);
* a sheet request (``request.sheet``, sheet mode) is one page of traced cells, cell ``k`` from
  reference ``k % len(...)`` with its own layout and exaggeration, laid out with white gutters
  (:mod:`generate.adapters.trace.sheet`); any grid whose cells are at least 384 px a side;
* no reference -> ``ModelCallError(NO_REFERENCE, fatal_for_run=True)`` whose message says how to add some;
  an unreadable reference -> ``ModelCallError(BAD_IMAGE)`` for that sketch only.

Built by the trace family (:mod:`generate.adapters.trace.family`) for the name ``"trace"``; options meant
for other adapters (``client``, ``api_key``, ...) are ignored.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from generate.adapter import (
    AdapterCapabilities,
    ImageModelAdapter,
    ImageRequest,
    ModelImage,
)
from generate.adapters.trace.sheet import compose_sheet
from generate.adapters.trace.sketchify import (
    ASPECT_RATIOS,
    EXAGGERATIONS,
    IMAGE_SIZES,
    LAYOUTS,
    pixel_size,
    png_bytes,
    sketchify,
)
from generate.errors import ErrorCode, ModelCallError
from generate.sheet_cut import check_cell_size

__all__ = ["TraceAdapter", "TRACE_VERSION", "load_reference"]

TRACE_VERSION = "trace-sketchify-1"  # bump when the pixels a request gives change on purpose

_DEFAULT_HINT = "your style's reference folder (style/builtin/references/<style-id>/ for a built-in style)"


class TraceAdapter(ImageModelAdapter):
    """Offline tracing model. ``reference_hint`` names the folder to suggest when no reference came."""

    name = "trace"
    capabilities = AdapterCapabilities(
        max_reference_images=14,
        aspect_ratios=ASPECT_RATIOS,
        image_sizes=IMAGE_SIZES,
        images_per_call=1,
        streaming_previews=False,
        refinement=False,
        requires_reference=True,
        network=False,
        deterministic=True,
        request_options=frozenset({"response_modalities"}),  # it only ever makes an image
    )

    def __init__(self, *, reference_hint: str | Path | None = None, **_ignored: Any) -> None:
        self.reference_hint = str(reference_hint) if reference_hint else _DEFAULT_HINT

    # -- the call ---------------------------------------------------------------------------------
    def generate(self, request: ImageRequest) -> ModelImage:
        """Trace one sketch (blocking, CPU only)."""
        if not request.reference_images and not request.input_images:
            raise ModelCallError(
                ErrorCode.NO_REFERENCE,
                "the trace model draws over a reference image and none was retrieved; add reference "
                f"images: put images in {self.reference_hint} or run `sketchgen index DIR --style ID`",
                retryable=False,
                fatal_for_run=True,
            )
        try:
            size = pixel_size(request.aspect_ratio, request.image_size)
        except ValueError as exc:
            raise ModelCallError(
                ErrorCode.INVALID_REQUEST,
                f"trace cannot make {request.aspect_ratio} at {request.image_size}; it offers ratios "
                f"{', '.join(ASPECT_RATIOS)} and sizes {', '.join(IMAGE_SIZES)}",
            ) from exc
        if request.sheet is not None:
            return self._sheet(request, size)
        if request.input_images:
            ref_path = Path(request.input_images[request.index % len(request.input_images)])
        else:
            ref_path = Path(request.reference_images[request.index % len(request.reference_images)])
        ref = load_reference(ref_path)
        warnings = []
        layout, exaggeration = request.layout, request.exaggeration
        if layout not in LAYOUTS:
            warnings.append(f"trace does not know layout {layout!r}; framed it as 'centered-hero'")
        if exaggeration not in EXAGGERATIONS:
            warnings.append(f"trace does not know exaggeration {exaggeration!r}; used 'moderate'")
        seed = 0 if request.seed is None else int(request.seed)
        sketch = sketchify(
            ref, size, layout=layout, exaggeration=exaggeration, seed=seed, index=request.index
        )
        if request.input_images:
            warnings.append(
                "trace ignored the prompt text (and any instruction in it): it re-traced the image"
            )
        return ModelImage(
            data=png_bytes(sketch),
            mime_type="image/png",
            model="trace",
            model_version=TRACE_VERSION,
            text=(
                f"traced from {ref_path.name}: layout {layout}, exaggeration {exaggeration} "
                "- a tracing aid, not text-to-image generation"
            ),
            cost_usd=0.0,
            warnings=warnings,
            references_sent=[{"name": ref_path.name, "path": str(ref_path), "sha256": _sha256(ref_path)}],
            seed_sent=seed,
            extra={
                "reference": str(ref_path),
                "layout": layout,
                "exaggeration": exaggeration,
                "seed": seed,
                "size": list(size),
            },
        )

    def _sheet(self, request: ImageRequest, size: tuple[int, int]) -> ModelImage:
        """One page holding every cell of ``request.sheet``, each traced from its own reference."""
        grid = request.sheet
        refs = [Path(p) for p in request.reference_images]
        seed = 0 if request.seed is None else int(request.seed)

        def draw(k: int, cell_size: tuple[int, int]) -> Image.Image:
            layout, exaggeration = grid.cells[k]
            ref = load_reference(refs[k % len(refs)])
            return sketchify(ref, cell_size, layout=layout, exaggeration=exaggeration, seed=seed, index=k)

        page = compose_sheet(size, grid.cols, grid.rows, draw)
        used = list(dict.fromkeys(refs[k % len(refs)] for k in range(len(grid.cells))))
        return ModelImage(
            data=png_bytes(page),
            mime_type="image/png",
            model="trace",
            model_version=TRACE_VERSION,
            text=f"traced a {grid.cols}x{grid.rows} sheet - a tracing aid, not text-to-image generation",
            cost_usd=0.0,
            references_sent=[{"name": p.name, "path": str(p), "sha256": _sha256(p)} for p in used],
            seed_sent=seed,
            extra={"sheet": f"{grid.cols}x{grid.rows}", "seed": seed, "size": list(size)},
        )

    def check_sheet(self, layout: Any, *, aspect_ratio: str, image_size: str) -> list[str]:
        """Any grid whose cells are at least MIN_CELL_PX a side at this ratio and size (no
        recommendation table: the page is composed, not drawn)."""
        try:
            pixels = pixel_size(aspect_ratio, image_size)
        except ValueError:
            pixels = None  # check_request refuses the ratio or size itself
        check_cell_size(layout, pixels, model=self.name, where=f"{aspect_ratio} {image_size}")
        return []

    async def agenerate(self, request: ImageRequest) -> ModelImage:
        """Same as :meth:`generate`, on a worker thread (the work is CPU-bound Pillow/numpy)."""
        return await asyncio.to_thread(self.generate, request)

    def estimate_cost(self, request: ImageRequest) -> float:
        return 0.0

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(
            {
                "version": TRACE_VERSION,
                "requires_reference": True,
                "deterministic": True,
                "cost_per_image_usd": 0.0,
                "layouts": sorted(LAYOUTS),
                "exaggerations": list(EXAGGERATIONS),
                "note": "offline tracing aid: traces a reference into a pencil sketch; not text-to-image",
            }
        )
        return info


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def load_reference(path: Path) -> Image.Image:
    """Open and decode a reference fully (so errors surface here), honouring EXIF orientation."""
    try:
        with Image.open(path) as im:
            im.load()
            return ImageOps.exif_transpose(im) or im.copy()
    except FileNotFoundError as exc:
        raise ModelCallError(ErrorCode.BAD_IMAGE, f"reference image not found: {path}") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ModelCallError(
            ErrorCode.BAD_IMAGE, f"reference image cannot be read: {path.name} ({exc})"
        ) from exc
