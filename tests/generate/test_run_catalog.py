"""The run catalog answers the history exactly as reading the folders would, and keeps in step."""

from __future__ import annotations

import fcntl
import itertools
import json
import sqlite3
import subprocess
import sys
import time

import pytest

import generate.run_catalog as run_catalog
from generate.run_catalog import CATALOG_NAME, CatalogUnavailable, catalog_for, note_written, reindex
from generate.run_lock import LOCK_NAME
from generate.runs import atomic_write_json, list_runs, scan_runs

BRIEFS = ["playful golf mascot", "stern owl crest", "golfing bear badge", "retro rocket poster"]
STYLES = ["vintage-mascot", "line-art"]
MODELS = ["trace", "nano-banana-pro", "gemini-2.5-flash-image"]
STATUSES = ["complete", "partial", "failed", "cancelled"]


def write_run(
    root,
    run_id,
    *,
    brief="b",
    style="vintage-mascot",
    model="trace",
    status="complete",
    cost=0.0,
    parent=None,
    requested=None,
):
    folder = root / run_id
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "run_id": run_id,
        "timestamp": f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T{run_id[9:11]}:{run_id[11:13]}:00",
        "status": status,
        "style_id": style,
        "config": {"model_name": requested or model, "num_images": 3},
        "model": {"requested": requested or model, "used": model},
        "prompt_spec": {"brief": brief},
        "totals": {"succeeded": 3, "failed": 0, "cancelled": 0, "cost_usd": cost},
        "images": [
            {
                "index": i,
                "status": "completed",
                "file": f"sketch_{i}.png",
                "model": model,
                "variation": {"layout": "centred", "exaggeration": "low"},
                "cost_usd": cost / 3,
            }
            for i in range(3)
        ],
        "parent": {"run_id": parent, "index": 0} if parent else None,
    }
    atomic_write_json(folder / "metadata.json", meta)
    return folder


@pytest.fixture
def history(tmp_path):
    """Forty runs across styles, models, statuses, days and briefs; two are starred, some refine others."""
    root = tmp_path / "outputs"
    combos = itertools.product(range(1, 6), range(8))
    for n, (day, k) in enumerate(combos):
        run_id = f"202611{day:02d}_1{k}0000" + ("_2" if n % 7 == 5 else "")
        parent = "20261101_100000" if day == 3 and k < 3 else None
        write_run(
            root,
            run_id,
            brief=BRIEFS[n % 4],
            style=STYLES[n % 2],
            model=MODELS[n % 3],
            status=STATUSES[n % 4],
            cost=round(0.134 * (n % 5), 3),
            parent=parent,
            requested="nano-banana-pro" if MODELS[n % 3] == "nano-banana-pro" and n % 2 else None,
        )
    for run_id in ("20261102_110000", "20261104_150000"):
        (root / run_id / ".favourite").touch()
    return root


FILTERS = [
    {},
    {"style": "line-art"},
    {"model": "nano-banana-pro"},
    {"model": "gemini-3-pro-image-preview"},  # the id the alias names
    {"status": "failed"},
    {"since": "2026-11-02", "until": "2026-11-03"},
    {"since": "2026-11-04T13:00:00"},
    {"text": "golf"},
    {"text": "golf*"},  # a prefix: golfing too
    {"text": "GOLF mascot"},
    {"favourite": True},
    {"favourite": False, "style": "vintage-mascot"},
    {"sort": "oldest"},
    {"sort": "cost"},
    {"style": "vintage-mascot", "status": "complete", "sort": "oldest"},
    {"limit": 5, "offset": 7},
    {"limit": 5, "offset": 38},
    {"sort": "cost", "limit": 3, "offset": 4},
]


@pytest.mark.parametrize(
    "filters", FILTERS, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all"
)
def test_the_catalog_answers_as_reading_every_folder_would(history, filters):
    from generate.runs import _parse_bound

    got = list_runs(history, **filters)
    scan_args = dict(filters)
    lo = _parse_bound(scan_args.pop("since", None), end=False)
    hi = _parse_bound(scan_args.pop("until", None), end=True)
    expected = scan_runs(history, lo=lo, hi=hi, **scan_args)
    assert catalog_for(history) is not None  # really answered by the catalog
    if filters.get("sort") == "cost":  # equal costs may come in either order: compare the costs
        assert [r["cost_usd"] for r in got] == [r["cost_usd"] for r in expected]
    else:
        assert [r["run_id"] for r in got] == [r["run_id"] for r in expected]
        assert got == expected
    assert got or filters.get("offset") == 38 or filters.get("model") is not None


