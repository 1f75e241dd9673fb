"""ImageRetriever: the few reference images of a style that best fit a brief.

``retrieve(prompt_spec, style, top_k=3)``, in order:

1. **Style filter first**: only the style's own index (one index per style) is searched.
2. ``style.do_not_use`` entries (names, relative paths, globs) are excluded; files gone from disk too.
3. **Text-to-image similarity**: the brief's refined intent is encoded by the same CLIP model that
   embedded the images; cosine similarity (inner product of unit vectors) is the score.
4. **Minimum score** (``min_score``, default 0.15 or ``$SKETCHGEN_RETRIEVAL_MIN_SCORE``): weaker
   matches are dropped — better no reference than a misleading one.
5. **Near-duplicate suppression**: maximal marginal relevance (lambda 0.7) over the candidates, and any
   candidate whose cosine to an already chosen image is >= ``duplicate_threshold`` (0.95), or whose
   bytes are identical, is dropped. The reported score stays the plain similarity.
6. **Deterministic ties**: candidates are ordered by (score desc, path) and a later candidate must
   beat an earlier one strictly.

Unreadable files (an image suffix but bytes that do not decode) are never handed on: the next
candidate takes their place, they are listed in ``RetrievalResult.skipped`` and ONE warning names
them all.

Fallbacks (never an exception for a missing model or index): no CLIP weights, no index for the style,
or an index built by another embedder -> the documented lexical ranking (:mod:`rag.lexical`) over the
style's reference folders, ``method="lexical"`` and ``reason`` set, with ONE warning logged per cause.
No reference images at all -> ``RetrievalResult.empty(reason)`` (``method="none"``).

Constructing a retriever loads nothing; the model loads on the first CLIP retrieval and is reused.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from prompt.spec import PromptSpec
from rag.embedder import ClipEmbedder, clip_model_from_env, load_embedder_from_env
from rag.files import is_excluded, list_style_images, unreadable_reason
from rag.index import (
    EXACT_LIMIT,
    EmbedderMismatchError,
    IndexCorruptError,
    IndexEntry,
    ReferenceIndex,
    default_index_dir,
)
from rag.lexical import rank_lexical
from rag.types import RetrievalHit, RetrievalResult
from rag.weights import EmbedderUnavailableError, quick_offline_check
from style.models import Style

__all__ = ["ImageRetriever", "retrieval_metadata", "DEFAULT_MIN_SCORE"]

log = logging.getLogger("sketchgen.rag")
DEFAULT_MIN_SCORE = 0.15


class ImageRetriever:
    def __init__(
        self,
        index_dir: str | Path | None = None,
        embedder: ClipEmbedder | None = None,
        *,
        min_score: float | None = None,
        duplicate_threshold: float = 0.95,
        mmr_lambda: float = 0.7,
        candidates: int = 50,
        exact_limit: int = EXACT_LIMIT,
    ) -> None:
        self._index_dir = Path(index_dir) if index_dir is not None else None
        self._embedder = embedder
        self._embedder_error: str | None = None
        if min_score is None:
            min_score = float(os.environ.get("SKETCHGEN_RETRIEVAL_MIN_SCORE", DEFAULT_MIN_SCORE))
        self.min_score = min_score
        self.duplicate_threshold = duplicate_threshold
        self.mmr_lambda = mmr_lambda
        self.candidates = candidates
        self.exact_limit = exact_limit
        self._lock = threading.Lock()
        self._indexes: dict[str, tuple[str, ReferenceIndex]] = {}
        self._warned: set[str] = set()

    @property
    def index_dir(self) -> Path:
        return self._index_dir if self._index_dir is not None else default_index_dir()

    # -- public ---------------------------------------------------------------------------------
    def retrieve(self, prompt_spec: PromptSpec, style: Style, top_k: int = 3) -> RetrievalResult:
        """The best ``top_k`` references of ``style`` for ``prompt_spec`` (see the module docstring)."""
        if top_k <= 0:
            return RetrievalResult.empty("top_k is 0", style_id=style.id)
        if not ReferenceIndex.exists(style.id, self.index_dir):
            sources = [str(d) for d in style.reference_dirs] or ["DIR"]
            reason = f"no index for style {style.id}"
            try:
                quick_offline_check(*clip_model_from_env())
            except EmbedderUnavailableError:
                reason += " and no CLIP weights on disk to build one (`sketchgen weights` downloads them)"
            else:
                reason += f"; run: sketchgen index {' '.join(sources)} --style {style.id}"
            return self._lexical(prompt_spec, style, top_k, reason, [])
        embedder = self._get_embedder()
        if embedder is None:
            return self._lexical(
                prompt_spec, style, top_k, self._embedder_error or "no CLIP embedder", self._sources(style)
            )
        try:
            index = self._get_index(style.id, embedder.id)
        except (EmbedderMismatchError, IndexCorruptError) as exc:
            return self._lexical(prompt_spec, style, top_k, str(exc), self._sources(style))
        except FileNotFoundError:  # deleted between the check and the load
            return self._lexical(prompt_spec, style, top_k, f"no index for style {style.id}", [])
        if len(index) == 0:
            return self._lexical(prompt_spec, style, top_k, f"the index for style {style.id} is empty", [])
        unreadable: list[tuple[Path, str]] = []
        hits = self._clip_hits(prompt_spec, style, index, embedder, top_k, unreadable)
        reason = (
            None if hits else f"no reference of style {style.id} scored above the minimum {self.min_score}"
        )
        return RetrievalResult(
            hits=hits,
            method="clip",
            embedder=embedder.id,
            reason=reason,
            style_id=style.id,
            skipped=self._skipped(style, unreadable),
        )

    async def aretrieve(self, prompt_spec: PromptSpec, style: Style, top_k: int = 3) -> RetrievalResult:
        """:meth:`retrieve` on a worker thread: model, FAISS and file reads stay off the event loop."""
        return await asyncio.to_thread(self.retrieve, prompt_spec, style, top_k)

    # -- CLIP path ------------------------------------------------------------------------------
    def _clip_hits(
        self,
        spec: PromptSpec,
        style: Style,
        index: ReferenceIndex,
        embedder: ClipEmbedder,
        top_k: int,
        unreadable: list[tuple[Path, str]] | None = None,
    ) -> list[RetrievalHit]:
        query = embedder.encode_text([query_text(spec)])[0]
        roots = [Path(d).resolve() for d in style.reference_dirs] + [Path(s) for s in index.sources]
        want = max(self.candidates, top_k * 10)
        while True:
            n = min(want, len(index))
            raw = index.search(query, n)
            pool = [
                (entry, score)
                for entry, score in raw
                if score >= self.min_score and not is_excluded(Path(entry.path), style.do_not_use, roots)
            ]
            # Stop when enough survive, when the index is exhausted, or when scores fell below the floor.
            if len(pool) >= top_k * 5 or n >= len(index) or (raw and raw[-1][1] < self.min_score):
                break
            want *= 4
        pool = [(e, s) for e, s in pool if os.path.isfile(e.path)]
        while True:  # a file may have been replaced by unreadable bytes since it was indexed
            hits = self._diverse(pool, index, top_k)
            bad = {}
            for hit in hits:
                reason = unreadable_reason(hit.path)
                if reason is not None:
                    bad[str(hit.path)] = reason
            if not bad:
                return hits
            if unreadable is not None:
                unreadable.extend((Path(p), r) for p, r in bad.items())
            pool = [(e, s) for e, s in pool if e.path not in bad]

    def _diverse(
        self, pool: list[tuple[IndexEntry, float]], index: ReferenceIndex, top_k: int
    ) -> list[RetrievalHit]:
        if not pool:
            return []
        pool.sort(key=lambda h: (-round(h[1], 6), h[0].path))
        vecs = index.vectors([e.vector_id for e, _ in pool])
        chosen: list[int] = []
        alive = list(range(len(pool)))
        lam = self.mmr_lambda
        while alive and len(chosen) < top_k:
            best, best_value, keep = -1, -np.inf, []
            redundancy = (vecs[alive] @ vecs[chosen].T).max(axis=1) if chosen else np.zeros(len(alive))
            for i, red in zip(alive, redundancy, strict=True):
                entry, score = pool[i]
                if red >= self.duplicate_threshold or any(entry.sha256 == pool[c][0].sha256 for c in chosen):
                    continue  # a near-copy of something already chosen: drop it for good
                keep.append(i)
                value = lam * score - (1.0 - lam) * float(red)
                if value > best_value + 1e-9:
                    best, best_value = i, value
            if best < 0:
                break
            chosen.append(best)
            alive = [i for i in keep if i != best]
        chosen.sort(key=lambda i: (-round(pool[i][1], 6), pool[i][0].path))  # MMR picks the set; best first
        return [
            RetrievalHit(path=Path(pool[i][0].path), score=round(pool[i][1], 6), sha256=pool[i][0].sha256)
            for i in chosen
        ]

    # -- fallbacks ------------------------------------------------------------------------------
    def _lexical(
        self, spec: PromptSpec, style: Style, top_k: int, reason: str, extra_dirs: list[str]
    ) -> RetrievalResult:
        dirs = [Path(d) for d in style.reference_dirs] + [Path(d) for d in extra_dirs]
        images = list_style_images(dirs, style.do_not_use)
        if not images:
            return RetrievalResult.empty(
                f"style {style.id} has no reference images ({reason})", style_id=style.id
            )
        self._warn_once(reason, f"retrieval for style {style.id} uses lexical ranking: {reason}")
        unreadable: list[tuple[Path, str]] = []
        hits = rank_lexical(spec, images, top_k, keywords=style.keywords, unreadable=unreadable)
        return RetrievalResult(
            hits=hits,
            method="lexical",
            embedder=None,
            reason=reason,
            style_id=style.id,
            skipped=self._skipped(style, unreadable),
        )

    def _skipped(self, style: Style, unreadable: list[tuple[Path, str]]) -> list[dict[str, str]]:
        """Record the references passed over, with ONE warning naming them all (once per set)."""
        if not unreadable:
            return []
        names = ", ".join(f"{Path(p).name} ({r})" for p, r in unreadable)
        self._warn_once(
            "unreadable:" + "|".join(sorted(str(p) for p, _ in unreadable)),
            f"style {style.id}: skipped {len(unreadable)} unreadable reference file(s): {names}",
        )
        return [{"path": str(p), "reason": r} for p, r in unreadable]

    def _warn_once(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(message)

    def _sources(self, style: Style) -> list[str]:
        try:
            return ReferenceIndex.load(style.id, root=self.index_dir).sources
        except (OSError, ValueError, KeyError):
            return []

    # -- lazy state -----------------------------------------------------------------------------
    def _get_embedder(self) -> ClipEmbedder | None:
        with self._lock:
            if self._embedder is None and self._embedder_error is None:
                try:
                    self._embedder = load_embedder_from_env()
                except EmbedderUnavailableError as exc:
                    self._embedder_error = str(exc)
                except Exception as exc:  # broken weights file etc.: degrade, do not fail the run
                    self._embedder_error = f"CLIP model could not be loaded: {type(exc).__name__}: {exc}"
            return self._embedder

    def _get_index(self, style_id: str, embedder_id: str) -> ReferenceIndex:
        marker = ReferenceIndex.current_marker(style_id, self.index_dir) or ""
        with self._lock:
            cached = self._indexes.get(style_id)
            if cached and cached[0] == marker and cached[1].embedder_id == embedder_id:
                return cached[1]
        index = ReferenceIndex.load(
            style_id, root=self.index_dir, embedder_id=embedder_id, exact_limit=self.exact_limit
        )
        with self._lock:
            self._indexes[style_id] = (marker, index)
        return index


def query_text(spec: PromptSpec) -> str:
    """The text CLIP compares images with: the refined intent (the model truncates long text)."""
    return (spec.refined_intent or spec.intent or spec.brief).strip()


def retrieval_metadata(result: RetrievalResult) -> dict[str, Any]:
    """The metadata.json fields for a retrieval (DESIGN §2.3): paths, scores, method, embedder, reason."""
    return {
        "reference_images": [str(p) for p in result.paths],
        "retrieval_scores": [round(s, 4) for s in result.scores],
        "retrieval": {
            "method": result.method,
            "embedder": result.embedder,
            "reason": result.reason,
            "style_id": result.style_id,
            "sha256": [h.sha256 for h in result.hits],
            "skipped": list(result.skipped),
        },
    }
