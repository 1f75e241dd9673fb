"""Run folders: creation, atomic writes, and the run history.

One run, one folder: ``<root>/YYYYMMDD_HHMMSS`` in local time, made with an exclusive ``mkdir`` so
two runs in the same second get ``_2``, ``_3``... and never share a folder. The folder name is the
run id, and the run's ``timestamp`` comes from the same clock reading.

Every file is written to a temporary name in the same folder and renamed into place, so a reader
(or a crash) never sees half a file; ``metadata.json`` is valid JSON at every instant.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from generate.redact import redact
from generate.run_lock import run_is_live
from generate.types import default_output_root

__all__ = [
    "create_run_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "redact_secrets",
    "list_runs",
    "scan_runs",
    "run_summary",
    "run_models",
    "load_run",
    "note_child",
    "run_children",
    "run_tree",
    "run_dir",
    "run_file",
    "RUN_ID_PATTERN",
]

_TOKEN = re.compile(r"[^\W_]+")  # a word as the catalog's full-text index splits briefs
RUN_ID_PATTERN = re.compile(r"^\d{8}_\d{6}(?:_\d{1,4})?$")


def create_run_dir(root: Path | str | None = None) -> tuple[str, Path, datetime]:
    """Create a new, unique run folder; returns (run_id, path, the local time it names)."""
    root = Path(root) if root is not None else default_output_root()
    root.mkdir(parents=True, exist_ok=True)
    now = datetime.now().astimezone()
    base = now.strftime("%Y%m%d_%H%M%S")
    for n in range(1, 10_000):
        run_id = base if n == 1 else f"{base}_{n}"
        path = root / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return run_id, path.resolve(), now
    raise RuntimeError(f"could not create a run folder under {root}")


def atomic_write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a part.

    ``durable`` also fsyncs before the rename (survives a power cut); progress updates that a later
    write supersedes skip it.
    """
    # A name unique to this process and thread; O_EXCL still refuses to reuse a stale one.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def redact_secrets(text: str) -> str:
    """Replace every known secret value, wherever it appears (see :mod:`generate.redact`)."""
    return redact(text)


def atomic_write_json(path: Path, data: Any, *, durable: bool = True) -> None:
    text = json.dumps(data, indent=2, ensure_ascii=False, default=_json_default)
    atomic_write_bytes(path, redact(text).encode("utf-8"), durable=durable)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def run_dir(run_id: str, root: Path | str | None = None) -> Path:
    """The resolved folder of ``run_id``; KeyError if the id is malformed or unknown.

    Never a path outside ``root``: the folder, symlinks followed, must be a direct child of the
    resolved root (a run folder that is a symlink pointing elsewhere is unknown). Every reader of a
    run (the history, ``load_run``, the HTTP service's routes) goes through this rule.
    """
    if not RUN_ID_PATTERN.match(run_id or ""):
        raise KeyError(run_id)
    root = Path(root) if root is not None else default_output_root()
    try:
        base = root.resolve(strict=True)
        path = (root / run_id).resolve(strict=True)
    except (OSError, RuntimeError):
        raise KeyError(run_id) from None
    if path.parent != base or not path.is_dir():
        raise KeyError(run_id)
    return path


def run_file(folder: Path, name: str) -> Path | None:
    """``folder / name`` resolved, if it is a regular file *directly* in the resolved run ``folder``
    (so a symlink inside the folder that points anywhere else is refused); else None."""
    try:
        target = (folder / name).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if target.parent != folder or not target.is_file():
        return None
    return target


def _read_metadata(folder: Path, run_id: str) -> dict[str, Any]:
    path = run_file(folder, "metadata.json")
    if path is None:
        raise KeyError(run_id)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise KeyError(run_id) from None
    if not isinstance(meta, dict):
        raise KeyError(run_id)
    return meta


