"""metadata.json: the run record, assembled from a run's state (pure: no I/O, no clock).

Every mode of the generator writes the same document: the seed's fields (``timestamp``,
``prompt_spec``, ``reference_images``, ``retrieval_scores``, ``style_id``, ``config``, ``images``)
plus ``schema_version``, ``run_id``, ``status``, ``retrieval``, the model requested and used,
one record per sketch, totals, warnings, ``resumes`` (each later attempt to make the missing
sketches: when, which, with what model, and how it ended) and library versions.

References: ``retrieval.hits[].sent`` is true when at least one call carried the image; each
sketch's ``references`` is what its request asked for and ``references_sent`` what its (last) call
actually carried (``[{name, path, sha256}]`` in the order sent; ``null`` until a call was made, or
when the adapter does not say). ``retrieval.skipped`` lists references passed over as unreadable.

Request options: ``config.seed_best_effort`` says a model was given the seed that honours it best
effort only (Gemini); ``config.response_modalities``, ``google_search`` and ``person_generation``
are as asked, and each sketch's ``grounding`` holds Google Search's queries and sources.

Never a secret: errors are redacted as they enter the run's state, and the writer
(:func:`generate.runs.atomic_write_json`) passes the whole document through
:func:`generate.redact.redact` as well.
"""

from __future__ import annotations

import platform
from datetime import datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from generate.adapter import HistoryPart, HistoryTurn

__all__ = [
    "SCHEMA_VERSION",
    "VERSIONS",
    "assemble_metadata",
    "history_record",
    "history_turn",
    "recorded_request_options",
    "status_counts",
    "total_cost",
    "variation_record",
]

