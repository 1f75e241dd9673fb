"""A build of the run catalog from the folders is said while it runs, and is not waited for when the
caller asks so: a reader meanwhile gets the part built so far, flagged, never a silently short list."""

from __future__ import annotations

import threading

import pytest

import generate.run_catalog as run_catalog
from generate.run_catalog import BUILD_LOCK_NAME, CatalogUnavailable, catalog_state, reindex
from generate.run_lock import RunLock
from generate.runs import list_runs
from tests.generate.test_run_catalog import write_run

DEADLINE_S = 60  # generous: the CI machine is slow and shared


def run_ids(n: int) -> list[str]:
    return [f"202501{day:02d}_090000" for day in range(1, n + 1)]


class HeldBuild:
    """Holds a build of the catalog open after its first batch is committed (batches of ``batch``
    runs), until :meth:`release`: the interleaving is explicit, no sleep decides it."""

    def __init__(self, monkeypatch, batch: int = 10) -> None:
        self.stored = threading.Event()
        self.released = threading.Event()
        monkeypatch.setattr(run_catalog, "_BATCH_RUNS", batch)
        original = run_catalog.RunCatalog._store
        calls = []

        def store(catalog, rows, **kwargs):
            original(catalog, rows, **kwargs)
            calls.append(len(rows))
            if len(calls) == 1:
                self.stored.set()
                assert self.released.wait(DEADLINE_S), "the test never released the build"

        monkeypatch.setattr(run_catalog.RunCatalog, "_store", store)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def history(tmp_path):
    root = tmp_path / "outputs"
    for run_id in run_ids(30):
        write_run(root, run_id)
    return root


def test_a_rebuild_under_way_is_said_and_the_part_built_so_far_is_answered(history, monkeypatch):
    assert len(list_runs(history, limit=100)) == 30  # a catalog, built
    assert catalog_state(history) == {"building": False, "indexed": None}

    held = HeldBuild(monkeypatch)
    counted: list[int] = []
    builder = threading.Thread(target=lambda: counted.append(reindex(history)))
    builder.start()
    try:
        assert held.stored.wait(DEADLINE_S)
        assert (history / BUILD_LOCK_NAME).exists()
        assert catalog_state(history) == {"building": True, "indexed": 10}
        assert len(list_runs(history, limit=100, wait=False)) == 10  # not waited for: said short
        waiting: list[int] = []
        reader = threading.Thread(target=lambda: waiting.append(len(list_runs(history, limit=100))))
        reader.start()  # the default waits for the build
    finally:
        held.release()
    builder.join(DEADLINE_S)
    reader.join(DEADLINE_S)
    assert counted == [30] and waiting == [30]
    assert catalog_state(history) == {"building": False, "indexed": None}
    assert not (history / BUILD_LOCK_NAME).exists()
    assert len(list_runs(history, limit=100, wait=False)) == 30


def test_the_first_fill_of_an_empty_catalog_is_said_to_other_readers(history, monkeypatch):
    held = HeldBuild(monkeypatch)
    first: list[int] = []
    filler = threading.Thread(target=lambda: first.append(len(list_runs(history, limit=100))))
    filler.start()
    try:
        assert held.stored.wait(DEADLINE_S)
        assert catalog_state(history) == {"building": True, "indexed": 10}
        assert len(list_runs(history, limit=100, wait=False)) == 10
    finally:
        held.release()
    filler.join(DEADLINE_S)
    assert first == [30]  # the reader that fills it gets every run
    assert catalog_state(history)["building"] is False


def test_a_build_by_another_process_is_said_and_left_to_it(history):
    assert len(list_runs(history, limit=100)) == 30
    other = RunLock(history, BUILD_LOCK_NAME).acquire()  # a lock of its own, as another process's
    try:
        for run_id in ("20250201_090000", "20250202_090000"):
            write_run(history, run_id)
        assert catalog_state(history) == {"building": True, "indexed": 30}
        assert len(list_runs(history, limit=100)) == 30  # its build will read the new folders
        with pytest.raises(CatalogUnavailable, match="being built by another process"):
            reindex(history)
    finally:
        other.release()
    assert catalog_state(history) == {"building": False, "indexed": None}
    assert len(list_runs(history, limit=100)) == 32