def load_run(run_id: str, root: Path | str | None = None) -> dict[str, Any]:
    """The run's metadata.json as a dict; KeyError if unknown, or if the folder or the file leads
    outside the output root (see :func:`run_dir`, :func:`run_file`).

    A run recorded ``running`` whose process is gone (nobody holds its lock, see
    :mod:`generate.run_lock`) comes back with ``status: "interrupted"``; the file is not changed.
    """
    folder = run_dir(run_id, root)
    meta = _read_metadata(folder, run_id)
    if meta.get("status") == "running" and not run_is_live(folder):
        # The lock is let go right after the final metadata is written: read again, so that a run
        # settling at this instant shows its final status rather than "interrupted".
        meta = _read_metadata(folder, run_id)
        if meta.get("status") == "running":
            meta["status"] = "interrupted"
    return meta


def run_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """The history's view of one run's metadata (what ``list_runs`` returns per run); ``billed`` is
    what it was billed on each UTC day (:func:`generate.spend.billed_days`)."""
    from generate.spend import billed_days, recorded_usd

    totals = meta.get("totals", {})
    config = meta.get("config", {})
    return {
        "run_id": meta.get("run_id"),
        "timestamp": meta.get("timestamp"),
        "status": meta.get("status"),
        "style_id": meta.get("style_id"),
        "model": config.get("model_name"),
        "brief": (meta.get("prompt_spec") or {}).get("brief"),
        "num_images": config.get("num_images"),
        "succeeded": totals.get("succeeded", 0),
        "failed": totals.get("failed", 0),
        "cancelled": totals.get("cancelled", 0),
        "cost_usd": recorded_usd(totals.get("cost_usd")),
        "billed": billed_days(meta),
        "images": meta.get("images", []),
        "contact_sheet": meta.get("contact_sheet"),
        "parent": meta.get("parent"),
        "kind": (meta.get("iteration") or {}).get("kind") or "generate",
    }


