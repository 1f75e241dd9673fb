"""RetrievalResult: the references chosen for a brief, with how they were chosen."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["RetrievalHit", "RetrievalResult"]


class RetrievalHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: Path
    score: float
    sha256: str | None = None


class RetrievalResult(BaseModel):
    """``method``: "clip" (FAISS over CLIP vectors), "lexical" (fallback), or "none" (no library)."""

    model_config = ConfigDict(frozen=True)

    hits: list[RetrievalHit] = Field(default_factory=list)
    method: str = "none"
    embedder: str | None = None
    reason: str | None = None  # why the method is not "clip", when it is not
    style_id: str | None = None
    # References passed over because their files cannot be used: [{path, reason}].
    skipped: list[dict[str, str]] = Field(default_factory=list)

    @property
    def paths(self) -> list[Path]:
        return [h.path for h in self.hits]

    @property
    def scores(self) -> list[float]:
        return [h.score for h in self.hits]

    @classmethod
    def empty(cls, reason: str, *, style_id: str | None = None) -> RetrievalResult:
        return cls(hits=[], method="none", reason=reason, style_id=style_id)