def test_text_search_finds_words_not_substrings_and_takes_no_operators(history):
    assert {r["brief"] for r in list_runs(history, text="golf", limit=100)} == {"playful golf mascot"}
    assert {r["brief"] for r in list_runs(history, text="golf*", limit=100)} == {
        "playful golf mascot",
        "golfing bear badge",
    }
    # FTS5 syntax in a user's words is searched for, never run: no error, no match-everything.
    assert list_runs(history, text='golf" OR "owl') == []
    assert list_runs(history, text="NEAR(owl crest)") == []
    with pytest.raises(ValueError, match="no words"):
        list_runs(history, text="***")


def test_a_folder_written_by_another_process_is_picked_up(history):
    assert len(list_runs(history, limit=100)) == 40
    code = (
        "import sys; sys.path.insert(0, '.');"
        "from tests.generate.test_run_catalog import write_run; from pathlib import Path;"
        f"write_run(Path({str(history)!r}), '20261130_090000', brief='lighthouse keeper mug')"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=str(__import__("pathlib").Path.cwd()))
    newest = list_runs(history, limit=1)[0]
    assert newest["run_id"] == "20261130_090000"
    assert [r["run_id"] for r in list_runs(history, text="lighthouse")] == ["20261130_090000"]


def test_a_removed_folder_leaves_the_history(history):
    import shutil

    assert any(r["run_id"] == "20261105_170000" for r in list_runs(history, limit=100))
    shutil.rmtree(history / "20261105_170000")
    ids = [r["run_id"] for r in list_runs(history, limit=100)]
    assert "20261105_170000" not in ids and len(ids) == 39


def test_a_run_written_in_this_process_is_read_again_as_it_progresses(history):
    folder = history / "20261201_080000"
    folder.mkdir()
    with open(folder / LOCK_NAME, "w") as lock:  # held as a live writer holds it
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert list_runs(history, limit=1)[0]["run_id"] != "20261201_080000"  # no metadata yet
        write_run(history, "20261201_080000", status="running")
        note_written(folder)
        assert list_runs(history, limit=1)[0]["status"] == "running"
        meta = json.loads((folder / "metadata.json").read_text())
        meta["status"], meta["totals"]["cost_usd"] = "complete", 0.402
        atomic_write_json(folder / "metadata.json", meta)
        note_written(folder)
    first = list_runs(history, limit=1)[0]
    assert first["status"] == "complete" and first["cost_usd"] == 0.402


def test_a_run_whose_writer_died_is_listed_interrupted(history):
    write_run(history, "20261201_080000", status="running")  # nobody holds its lock
    assert list_runs(history, limit=1)[0]["status"] == "interrupted"
    assert [r["run_id"] for r in list_runs(history, status="interrupted")] == ["20261201_080000"]
    assert list_runs(history, status="running") == []


def test_a_settled_run_changed_by_another_process_is_caught_by_the_sweep(history, monkeypatch):
    list_runs(history)
    folder = history / "20261101_100000"
    meta = json.loads((folder / "metadata.json").read_text())
    meta["status"] = "partial"  # e.g. resumed elsewhere; no notice reaches this process
    atomic_write_json(folder / "metadata.json", meta)
    monkeypatch.setattr(run_catalog, "SWEEP_INTERVAL_S", 0.0)
    deadline = time.monotonic() + 60
    while True:  # the sweep runs off the query's path; give it a bounded while
        row = list_runs(history, since="2026-11-01", until="2026-11-01", sort="oldest", limit=1)[0]
        if row["status"] == "partial" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert row["status"] == "partial"


def test_reindex_rebuilds_a_deleted_or_broken_catalog(history):
    assert len(list_runs(history, limit=100)) == 40
    for name in (CATALOG_NAME, CATALOG_NAME + "-wal", CATALOG_NAME + "-shm"):
        (history / name).unlink(missing_ok=True)
    assert len(list_runs(history, limit=100)) == 40  # a new catalog, built from the folders
    db = sqlite3.connect(history / CATALOG_NAME)
    db.execute("DELETE FROM runs WHERE run_id LIKE '202611%'")
    db.commit()
    db.close()
    assert reindex(history) == 40
    assert len(list_runs(history, limit=100)) == 40


def test_without_a_catalog_the_history_reads_the_folders(history, monkeypatch):
    def refuse(self, root):
        raise CatalogUnavailable("read-only")

    monkeypatch.setattr(run_catalog.RunCatalog, "__init__", refuse)
    monkeypatch.setattr(run_catalog, "_CATALOGS", {})
    got = list_runs(history, text="owl", style="line-art")
    assert got and all("owl" in r["brief"] and r["style_id"] == "line-art" for r in got)
    assert not (history / CATALOG_NAME).exists()
    assert catalog_for(history) is None