def _parse_bound(value: str | datetime | None, *, end: bool) -> str | None:
    """Normalise a date bound to a comparable run-id prefix (YYYYMMDD_HHMMSS)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d_%H%M%S")
    text = str(value).strip()
    try:
        if len(text) == 10:  # YYYY-MM-DD: the whole day
            day = datetime.strptime(text, "%Y-%m-%d")
            return day.strftime("%Y%m%d_") + ("235959" if end else "000000")
        return datetime.fromisoformat(text).strftime("%Y%m%d_%H%M%S")
    except ValueError:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD or an ISO 8601 time)") from None


def list_runs(
    root: Path | str | None = None,
    *,
    style: str | None = None,
    model: str | None = None,
    status: str | None = None,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    text: str | None = None,
    favourite: bool | None = None,
    sort: str = "newest",
    limit: int = 50,
    offset: int = 0,
    wait: bool = True,
) -> list[dict[str, Any]]:
    """Past runs as summary dicts (newest first unless ``sort`` says ``oldest`` or ``cost``).

    ``model`` matches the model requested or used, by id or alias: ``nano-banana`` finds the runs
    of the catalog id it names, and that id finds runs requested as ``nano-banana``. ``text``
    searches the briefs (every word must appear; ``golf*`` matches a prefix). ``favourite`` keeps
    only starred (True) or unstarred (False) runs. Answered by the run catalog
    (:mod:`generate.run_catalog`); where it cannot be kept, by reading the folders. ``wait=False``:
    while this process is building the catalog from the folders, answer from the part built so far
    instead of waiting (:func:`generate.run_catalog.catalog_state` says whether it is building).
    """
    from generate.run_catalog import SORTS, building_catalog, catalog_for, fts_query

    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; use one of: {', '.join(SORTS)}")
    if text is not None and text.strip() == "":
        text = None
    if text is not None:
        fts_query(text)  # the same "no words" error either way
    root = Path(root) if root is not None else default_output_root()
    if not root.is_dir():
        return []
    lo, hi = _parse_bound(since, end=False), _parse_bound(until, end=True)
    catalog = (None if wait else building_catalog(root)) or catalog_for(root)
    if catalog is not None:
        return catalog.query(
            style=style,
            models=_model_names(model) if model else (),
            status=status,
            lo=lo,
            hi=hi,
            text=text,
            favourite=favourite,
            sort=sort,
            limit=limit,
            offset=offset,
        )
    return scan_runs(
        root,
        style=style,
        model=model,
        status=status,
        lo=lo,
        hi=hi,
        text=text,
        favourite=favourite,
        sort=sort,
        limit=limit,
        offset=offset,
    )


def scan_runs(
    root: Path,
    *,
    style: str | None = None,
    model: str | None = None,
    status: str | None = None,
    lo: str | None = None,
    hi: str | None = None,
    text: str | None = None,
    favourite: bool | None = None,
    sort: str = "newest",
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """:func:`list_runs` by reading every folder's metadata (no catalog): the fallback where the
    catalog cannot be kept, and the baseline its benchmark measures against."""
    from generate.run_catalog import FAVOURITE_MARKER

    wanted_models = _model_names(model) if model else set()
    # Word matching as the catalog's full-text index does it: whole words, ``golf*`` a prefix.
    terms = []
    for word in (text or "").split():
        tokens = _TOKEN.findall(word.rstrip("*").lower())
        terms += [(t, word.endswith("*") and i == len(tokens) - 1) for i, t in enumerate(tokens)]
    ids = _run_ids(root, newest_first=sort != "oldest")
    out: list[dict[str, Any]] = []
    skipped = 0
    for run_id in ids:
        stamp = run_id[:15]
        if (lo and stamp < lo) or (hi and stamp > hi):
            continue
        try:
            meta = load_run(run_id, root)
        except KeyError:
            continue
        summary = run_summary(meta)
        if style and summary["style_id"] != style:
            continue
        if wanted_models and not wanted_models & run_models(summary, meta):
            continue
        if status and summary["status"] != status:
            continue
        words = _TOKEN.findall((summary["brief"] or "").lower())
        if terms and not all(any(w.startswith(t) if p else w == t for w in words) for t, p in terms):
            continue
        summary["favourite"] = (root / run_id / FAVOURITE_MARKER).exists()
        if favourite is not None and summary["favourite"] != favourite:
            continue
        if sort == "cost":
            out.append(summary)
            continue
        if skipped < offset:
            skipped += 1
            continue
        out.append(summary)
        if len(out) >= limit:
            break
    if sort == "cost":  # every match is needed to order by cost
        out.sort(key=lambda r: float(r["cost_usd"] or 0.0), reverse=True)
        out = out[offset : offset + limit]
    return out


@functools.lru_cache(maxsize=256)
def _model_names(name: str) -> frozenset[str]:
    """``name`` and, for a listed model's alias or id, the id it resolves to (lower case)."""
    from generate.models import listed_id

    names = {name.strip().lower()}
    listed = listed_id(name)
    if listed is not None:  # auto, an id no family lists: matched as written
        names.add(listed.lower())
    return frozenset(names)


def run_models(summary: dict[str, Any], meta: dict[str, Any]) -> set[str]:
    """Every name a model filter may find this run by: requested and used, ids and aliases, each
    model of a fallback chain and the model each sketch came from."""
    model = meta.get("model") or {}
    found: list[Any] = [
        summary["model"],
        model.get("used"),
        model.get("requested"),
        *(c.get("model") for c in model.get("chain") or () if isinstance(c, dict)),
    ]
    found += [s.get("model") for s in meta.get("sketches") or [] if isinstance(s, dict)]
    names = [n for m in found if m for n in (m if isinstance(m, list) else str(m).split(","))]
    return set().union(*(_model_names(str(n)) for n in names if str(n).strip()))


def _sort_key(run_id: str) -> tuple[str, int]:
    stamp, _, n = run_id[:15], run_id[15:16], run_id[16:]
    return stamp, int(n) if n else 1