SCHEMA_VERSION = 1
_USAGE_KEYS = ("prompt_tokens", "output_tokens", "output_image_tokens", "thoughts_tokens", "total_tokens")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("sketchgen", "google-genai", "pillow", "numpy", "open-clip-torch", "faiss-cpu"):
        try:
            out[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


VERSIONS = _versions()


def variation_record(var: Any) -> dict[str, Any]:
    """A sketch's variation as recorded (its exact prompt is recorded once, beside it)."""
    if hasattr(var, "model_dump"):
        data = var.model_dump(mode="json")
        data.pop("prompt", None)
        return data
    return dict(var)


def _sent_paths(records: list[dict[str, Any]], requests: list[Any]) -> set[str]:
    """Paths some call actually carried (``references_sent``, recorded once a call was answered or failed).

    An adapter that does not report what it sent (``references_sent`` None) is taken at its
    request's word, so third-party adapters keep the old meaning.
    """
    sent: set[str] = set()
    for rec, req in zip(records, requests, strict=False):
        carried = rec.get("references_sent")
        if carried is None:
            if rec.get("status") == "completed":
                sent.update(str(p) for p in req.reference_images)
            continue
        sent.update(str(r["path"]) for r in carried)
    return sent


def history_record(turn: Any) -> dict[str, Any]:
    """One earlier turn of a multi-turn request as recorded (image files by path, never bytes)."""
    if turn.role == "model":
        return {
            "role": "model",
            "parts": [
                {
                    "text": p.text,
                    "image": str(p.image) if p.image is not None else None,
                    "mime_type": p.mime_type,
                    "thought_signature": p.thought_signature,
                }
                for p in turn.parts
            ],
        }
    return {
        "role": "user",
        "text": turn.text,
        "references": [str(p) for p in turn.reference_images],
        "input_images": [str(p) for p in turn.subject_images],
    }


def history_turn(data: dict[str, Any]) -> HistoryTurn:
    """The inverse of :func:`history_record`: an earlier turn back from its record (image files
    by path; read by whoever sends it)."""
    if data.get("role") == "model":
        parts = tuple(
            HistoryPart(
                text=p.get("text"),
                image=Path(p["image"]) if p.get("image") else None,
                mime_type=p.get("mime_type"),
                thought_signature=p.get("thought_signature"),
            )
            for p in data.get("parts") or []
        )
        return HistoryTurn(role="model", parts=parts)
    return HistoryTurn(
        role="user",
        text=data.get("text") or "",
        reference_images=tuple(Path(p) for p in data.get("references") or []),
        subject_images=tuple(Path(p) for p in data.get("input_images") or []),
    )


def recorded_request_options(config: dict[str, Any]) -> dict[str, Any]:
    """The request options a run was made with, from its recorded ``config``, as
    :class:`generate.types.GenerationConfig` takes them (a missing one keeps the default). A resumed
    run and a child run that keeps its parent's model both ask for what the run asked for."""
    out: dict[str, Any] = {}
    if config.get("response_modalities"):
        out["response_modalities"] = tuple(config["response_modalities"])
    for key in ("google_search", "person_generation"):
        if config.get(key) is not None:
            out[key] = config[key]
    return out


def status_counts(records: list[dict[str, Any]]) -> dict[str, int]:
    """How many sketches settled as completed, failed and cancelled."""
    states = [r["status"] for r in records]
    return {s: states.count(s) for s in ("completed", "failed", "cancelled")}


def total_cost(records: list[dict[str, Any]]) -> float:
    return round(sum(r.get("cost_usd") or 0.0 for r in records), 6)


def assemble_metadata(
    *,
    run_id: str,
    started_at: datetime,
    status: str,
    style: Any,
    prompt_spec: Any,
    retrieval: Any,
    requests: list[Any],
    config: Any,
    model_name: str,
    model_reason: str | None,
    records: list[dict[str, Any]],
    contact_sheet: Path | None,
    warnings: list[str],
    wall_s: float,
    iteration: dict[str, Any] | None = None,
    resumes: list[dict[str, Any]] | None = None,
    deterministic: bool = False,
) -> dict[str, Any]:
    """The metadata document. ``deterministic``: the adapter gives the same bytes for the same seed
    (so ``config.seed_best_effort`` is false). ``iteration`` (refine / vary / edit runs) gives ``parent``
    ({run_id, index, instruction, kind} or None for an edit of the designer's own image) and
    ``iteration`` ({kind, path: multi_turn | edit, reason, ...})."""
    counts = status_counts(records)
    hits = list(retrieval.hits) if retrieval is not None else []
    sent = _sent_paths(records, requests)
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "timestamp": started_at.isoformat(timespec="seconds"),
        "status": status,
        "style_id": style.id,
        "style": {"id": style.id, "name": style.name, "source": str(style.source or "")},
        "prompt_spec": prompt_spec.model_dump(mode="json"),
        "reference_images": [str(h.path) for h in hits],
        "retrieval_scores": [round(float(h.score), 6) for h in hits],
        "retrieval": {
            "method": getattr(retrieval, "method", "none"),
            "embedder": getattr(retrieval, "embedder", None),
            "reason": getattr(retrieval, "reason", None),
            "skipped": list(getattr(retrieval, "skipped", None) or []),
            "hits": [
                {
                    "path": str(h.path),
                    "score": round(float(h.score), 6),
                    "sha256": h.sha256,
                    "sent": str(h.path) in sent,
                }
                for h in hits
            ],
        },
        "config": {
            "num_images": config.num_images,
            "resolution": list(config.resolution) if config.resolution else None,
            "model_name": model_name,
            "requested_model": config.model_name,
            "aspect_ratio": requests[0].aspect_ratio if requests else config.aspect_ratio,
            "image_size": config.image_size,
            "seed": config.seed,
            "seed_best_effort": config.seed is not None and not deterministic and model_name != "trace",
            "response_modalities": list(config.response_modalities),
            "google_search": config.google_search,
            "person_generation": config.person_generation,
            "timeout_s": config.timeout_s,
            "max_attempts": config.max_attempts,
            "max_concurrency": config.max_concurrency,
            "enforce_grayscale": config.enforce_grayscale,
            "sheet": getattr(config, "sheet", None),
        },
        "model": {"requested": config.model_name, "used": model_name, "reason": model_reason},
        "images": [r["file"] for r in records if r["status"] == "completed"],
        "sketches": records,
        "contact_sheet": "contact_sheet.png" if contact_sheet else None,
        "totals": {
            "succeeded": counts["completed"],
            "failed": counts["failed"],
            "cancelled": counts["cancelled"],
            "pending": len(records) - sum(counts.values()),
            "cost_usd": total_cost(records),
            "usage": {k: sum((r.get("usage") or {}).get(k, 0) for r in records) for k in _USAGE_KEYS},
            "wall_s": round(wall_s, 3),
        },
        "warnings": list(warnings),
        "parent": (iteration or {}).get("parent"),
        "iteration": {k: v for k, v in iteration.items() if k != "parent"} if iteration else None,
        "resumes": list(resumes or []),
        "versions": VERSIONS,
    }
