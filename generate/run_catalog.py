"""The run catalog: an SQLite index of the run folders, so the history stays fast at 100,000 runs.

The folders stay the source of truth. The catalog (``<root>/.catalog.sqlite3``) holds one row per
run with the fields the history filters on (style, model, status, date, brief, cost, favourite,
parent) and the run's summary, one row per sketch, and an FTS5 index over the briefs. It can be
deleted at any time: :func:`reindex` (``sketchgen runs --reindex``) rebuilds it from the folders.

How it keeps in step, cheaply, before every query (:meth:`RunCatalog.refresh`):

* a run written by this process is marked stale by :func:`note_written` and read again;
* a folder made or removed by another process changes the root folder's mtime: the names are then
  listed and compared (a directory listing, no metadata read);
* runs not settled yet (``running``, ``interrupted``, or no metadata at all) are checked each time:
  metadata.json changed (mtime, size), or the writer's lock let go (``interrupted``);
* everything else is checked against its metadata.json's mtime and size at most every
  :data:`SWEEP_INTERVAL_S` seconds (a settled run resumed by another process), in one pass of stats.

An mtime is only as fine as its filesystem's clock tick: a folder made, or a metadata.json rewritten
to the same size, within the tick of the stat that was read cannot be told from what was read. So a
stat read less than :data:`RACY_NS` after the mtime it shows (:data:`FINE_RACY_NS` where mtimes
have fractions of a second) is not kept (git's "racily clean" entries): the root's listing, or that
run's file, is read again at the next check, until its mtime is old enough to vouch for what was read.

When the outputs folder cannot hold the file (read-only) the history falls back to reading the
folders, as before the catalog existed.

Building it from the folders (the first fill of an empty catalog, the rest of one that a dead
builder left part-filled, or :meth:`RunCatalog.rebuild`)
commits a batch of runs at a time, so a reader meanwhile sees part of the history: the builder
holds an advisory lock (``<root>/.catalog.building``, as a run's ``.lock``) for the build's life, and
:meth:`RunCatalog.build_state` tells readers, in this process or another, that the list is partial.
Another process's build is left to it (this process reads what it has committed so far).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from generate.run_lock import LOCKS_SUPPORTED, RunLock, RunLockedError, run_is_live

__all__ = [
    "CATALOG_NAME",
    "SWEEP_INTERVAL_S",
    "FINE_RACY_NS",
    "RACY_NS",
    "RunCatalog",
    "building_catalog",
    "catalog_for",
    "catalog_state",
    "note_written",
    "reindex",
    "stat_vouches",
]

log = logging.getLogger("sketchgen.catalog")

CATALOG_NAME = ".catalog.sqlite3"
BUILD_LOCK_NAME = ".catalog.building"  # held (flock) by the process building the catalog from the folders
FAVOURITE_MARKER = ".favourite"  # an empty file in a run folder: the run is starred
SWEEP_INTERVAL_S = 30.0
SWEEP_CHUNK = 250  # stats between the background sweep's pauses
SWEEP_PAUSE_S = 0.005
_BATCH_RUNS = 500  # runs read and committed per transaction
RETRY_S = 30.0  # a catalog that could not be opened (locked, not writable) is tried again after this
_BUSY_TIMEOUT_S = 10.0  # how long a statement waits for another process's write to finish
_SCHEMA_VERSION = 4
_UNSETTLED = ("running", "interrupted")
# How long after its mtime a stat can vouch for a file or folder. An mtime on whole seconds may come
# from a clock that ticks every second or two (FAT, HFS+, some network shares): RACY_NS. One with
# a fraction of a second comes from a fine clock (ext4, XFS, Btrfs, tmpfs and APFS stamp with the
# kernel's clock, which ticks every 1-10 ms; exFAT every 10 ms): FINE_RACY_NS is past such a tick,
# so a burst of new runs does not make every history query list the root again for 2 s.
RACY_NS = 2_000_000_000
FINE_RACY_NS = 50_000_000
_now_ns = time.time_ns  # the wall clock that filesystems stamp mtimes with

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    sort_key TEXT NOT NULL,
    stamp TEXT NOT NULL,
    timestamp TEXT,
    status TEXT NOT NULL,
    style_id TEXT,
    model TEXT,
    brief TEXT,
    num_images INTEGER,
    succeeded INTEGER,
    cost_usd REAL NOT NULL DEFAULT 0,
    parent_run_id TEXT,
    kind TEXT,
    favourite INTEGER NOT NULL DEFAULT 0,
    summary TEXT NOT NULL,
    meta_mtime_ns INTEGER,
    meta_size INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (sort_key);
CREATE INDEX IF NOT EXISTS runs_by_stamp ON runs (stamp, sort_key);
CREATE INDEX IF NOT EXISTS runs_by_style ON runs (style_id, sort_key);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, sort_key);
CREATE INDEX IF NOT EXISTS runs_by_parent ON runs (parent_run_id, sort_key);
CREATE INDEX IF NOT EXISTS runs_by_favourite ON runs (favourite, sort_key);
CREATE INDEX IF NOT EXISTS runs_by_cost ON runs (cost_usd, sort_key);
-- Folders without readable metadata (yet): checked again at every refresh, never listed.
CREATE TABLE IF NOT EXISTS pending (run_id TEXT PRIMARY KEY, meta_mtime_ns INTEGER, meta_size INTEGER);
CREATE TABLE IF NOT EXISTS run_models (
    model TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (model, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sketches (
    id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    status TEXT,
    file TEXT,
    model TEXT,
    layout TEXT,
    exaggeration TEXT,
    cost_usd REAL,
    PRIMARY KEY (id, idx)
) WITHOUT ROWID;
-- What each run was billed on each UTC day (the start day, and each resume's): spend by day.
CREATE TABLE IF NOT EXISTS charges (
    day TEXT NOT NULL,
    id INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    PRIMARY KEY (day, id)
) WITHOUT ROWID;
-- rowid = runs.id. Rowids only, no positions (detail=none): the history asks "all these words",
-- never a phrase, and an AND of two words over 100,000 briefs takes half the time.
CREATE VIRTUAL TABLE IF NOT EXISTS briefs USING fts5 (brief, detail=none);
"""