def _run_ids(root: Path, *, newest_first: bool = False) -> list[str]:
    """The run folders' names under ``root`` in the order they were made (``_2`` after its twin)."""
    names = (p.name for p in root.iterdir() if RUN_ID_PATTERN.match(p.name))
    return sorted(names, key=_sort_key, reverse=newest_first)


def _all_summaries(root: Path) -> list[dict[str, Any]]:
    if not root.is_dir():
        return []
    from generate.run_catalog import catalog_for

    catalog = catalog_for(root)
    if catalog is not None:
        return catalog.all()
    out = []
    for run_id in _run_ids(root):
        try:
            out.append(run_summary(load_run(run_id, root)))
        except KeyError:
            continue
    return out


LINEAGE_DIR = ".lineage"  # <root>/.lineage/<parent run id>/<child run id>: empty marker files


def note_child(parent_id: str, child_id: str, root: Path | str | None = None) -> None:
    """Record that ``child_id`` is a refinement of ``parent_id`` (called when the child's folder is
    made), so :func:`run_children` reads the children's metadata only, not every run's.

    A marker, not the truth: the child's own ``metadata.json`` (its ``parent``) decides. Both ids
    are run ids (checked), so the marker never lands outside the lineage folder."""
    if not (RUN_ID_PATTERN.match(parent_id or "") and RUN_ID_PATTERN.match(child_id or "")):
        return
    root = Path(root) if root is not None else default_output_root()
    folder = root / LINEAGE_DIR / parent_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / child_id).touch()


def _index_older_children(root: Path) -> None:
    """Once per output folder: markers for the child runs made before markers existed (one full
    read of every run's metadata; ``.lineage/.indexed`` says it was done)."""
    done = root / LINEAGE_DIR / ".indexed"
    if done.exists() or not root.is_dir():
        return
    for summary in _all_summaries(root):
        parent = (summary.get("parent") or {}).get("run_id")
        if parent:
            note_child(parent, summary["run_id"], root)
    done.parent.mkdir(parents=True, exist_ok=True)
    done.touch()


def run_children(run_id: str, root: Path | str | None = None) -> list[dict[str, Any]]:
    """Summaries of the runs whose ``parent.run_id`` is ``run_id``, oldest first.

    Asked of the run catalog; without one, reads only the runs :func:`note_child` recorded for
    ``run_id`` (a marker whose run is gone or names another parent is passed over); the first
    such call on a folder also indexes older children."""
    if not RUN_ID_PATTERN.match(run_id or ""):
        return []
    root = Path(root) if root is not None else default_output_root()
    if not root.is_dir():
        return []
    from generate.run_catalog import catalog_for

    catalog = catalog_for(root)
    if catalog is not None:
        return catalog.children(run_id)
    _index_older_children(root)
    folder = root / LINEAGE_DIR / run_id
    try:
        ids = sorted((p.name for p in folder.iterdir() if RUN_ID_PATTERN.match(p.name)), key=_sort_key)
    except OSError:
        return []
    out = []
    for child_id in ids:
        try:
            summary = run_summary(load_run(child_id, root))
        except KeyError:
            continue
        if (summary.get("parent") or {}).get("run_id") == run_id:
            out.append(summary)
    return out


def run_tree(root: Path | str | None = None) -> list[dict[str, Any]]:
    """Every run as a tree of refinements: root runs (no parent, or a parent no longer on disk)
    oldest first, each summary with a ``children`` list of the same shape."""
    root = Path(root) if root is not None else default_output_root()
    nodes = {s["run_id"]: {**s, "children": []} for s in _all_summaries(root)}
    roots = []
    for node in nodes.values():
        parent = (node.get("parent") or {}).get("run_id")
        if parent in nodes and parent != node["run_id"]:
            nodes[parent]["children"].append(node)
        else:
            roots.append(node)
    return roots