def test_a_build_of_one_batch_is_waited_for_not_flagged(history, monkeypatch):
    # 30 runs in batches of 50: one transaction, so there is no part to show; a reader waits (the
    # first run made in an empty outputs folder used to flash "indexing, 0 so far" on the page).
    held = HeldBuild(monkeypatch, batch=50)
    filler = threading.Thread(target=list_runs, args=(history,))
    filler.start()
    try:
        assert held.stored.wait(DEADLINE_S)
        assert catalog_state(history) == {"building": False, "indexed": None}
        seen: list[int] = []
        reader = threading.Thread(target=lambda: seen.append(len(list_runs(history, limit=100, wait=False))))
        reader.start()
    finally:
        held.release()
    filler.join(DEADLINE_S)
    reader.join(DEADLINE_S)
    assert seen == [30]


def test_this_process_s_own_build_is_never_taken_for_another_process_s(history, monkeypatch):
    # The builder holds the build lock a moment before it has said the build is its own: a reader
    # then must wait for it, not leave the folders to "another process" and answer an empty list
    # (the page's first load showed "$0.00 today" and no runs this way).
    acquired, go = threading.Event(), threading.Event()

    class SlowLock(RunLock):
        def acquire(self):
            got = super().acquire()
            acquired.set()
            assert go.wait(DEADLINE_S)
            return got

    monkeypatch.setattr(run_catalog, "RunLock", SlowLock)
    filler = threading.Thread(target=list_runs, args=(history,))
    filler.start()
    try:
        assert acquired.wait(DEADLINE_S)
        seen: list[int] = []
        reader = threading.Thread(target=lambda: seen.append(len(list_runs(history, limit=100))))
        reader.start()
        reader.join(0.5)  # a regression answers at once; the build's reader waits (either passes below)
    finally:
        go.set()
    filler.join(DEADLINE_S)
    reader.join(DEADLINE_S)
    assert seen == [30]


def test_a_build_whose_process_died_is_taken_over_and_said(history, monkeypatch):
    """A builder killed part-way leaves a part-filled catalog and its ``.catalog.building`` file
    (the OS lets its lock go): the next reader finishes the build as a build, said to the others
    (not one silent wait of minutes for the rest), and the lock left behind holds nobody up."""
    import sqlite3

    assert len(list_runs(history, limit=100)) == 30
    # What the dead builder left: 10 of the 30 runs committed, no root mtime, the lock file.
    kept = set(run_ids(10))
    with sqlite3.connect(history / run_catalog.CATALOG_NAME) as db:
        gone = [(r,) for (r,) in db.execute("SELECT run_id FROM runs") if r not in kept]
        for table in ("run_models", "sketches", "charges"):
            db.executemany(f"DELETE FROM {table} WHERE id IN (SELECT id FROM runs WHERE run_id = ?)", gone)
        db.executemany("DELETE FROM briefs WHERE rowid IN (SELECT id FROM runs WHERE run_id = ?)", gone)
        db.executemany("DELETE FROM runs WHERE run_id = ?", gone)
        db.execute("DELETE FROM info WHERE key = 'root_mtime'")
    (history / BUILD_LOCK_NAME).touch()
    assert catalog_state(history) == {"building": False, "indexed": None}  # a file, held by nobody

    held = HeldBuild(monkeypatch, batch=5)
    first: list[int] = []
    taker = threading.Thread(target=lambda: first.append(len(list_runs(history, limit=100))))
    taker.start()
    try:
        assert held.stored.wait(DEADLINE_S)
        assert catalog_state(history) == {"building": True, "indexed": 15}
        assert len(list_runs(history, limit=100, wait=False)) == 15  # not waited for: said short
    finally:
        held.release()
    taker.join(DEADLINE_S)
    assert first == [30]
    assert catalog_state(history) == {"building": False, "indexed": None}
    assert not (history / BUILD_LOCK_NAME).exists()