def test_children_and_tree_come_from_the_catalog(history):
    from generate.runs import run_children, run_tree

    children = run_children("20261101_100000", history)
    assert [c["run_id"] for c in children] == ["20261103_100000", "20261103_110000", "20261103_120000"]
    tree = run_tree(history)
    parent = next(n for n in tree if n["run_id"] == "20261101_100000")
    assert [c["run_id"] for c in parent["children"]] == [c["run_id"] for c in children]


def test_starring_is_kept_in_the_folder_and_survives_a_rebuild(history):
    catalog = catalog_for(history)
    catalog.set_favourite("20261101_100000", True)
    assert (history / "20261101_100000" / ".favourite").exists()
    assert "20261101_100000" in {r["run_id"] for r in list_runs(history, favourite=True, limit=100)}
    assert reindex(history) == 40
    starred = {r["run_id"] for r in list_runs(history, favourite=True, limit=100)}
    assert starred == {"20261101_100000", "20261102_110000", "20261104_150000"}
    catalog_for(history).set_favourite("20261102_110000", False)
    assert "20261102_110000" not in {r["run_id"] for r in list_runs(history, favourite=True, limit=100)}


@pytest.mark.parametrize("how", ["garbage", "truncated"])
def test_a_catalog_file_that_is_not_a_database_is_rebuilt_from_the_folders(history, how):
    assert len(list_runs(history, limit=100)) == 40
    path = history / CATALOG_NAME
    run_catalog.catalog_for(history).close()
    cache = run_catalog._CATALOGS
    cache.clear()  # as a fresh process finds it
    for name in (CATALOG_NAME + "-wal", CATALOG_NAME + "-shm"):
        (history / name).unlink(missing_ok=True)
    if how == "garbage":
        path.write_bytes(b"\x00\xffnot sqlite at all" * 200)
    else:  # a real header, the rest cut off: a damaged copy
        path.write_bytes(path.read_bytes()[:100] + b"\x00" * 4000)
    assert catalog_for(history) is not None
    assert len(list_runs(history, limit=100)) == 40
    path.write_bytes(b"garbage again" * 300)
    cache.clear()
    assert reindex(history) == 40
    assert {r["run_id"] for r in list_runs(history, favourite=True, limit=100)} == {
        "20261102_110000",
        "20261104_150000",
    }


