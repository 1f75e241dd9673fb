"""The lexical fallback: rank a style's references by words, when CLIP cannot be used.

Used when no CLIP weights are on disk, when the style has no index yet, or when the index was built by
another embedder. It is deterministic and needs nothing but the file system.

Ranking, documented (DESIGN §2.3):

* **Document** of an image = the words of its file name (``golf-ball-mascot_02.png`` -> golf, ball,
  mascot) plus the words of its sidecar caption ``<stem>.txt`` beside it, when present.
* **Query** = the brief's ``subject_terms`` (weight 2) and the words of ``refined_intent`` (weight 1),
  plus the style's ``keywords`` (weight 0.5).
* Words are lowercased, split on anything that is not a letter or digit, stop words and one-letter
  words dropped, and a plural ``s`` stripped (``mascots`` = ``mascot``).
* **Score** = sum over matched query words of weight x idf, divided by the same sum over all query
  words, so it lies in [0, 1]; idf = ``log(1 + N / df)`` over the style's N references, so a word
  every reference shares (the style's own name) counts for little.
* Ties (including the all-zero case) are broken by path, so the same inputs always give the same list.
  Zero-score references are still returned after the matches: any reference of the style still shows
  the model the house style.
* Exact duplicates (same bytes) are suppressed: only the first of identical files is kept.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from prompt.spec import PromptSpec
from rag.files import caption_for, sha256_file, unreadable_reason
from rag.types import RetrievalHit

__all__ = ["tokenize", "query_weights", "rank_lexical"]

_STOP = frozenset(
    """a an and are as at be by for from has in into is it its of on or that the this to with without
    png jpg jpeg webp gif ref reference image img sketch copy final v1 v2 v3 draft""".split()
)
_WORD = re.compile(r"[^0-9a-z]+")


def tokenize(text: str) -> list[str]:
    """Lowercase words, stop words and 1-letter words dropped, trailing plural 's' stripped."""
    words = []
    for raw in _WORD.split(text.lower()):
        if len(raw) < 2 or raw in _STOP or raw.isdigit():
            continue
        if len(raw) > 3 and raw.endswith("s") and not raw.endswith("ss"):
            raw = raw[:-1]
        words.append(raw)
    return words


def query_weights(spec: PromptSpec, keywords: Iterable[str] = ()) -> dict[str, float]:
    """The weighted query words of a brief (see the module docstring)."""
    weights: dict[str, float] = {}

    def add(words: Iterable[str], weight: float) -> None:
        for w in words:
            weights[w] = max(weights.get(w, 0.0), weight)

    add((w for term in spec.subject_terms for w in tokenize(term)), 2.0)
    add(tokenize(spec.refined_intent or spec.intent or spec.brief), 1.0)
    add((w for k in keywords for w in tokenize(k)), 0.5)
    return weights


def document_words(image: Path) -> set[str]:
    return set(tokenize(image.stem)) | set(tokenize(caption_for(image)))


def rank_lexical(
    spec: PromptSpec,
    images: Sequence[Path],
    top_k: int,
    *,
    keywords: Iterable[str] = (),
    unreadable: list[tuple[Path, str]] | None = None,
) -> list[RetrievalHit]:
    """The ``top_k`` best ``images`` for ``spec`` by the documented lexical score, duplicates removed.

    An image that shares no word with the brief (score 0) is not retrieved: nothing says it is
    relevant, and a model would take it as guidance. A matching file whose bytes do not decode is
    passed over for the next one and appended to ``unreadable`` as ``(path, reason)``.
    """
    if top_k <= 0 or not images:
        return []
    docs = {img: document_words(img) for img in images}
    df = Counter(w for words in docs.values() for w in words)
    n = len(docs)
    query = query_weights(spec, keywords)
    idf = {w: math.log(1.0 + n / df[w]) if df[w] else math.log(1.0 + n) for w in query}
    denominator = sum(query[w] * idf[w] for w in query) or 1.0
    scored = []
    for img, words in docs.items():
        score = sum(query[w] * idf[w] for w in query if w in words) / denominator
        scored.append((round(score, 6), img))
    scored.sort(key=lambda item: (-item[0], str(item[1])))
    hits: list[RetrievalHit] = []
    seen: set[str] = set()
    for score, img in scored:
        if score <= 0:
            break  # sorted: the rest share no word with the brief either
        try:
            sha = sha256_file(img)
        except OSError as exc:  # vanished or unreadable: never send it to the model
            if unreadable is not None:
                unreadable.append((img, f"cannot be read ({type(exc).__name__})"))
            continue
        if sha in seen:
            continue
        seen.add(sha)
        reason = unreadable_reason(img)
        if reason is not None:
            if unreadable is not None:
                unreadable.append((img, reason))
            continue
        hits.append(RetrievalHit(path=img, score=score, sha256=sha))
        if len(hits) >= top_k:
            break
    return hits