SORTS = {
    "newest": "sort_key DESC",
    "oldest": "sort_key ASC",
    "cost": "cost_usd DESC, sort_key DESC",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(r"[^\W_]+")  # letters and digits, as FTS5's unicode61 tokenizer splits
_PRUNE = "DELETE FROM {table} WHERE id IN (SELECT id FROM runs WHERE run_id = ?)"


def sort_key(run_id: str) -> str:
    """Orders run ids as they were made: ``20261201_101500`` < ``..._2`` < ``..._10``."""
    stamp, n = run_id[:15], run_id[16:]
    return f"{stamp}_{int(n) if n else 1:05d}"


class CatalogUnavailable(Exception):
    """The catalog file cannot be opened or written here; callers read the folders instead.

    ``broken``: the file is there but is no SQLite database (or a damaged one), so it can be
    thrown away and built again from the folders."""

    def __init__(self, message: str, *, broken: bool = False) -> None:
        super().__init__(message)
        self.broken = broken


# A file that is not a database, or a damaged one: the catalog is rebuilt rather than given up on.
_BROKEN_CODES = frozenset({sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT})


class RunCatalog:
    """The catalog of one outputs folder. Thread-safe; one SQLite connection per thread."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / CATALOG_NAME
        self._local = threading.local()
        self._lock = threading.Lock()  # one refresh at a time in this process
        self._stale: set[str] = set()
        self._stale_lock = threading.Lock()
        self._last_sweep = time.monotonic()  # a fresh catalog has just read everything it knows
        self._sweeping = False
        self._building = False  # this process is building the catalog in several batches: readers may skip it
        self._build_held = False  # this process holds the build lock
        self._build_mutex = threading.Lock()  # the build lock and _build_held change together
        try:
            self._db().executescript(_SCHEMA)  # executescript commits on its own: outside a transaction
            with self._write() as db:
                version = db.execute("SELECT value FROM info WHERE key = 'schema'").fetchone()
                if version is None:
                    db.execute("INSERT INTO info VALUES ('schema', ?)", (str(_SCHEMA_VERSION),))
                elif int(version[0]) != _SCHEMA_VERSION:  # made by another sketchgen: built again
                    raise CatalogUnavailable(
                        f"catalog schema {version[0]} is not {_SCHEMA_VERSION}", broken=True
                    )
        except (sqlite3.Error, OSError) as exc:
            self.close()
            broken = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF in _BROKEN_CODES  # primary code
            raise CatalogUnavailable(str(exc), broken=broken) from exc
        self.inode = _inode(self.path)

    # -- connections ------------------------------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(
                self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=True
            )
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, kind, exc, tb) -> None:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")

    def _write(self) -> RunCatalog._Tx:
        return RunCatalog._Tx(self._db())

    # -- keeping in step --------------------------------------------------------------------------
    def mark_stale(self, run_id: str) -> None:
        with self._stale_lock:
            self._stale.add(run_id)

    def refresh(self, *, full: bool = False) -> None:
        """Bring the catalog in step with the folders (see the module docstring for what is read).

        While this process builds the catalog this waits for the build; while another process
        builds it, nothing is read: the build will have every folder."""
        if self._built_elsewhere():
            return
        with self._lock:
            self._refresh_locked(full=full)

    def _built_elsewhere(self) -> bool:
        """Another process holds the build lock. Asked under the mutex that this process's own
        builder takes and lets go of it under, so its build is never mistaken for another's."""
        with self._build_mutex:
            return not self._build_held and LOCKS_SUPPORTED and run_is_live(self.root, BUILD_LOCK_NAME)

    @contextmanager
    def _build(self, runs: int) -> Iterator[bool]:
        """Hold the build lock for a build of ``runs`` folders; yields False when another process
        holds it (it is building: leave the folders to it). A build of more than one batch is said to
        this process's readers too, which then need not wait for it; a smaller one is waited for."""
        if self._build_held:  # a rebuild's own refresh
            yield True
            return
        lock = RunLock(self.root, BUILD_LOCK_NAME)
        with self._build_mutex:
            try:
                lock.acquire()
            except RunLockedError:
                mine = False
            else:
                mine = self._build_held = True
                self._building = runs > _BATCH_RUNS
        if not mine:
            yield False
            return
        try:
            yield True
        finally:
            with self._build_mutex:
                self._building = self._build_held = False
                lock.release()

    def build_state(self) -> dict[str, Any]:
        """``{"building": bool, "indexed": n}``: whether the catalog is being built from the folders
        now (by this process or another), so that a list read from it may be short, and while it is,
        how many runs it holds so far (``indexed`` is None otherwise)."""
        building = self._building or self._built_elsewhere()
        indexed = self._db().execute("SELECT COUNT(*) FROM runs").fetchone()[0] if building else None
        return {"building": building, "indexed": indexed}

    def _refresh_locked(self, *, full: bool = False) -> None:
        from generate.runs import RUN_ID_PATTERN

        db = self._db()
        root_mtime = _mtime_ns(self.root)
        known_mtime = db.execute("SELECT value FROM info WHERE key = 'root_mtime'").fetchone()
        with self._stale_lock:
            stale, self._stale = self._stale, set()
        if full or known_mtime is None or int(known_mtime[0]) != root_mtime:
            on_disk = {e.name for e in os.scandir(self.root) if RUN_ID_PATTERN.match(e.name)}
            if not stat_vouches(root_mtime):
                # A folder made later in this same tick would leave the mtime as it is.
                root_mtime = -1
            known = {r[0] for r in db.execute("SELECT run_id FROM runs UNION SELECT run_id FROM pending")}
            gone, new = known - on_disk, on_disk - known
            if gone:
                with self._write() as tx:
                    for run_id in gone:
                        _delete(tx, run_id)
            if new and (not known or len(new) > _BATCH_RUNS):
                # An empty catalog, or one that a build left part-filled (its process died or was
                # stopped; the OS let its lock go): the folders it lacks are read as a build, said
                # to readers and left to no other process, not in one silent wait of minutes.
                with self._build(len(new)) as mine:
                    if not mine:  # another process is building it: its build reads every folder
                        with self._stale_lock:
                            self._stale |= stale
                        return
                    # Fresh (nothing to replace) only when empty: rows may have come meanwhile.
                    self._read_runs(sorted(new), fresh=not known)
            elif known:
                stale |= new
            with self._write() as tx:
                tx.execute("INSERT OR REPLACE INTO info VALUES ('root_mtime', ?)", (str(root_mtime),))
        unsettled = db.execute(
            "SELECT run_id, status, meta_mtime_ns, meta_size FROM runs WHERE status IN (?, ?)"
            " UNION ALL SELECT run_id, '', meta_mtime_ns, meta_size FROM pending",
            _UNSETTLED,
        ).fetchall()
        for row in unsettled:
            if row["status"] == "running" and not run_is_live(self.root / row["run_id"]):
                stale.add(row["run_id"])
            elif _meta_stat(self.root / row["run_id"]) != (row["meta_mtime_ns"], row["meta_size"]):
                stale.add(row["run_id"])
        if full:
            stale |= self._changed_since_read()
        elif time.monotonic() - self._last_sweep >= SWEEP_INTERVAL_S and not self._sweeping:
            # Off the query's path: a pass of stats over every run takes a while at 100,000.
            self._sweeping = True
            threading.Thread(target=self._sweep, name="sketchgen-catalog-sweep", daemon=True).start()
        if stale:
            self._read_runs(sorted(stale))

    def _changed_since_read(self, *, pause_s: float = 0.0) -> set[str]:
        """The runs whose metadata.json is not the one last read (one stat per run).

        ``pause_s``: sleep that long after every :data:`SWEEP_CHUNK` stats, so that a background
        sweep of 100,000 runs hands the interpreter back to the queries it runs beside."""
        rows = self._db().execute("SELECT run_id, meta_mtime_ns, meta_size FROM runs").fetchall()
        changed = set()
        for start in range(0, len(rows), SWEEP_CHUNK):
            for row in rows[start : start + SWEEP_CHUNK]:
                if _meta_stat(self.root / row["run_id"]) != (row["meta_mtime_ns"], row["meta_size"]):
                    changed.add(row["run_id"])
            if pause_s:
                time.sleep(pause_s)
        return changed

    def _sweep(self) -> None:
        try:
            changed = self._changed_since_read(pause_s=SWEEP_PAUSE_S)
            with self._stale_lock:
                self._stale |= changed
        except (sqlite3.Error, OSError) as exc:
            log.warning("run catalog sweep of %s failed: %s", self.root, exc)
        finally:
            self._last_sweep = time.monotonic()
            self._sweeping = False
            self.close()  # this thread's connection

    def _read_runs(self, run_ids: Iterable[str], *, fresh: bool = False) -> None:
        """Read these runs' folders and write their rows, in batches of one transaction each
        (``fresh``: the catalog holds none of them, so there is nothing to replace)."""
        batch: list[tuple[str, dict[str, Any] | None, tuple[int, int] | None, bool]] = []
        for run_id in run_ids:
            batch.append(_read_folder(self.root, run_id))
            if len(batch) >= _BATCH_RUNS:
                self._store(batch, fresh=fresh)
                batch = []
        if batch:
            self._store(batch, fresh=fresh)

    def _store(self, batch, *, fresh: bool = False) -> None:
        with self._write() as tx:
            for run_id, summary, stat, favourite in batch:
                if not fresh:
                    _delete(tx, run_id)
                if summary is None and not (self.root / run_id).is_dir():
                    continue  # gone meanwhile
                _insert(tx, run_id, summary, stat, favourite)

    def set_favourite(self, run_id: str, favourite: bool) -> None:
        """Star or unstar a run: a marker file in its folder (the truth), then the row."""
        from generate.runs import run_dir

        folder = run_dir(run_id, self.root)
        marker = folder / FAVOURITE_MARKER
        if favourite:
            marker.touch()
        else:
            marker.unlink(missing_ok=True)
        with self._write() as tx:
            # The stored summary says it too (the history returns it as is).
            tx.execute(
                "UPDATE runs SET favourite = ?, summary = json_set(summary, '$.favourite', json(?))"
                " WHERE run_id = ?",
                (int(favourite), "true" if favourite else "false", run_id),
            )

    def forget(self, run_id: str) -> None:
        """Drop a run's rows at once (its folder was just removed; a refresh would notice too)."""
        with self._write() as tx:
            _delete(tx, run_id)

    # -- queries ----------------------------------------------------------------------------------
    def query(
        self,
        *,
        style: str | None = None,
        models: Iterable[str] = (),
        status: str | None = None,
        lo: str | None = None,
        hi: str | None = None,
        text: str | None = None,
        favourite: bool | None = None,
        parent: str | None = None,
        sort: str = "newest",
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Summaries matching every filter given, in ``sort`` order (see :data:`SORTS`).

        ``lo``/``hi`` are run-id time prefixes (``YYYYMMDD_HHMMSS``), inclusive; ``text`` is a
        full-text search over briefs (every word must match; a word may be a prefix: ``golf*``).
        """
        where, args = self._where(style, models, status, lo, hi, text, favourite, parent)
        order = SORTS.get(sort)
        if order is None:
            raise ValueError(f"unknown sort {sort!r}; use one of: {', '.join(SORTS)}")
        # The page's ids come from an index alone (the offset walks index entries, not summaries);
        # only the page's summaries are read.
        sql = (
            f"SELECT summary FROM runs WHERE id IN (SELECT id FROM runs {where} ORDER BY {order} LIMIT ? OFFSET ?)"
            f" ORDER BY {order}"
        )
        rows = self._db().execute(sql, [*args, int(limit), int(offset)]).fetchall()
        return [json.loads(r[0]) for r in rows]

    @staticmethod
    def _where(style, models, status, lo, hi, text, favourite, parent) -> tuple[str, list[Any]]:
        clauses, args = [], []
        if style:
            clauses.append("style_id = ?")
            args.append(style)
        models = [m for m in models if m]
        if models:
            clauses.append(
                f"id IN (SELECT id FROM run_models WHERE model IN ({','.join('?' * len(models))}))"
            )
            args.extend(models)
        if status:
            clauses.append("status = ?")
            args.append(status)
        if lo:
            clauses.append("stamp >= ?")
            args.append(lo)
        if hi:
            clauses.append("stamp <= ?")
            args.append(hi)
        if text:
            clauses.append("id IN (SELECT rowid FROM briefs WHERE briefs MATCH ?)")
            args.append(fts_query(text))
        if favourite is not None:
            clauses.append("favourite = ?")
            args.append(int(bool(favourite)))
        if parent:
            clauses.append("parent_run_id = ?")
            args.append(parent)
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", args

    def children(self, run_id: str) -> list[dict[str, Any]]:
        return self.query(parent=run_id, sort="oldest", limit=10_000)

    def all(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT summary FROM runs ORDER BY sort_key")
        return [json.loads(r[0]) for r in rows]

    @staticmethod
    def _days(lo: str | None, hi: str | None) -> tuple[str, list[str]]:
        clauses = [c for c, v in (("c.day >= ?", lo), ("c.day <= ?", hi)) if v]
        return ("WHERE " + " AND ".join(clauses)) if clauses else "", [v for v in (lo, hi) if v]

    def spend(self, lo: str | None = None, hi: str | None = None) -> float:
        """Recorded cost billed between two UTC days (``YYYY-MM-DD``, inclusive): each run's start
        day and each resume's day count what was billed on them (:func:`generate.spend.billed_days`)."""
        where, args = self._days(lo, hi)
        return float(
            self._db().execute(f"SELECT TOTAL(c.cost_usd) FROM charges c {where}", args).fetchone()[0]
        )

    def spend_by_model(self, lo: str | None = None, hi: str | None = None) -> dict[str, float]:
        """:meth:`spend` per model (the run's recorded model; runs that cost nothing left out)."""
        where, args = self._days(lo, hi)
        where = f"{where} AND c.cost_usd > 0" if where else "WHERE c.cost_usd > 0"
        rows = self._db().execute(
            "SELECT COALESCE(r.model, ''), TOTAL(c.cost_usd) FROM charges c JOIN runs r ON r.id = c.id"
            f" {where} GROUP BY 1 ORDER BY 2 DESC",
            args,
        )
        return {name or "unknown": float(total) for name, total in rows}

    def billed_on(self, day: str) -> list[str]:
        """The runs billed anything on UTC day ``day`` (``YYYY-MM-DD``): started or resumed then."""
        rows = self._db().execute(
            "SELECT r.run_id FROM charges c JOIN runs r ON r.id = c.id WHERE c.day = ?", (day,)
        )
        return [r[0] for r in rows]

    def rebuild(self) -> int:
        """Forget every row and read every folder again; returns the number of runs catalogued.

        :class:`CatalogUnavailable` when another process is building the catalog now."""
        from generate.runs import RUN_ID_PATTERN

        folders = sum(1 for e in os.scandir(self.root) if RUN_ID_PATTERN.match(e.name))
        with self._lock, self._build(folders) as mine:
            if not mine:
                raise CatalogUnavailable("the run catalog is being built by another process; try again later")
            with self._write() as tx:
                for table in ("runs", "pending", "run_models", "sketches", "charges", "briefs"):
                    tx.execute(f"DELETE FROM {table}")
                tx.execute("DELETE FROM info WHERE key = 'root_mtime'")
            self._refresh_locked(full=True)
        db = self._db()
        # The whole catalog has just gone through the write-ahead log: fold it into the file now,
        # so the next readers do not look every page up in a log of hundreds of megabytes.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


def fts_query(text: str) -> str:
    """A user's words as an FTS5 query: each word quoted (no operator can be injected), all required;
    a trailing ``*`` keeps its prefix meaning."""
    terms = []
    # Control characters separate words, as the index's tokenizer takes them; a NUL left in would
    # end the query string inside SQLite ("unterminated string"). A word the tokenizer would split
    # ("golf-club") becomes its tokens, each required: the index keeps no positions for phrases.
    for word in _CONTROL.sub(" ", text).split():
        prefix = word.endswith("*")
        tokens = _TOKEN.findall(word.rstrip("*"))
        for i, token in enumerate(tokens):
            last = i == len(tokens) - 1
            terms.append(f'"{token}"' + ("*" if prefix and last else ""))
    if not terms:
        raise ValueError("the search text has no words")
    return " ".join(terms)


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def stat_vouches(mtime_ns: int | None) -> bool:
    """Whether a stat showing ``mtime_ns``, taken just before the read it stands for, tells a
    later change from what was read (the filesystem's clock has ticked since; see RACY_NS).
    A cache keyed on mtimes keeps a read only when this is true."""
    if mtime_ns is None:
        return False
    window = RACY_NS if mtime_ns % 1_000_000_000 == 0 else FINE_RACY_NS
    return _now_ns() - mtime_ns >= window


def _meta_stat(folder: Path) -> tuple[int, int] | None:
    try:
        st = (folder / "metadata.json").stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _read_folder(root: Path, run_id: str):
    """(run_id, summary or None, metadata stat or None, favourite) for one folder, as on disk now."""
    from generate.runs import load_run, run_models, run_summary

    folder = root / run_id
    stat = _meta_stat(folder)  # before the read: a change after it shows as a stat that differs
    try:
        meta = load_run(run_id, root)
    except KeyError:
        meta = None
    if stat is not None and not stat_vouches(stat[0]):
        stat = (None, stat[1])  # never equal to a stat taken later: read again at the next check
    if meta is None:
        return run_id, None, stat, False
    summary = run_summary(meta)
    summary["models"] = sorted(run_models(summary, meta))
    summary["sketches"] = [
        {
            "index": img.get("index"),
            "status": img.get("status"),
            "file": img.get("file"),
            "model": img.get("model"),
            "layout": (img.get("variation") or {}).get("layout"),
            "exaggeration": (img.get("variation") or {}).get("exaggeration"),
            "cost_usd": img.get("cost_usd"),
        }
        for img in meta.get("sketches") or []
        if isinstance(img, dict)
    ]
    return run_id, summary, stat, (folder / FAVOURITE_MARKER).exists()


def _delete(db: sqlite3.Connection, run_id: str) -> None:
    for table in ("run_models", "sketches", "charges"):
        db.execute(_PRUNE.format(table=table), (run_id,))
    db.execute("DELETE FROM briefs WHERE rowid IN (SELECT id FROM runs WHERE run_id = ?)", (run_id,))
    db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
    db.execute("DELETE FROM pending WHERE run_id = ?", (run_id,))


def _insert(db, run_id: str, summary: dict[str, Any] | None, stat, favourite: bool) -> None:
    mtime, size = stat if stat is not None else (None, None)
    if summary is None:  # a folder without readable metadata (yet): checked again, never listed
        db.execute("INSERT INTO pending VALUES (?, ?, ?)", (run_id, mtime, size))
        return
    sketches = summary.pop("sketches", [])
    models = summary.pop("models", [])
    billed = summary.get("billed") or {}
    summary["favourite"] = favourite
    parent = (summary.get("parent") or {}).get("run_id")
    cursor = db.execute(
        "INSERT INTO runs (run_id, sort_key, stamp, timestamp, status, style_id, model, brief, num_images,"
        " succeeded, cost_usd, parent_run_id, kind, favourite, summary, meta_mtime_ns, meta_size)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            sort_key(run_id),
            run_id[:15],
            summary.get("timestamp"),
            summary.get("status") or "",
            summary.get("style_id"),
            summary.get("model"),
            summary.get("brief"),
            summary.get("num_images"),
            summary.get("succeeded"),
            float(summary.get("cost_usd") or 0.0),
            parent,
            summary.get("kind"),
            int(favourite),
            json.dumps(summary, default=str),
            mtime,
            size,
        ),
    )
    row_id = cursor.lastrowid
    db.executemany("INSERT OR IGNORE INTO run_models VALUES (?, ?)", [(m, row_id) for m in models])
    db.executemany(
        "INSERT OR REPLACE INTO charges VALUES (?, ?, ?)", [(d, row_id, float(c)) for d, c in billed.items()]
    )
    db.executemany(
        "INSERT OR REPLACE INTO sketches VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                row_id,
                s["index"] if isinstance(s["index"], int) else i,
                s["status"],
                s["file"],
                s["model"],
                s["layout"],
                s["exaggeration"],
                s["cost_usd"],
            )
            for i, s in enumerate(sketches)
        ],
    )
    if summary.get("brief"):
        db.execute("INSERT INTO briefs (rowid, brief) VALUES (?, ?)", (row_id, summary["brief"]))


