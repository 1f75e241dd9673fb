"""GET /runs says when the run catalog is being built from the folders (its list may be short), and
answers at once from the part built so far instead of waiting for the build."""

from __future__ import annotations

import threading

from generate.run_catalog import BUILD_LOCK_NAME, reindex
from generate.run_lock import RunLock
from tests.api.test_runs_files import make_run
from tests.generate.test_run_catalog_build import DEADLINE_S, HeldBuild


def _runs(output_dir, n: int) -> None:
    for day in range(1, n + 1):
        make_run(output_dir, f"202501{day:02d}_090000", n=1)


async def test_runs_say_the_catalog_is_built_and_how_far(client, output_dir, monkeypatch):
    _runs(output_dir, 30)
    page = (await client.get("/runs", params={"limit": 100})).json()
    assert len(page["runs"]) == 30
    assert page["catalog"] == {"building": False, "indexed": None}

    held = HeldBuild(monkeypatch)
    builder = threading.Thread(target=reindex, args=(output_dir,))
    builder.start()
    try:
        assert held.stored.wait(DEADLINE_S)
        r = await client.get("/runs", params={"limit": 100})  # answered while the build is held
        assert r.status_code == 200
        assert r.json()["catalog"] == {"building": True, "indexed": 10}
        assert len(r.json()["runs"]) == 10
    finally:
        held.release()
    builder.join(DEADLINE_S)
    page = (await client.get("/runs", params={"limit": 100})).json()
    assert page["catalog"] == {"building": False, "indexed": None} and len(page["runs"]) == 30


async def test_runs_say_another_process_builds_the_catalog(client, output_dir):
    _runs(output_dir, 3)
    assert len((await client.get("/runs")).json()["runs"]) == 3
    other = RunLock(output_dir, BUILD_LOCK_NAME).acquire()
    try:
        page = (await client.get("/runs")).json()
        assert page["catalog"] == {"building": True, "indexed": 3}
    finally:
        other.release()
    assert (await client.get("/runs")).json()["catalog"]["building"] is False


async def test_the_schema_describes_the_catalog_field(client):
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert "catalog" in schema["RunList"]["properties"]
    assert set(schema["CatalogState"]["properties"]) == {"building", "indexed"}