def test_a_catalog_locked_by_another_process_at_start_is_opened_once_the_lock_goes(history, monkeypatch):
    monkeypatch.setattr(run_catalog, "_BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(run_catalog, "RETRY_S", 0.0)
    other = sqlite3.connect(history / CATALOG_NAME, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process in the middle of a long write
    try:
        assert catalog_for(history) is None
        assert len(list_runs(history, limit=100)) == 40  # meanwhile the folders answer
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert catalog_for(history) is not None
    assert len(list_runs(history, text="owl", limit=100)) == 10


def test_a_hyphenated_search_word_needs_each_of_its_parts(history):
    write_run(history, "20261201_070000", brief="golf-club crest for the spring open")
    got = [r["run_id"] for r in list_runs(history, text="golf-club")]
    assert got == ["20261201_070000"]
    assert got == [r["run_id"] for r in scan_runs(history, text="golf-club")]
    assert [r["run_id"] for r in list_runs(history, text="golf-cl*")] == ["20261201_070000"]


def test_a_catalog_of_another_schema_is_built_again(history):
    assert len(list_runs(history, limit=100)) == 40
    db = sqlite3.connect(history / CATALOG_NAME)
    db.execute("UPDATE info SET value = '1' WHERE key = 'schema'")
    db.commit()
    db.close()
    run_catalog._CATALOGS.clear()  # a new process, meeting the file an older sketchgen left
    assert len(list_runs(history, limit=100)) == 40
    assert catalog_for(history) is not None


def _within_one_tick(path, mtime_ns):
    """Give ``path`` the mtime ``mtime_ns`` again: as a change within the same tick of a coarse
    filesystem clock leaves it (FAT ticks every 2 s; a busy ext4 within a few ms)."""
    import os

    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_folder_made_in_the_same_mtime_tick_as_the_last_listing_is_still_found(history, monkeypatch):
    tick = 1_790_000_000_000_000_000
    assert len(list_runs(history, limit=100)) == 40  # the catalog's own files are made in the root
    _within_one_tick(history, tick)  # a change in the root, in the tick just before a query
    monkeypatch.setattr(run_catalog, "_now_ns", lambda: tick + 1_000_000)  # the query, 1 ms later
    assert len(list_runs(history, limit=100)) == 40
    # Another process makes a folder in that same tick: the root's mtime does not move.
    write_run(history, "20261201_090000", brief="lighthouse keeper mug")
    _within_one_tick(history, tick)
    assert list_runs(history, limit=1)[0]["run_id"] == "20261201_090000"
    # Once the clock has moved on, the listing is trusted again and still finds what is there.
    monkeypatch.setattr(run_catalog, "_now_ns", lambda: tick + run_catalog.RACY_NS)
    assert len(list_runs(history, limit=100)) == 41
    assert list_runs(history, limit=1)[0]["run_id"] == "20261201_090000"


def test_on_a_fine_clock_the_root_is_listed_again_only_until_its_tick_has_passed(history, monkeypatch):
    """A burst of new runs on ext4 (mtimes with fractions of a second) must not make every history
    query list the whole outputs folder for 2 s: past FINE_RACY_NS the listing is trusted."""
    import os

    assert len(list_runs(history, limit=100)) == 40
    fine_tick = 1_790_000_000_123_456_789  # a fraction of a second: a fine-grained filesystem clock
    _within_one_tick(history, fine_tick)
    listings = []
    real_scandir = os.scandir

    def counting_scandir(path=".", *args):
        if os.fspath(path) == os.fspath(history):
            listings.append(path)
        return real_scandir(path, *args)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    monkeypatch.setattr(run_catalog, "_now_ns", lambda: fine_tick + 1_000_000)  # 1 ms after: racy
    list_runs(history, limit=1)
    list_runs(history, limit=1)
    assert len(listings) == 2  # not yet vouched for: listed at each query
    monkeypatch.setattr(run_catalog, "_now_ns", lambda: fine_tick + run_catalog.FINE_RACY_NS)
    list_runs(history, limit=1)  # listed once more, and now trusted
    for _ in range(3):
        assert len(list_runs(history, limit=100)) == 40
    assert len(listings) == 3
    # A whole-second mtime may come from a coarse clock: it still waits RACY_NS.
    whole = 1_790_000_000_000_000_000
    monkeypatch.setattr(run_catalog, "_now_ns", lambda: whole + run_catalog.FINE_RACY_NS)
    assert not run_catalog.stat_vouches(whole)
    monkeypatch.setattr(run_catalog, "_now_ns", lambda: whole + run_catalog.RACY_NS)
    assert run_catalog.stat_vouches(whole)


def test_a_running_run_rewritten_to_the_same_size_in_the_same_tick_is_read_again(history, monkeypatch):
    tick = 1_790_000_000_000_000_000
    folder = history / "20261201_080000"
    folder.mkdir()
    with open(folder / LOCK_NAME, "w") as lock:  # its writer, another process, is alive
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        write_run(history, "20261201_080000", status="running")
        meta_path = folder / "metadata.json"
        meta = json.loads(meta_path.read_text())
        meta["totals"]["succeeded"] = 1
        atomic_write_json(meta_path, meta)
        _within_one_tick(meta_path, tick)
        monkeypatch.setattr(run_catalog, "_now_ns", lambda: tick + 1_000_000)
        assert list_runs(history, limit=1)[0]["succeeded"] == 1
        size = meta_path.stat().st_size
        meta["totals"]["succeeded"] = 2  # the next sketch done: a file of the very same size
        atomic_write_json(meta_path, meta)
        _within_one_tick(meta_path, tick)
        assert meta_path.stat().st_size == size
        assert list_runs(history, limit=1)[0]["succeeded"] == 2


def test_a_rebuild_forgets_the_charges_of_the_catalog_it_replaces(history):
    """Spend by day comes from the charges table: a rebuild that kept the old rows (keyed by row ids
    the rebuild hands out again, to other runs) counted runs twice, and a removed run for good."""
    import shutil

    catalog = catalog_for(history)
    assert catalog.spend() == pytest.approx(sum(r["cost_usd"] for r in list_runs(history, limit=100)))
    for run_id in ("20261101_100000", "20261101_110000", "20261102_100000"):
        shutil.rmtree(history / run_id)
    reindex(history)
    kept = list_runs(history, limit=100)
    assert len(kept) == 37
    catalog = catalog_for(history)
    assert catalog.spend() == pytest.approx(sum(r["cost_usd"] for r in kept))
    for day in ("2026-11-01", "2026-11-02", "2026-11-05"):
        on_day = [r["cost_usd"] for r in kept if r["run_id"].startswith(day.replace("-", ""))]
        assert catalog.spend(day, day) == pytest.approx(sum(on_day))