_CATALOGS: dict[Path, RunCatalog | None] = {}
_UNAVAILABLE_SINCE: dict[Path, float] = {}  # root -> when its catalog last failed to open (monotonic)
_CATALOGS_LOCK = threading.Lock()


def _open(root: Path) -> RunCatalog:
    """The catalog of ``root``; a catalog file that is not a database (garbage, a damaged copy) is
    removed and built again from the folders, which hold everything it knew (a favourite too)."""
    try:
        return RunCatalog(root)
    except CatalogUnavailable as exc:
        if not exc.broken:
            raise
        log.warning("run catalog in %s is unreadable (%s); rebuilding it from the run folders", root, exc)
        for name in (CATALOG_NAME, CATALOG_NAME + "-wal", CATALOG_NAME + "-shm"):
            try:
                (root / name).unlink(missing_ok=True)
            except OSError as gone:
                raise CatalogUnavailable(f"cannot remove the unreadable {name}: {gone}") from gone
        return RunCatalog(root)


def catalog_for(root: Path | str) -> RunCatalog | None:
    """The catalog of the outputs folder ``root`` (one per folder per process), refreshed; None when
    the folder cannot hold one (then read the folders)."""
    root = Path(root).resolve()
    with _CATALOGS_LOCK:
        known = _CATALOGS.get(root)
        if known is not None and _inode(known.path) != known.inode:
            # The file was deleted or replaced under us (the folder removed and made again, or
            # the catalog deleted to be rebuilt): start over on the file that is there now.
            known.close()
            del _CATALOGS[root]
        failed = _UNAVAILABLE_SINCE.get(root)
        if _CATALOGS.get(root) is None and (failed is None or time.monotonic() - failed >= RETRY_S):
            # Tried again now and then: a lock another process held, or a folder made writable,
            # must not leave a long-lived service reading every folder for the rest of its life.
            try:
                _CATALOGS[root] = _open(root)
                _UNAVAILABLE_SINCE.pop(root, None)
            except CatalogUnavailable as exc:
                level = logging.WARNING if failed is None else logging.DEBUG  # said once is enough
                log.log(
                    level, "run catalog unavailable in %s (%s); reading the run folders instead", root, exc
                )
                _CATALOGS[root] = None
                _UNAVAILABLE_SINCE[root] = time.monotonic()
        catalog = _CATALOGS.get(root)
    if catalog is not None:
        try:
            catalog.refresh()
        except (sqlite3.Error, OSError) as exc:
            log.warning("run catalog in %s could not be refreshed (%s); reading the run folders", root, exc)
            return None
    return catalog


