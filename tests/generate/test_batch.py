"""A batch of briefs: whole-file checks first, a manifest, resume, and the batch's budget."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from generate.batch import BatchInvalid, CsvText, prepare_batch
from generate.batch_run import arun_prepared
from generate.errors import ConfigError
from generate.events import RunCompleted, SketchCompleted
from generate.pipeline import SketchPipeline
from generate.testing import Behavior, FakeGeminiServer


def _csv(tmp_path, text, name="briefs.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _manifest(result):
    return json.loads(result.manifest_path.read_text())


# -- reading and checking the whole file ------------------------------------------------------------
def test_every_problem_of_the_file_is_listed_with_its_row_before_any_call(fake, tmp_path):
    lines = ["brief,style_id,num_images,model"]
    lines += [f"brief {i},vintage-mascot,3,nano-banana" for i in range(2, 17)]
    lines += ["brief 17,no-such-style,3,nano-banana"]  # row 17
    lines += ["brief 18,vintage-mascot,9,nano-banana"]  # row 18
    lines += [",vintage-mascot,3,nano-banana"]  # row 19
    lines += ["brief 20,vintage-mascot,3,nano-banana,extra"]  # row 20
    path = _csv(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(BatchInvalid) as info:
        SketchPipeline(output_dir=tmp_path / "out").run_batch(path)
    problems = info.value.problems
    assert len(problems) == 4, problems
    assert problems[0].startswith("row 17: ") and "no-such-style" in problems[0]
    assert problems[1] == "row 18: num_images must be between 3 and 6 (got 9)"
    assert problems[2] == "row 19: brief is required"
    assert problems[3].startswith("row 20: 5 cells")
    assert str(info.value).startswith("4 problems in briefs.csv, nothing was run")
    assert fake.count == 0
    assert not (tmp_path / "out").exists()  # no manifest, no run folder


def test_a_missing_or_unknown_column_is_named(tmp_path):
    path = _csv(tmp_path, "style_id,colour\nvintage-mascot,red\n")
    with pytest.raises(BatchInvalid) as info:
        SketchPipeline(output_dir=tmp_path).run_batch(path)
    assert "row 1: missing column 'brief'" in info.value.problems
    assert any(p.startswith("row 1: unknown column 'colour'") for p in info.value.problems)


def test_jsonl_rows_are_numbered_by_line(tmp_path):
    path = tmp_path / "briefs.jsonl"
    path.write_text('{"brief": "golf mascot"}\n\nnot json\n["a list"]\n{"brief": "x", "seed": "seven"}\n')
    with pytest.raises(BatchInvalid) as info:
        SketchPipeline(output_dir=tmp_path).run_batch(path, defaults={"model": "trace"})
    problems = info.value.problems
    assert [p.split(":")[0] for p in problems] == ["row 3", "row 4", "row 5"]
    assert "seed must be a whole number" in problems[2]


def test_a_file_that_is_not_csv_or_jsonl_or_not_there(tmp_path):
    with pytest.raises(ConfigError, match="must be .csv or .jsonl"):
        SketchPipeline(output_dir=tmp_path).run_batch(tmp_path / "briefs.txt")
    with pytest.raises(ConfigError, match="no such batch file"):
        SketchPipeline(output_dir=tmp_path).run_batch(tmp_path / "gone.csv")


def test_a_row_over_its_own_cap_is_a_problem_of_that_row(fake, tmp_path):
    rows = [{"brief": "a"}, {"brief": "b", "model": "nano-banana-pro", "max_cost_usd": 0.05}]
    with pytest.raises(BatchInvalid) as info:
        SketchPipeline(output_dir=tmp_path).run_batch(rows, defaults={"model": "nano-banana"})
    assert len(info.value.problems) == 1 and info.value.problems[0].startswith("row 2: ")
    assert "max_cost_usd $0.0500" in info.value.problems[0] and fake.count == 0


# -- running, the manifest, resuming -------------------------------------------------------------------
def test_one_run_per_row_with_defaults_and_a_manifest(tmp_path):
    path = _csv(tmp_path, "brief,num_images,seed\ngolf mascot,3,1\ncoffee cup logo,,2\n")
    seen = []

    def on_event(ev):
        if isinstance(ev, SketchCompleted):  # the manifest is whole JSON at every instant
            seen.append(
                json.loads((tmp_path / "out" / "batches").glob("*/manifest.json").__next__().read_text())
            )

    result = SketchPipeline(output_dir=tmp_path / "out").run_batch(
        path, defaults={"model": "trace", "num_images": 4}, on_event=on_event
    )
    assert result.status == "complete"
    assert [(r.row, r.status, r.succeeded) for r in result.rows] == [(2, "complete", 3), (3, "complete", 4)]
    data = _manifest(result)
    assert data["source"]["path"] == str(path.resolve()) and len(data["source"]["sha256"]) == 64
    assert data["defaults"] == {"model": "trace", "num_images": 4} and data["batch_api"] is None
    assert data["status"] == "complete" and data["totals"]["complete"] == 2
    assert result.manifest_path.parent.parent == (tmp_path / "out" / "batches").resolve()
    for row in data["rows"]:
        assert (tmp_path / "out" / row["run_id"] / "metadata.json").is_file()
    assert any(r["status"] == "running" and r["run_id"] for m in seen for r in m["rows"])


def test_running_the_same_file_again_skips_complete_rows_and_resumes_the_others(tmp_path, monkeypatch):
    with FakeGeminiServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        # Row 3's second sketch fails for good the first time round.
        fake.script(
            Behavior.image_safety(),
            match=lambda r: "coffee cup" in r.prompt.lower() and "sketch 2 of 3" in r.prompt.lower(),
            then=Behavior.image_safety(),
        )
        path = _csv(tmp_path, "brief\ngolf mascot\ncoffee cup logo\n")
        pipeline = SketchPipeline(output_dir=tmp_path / "out")
        first = pipeline.run_batch(path, defaults={"model": "nano-banana", "num_images": 3})
        assert [r.status for r in first.rows] == ["complete", "partial"]
        partial_run = first.rows[1].run_id
        fake.reset()  # the model works again
        again = pipeline.run_batch(path, defaults={"model": "nano-banana", "num_images": 3})
    assert again.batch_id == first.batch_id and again.resumed
    assert [r.status for r in again.rows] == ["complete", "complete"]
    assert again.rows[1].run_id == partial_run  # resumed into the same folder
    assert [r.run_id for r in again.rows] == [r.run_id for r in first.rows]
    assert fake.count == 1  # only the missing sketch was made


def test_an_interrupted_batch_resumes_its_interrupted_run(tmp_path, monkeypatch):
    with FakeGeminiServer(latency=0.05) as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        # The coffee cup's third sketch hangs (the first time): the batch is stopped while it is in
        # flight, however long the machine takes over the other two.
        fake.script(
            Behavior.hang(),
            match=lambda r: "coffee cup" in r.prompt.lower() and "sketch 3 of 3" in r.prompt.lower(),
        )
        path = _csv(tmp_path, "brief\ngolf mascot\ncoffee cup logo\nbike shop badge\n")
        pipeline = SketchPipeline(output_dir=tmp_path / "out")
        defaults = {"model": "nano-banana", "num_images": 3}

        async def interrupted():
            batch = await asyncio.to_thread(prepare_batch, pipeline, path, defaults=defaults, parallel=1)
            runs_done, made = [], []
            task = None

            def on_event(ev):
                if isinstance(ev, RunCompleted):
                    runs_done.append(ev.run_id)
                elif isinstance(ev, SketchCompleted) and runs_done:
                    made.append(ev.index)
                    if len(made) == 2:
                        task.cancel()  # row 3 has two of its three sketches: stop the batch here

            task = asyncio.create_task(arun_prepared(batch, on_event=on_event))
            with pytest.raises(asyncio.CancelledError):
                await task
            return json.loads(batch.manifest.path.read_text())

        data = asyncio.run(interrupted())
        assert [r["status"] for r in data["rows"]] == ["complete", "cancelled", "pending"]
        assert data["rows"][1]["cost_usd"] > 0 and data["rows"][1]["succeeded"] == 2  # what it spent counts
        assert data["status"] == "cancelled"
        half = data["rows"][1]["run_id"]
        before = fake.count
        result = pipeline.run_batch(path, defaults=defaults)
    assert [r.status for r in result.rows] == ["complete"] * 3
    assert result.rows[1].run_id == half
    made_before = json.loads((tmp_path / "out" / half / "metadata.json").read_text())["resumes"]
    assert made_before and made_before[0]["previous_status"] == "cancelled"
    assert made_before[0]["sketches"] == [2]
    assert fake.count - before == 3 + 1  # row 4 whole, and row 3's missing sketch


def test_resume_by_id_refuses_a_changed_file(tmp_path):
    path = _csv(tmp_path, "brief\ngolf mascot\n")
    pipeline = SketchPipeline(output_dir=tmp_path / "out")
    first = pipeline.run_batch(path, defaults={"model": "trace"})
    path.write_text("brief\ngolf mascot\ncoffee cup\n")
    with pytest.raises(ConfigError, match="the file changed since"):
        pipeline.run_batch(path, defaults={"model": "trace"}, resume=first.batch_id)
    with pytest.raises(ConfigError, match="no batch 'nope'"):
        pipeline.run_batch(path, defaults={"model": "trace"}, resume="nope")


# -- the batch's budget ------------------------------------------------------------------------------
def test_the_batch_stops_dispatching_before_its_cap(tmp_path, monkeypatch):
    with FakeGeminiServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        rows = [{"brief": f"brief number {i}"} for i in range(5)]
        pipeline = SketchPipeline(output_dir=tmp_path / "out")
        defaults = {"model": "nano-banana", "num_images": 3}
        batch = prepare_batch(pipeline, rows, defaults=defaults, parallel=4)
        worst = batch.rows[0].worst_case_usd
        batch.max_cost_usd = 2.5 * worst  # two rows' worst case fit, a third never does
        result = asyncio.run(arun_prepared(batch))
    statuses = [r.status for r in result.rows]
    started = statuses.count("complete")
    # However little each run really cost, rows 1 and 2 fit and the batch never passes its cap.
    assert started >= 2 and statuses == ["complete"] * started + ["skipped_budget"] * (5 - started)
    assert started < 5 and result.cost_usd <= 2.5 * worst and fake.count == 3 * started
    assert _manifest(result)["totals"]["skipped_budget"] == 5 - started
    assert all(r.run_id is None for r in result.rows[started:])
    assert result.status == "partial"
    # Each row not started says why, with the figures.
    assert all(
        r.error.startswith(f"not started: up to ${worst:.4f} more would pass the batch's max_cost_usd ")
        for r in result.rows[started:]
    )


def test_a_gate_stops_the_batch_with_its_reason(tmp_path):
    batch = prepare_batch(
        SketchPipeline(output_dir=tmp_path), CsvText("brief\na\nb\n"), defaults={"model": "trace"}
    )
    result = asyncio.run(arun_prepared(batch, gate=lambda: "the daily budget is spent"))
    assert [(r.status, r.error) for r in result.rows] == [("skipped_budget", "the daily budget is spent")] * 2


# -- the Gemini Batch API hook -------------------------------------------------------------------------
def test_batch_api_absent_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "generate.batch_api", None)
    batch = prepare_batch(SketchPipeline(output_dir=tmp_path), [{"brief": "a"}], defaults={"model": "trace"})
    with pytest.raises(ConfigError, match="the Gemini Batch API is not available in this build"):
        asyncio.run(arun_prepared(batch, batch_api=True))


def test_batch_api_gets_the_prepared_runs_and_the_manifest(tmp_path, monkeypatch):
    import types

    seen = {}

    async def arun_batch_api(pipeline, prepared_runs, *, manifest, save, on_event, max_cost_usd, events_for):
        seen.update(runs=len(prepared_runs), batch_id=manifest.batch_id, cap=max_cost_usd)
        manifest.data["batch_api"] = {"job": "batches/123"}
        save()
        return [await pipeline.arun(p, on_event=events_for(i)) for i, p in enumerate(prepared_runs)]

    monkeypatch.setitem(
        sys.modules, "generate.batch_api", types.SimpleNamespace(arun_batch_api=arun_batch_api)
    )
    batch = prepare_batch(
        SketchPipeline(output_dir=tmp_path), [{"brief": "a"}, {"brief": "b"}], defaults={"model": "trace"}
    )
    result = asyncio.run(arun_prepared(batch, batch_api=True))
    assert seen == {"runs": 2, "batch_id": batch.batch_id, "cap": None}
    data = _manifest(result)
    assert [r["run_id"] for r in data["rows"]] == [r.run_id for r in result.rows]
    assert (
        data["batch_api"] == {"job": "batches/123"}
        and [r["status"] for r in data["rows"]] == ["complete"] * 2
    )


def test_a_problem_many_rows_share_is_said_once_with_its_rows(tmp_path):
    rows = [{"brief": f"b{i}", "style_id": "nope"} for i in range(5)] + [
        {"brief": "ok"},
        {"brief": "x", "seed": "s"},
    ]
    with pytest.raises(BatchInvalid) as info:
        SketchPipeline(output_dir=tmp_path).run_batch(rows, defaults={"model": "trace"})
    problems = info.value.problems
    assert len(problems) == 2, problems
    assert problems[0].startswith("rows 1-5 (5 rows): ") and "nope" in problems[0]
    assert problems[1] == "row 7: seed must be a whole number"


def test_a_bad_default_is_said_once_by_its_label(tmp_path):
    with pytest.raises(ConfigError, match=r"^-n must be between 3 and 6 \(got 9\)$") as info:
        prepare_batch(
            SketchPipeline(output_dir=tmp_path),
            [{"brief": "a"}] * 4,
            defaults={"num_images": 9},
            labels={"num_images": "-n"},
        )
    assert info.value.field == "defaults"


def test_a_batch_running_elsewhere_is_not_started_twice(tmp_path):
    from generate.run_lock import RunLock

    batch = prepare_batch(SketchPipeline(output_dir=tmp_path), [{"brief": "a"}], defaults={"model": "trace"})
    other = RunLock(batch.manifest.path.parent).acquire()  # as another process would hold it
    try:
        with pytest.raises(ConfigError, match="is running in another process"):
            asyncio.run(arun_prepared(batch))
    finally:
        other.release()
    assert not any(p.name != "batches" for p in tmp_path.iterdir())  # no run started


def test_image_paths_are_taken_from_the_batch_files_folder(tmp_path, monkeypatch):
    from PIL import Image

    folder = tmp_path / "briefs"
    folder.mkdir()
    Image.new("RGB", (256, 256), "white").save(folder / "drawing.png")
    path = _csv(folder, "brief,image,references\ngolf mascot,drawing.png,drawing.png\n")
    monkeypatch.chdir(tmp_path)  # not the file's folder
    result = SketchPipeline(output_dir=tmp_path / "out").run_batch(
        path, defaults={"model": "trace", "num_images": 3}
    )
    assert result.status == "complete"
    meta = json.loads((tmp_path / "out" / result.rows[0].run_id / "metadata.json").read_text())
    assert str(folder / "drawing.png") in json.dumps(meta)


def test_a_failing_row_never_takes_the_others_down_and_no_key_is_recorded(tmp_path, monkeypatch):
    with FakeGeminiServer() as fake:
        env = fake.env()
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        fake.script(Behavior.prompt_blocked(), match="coffee cup", then=Behavior.prompt_blocked())
        fake.script(Behavior.echo_key(), match="bike shop", then=Behavior.echo_key())
        rows = [{"brief": "golf mascot"}, {"brief": "coffee cup logo"}, {"brief": "bike shop badge"}]
        result = SketchPipeline(output_dir=tmp_path / "out").run_batch(
            rows, defaults={"model": "nano-banana", "num_images": 3}
        )
    assert [r.status for r in result.rows] == ["complete", "failed", "failed"]
    assert result.status == "partial" and result.rows[0].succeeded == 3
    text = result.manifest_path.read_text()
    assert env["GEMINI_API_KEY"] not in text and env["GEMINI_API_KEY"] not in json.dumps(result.to_dict())


# -- a CSV as a spreadsheet saves it -----------------------------------------------------------------
@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_a_spreadsheets_csv_reads_whatever_its_separator(tmp_path, sep):
    # Excel's "CSV UTF-8": a byte-order mark, CRLF, a quoted cell holding the separator, a column
    # named in another case, empty trailing lines.
    text = (
        f'\ufeffBrief{sep} Style_ID \r\n"golf{sep} playful"{sep}vintage-mascot\r\ncoffee cup{sep}\r\n\r\n\r\n'
    )
    path = tmp_path / "briefs.csv"
    path.write_bytes(text.encode("utf-8"))
    batch = prepare_batch(SketchPipeline(output_dir=tmp_path / "out"), path, defaults={"model": "trace"})
    batch.close()
    assert [(r.number, r.prepared.request.brief, r.prepared.request.style_id) for r in batch.rows] == [
        (2, f"golf{sep} playful", "vintage-mascot"),
        (3, "coffee cup", "vintage-mascot"),
    ]


def test_an_over_long_brief_is_named_by_its_row_and_the_rows_after_it_are_still_checked(tmp_path):
    path = _csv(tmp_path, "brief,seed\n" + "x" * 1_000_000 + ",1\nok,1\nfine,seven\n")
    with pytest.raises(BatchInvalid) as info:
        SketchPipeline(output_dir=tmp_path / "out").run_batch(path, defaults={"model": "trace"})
    problems = info.value.problems
    assert [p.split(":")[0] for p in problems] == ["row 2", "row 4"], problems
    assert "brief" in problems[0] and "2000 characters" in problems[0]


def test_a_column_given_twice_is_a_problem_not_a_silent_choice(tmp_path):
    path = _csv(tmp_path, "brief,style,style_id\ngolf mascot,vintage-mascot,badge-emblem\n")
    with pytest.raises(BatchInvalid) as info:
        SketchPipeline(output_dir=tmp_path / "out").run_batch(path, defaults={"model": "trace"})
    assert info.value.problems == ["row 1: column 'style_id' appears 2 times; keep one"]


def test_a_file_not_in_utf8_says_how_to_save_it(tmp_path):
    path = tmp_path / "briefs.csv"
    path.write_bytes("brief\ncaf\xe9 logo\n".encode("cp1252"))
    with pytest.raises(ConfigError, match='not UTF-8 text: save it as UTF-8 .*"CSV UTF-8"'):
        SketchPipeline(output_dir=tmp_path / "out").run_batch(path, defaults={"model": "trace"})


# -- a manifest edited by hand, cut short, or raced for ---------------------------------------------
def _run_once(tmp_path):
    path = _csv(tmp_path, "brief\ngolf mascot\ncoffee cup\n")
    pipeline = SketchPipeline(output_dir=tmp_path / "out")
    return path, pipeline, pipeline.run_batch(path, defaults={"model": "trace", "num_images": 3})


@pytest.mark.parametrize(
    "edit, said",
    [
        (lambda d: d["rows"][0].pop("row"), "a row's number is None"),
        (lambda d: d["rows"][0].update(cost_usd="abc"), "row 2's cost_usd is 'abc'"),
        (lambda d: d["rows"][1].update(run_id="../../etc"), "row 3's run_id is '../../etc'"),
        (lambda d: d["rows"].append(dict(d["rows"][0])), "row 2 is listed twice"),
    ],
)
def test_a_manifest_edited_wrongly_is_said_with_its_path_not_a_traceback(tmp_path, edit, said):
    path, pipeline, first = _run_once(tmp_path)
    data = _manifest(first)
    edit(data)
    first.manifest_path.write_text(json.dumps(data))
    folders = sorted(p.name for p in (tmp_path / "out").iterdir())
    with pytest.raises(ConfigError, match="is damaged") as info:
        pipeline.run_batch(path, defaults={"model": "trace", "num_images": 3})
    assert str(first.manifest_path) in str(info.value) and said in str(info.value)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == folders  # no new run was started


def test_a_manifest_cut_short_after_its_source_is_said_not_replaced(tmp_path):
    path, pipeline, first = _run_once(tmp_path)
    text = first.manifest_path.read_text()
    first.manifest_path.write_text(text[: text.index('"rows"') + 20])
    with pytest.raises(ConfigError, match="is damaged .*not valid JSON"):
        pipeline.run_batch(path, defaults={"model": "trace", "num_images": 3})
    assert [p.name for p in (tmp_path / "out" / "batches").iterdir() if not p.name.startswith(".")] == [
        first.batch_id
    ]


def test_a_row_deleted_from_the_manifest_runs_again_the_others_are_kept(tmp_path):
    path, pipeline, first = _run_once(tmp_path)
    data = _manifest(first)
    data["rows"] = data["rows"][:1]  # row 3's record removed by hand
    first.manifest_path.write_text(json.dumps(data))
    again = pipeline.run_batch(path, defaults={"model": "trace", "num_images": 3})
    assert again.batch_id == first.batch_id
    assert [(r.row, r.status) for r in again.rows] == [(2, "complete"), (3, "complete")]
    assert again.rows[0].run_id == first.rows[0].run_id and again.rows[1].run_id != first.rows[1].run_id


def test_two_batches_of_the_same_file_started_together_share_one_manifest(tmp_path, monkeypatch):
    import threading
    import time

    from generate.batch_manifest import Manifest

    original = Manifest.find.__func__

    def slow_find(cls, *args, **kwargs):
        found = original(cls, *args, **kwargs)
        time.sleep(0.3)  # widen the window between looking and making, as a long file would
        return found

    monkeypatch.setattr(Manifest, "find", classmethod(slow_find))
    path = _csv(tmp_path, "brief\ngolf mascot\n")
    pipeline = SketchPipeline(output_dir=tmp_path / "out")
    batches = []

    def prepare():
        batches.append(prepare_batch(pipeline, path, defaults={"model": "trace"}))

    threads = [threading.Thread(target=prepare) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for b in batches:
        b.close()
    assert len(batches) == 2 and batches[0].batch_id == batches[1].batch_id
    assert sorted(b.resumed for b in batches) == [False, True]


def test_a_file_edited_between_runs_does_not_pay_again_for_its_unchanged_rows(tmp_path):
    path = _csv(tmp_path, "brief,seed\ngolf mascot,1\ncoffee cup,2\nbike shop,3\n")
    pipeline = SketchPipeline(output_dir=tmp_path / "out")
    defaults = {"model": "trace", "num_images": 3}
    first = pipeline.run_batch(path, defaults=defaults)
    # Row 3 fixed, a row put in before it: "golf mascot" and "bike shop" are the same requests.
    path.write_text("brief,seed\ngolf mascot,1\nnew row,9\ncoffee mug,2\nbike shop,3\n")
    again = pipeline.run_batch(path, defaults=defaults)
    assert again.batch_id != first.batch_id and not again.resumed
    runs = {r.brief: r.run_id for r in first.rows}
    assert [(r.brief, r.status) for r in again.rows] == [
        ("golf mascot", "complete"),
        ("new row", "complete"),
        ("coffee mug", "complete"),
        ("bike shop", "complete"),
    ]
    assert again.rows[0].run_id == runs["golf mascot"] and again.rows[3].run_id == runs["bike shop"]
    assert again.rows[1].run_id not in runs.values() and again.rows[2].run_id not in runs.values()
    assert _manifest(again)["carried_from"] == {"batch_id": first.batch_id, "rows": 2}
    # The same settings but another seed is another request: made anew.
    path.write_text("brief,seed\ngolf mascot,5\n")
    third = pipeline.run_batch(path, defaults=defaults)
    assert third.rows[0].run_id not in runs.values()


def test_a_large_batchs_manifest_gathers_row_changes_into_few_whole_writes(tmp_path, monkeypatch):
    from generate import batch_manifest
    from generate.batch_manifest import Manifest

    batch = prepare_batch(
        SketchPipeline(output_dir=tmp_path),
        [{"brief": f"brief {i}"} for i in range(Manifest.EACH_CHANGE_ROWS + 1)],
        defaults={"model": "trace"},
    )
    batch.close()
    manifest = batch.manifest
    writes = []
    real_write = batch_manifest.atomic_write_json
    monkeypatch.setattr(
        batch_manifest, "atomic_write_json", lambda path, data: (writes.append(1), real_write(path, data))
    )
    monkeypatch.setattr(Manifest, "COALESCE_S", 3600.0)  # no timer fires during the test
    for number in range(1, 101):
        manifest.update_row(number, status="running")
    assert writes == []  # gathered, not 100 writes of the whole file
    manifest.save()  # the batch's end (or its stop) writes what was gathered
    assert len(writes) == 1
    data = json.loads(manifest.path.read_text())
    assert [r["status"] for r in data["rows"][:100]] == ["running"] * 100 and data["rows"][100][
        "status"
    ] == "pending"


def test_a_large_batchs_gathered_changes_are_written_by_the_timer(tmp_path, monkeypatch):
    import time

    from generate.batch_manifest import Manifest

    batch = prepare_batch(
        SketchPipeline(output_dir=tmp_path),
        [{"brief": f"brief {i}"} for i in range(Manifest.EACH_CHANGE_ROWS + 1)],
        defaults={"model": "trace"},
    )
    batch.close()
    monkeypatch.setattr(Manifest, "COALESCE_S", 0.01)
    batch.manifest.update_row(7, status="running")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # without a call to save(): the timer thread writes it
        if json.loads(batch.manifest.path.read_text())["rows"][6]["status"] == "running":
            break
        time.sleep(0.02)
    assert json.loads(batch.manifest.path.read_text())["rows"][6]["status"] == "running"


def test_a_semicolon_csv_reads_its_locales_decimal_comma(tmp_path):
    path = _csv(tmp_path, 'brief;max_cost_usd;timeout_s\r\ngolf mascot;"0,50";"90,5"\r\n')
    batch = prepare_batch(SketchPipeline(output_dir=tmp_path / "out"), path, defaults={"model": "trace"})
    batch.close()
    request = batch.rows[0].prepared.request
    assert (request.max_cost_usd, request.timeout_s) == (0.5, 90.5)


def test_a_row_that_alone_could_pass_the_batchs_cap_is_a_problem_before_any_call(fake, tmp_path):
    rows = [
        {"brief": "golf mascot"},
        {"brief": "coffee cup", "model": "nano-banana-pro", "num_images": 6},
        {"brief": "bike shop"},
    ]
    with pytest.raises(BatchInvalid) as info:
        SketchPipeline(output_dir=tmp_path / "out").run_batch(
            rows, defaults={"model": "nano-banana", "num_images": 3}, max_cost_usd=0.5
        )
    assert len(info.value.problems) == 1, info.value.problems
    assert info.value.problems[0].startswith("row 2: could cost up to $")
    assert "over the batch's max_cost_usd $0.5000" in info.value.problems[0]
    assert fake.count == 0 and not (tmp_path / "out").exists()
    # Sent as a Gemini Batch API job, the job's own worst case at the batch price is what counts.
    batch = prepare_batch(
        SketchPipeline(output_dir=tmp_path / "out"),
        rows,
        defaults={"model": "nano-banana", "num_images": 3},
        max_cost_usd=0.5,
        batch_api=True,
    )
    batch.close()
    assert len(batch.rows) == 3 and fake.count == 0


def test_a_resumed_rows_cost_counts_its_billed_failure_too(tmp_path, monkeypatch):
    with FakeGeminiServer() as fake:
        for k, v in fake.env().items():
            monkeypatch.setenv(k, v)
        # Row 2's second sketch gets image-less answers (billed: prompt and thought tokens) every attempt.
        fake.script(
            match=lambda r: "coffee cup" in r.prompt.lower() and "sketch 2 of 3" in r.prompt.lower(),
            then=Behavior.no_image(),
        )
        path = _csv(tmp_path, "brief\ncoffee cup logo\n")
        pipeline = SketchPipeline(output_dir=tmp_path / "out")
        first = pipeline.run_batch(path, defaults={"model": "nano-banana-pro", "num_images": 3})
        assert [r.status for r in first.rows] == ["partial"]
        before = first.rows[0].cost_usd
        meta = json.loads((tmp_path / "out" / first.rows[0].run_id / "metadata.json").read_text())
        billed = next(r["cost_usd"] for r in meta["sketches"] if r["status"] == "failed")
        assert billed > 0 and before == meta["totals"]["cost_usd"]
        fake.reset()
        again = pipeline.run_batch(path, defaults={"model": "nano-banana-pro", "num_images": 3})
    assert [r.status for r in again.rows] == ["complete"] and fake.count == 1
    meta = json.loads((tmp_path / "out" / again.rows[0].run_id / "metadata.json").read_text())
    remade = next(r for r in meta["sketches"] if r.get("prior_cost_usd"))
    assert remade["prior_cost_usd"] == billed
    assert (
        again.rows[0].cost_usd == meta["totals"]["cost_usd"] == round(before + remade["cost_usd"] - billed, 6)
    )
    assert again.rows[0].cost_usd > before
    assert _manifest(again)["totals"]["cost_usd"] == again.rows[0].cost_usd
