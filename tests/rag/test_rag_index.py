"""ReferenceIndex + index_directory: round trip, incremental updates, bad files, mismatch, atomic saves."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from generate.errors import ConfigError
from rag import EmbedderMismatchError, ReferenceIndex, index_directory


class CountingEmbedder:
    """Wraps the real embedder and counts the images that go through the model."""

    def __init__(self, inner):
        self.inner = inner
        self.encoded = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode_tensors(self, batch):
        self.encoded += len(batch)
        return self.inner.encode_tensors(batch)


@pytest.fixture
def library(tmp_path, make_image):
    refs = tmp_path / "refs"
    for i in range(6):
        make_image(refs / f"ref_{i}.png", i)
    return refs


def test_round_trip_stores_table_and_vectors(library, embedder, tmp_path):
    progress: list[tuple[int, int]] = []
    summary = index_directory(
        library, "alpha", embedder=embedder, progress=lambda d, t: progress.append((d, t))
    )
    assert (summary.added, summary.updated, summary.removed, summary.total) == (6, 0, 0, 6)
    assert summary.embedder_id == embedder.id and summary.unreadable == []
    assert progress[-1] == (6, 6) and progress[0][1] == 6
    # Default location: $SKETCHGEN_INDEX_DIR (the suite points it at tmp_path / "index").
    assert ReferenceIndex.exists("alpha", tmp_path / "index")
    index = ReferenceIndex.load("alpha", embedder_id=embedder.id)
    entries = index.entries()
    assert [Path(e.path).name for e in entries] == [f"ref_{i}.png" for i in range(6)]
    first = entries[0]
    stat = Path(first.path).stat()
    assert (first.size, first.mtime_ns, first.style, first.embedder_id) == (
        stat.st_size,
        stat.st_mtime_ns,
        "alpha",
        embedder.id,
    )
    assert len(first.sha256) == 64
    stored = index.vectors([e.vector_id for e in entries])
    fresh = embedder.encode_files([Path(e.path) for e in entries])[0]
    assert np.allclose(stored, fresh, atol=2e-3)  # persisted as float16
    hits = index.search(fresh[3], 2)
    assert Path(hits[0][0].path).name == "ref_3.png" and hits[0][1] == pytest.approx(1.0, abs=2e-3)


def test_rerun_is_incremental(library, embedder, make_image):
    counting = CountingEmbedder(embedder)
    index_directory(library, "alpha", embedder=counting)
    assert counting.encoded == 6
    again = index_directory(library, "alpha", embedder=counting)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 6)
    assert counting.encoded == 6  # nothing re-embedded
    # touch without changing bytes: hashed, recognised, not re-embedded
    os.utime(library / "ref_0.png", ns=(time.time_ns(), time.time_ns() + 10**9))
    touched = index_directory(library, "alpha", embedder=counting)
    assert (touched.unchanged, touched.updated, counting.encoded) == (6, 0, 6)
    # change one, add one, delete one: exactly two images go through the model
    make_image(library / "ref_1.png", 101)
    make_image(library / "new.png", 102)
    (library / "ref_2.png").unlink()
    changed = index_directory(library, "alpha", embedder=counting)
    assert (changed.added, changed.updated, changed.removed, changed.unchanged, changed.total) == (
        1,
        1,
        1,
        4,
        6,
    )
    assert counting.encoded == 8
    index = ReferenceIndex.load("alpha")
    assert str(library / "ref_2.png") not in index and str(library / "new.png") in index
    # a rename reuses the stored vector
    (library / "ref_3.png").rename(library / "renamed.png")
    renamed = index_directory(library, "alpha", embedder=counting)
    assert (renamed.added, renamed.removed, renamed.reused, counting.encoded) == (1, 1, 1, 8)


def test_bad_files_are_reported_and_skipped(library, embedder):
    (library / "broken.png").write_bytes(b"this is not a png")
    (library / "notes.txt").write_text("caption")
    (library / "README.md").write_text("about these refs")
    (library / "meta.json").write_text("{}")
    (library / "brief.pdf").write_bytes(b"%PDF-1.4")
    summary = index_directory(library, "alpha", embedder=embedder)
    assert summary.added == 6 and summary.skipped == 3
    unreadable = dict(summary.unreadable)
    assert set(unreadable) == {str(library / "broken.png"), str(library / "brief.pdf")}
    assert "image" in unreadable[str(library / "broken.png")]
    assert "broken.png" in summary.format()
    # An indexed file that turns corrupt leaves the index instead of serving stale vectors.
    (library / "ref_4.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    later = index_directory(library, "alpha", embedder=embedder)
    assert later.removed == 1 and str(library / "ref_4.png") in dict(later.unreadable)
    assert str(library / "ref_4.png") not in ReferenceIndex.load("alpha")


def test_missing_folder_and_bad_style_are_config_errors(tmp_path, embedder):
    with pytest.raises(ConfigError):
        index_directory(tmp_path / "nope", "alpha", embedder=embedder)
    with pytest.raises(ConfigError):
        index_directory(tmp_path, "Bad Style!", embedder=embedder)


def test_index_of_another_embedder_is_refused(library, embedder, other_embedder):
    index_directory(library, "alpha", embedder=embedder)
    with pytest.raises(EmbedderMismatchError) as info:
        index_directory(library, "alpha", embedder=other_embedder)
    message = str(info.value)
    assert embedder.id in message and other_embedder.id in message
    assert f"sketchgen index {library} --style alpha --rebuild" in message
    with pytest.raises(EmbedderMismatchError):
        ReferenceIndex.load("alpha", embedder_id=other_embedder.id)
    rebuilt = index_directory(library, "alpha", embedder=other_embedder, rebuild=True)
    assert rebuilt.added == 6 and ReferenceIndex.load("alpha").embedder_id == other_embedder.id


def test_styles_have_separate_indexes(tmp_path, embedder, make_image):
    a = [make_image(tmp_path / "a" / f"{i}.png", i) for i in range(3)]
    make_image(tmp_path / "b" / "x.png", 50)
    index_directory(tmp_path / "a", "alpha", embedder=embedder)
    index_directory(tmp_path / "b", "beta", embedder=embedder)
    assert sorted(e.path for e in ReferenceIndex.load("alpha").entries()) == sorted(str(p) for p in a)
    assert [Path(e.path).name for e in ReferenceIndex.load("beta").entries()] == ["x.png"]


def _synthetic(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_index_type_follows_size_and_hnsw_round_trips(tmp_path):
    vectors = _synthetic(300)
    items = [(f"/refs/{i:04d}.png", f"{i:064x}", 0, 1) for i in range(300)]
    small = ReferenceIndex("s", "emb", 16, root=tmp_path, exact_limit=1000)
    small.add(items, vectors)
    assert small.index_type == "flat"
    big = ReferenceIndex("h", "emb", 16, root=tmp_path, exact_limit=100)
    big.add(items, vectors)
    assert big.index_type == "hnsw"
    folder = big.save()
    assert (folder / "index.faiss").is_file()
    loaded = ReferenceIndex.load("h", root=tmp_path, exact_limit=100)
    for i in (0, 17, 299):
        assert loaded.search(vectors[i], 1)[0][0].path == f"/refs/{i:04d}.png"
    loaded.remove(["/refs/0017.png"])  # masked without a rebuild
    assert all(e.path != "/refs/0017.png" for e, _ in loaded.search(vectors[17], 5))
    loaded.save()
    assert "/refs/0017.png" not in ReferenceIndex.load("h", root=tmp_path, exact_limit=100)


def test_failed_save_keeps_the_previous_index(tmp_path, monkeypatch):
    index = ReferenceIndex("s", "emb", 16, root=tmp_path)
    index.add([("/a.png", "a" * 64, 0, 1)], _synthetic(1))
    index.save()
    index.add([("/b.png", "b" * 64, 0, 1)], _synthetic(1, seed=1))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-save")

    monkeypatch.setattr(ReferenceIndex, "_write_table", crash)
    with pytest.raises(KeyboardInterrupt):
        index.save()
    assert [e.path for e in ReferenceIndex.load("s", root=tmp_path).entries()] == ["/a.png"]
    monkeypatch.undo()
    index.save()  # the next save succeeds and clears the half-written generation
    assert len(ReferenceIndex.load("s", root=tmp_path)) == 2
    assert [p.name for p in (tmp_path / "s").iterdir() if p.name.startswith(".tmp-")] == []


def test_kill_during_save_never_corrupts(tmp_path):
    script = textwrap.dedent(
        f"""
        import numpy as np
        from rag.index import ReferenceIndex
        rng = np.random.default_rng(0)
        index = ReferenceIndex("k", "emb", 64, root={str(tmp_path)!r})
        n = 0
        while True:
            v = rng.standard_normal((2000, 64)).astype("float32")
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            index.add([(f"/r/{{n + i}}.png", "0" * 64, 0, 1) for i in range(2000)], v)
            n += 2000
            index.save()
            print(n, flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    for delay in (0.8, 1.3, 1.9):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, text=True)
        assert proc.stdout.readline().strip()  # at least one save completed
        time.sleep(delay - 0.5)
        proc.kill()
        proc.wait()
        proc.stdout.close()
        loaded = ReferenceIndex.load("k", root=tmp_path)
        assert len(loaded) > 0 and len(loaded) % 2000 == 0
        assert loaded.vectors([e.vector_id for e in loaded.entries()]).shape == (len(loaded), 64)
