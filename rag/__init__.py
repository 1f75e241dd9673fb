"""Reference retrieval: CLIP embeddings (open_clip), a FAISS index per style, and the retriever.

Heavy libraries (torch, open_clip, faiss) are imported only when a model or an index is used, so
``import rag`` and ``ImageRetriever()`` are cheap.
"""

from rag.embedder import ClipEmbedder, load_embedder_from_env
from rag.index import (
    EXACT_LIMIT,
    EmbedderMismatchError,
    IndexCorruptError,
    IndexEntry,
    ReferenceIndex,
    default_index_dir,
)
from rag.indexing import IndexSummary, aindex_directory, index_directory
from rag.lexical import rank_lexical
from rag.retriever import DEFAULT_MIN_SCORE, ImageRetriever, retrieval_metadata
from rag.types import RetrievalHit, RetrievalResult
from rag.weights import DEFAULT_MODEL, DEFAULT_PRETRAINED, EmbedderUnavailableError

__all__ = [
    "ClipEmbedder",
    "load_embedder_from_env",
    "EmbedderUnavailableError",
    "DEFAULT_MODEL",
    "DEFAULT_PRETRAINED",
    "ReferenceIndex",
    "IndexEntry",
    "EmbedderMismatchError",
    "IndexCorruptError",
    "EXACT_LIMIT",
    "default_index_dir",
    "IndexSummary",
    "index_directory",
    "aindex_directory",
    "ImageRetriever",
    "retrieval_metadata",
    "rank_lexical",
    "DEFAULT_MIN_SCORE",
    "RetrievalHit",
    "RetrievalResult",
]