def building_catalog(root: Path | str) -> RunCatalog | None:
    """The catalog of ``root`` while this process builds it in several batches (then a query reads
    the part built so far, without waiting for the rest); None otherwise."""
    catalog = _CATALOGS.get(Path(root).resolve())
    return catalog if catalog is not None and catalog._building else None


def catalog_state(root: Path | str) -> dict[str, Any] | None:
    """:meth:`RunCatalog.build_state` of the catalog this process keeps for ``root``; None when it keeps
    none (not opened yet, or the folders are read instead)."""
    catalog = _CATALOGS.get(Path(root).resolve())
    if catalog is None:
        return None
    try:
        return catalog.build_state()
    except (sqlite3.Error, OSError) as exc:
        log.warning("run catalog in %s could not be read (%s)", root, exc)
        return None


def note_written(folder: Path) -> None:
    """A run folder's metadata was just written by this process: read it again at the next query."""
    folder = Path(folder)
    catalog = _CATALOGS.get(folder.parent.resolve())
    if catalog is not None:
        catalog.mark_stale(folder.name)


def reindex(root: Path | str) -> int:
    """Rebuild the catalog of ``root`` from its run folders; returns how many runs it holds."""
    root = Path(root).resolve()
    with _CATALOGS_LOCK:
        catalog = _CATALOGS.get(root)
        if catalog is None or _inode(catalog.path) != catalog.inode:
            catalog = _CATALOGS[root] = _open(root)  # CatalogUnavailable says why not
            _UNAVAILABLE_SINCE.pop(root, None)
    return catalog.rebuild()
