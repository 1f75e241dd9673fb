"""ClipEmbedder: open_clip image/text vectors, L2-normalised, batched, CUDA when present.

Contracts:

* Loading goes through ``open_clip.create_model_and_transforms`` with the model's *own* preprocessing
  (see :mod:`rag.weights` for how a bare weights file gets it). Weights come only from disk.
* ``id`` is stable across machines and runs: ``open_clip:<model>/<tag or weights sha>@<fingerprint>``,
  where the fingerprint hashes the model, the weights and the preprocessing (size, mean/std,
  interpolation, resize mode). Indexes store it and refuse to mix vectors of different embedders.
* Vectors are float32 numpy arrays, shape ``(n, dim)``, each row of unit length.
* :meth:`encode_files` decodes images on worker threads while the model runs on the previous batch,
  so the model is rarely starved (PIL and torch both release the GIL).
* Every method blocks; from async code use the ``a*`` variants, which run in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from rag.weights import DEFAULT_MODEL, DEFAULT_PRETRAINED, ResolvedWeights, resolve_weights

__all__ = ["ClipEmbedder", "load_embedder_from_env", "iter_loaded_batches"]

T = TypeVar("T")
R = TypeVar("R")


def iter_loaded_batches(
    items: Sequence[T],
    load: Callable[[T], R],
    *,
    batch_size: int,
    workers: int,
) -> Iterator[list[tuple[T, R | BaseException]]]:
    """Yield ``items`` in order, in batches, each paired with ``load(item)`` or the exception it raised.

    ``load`` runs on ``workers`` threads, at most two batches ahead of the consumer, so memory stays
    bounded however long ``items`` is and decoding overlaps whatever the consumer does with a batch.
    """
    if not items:
        return
    ahead = batch_size * 2
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sketchgen-decode") as pool:
        pending: deque[tuple[T, Future[R]]] = deque()
        it = iter(items)

        def fill() -> None:
            while len(pending) < ahead + batch_size:
                try:
                    item = next(it)
                except StopIteration:
                    return
                pending.append((item, pool.submit(load, item)))

        fill()
        while pending:
            batch: list[tuple[T, R | BaseException]] = []
            while pending and len(batch) < batch_size:
                item, fut = pending.popleft()
                try:
                    batch.append((item, fut.result()))
                except Exception as exc:  # reported per item; one bad file never stops the rest
                    batch.append((item, exc))
            fill()  # queue the next decodes *before* handing the batch to the model
            yield batch


class ClipEmbedder:
    """An open_clip model loaded from disk. Construction loads the model (seconds); reuse instances.

    ``model``: built-in name, ``local-dir:/folder`` or ``hf-hub:org/repo`` (cached only);
    ``pretrained``: a cached tag or a checkpoint file (ignored for ``local-dir:``/``hf-hub:``);
    ``device``: ``"cuda"`` when available unless given; ``random_seed``: benchmarks/tests only —
    random weights, recorded in the id as ``random-seed<N>``.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        pretrained: str | None = DEFAULT_PRETRAINED,
        *,
        device: str | None = None,
        batch_size: int = 64,
        workers: int | None = None,
        random_seed: int | None = None,
    ) -> None:
        self.weights: ResolvedWeights = resolve_weights(model, pretrained, random_seed=random_seed)
        import open_clip
        import torch

        if device is None:
            device = os.environ.get("SKETCHGEN_CLIP_DEVICE") or (
                "cuda" if torch.cuda.is_available() else "cpu"
            )
        self.device = device
        self.batch_size = batch_size
        # On CPU the decoders share cores with torch, so a few suffice; on a GPU the CPU only decodes,
        # and decoding is what keeps the GPU fed.
        cores = os.cpu_count() or 1
        self.workers = workers or (min(16, cores) if str(device).startswith("cuda") else min(4, cores))
        w = self.weights
        kwargs: dict[str, Any] = {"device": device}
        if w.preprocess:
            kwargs.update(
                image_mean=tuple(w.preprocess["mean"]) if "mean" in w.preprocess else None,
                image_std=tuple(w.preprocess["std"]) if "std" in w.preprocess else None,
                image_interpolation=w.preprocess.get("interpolation"),
                image_resize_mode=w.preprocess.get("resize_mode"),
            )
        if w.quick_gelu:
            kwargs["force_quick_gelu"] = True
        if random_seed is not None:
            torch.manual_seed(random_seed)
        pretrained_arg = str(w.checkpoint) if (w.kind in ("tag", "file") and w.checkpoint) else None
        self.model, _, self.preprocess = open_clip.create_model_and_transforms(
            w.model_name, pretrained=pretrained_arg, **kwargs
        )
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(w.model_name)
        self.preprocess_cfg = _jsonable(
            {
                k: self.model.visual.preprocess_cfg.get(k)
                for k in ("size", "mean", "std", "interpolation", "resize_mode")
            }
        )
        if w.preprocess:  # never trust that the override took: check what the model will really use
            for key, value in _jsonable(w.preprocess).items():
                if key != "size" and self.preprocess_cfg.get(key) != value:
                    raise RuntimeError(f"open_clip ignored preprocessing {key}={value!r}")
        with torch.inference_mode():
            probe = self.model.encode_text(self.tokenizer(["probe"]).to(device))
        self.dim = int(probe.shape[-1])
        self._lock = threading.Lock()  # one forward pass at a time: torch already uses every core
        self.fingerprint: dict[str, Any] = {
            "library": "open_clip",
            "model": w.display_name,
            "weights": w.weights_id,
            "preprocess": self.preprocess_cfg,
            "dim": self.dim,
        }
        if w.extra.get("model_cfg") is not None:
            self.fingerprint["model_cfg"] = w.extra["model_cfg"]
        digest = hashlib.sha256(json.dumps(self.fingerprint, sort_keys=True).encode()).hexdigest()[:12]
        self.id = f"open_clip:{w.display_name}/{w.weights_id}@{digest}"

    # -- images ---------------------------------------------------------------------------------
    def preprocess_bytes(self, data: bytes) -> Any:
        """Decode image bytes and apply the model's preprocessing. Raises on bytes that are no image."""
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            img.load()
            img = img.convert("RGB") if img.mode != "RGB" else img
            return self.preprocess(img)

    def encode_tensors(self, batch: Sequence[Any]) -> np.ndarray:
        """Run the image tower on preprocessed tensors; returns normalised float32 ``(n, dim)``."""
        import torch

        if not batch:
            return np.zeros((0, self.dim), np.float32)
        x = torch.stack(list(batch)).to(self.device, non_blocking=True)
        with self._lock, torch.inference_mode(), _autocast(self.device):
            out = self.model.encode_image(x)
        return _normalise(out.float().cpu().numpy())

    def encode_images(self, images: Iterable[Any]) -> np.ndarray:
        """Encode PIL images (already decoded) in batches."""
        tensors = [self.preprocess(img.convert("RGB")) for img in images]
        chunks = [
            self.encode_tensors(tensors[i : i + self.batch_size])
            for i in range(0, len(tensors), self.batch_size)
        ]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def encode_files(
        self, paths: Sequence[Path], *, on_batch: Callable[[int], None] | None = None
    ) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
        """Encode image files. Returns ``(vectors, encoded_paths, failures[(path, reason)])``."""
        vectors: list[np.ndarray] = []
        done: list[Path] = []
        failed: list[tuple[Path, str]] = []

        def load(path: Path) -> Any:
            return self.preprocess_bytes(Path(path).read_bytes())

        for batch in iter_loaded_batches(list(paths), load, batch_size=self.batch_size, workers=self.workers):
            good = [(p, t) for p, t in batch if not isinstance(t, BaseException)]
            failed += [(p, describe_failure(t)) for p, t in batch if isinstance(t, BaseException)]
            if good:
                vectors.append(self.encode_tensors([t for _, t in good]))
                done += [p for p, _ in good]
            if on_batch:
                on_batch(len(batch))
        vecs = np.concatenate(vectors) if vectors else np.zeros((0, self.dim), np.float32)
        return vecs, done, failed

    # -- text -----------------------------------------------------------------------------------
    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts (truncated to the model's context length); normalised float32 ``(n, dim)``."""
        import torch

        tokens = self.tokenizer(list(texts)).to(self.device)
        with self._lock, torch.inference_mode(), _autocast(self.device):
            out = self.model.encode_text(tokens)
        return _normalise(out.float().cpu().numpy())

    async def aencode_text(self, texts: Sequence[str]) -> np.ndarray:
        return await asyncio.to_thread(self.encode_text, texts)

    async def aencode_files(
        self, paths: Sequence[Path]
    ) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
        return await asyncio.to_thread(self.encode_files, paths)

    def __repr__(self) -> str:
        return f"ClipEmbedder({self.id!r}, device={self.device!r})"


def describe_failure(exc: BaseException) -> str:
    """One line for the index summary: why a file could not be embedded."""
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        return "not a readable image (cannot identify image file)"
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        return f"cannot read image: {exc.strerror or exc}"
    if isinstance(exc, FileNotFoundError):
        return "file disappeared while indexing"
    return f"cannot decode image: {type(exc).__name__}: {exc}"


def load_embedder_from_env(**kwargs: Any) -> ClipEmbedder:
    """``ClipEmbedder`` from ``SKETCHGEN_CLIP_MODEL`` / ``SKETCHGEN_CLIP_PRETRAINED`` (defaults:
    ``ViT-B-32`` / ``laion2b_s34b_b79k``). A bare existing folder in ``SKETCHGEN_CLIP_MODEL`` means
    ``local-dir:``. Raises :class:`rag.weights.EmbedderUnavailableError` at once when no weights exist."""
    model, pretrained = clip_model_from_env()
    return ClipEmbedder(model, pretrained, **kwargs)


def clip_model_from_env() -> tuple[str, str | None]:
    """(model, pretrained) as ``SKETCHGEN_CLIP_MODEL`` / ``SKETCHGEN_CLIP_PRETRAINED`` name them."""
    model = os.environ.get("SKETCHGEN_CLIP_MODEL", "").strip() or DEFAULT_MODEL
    pretrained = os.environ.get("SKETCHGEN_CLIP_PRETRAINED", "").strip()
    if not pretrained and model == DEFAULT_MODEL:
        pretrained = DEFAULT_PRETRAINED
    if ":" not in model and os.path.isdir(os.path.expanduser(model)):
        model = f"local-dir:{model}"
    return model, pretrained or None


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _autocast(device: str) -> Any:
    import contextlib

    import torch

    if str(device).startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _jsonable(cfg: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if isinstance(value, tuple | list):
            value = [float(v) if isinstance(v, float) else v for v in value]
            if key == "size":
                value = [int(v) for v in value]
        out[key] = value
    if isinstance(out.get("size"), int):
        out["size"] = [out["size"], out["size"]]
    return out
