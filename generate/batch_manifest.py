"""The manifest of a batch: ``<outputs>/batches/<batch_id>/manifest.json``.

Written with the run folders' atomic write (temp file + rename), so it is valid JSON at every
instant, and rewritten each time a row's run starts or settles. ``batch_id`` is the batch folder's
name, made the way run folders are (``YYYYMMDD_HHMMSS``, a suffix for a second one in the same
second). The document::

    {schema_version, batch_id, created_at, updated_at, status,
     source: {path, sha256, format}, defaults: {...}, max_cost_usd,
     rows: [{row, brief, style_id, model, num_images, run_id, status, succeeded, failed,
             cost_usd, worst_case_usd, error}],
     totals: {rows, complete, partial, failed, skipped_budget, pending, cost_usd},
     batch_api: null | {...}}

A row's ``status``: ``pending`` (not started), ``running``, then the run's own ``complete`` /
``partial`` / ``failed`` / ``cancelled``, or ``skipped_budget`` (not started: the batch's
``max_cost_usd`` would have been passed). ``batch_api`` belongs to the Gemini Batch API path.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from generate.errors import ConfigError
from generate.runs import RUN_ID_PATTERN, atomic_write_json, create_run_dir

__all__ = ["Manifest", "BatchNotFound", "batches_root", "ROW_STATES", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
ROW_STATES = ("pending", "running", "complete", "partial", "failed", "cancelled", "skipped_budget")
BATCHES_DIR = "batches"


class BatchNotFound(ConfigError):
    def __init__(self, batch_id: str) -> None:
        super().__init__(f"no batch {batch_id!r}", field="batch_id")


def batches_root(output_root: Path | str) -> Path:
    return (Path(output_root) / BATCHES_DIR).resolve()


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class Manifest:
    """One batch's manifest in memory; :meth:`save` writes it atomically (thread-safe)."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self._lock = threading.Lock()

    @property
    def batch_id(self) -> str:
        return str(self.data["batch_id"])

    # -- finding and creating ----------------------------------------------------------------------
    @classmethod
    def create(
        cls, root: Path, source: dict[str, Any], defaults: dict[str, Any], planned: list[Any]
    ) -> Manifest:
        batch_id, folder, _ = create_run_dir(root)
        rows = []
        for p in planned:
            request, config = p.prepared.request, p.prepared.config
            rows.append(
                {
                    "row": p.number,
                    "brief": request.brief,
                    "style_id": request.style_id,
                    "model": p.prepared.adapter.name,
                    "num_images": config.num_images,
                    "run_id": None,
                    "status": "pending",
                    "succeeded": 0,
                    "failed": 0,
                    "cost_usd": 0.0,
                    "worst_case_usd": p.worst_case_usd,
                    "error": None,
                }
            )
        data = {
            "schema_version": SCHEMA_VERSION,
            "batch_id": batch_id,
            "created_at": _now(),
            "updated_at": _now(),
            "status": "pending",
            "source": source,
            "defaults": defaults,
            "max_cost_usd": None,
            "rows": rows,
            "totals": {},
            "batch_api": None,
        }
        manifest = cls(folder / "manifest.json", data)
        manifest.save()
        return manifest

    @classmethod
    def load(cls, folder: Path) -> Manifest | None:
        path = folder / "manifest.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            return None
        return cls(path, data)

    @classmethod
    def open(cls, root: Path, batch_id: str) -> Manifest:
        """The manifest of ``batch_id``; :class:`BatchNotFound` if there is none."""
        if not RUN_ID_PATTERN.match(batch_id or ""):
            raise BatchNotFound(batch_id)
        folder = root / batch_id
        manifest = cls.load(folder) if folder.is_dir() and not folder.is_symlink() else None
        if manifest is None:
            raise BatchNotFound(batch_id)
        return manifest

    @classmethod
    def find(cls, root: Path, source: dict[str, Any], defaults: dict[str, Any]) -> Manifest | None:
        """The newest manifest of the same source (path and sha256) and defaults, if any."""
        if not root.is_dir():
            return None
        wanted = json.loads(json.dumps(defaults, default=str))
        for folder in sorted((p for p in root.iterdir() if RUN_ID_PATTERN.match(p.name)), reverse=True):
            manifest = cls.load(folder)
            if manifest is None:
                continue
            had = manifest.data.get("source") or {}
            if (had.get("path"), had.get("sha256")) == (source.get("path"), source.get("sha256")) and (
                manifest.data.get("defaults") == wanted
            ):
                return manifest
        return None

    def check_source(self, source: dict[str, Any]) -> None:
        """Refuse to resume with a source other than the one the batch was made from."""
        had = self.data.get("source") or {}
        if had.get("sha256") != source.get("sha256"):
            where = f" ({had.get('path')})" if had.get("path") else ""
            raise ConfigError(
                f"batch {self.batch_id} was made from other rows{where}: the file changed since "
                "(its sha256 differs); run it without --resume to start a new batch",
                field="resume",
            )

    # -- rows --------------------------------------------------------------------------------------
    def row(self, number: int) -> dict[str, Any]:
        for rec in self.data["rows"]:
            if rec["row"] == number:
                return rec
        raise KeyError(number)

    def update_row(self, number: int, **values: Any) -> None:
        with self._lock:
            self.row(number).update(values)
        self.save()

    def totals(self) -> dict[str, Any]:
        rows = self.data["rows"]
        states = [r["status"] for r in rows]
        counts = {s: states.count(s) for s in ROW_STATES}
        return {
            "rows": len(rows),
            **{k: v for k, v in counts.items() if k != "running" or v},
            "cost_usd": round(sum(float(r.get("cost_usd") or 0.0) for r in rows), 6),
        }

    def save(self) -> None:
        with self._lock:
            self.data["updated_at"] = _now()
            self.data["totals"] = self.totals()
            # durable: a restart must find every settled row as it was recorded
            atomic_write_json(self.path, self.data)
