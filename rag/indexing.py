"""``index_directory``: bring a style's index up to date with a folder of reference images.

Incremental by construction:

* a file whose size and mtime match the index is *unchanged*: not read, not hashed (a re-run over an
  unchanged library costs one ``stat`` per file);
* a file whose size/mtime changed is hashed; same bytes -> only its mtime is recorded; new bytes ->
  re-embedded (*updated*);
* bytes already in the index under another path (a rename, a copy) reuse that vector;
* files gone from the folder leave the index (*removed*); so does a file that became unreadable;
* sidecars (``.txt``/``.md``/``.json``/``.toml``/``README*``, hidden files) are *skipped* silently;
  other non-images and undecodable images are *unreadable* ``(path, reason)``; never fatal.

Everything blocks (model, FAISS, decoding); async callers use :func:`aindex_directory`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from generate.errors import ConfigError
from rag.embedder import ClipEmbedder, describe_failure, iter_loaded_batches, load_embedder_from_env
from rag.files import scan_directory
from rag.index import EXACT_LIMIT, ReferenceIndex, default_index_dir

__all__ = ["IndexSummary", "index_directory", "aindex_directory"]

Progress = Callable[[int, int], None]


@dataclass
class IndexSummary:
    """What one ``index_directory`` call did. ``total`` counts the style's index after the call."""

    style_id: str
    directory: str
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    reused: int = 0  # added/updated without running the model (same bytes already indexed)
    total: int = 0
    embedder_id: str = ""
    index_type: str = "flat"
    index_path: str = ""
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unreadable"] = [{"path": p, "reason": r} for p, r in self.unreadable]
        return data

    def format(self) -> str:
        """A short human summary for the CLI (one line, then one line per unreadable file)."""
        head = (
            f"{self.style_id}: {self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged, {self.skipped} skipped, {len(self.unreadable)} unreadable — "
            f"{self.total} in index ({self.index_type}, {self.embedder_id}) in {self.elapsed_s:.1f} s"
        )
        return "\n".join([head, *(f"  unreadable: {p}: {r}" for p, r in self.unreadable)])


def index_directory(
    directory: str | Path,
    style_id: str,
    *,
    index_dir: str | Path | None = None,
    embedder: ClipEmbedder | None = None,
    progress: Progress | None = None,
    rebuild: bool = False,
    exact_limit: int = EXACT_LIMIT,
) -> IndexSummary:
    """Index every image under ``directory`` into the index of ``style_id``.

    ``progress(done, total)`` is called as files are settled (``total`` = image files found).
    ``rebuild`` discards the style's existing index first (required when it was built by another
    embedder: otherwise :class:`rag.index.EmbedderMismatchError` explains and names this command).
    Raises :class:`ConfigError` for a missing folder or a bad style id, and
    :class:`rag.weights.EmbedderUnavailableError` when no CLIP weights are on disk.
    """
    started = time.perf_counter()
    folder = Path(directory).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigError(
            f"reference folder {directory} does not exist or is not a folder", field="directory"
        )
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", style_id):
        raise ConfigError(f"invalid style id {style_id!r} (lowercase letters, digits, '-')", field="style")
    root = Path(index_dir) if index_dir is not None else default_index_dir()
    scan = scan_directory(folder)
    embedder = embedder or load_embedder_from_env()
    summary = IndexSummary(style_id, str(folder), embedder_id=embedder.id, skipped=len(scan.skipped))
    summary.unreadable += [(str(p), r) for p, r in scan.unsupported]

    with _style_lock(ReferenceIndex.style_dir(style_id, root)):
        index = None
        if ReferenceIndex.exists(style_id, root) and not rebuild:
            index = ReferenceIndex.load(style_id, root=root, embedder_id=embedder.id, exact_limit=exact_limit)
        if index is None:
            index = ReferenceIndex(
                style_id,
                embedder.id,
                embedder.dim,
                root=root,
                fingerprint=embedder.fingerprint,
                exact_limit=exact_limit,
            )
        if str(folder) not in index.sources:
            index.sources.append(str(folder))
        changed = _sync(index, folder, scan.images, embedder, summary, progress)
        if changed or rebuild or index.generation == 0:
            summary.index_path = str(index.save())
        else:
            summary.index_path = str(ReferenceIndex.style_dir(style_id, root) / f"g{index.generation:06d}")
        summary.total = len(index)
        summary.index_type = index.index_type
    summary.elapsed_s = round(time.perf_counter() - started, 3)
    return summary


