"""Run folders: unique even within one second, atomic files, history with filters."""

from __future__ import annotations

import json
import threading

import pytest

from generate.runs import atomic_write_json, create_run_dir, list_runs, load_run, redact_secrets, run_dir


def test_runs_in_the_same_second_get_distinct_folders(tmp_path):
    ids: list[str] = []
    lock = threading.Lock()

    def make():
        run_id, path, _ = create_run_dir(tmp_path)
        with lock:
            ids.append(run_id)

    threads = [threading.Thread(target=make) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 12
    assert all((tmp_path / i).is_dir() for i in ids)


def test_folder_name_and_timestamp_come_from_one_clock_reading(tmp_path):
    run_id, path, when = create_run_dir(tmp_path)
    assert run_id.startswith(when.strftime("%Y%m%d_%H%M%S"))
    assert path.name == run_id


def test_atomic_json_leaves_no_temp_files_and_redacts_keys(tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaSy-very-secret-value")
    target = tmp_path / "metadata.json"
    atomic_write_json(target, {"a": 1, "oops": "key=AIzaSy-very-secret-value"})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["metadata.json"]
    assert "very-secret" not in redact_secrets("x AIzaSy-very-secret-value y")


def _fake_run(root, run_id, *, style="vintage-mascot", model="trace", status="complete"):
    (root / run_id).mkdir(parents=True)
    atomic_write_json(
        root / run_id / "metadata.json",
        {
            "run_id": run_id,
            "status": status,
            "style_id": style,
            "config": {"model_name": model, "num_images": 4},
            "prompt_spec": {"brief": "b"},
            "totals": {"succeeded": 4, "cost_usd": 0.0},
        },
    )


def test_list_runs_filters_and_pages(tmp_path):
    _fake_run(tmp_path, "20261101_100000", style="badge-emblem")
    _fake_run(tmp_path, "20261102_100000", status="failed")
    _fake_run(tmp_path, "20261103_100000", model="nano-banana")
    _fake_run(tmp_path, "20261103_100000_2")
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "20261104_100000").mkdir()  # no metadata: skipped

    ids = [r["run_id"] for r in list_runs(tmp_path)]
    assert ids == ["20261103_100000_2", "20261103_100000", "20261102_100000", "20261101_100000"]
    assert [r["run_id"] for r in list_runs(tmp_path, style="badge-emblem")] == ["20261101_100000"]
    assert [r["run_id"] for r in list_runs(tmp_path, status="failed")] == ["20261102_100000"]
    assert [r["run_id"] for r in list_runs(tmp_path, model="nano-banana")] == ["20261103_100000"]
    assert [r["run_id"] for r in list_runs(tmp_path, since="2026-11-02", until="2026-11-02")] == [
        "20261102_100000"
    ]
    assert [r["run_id"] for r in list_runs(tmp_path, limit=1, offset=1)] == ["20261103_100000"]
    with pytest.raises(ValueError):
        list_runs(tmp_path, since="yesterday")


def test_run_lookup_never_leaves_the_root(tmp_path):
    _fake_run(tmp_path, "20261101_100000")
    assert load_run("20261101_100000", tmp_path)["status"] == "complete"
    for bad in ("../etc", "20261101_100000/..", "/tmp", "", "20261101_1000009"):
        with pytest.raises(KeyError):
            run_dir(bad, tmp_path)


def test_list_runs_model_filter_resolves_aliases(tmp_path):
    # What a real run records: the catalog id it used, and what was asked for (auto, an alias).
    _fake_run(tmp_path, "20261105_100000", model="gemini-nano-banana-2.1")
    _fake_run(tmp_path, "20261106_100000", model="gemini-3-pro-image")
    _fake_run(tmp_path, "20261107_100000")  # trace
    for name in ("nano-banana", "NANO-BANANA", "gemini-nano-banana-2.1", "models/gemini-nano-banana-2.1"):
        assert [r["run_id"] for r in list_runs(tmp_path, model=name)] == ["20261105_100000"], name
    assert [r["run_id"] for r in list_runs(tmp_path, model="nano-banana-pro")] == ["20261106_100000"]
    assert [r["run_id"] for r in list_runs(tmp_path, model="trace")] == ["20261107_100000"]
    assert list_runs(tmp_path, model="no-such-model") == []


@pytest.fixture
def outside_runs(tmp_path):
    """An output root with one real run, and three ways for a reader to be led outside it."""
    root, outside = tmp_path / "outputs", tmp_path / "outside"
    _fake_run(root, "20261101_100000")
    _fake_run(outside, "20261101_110000", style="badge-emblem")  # a run-shaped folder elsewhere
    (outside / "loot.json").write_text(json.dumps({"run_id": "20261101_120000", "status": "complete"}))
    # 1. a run folder that is a symlink out of the root
    (root / "20261101_110000").symlink_to(outside / "20261101_110000", target_is_directory=True)
    # 2. a real run folder whose metadata.json is a symlink out of it
    (root / "20261101_120000").mkdir()
    (root / "20261101_120000" / "metadata.json").symlink_to(outside / "loot.json")
    # 3. a real run folder whose metadata.json points into another run's folder
    (root / "20261101_130000").mkdir()
    (root / "20261101_130000" / "metadata.json").symlink_to(root / "20261101_100000" / "metadata.json")
    return root


def test_no_reader_follows_a_symlink_out_of_the_run_folder(outside_runs):
    assert [r["run_id"] for r in list_runs(outside_runs)] == ["20261101_100000"]
    for run_id in ("20261101_110000", "20261101_120000", "20261101_130000"):
        with pytest.raises(KeyError):
            load_run(run_id, outside_runs)
    assert load_run("20261101_100000", outside_runs)["status"] == "complete"


def test_a_symlinked_output_root_is_still_readable(tmp_path):
    _fake_run(tmp_path / "real", "20261101_100000")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    assert [r["run_id"] for r in list_runs(tmp_path / "link")] == ["20261101_100000"]
    assert run_dir("20261101_100000", tmp_path / "link") == (tmp_path / "real" / "20261101_100000").resolve()
