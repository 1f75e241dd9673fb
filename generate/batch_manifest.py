"""The manifest of a batch: ``<outputs>/batches/<batch_id>/manifest.json``.

Written with the run folders' atomic write (temp file + rename), so it is valid JSON at every
instant, and rewritten each time a row's run starts or settles. ``batch_id`` is the batch folder's
name, made the way run folders are (``YYYYMMDD_HHMMSS``, a suffix for a second one in the same
second). The document::

    {schema_version, batch_id, created_at, updated_at, status,
     source: {path, sha256, format}, defaults: {...}, max_cost_usd,
     rows: [{row, request_sha, brief, style_id, model, num_images, run_id, status, succeeded,
             failed, cost_usd, worst_case_usd, error}],
     totals: {rows, complete, partial, failed, skipped_budget, pending, cost_usd},
     batch_api: null | {...}, carried_from?: {batch_id, rows}}

``request_sha`` is the sha256 of the row's whole request (defaults merged): when the batch file
was edited since its last batch, a new batch takes over the earlier batch's rows whose request did
not change (:meth:`Manifest.carry_from`), so fixing row 17 does not pay for rows 2-16 again.

A row's ``status``: ``pending`` (not started), ``running``, then the run's own ``complete`` /
``partial`` / ``failed`` / ``cancelled``, or ``skipped_budget`` (not started: the batch's
``max_cost_usd`` would have been passed). ``batch_api`` belongs to the Gemini Batch API path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from generate.errors import ConfigError
from generate.runs import RUN_ID_PATTERN, atomic_write_json, create_run_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

__all__ = ["Manifest", "BatchNotFound", "ManifestDamaged", "batches_root", "ROW_STATES", "SCHEMA_VERSION"]

log = logging.getLogger("sketchgen.batch")

SCHEMA_VERSION = 1
ROW_STATES = ("pending", "running", "complete", "partial", "failed", "cancelled", "skipped_budget")
BATCHES_DIR = "batches"


class BatchNotFound(ConfigError):
    def __init__(self, batch_id: str) -> None:
        super().__init__(f"no batch {batch_id!r}", field="batch_id")


class ManifestDamaged(ConfigError):
    """A manifest that is not what sketchgen writes (edited by hand, cut short): said, never guessed."""

    def __init__(self, path: Path, problem: str) -> None:
        self.batch_id = path.parent.name
        self.problem = problem
        super().__init__(
            f"the batch manifest {path} is damaged ({problem}); put it right, or move its folder "
            "away to start the batch again",
            field="manifest",
        )


def _row_problem(rec: Any) -> str | None:
    """What is wrong with one row record of a manifest, or None."""
    if not isinstance(rec, dict):
        return f"a row is {type(rec).__name__}, not an object"
    number = rec.get("row")
    if isinstance(number, bool) or not isinstance(number, int):
        return f"a row's number is {number!r}"
    if not isinstance(rec.get("status"), str) or not rec["status"]:
        return f"row {number}'s status is {rec.get('status')!r}"  # an unknown word is run again
    run_id = rec.get("run_id")
    if run_id is not None and not (isinstance(run_id, str) and RUN_ID_PATTERN.match(run_id)):
        return f"row {number}'s run_id is {run_id!r}"
    for name in ("cost_usd", "worst_case_usd"):
        value = rec.get(name, 0.0)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            return f"row {number}'s {name} is {value!r}, not a number of US dollars"
    for name in ("succeeded", "failed"):
        value = rec.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"row {number}'s {name} is {value!r}, not a count"
    return None


@contextlib.contextmanager
def _creating(root: Path) -> Iterator[None]:
    """Held while a batch looks for its manifest and makes one: two ``sketchgen batch`` of the same
    file started together then find one manifest (the second waits a moment, then finds the
    first's), instead of making two batches that pay for every row twice."""
    root.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - not a POSIX system
        yield
        return
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the holder only lists a folder and writes one file
        yield
    finally:
        os.close(fd)  # closing drops the lock; the file stays (removing it would race a waiter)


def batches_root(output_root: Path | str) -> Path:
    return (Path(output_root) / BATCHES_DIR).resolve()


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class Manifest:
    """One batch's manifest in memory; :meth:`save` writes it atomically (thread-safe).

    :meth:`update_row` writes at once while the batch is small; a large one (over
    ``EACH_CHANGE_ROWS`` rows: 10,000 rows are ~4 MB of JSON, ~0.5 s to write, twice per row)
    gathers the changes of ``COALESCE_S`` seconds into one write on a timer thread, so the event
    loop the runs stream on is not held up. The file stays whole JSON at every instant either way;
    what a crash can lose is the last ``COALESCE_S`` of row changes, which the next run of the
    batch reads back from the runs' own folders (except a run that had started in that moment)."""

    EACH_CHANGE_ROWS = 200
    COALESCE_S = 1.0

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self._lock = threading.RLock()
        self._index: dict[int, dict[str, Any]] = {}
        self._indexed: list[Any] | None = None
        self._timer: threading.Timer | None = None

    @property
    def batch_id(self) -> str:
        return str(self.data["batch_id"])

    # -- finding and creating ----------------------------------------------------------------------
    @classmethod
    def create(
        cls, root: Path, source: dict[str, Any], defaults: dict[str, Any], planned: list[Any]
    ) -> Manifest:
        batch_id, folder, _ = create_run_dir(root)
        rows = _records(planned)
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
        """The manifest in ``folder``; None when there is none; :class:`ManifestDamaged` when it is
        not JSON sketchgen wrote (its rows are checked: :meth:`check`)."""
        path = folder / "manifest.json"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ManifestDamaged(path, f"unreadable: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestDamaged(path, f"not valid JSON: {exc.args[0] if exc.args else exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            raise ManifestDamaged(path, "no list of rows")
        manifest = cls(path, data)
        manifest.check()
        return manifest

    def check(self) -> None:
        """Raise :class:`ManifestDamaged` naming the first row record that is not as written."""
        numbers = set()
        for rec in self.data["rows"]:
            problem = _row_problem(rec)
            if problem is None and rec["row"] in numbers:
                problem = f"row {rec['row']} is listed twice"
            if problem is not None:
                raise ManifestDamaged(self.path, problem)
            numbers.add(rec["row"])

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
    def find_or_create(
        cls, root: Path, source: dict[str, Any], defaults: dict[str, Any], planned: list[Any]
    ) -> tuple[Manifest, bool]:
        """(the manifest of this source and defaults, whether it existed): :meth:`find`, else
        :meth:`create`, one process at a time (see :func:`_creating`)."""
        with _creating(root):
            found = cls.find(root, source, defaults)
            if found is not None:
                return found, True
            manifest = cls.create(root, source, defaults, planned)
            earlier = cls.find(root, source, defaults, edited=True) if source.get("path") else None
            if earlier is not None:
                manifest.carry_from(earlier)
            return manifest, False

    @classmethod
    def find(
        cls, root: Path, source: dict[str, Any], defaults: dict[str, Any], *, edited: bool = False
    ) -> Manifest | None:
        """The newest manifest of the same source (path and sha256; ``edited``: the same path with
        other contents, the file as it was before an edit) and defaults, if any. A damaged
        manifest of that source is said (:class:`ManifestDamaged`): starting afresh would pay for
        its complete rows again. One that cannot be read at all is passed over with a warning."""
        if not root.is_dir():
            return None
        wanted = json.loads(json.dumps(defaults, default=str))
        for folder in sorted((p for p in root.iterdir() if RUN_ID_PATTERN.match(p.name)), reverse=True):
            try:
                manifest = cls.load(folder)
            except ManifestDamaged as exc:
                if _names_source(folder / "manifest.json", source):
                    raise
                log.warning("%s", exc)
                continue
            if manifest is None:
                continue
            had = manifest.data.get("source") or {}
            same_sha = had.get("sha256") == source.get("sha256")
            if (
                had.get("path") == source.get("path")
                and same_sha != edited
                and manifest.data.get("defaults") == wanted
            ):
                return manifest
        return None

    def carry_from(self, earlier: Manifest) -> None:
        """Take over from ``earlier`` (this file before an edit) each row whose request is the
        same (``request_sha``: brief, style and every setting, defaults included), with its run:
        a complete row is not paid for again, an unfinished one is resumed. Each earlier row
        goes to at most one row of this batch, preferring the same row number. Recorded as
        ``carried_from: {batch_id, rows}``."""
        free: dict[str, list[dict[str, Any]]] = {}
        for rec in earlier.data["rows"]:
            if rec.get("request_sha") and rec.get("run_id"):
                free.setdefault(rec["request_sha"], []).append(rec)
        carried = 0
        with self._lock:
            for rec in self.data["rows"]:
                matches = free.get(rec.get("request_sha") or "", [])
                if not matches:
                    continue
                old = next((m for m in matches if m["row"] == rec["row"]), matches[0])
                matches.remove(old)
                rec.update({k: old.get(k, rec.get(k)) for k in ("run_id", "succeeded", "failed", "cost_usd")})
                # "running" in a manifest whose process is gone: its run is resumed by its run_id
                rec["status"] = old["status"] if old["status"] != "running" else "cancelled"
                carried += 1
            self.data["carried_from"] = {"batch_id": earlier.batch_id, "rows": carried}
        self.save()

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
    def add_missing(self, planned: list[Any]) -> None:
        """Give every planned row a record (``pending``) that the manifest lacks (one deleted by
        hand: that row runs again), in row order."""
        have = {rec["row"] for rec in self.data["rows"]}
        missing = [p for p in planned if p.number not in have]
        if missing:
            self.data["rows"] = sorted(self.data["rows"] + _records(missing), key=lambda r: r["row"])
            self.save()

    def row(self, number: int) -> dict[str, Any]:
        with self._lock:
            rows = self.data["rows"]
            if self._indexed is not rows or len(self._index) != len(rows):  # rows added or replaced
                self._index, self._indexed = {rec["row"]: rec for rec in rows}, rows
            rec = self._index.get(number)
            if rec is None or rec.get("row") != number:
                raise KeyError(number)
            return rec

    def update_row(self, number: int, **values: Any) -> None:
        with self._lock:
            self.row(number).update(values)
            if len(self.data["rows"]) <= self.EACH_CHANGE_ROWS:
                self.save()
            elif self._timer is None:
                self._timer = threading.Timer(self.COALESCE_S, self._flush)
                self._timer.daemon = True
                self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            if self._timer is threading.current_thread():
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
        """Write now (any gathered changes with it)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.data["updated_at"] = _now()
            self.data["totals"] = self.totals()
            # durable: a restart must find every settled row as it was recorded
            atomic_write_json(self.path, self.data)


def _records(planned: list[Any]) -> list[dict[str, Any]]:
    """Fresh ``pending`` row records of planned rows (:class:`generate.batch.PlannedRow`)."""
    rows = []
    for p in planned:
        request, config = p.prepared.request, p.prepared.config
        rows.append(
            {
                "row": p.number,
                "request_sha": hashlib.sha256(request.model_dump_json().encode("utf-8")).hexdigest(),
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
    return rows


def _names_source(path: Path, source: dict[str, Any]) -> bool:
    """Whether a manifest's text names ``source``'s sha256 (a damaged one is read as text)."""
    try:
        return bool(source.get("sha256")) and str(source["sha256"]) in path.read_text(
            encoding="utf-8", errors="replace"
        )
    except OSError:
        return False