async def aindex_directory(directory: str | Path, style_id: str, **kwargs: Any) -> IndexSummary:
    """:func:`index_directory` on a worker thread (keeps the event loop free)."""
    return await asyncio.to_thread(index_directory, directory, style_id, **kwargs)


def _sync(
    index: ReferenceIndex,
    folder: Path,
    images: list[Path],
    embedder: ClipEmbedder,
    summary: IndexSummary,
    progress: Progress | None,
) -> bool:
    total = len(images)
    present = {str(p) for p in images}
    prefix = str(folder).rstrip(os.sep) + os.sep
    stale = [e.path for e in index.entries() if e.path.startswith(prefix) and e.path not in present]
    to_check: list[tuple[Path, os.stat_result]] = []
    for path in images:
        try:
            st = path.stat()
        except OSError as exc:
            summary.unreadable.append((str(path), describe_failure(exc)))
            continue
        entry = index.get(str(path))
        if entry is not None and entry.size == st.st_size and entry.mtime_ns == st.st_mtime_ns:
            summary.unchanged += 1
        else:
            to_check.append((path, st))
    done = summary.unchanged
    if progress:
        progress(done, total)
    known = index.rows_by_sha()  # taken before removals, so a renamed file reuses its old vector
    summary.removed = index.remove(stale)
    changed = summary.removed > 0

    def load(item: tuple[Path, os.stat_result]) -> tuple[str, Any]:
        path, _ = item
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        entry = index.get(str(path))
        if (entry is not None and entry.sha256 == sha) or sha in known:
            return sha, None  # no decode needed: the vector exists
        return sha, embedder.preprocess_bytes(data)

    for batch in iter_loaded_batches(
        to_check, load, batch_size=embedder.batch_size, workers=embedder.workers
    ):
        to_embed: list[tuple[tuple[str, str, int, int], Any, bool]] = []
        for (path, st), result in batch:
            key = str(path)
            existed = key in index
            if isinstance(result, BaseException):
                summary.unreadable.append((key, describe_failure(result)))
                if existed:  # do not keep serving the vector of bytes that are gone
                    summary.removed += index.remove([key])
                    changed = True
                continue
            sha, tensor = result
            item = (key, sha, st.st_mtime_ns, st.st_size)
            entry = index.get(key)
            if entry is not None and entry.sha256 == sha:
                index.touch(key, st.st_mtime_ns, st.st_size)
                summary.unchanged += 1
            elif sha in known:
                known[sha] = index.add_existing_row(item, known[sha]).vector_id
                summary.reused += 1
                summary.updated += existed
                summary.added += not existed
            else:
                to_embed.append((item, tensor, existed))
            changed = True
        if to_embed:
            vectors = embedder.encode_tensors([t for _, t, _ in to_embed])
            for entry in index.add([i for i, _, _ in to_embed], vectors):
                known.setdefault(entry.sha256, entry.vector_id)
            summary.updated += sum(1 for *_, existed in to_embed if existed)
            summary.added += sum(1 for *_, existed in to_embed if not existed)
        done += len(batch)
        if progress:
            progress(done, total)
    return changed


@contextlib.contextmanager
def _style_lock(style_dir: Path) -> Iterator[None]:
    """Serialise indexers of one style across processes (readers never need the lock)."""
    style_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # Windows: best effort, no lock
        yield
        return
    with open(style_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
