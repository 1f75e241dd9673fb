"""Runs made through the Gemini Batch API: the real google-genai client against the fake server."""

from __future__ import annotations

import io
import json

import pytest

from generate.adapters.gemini.batch import BatchJobError, GeminiBatchClient, PollBackoff
from generate.adapters.gemini.catalog import resolve_model
from generate.batch_api import arun_batch_api, ask_cancel, run_batch_api
from generate.errors import ConfigError
from generate.pipeline import SketchPipeline
from generate.testing import Behavior

MODEL = "nano-banana-pro"


class Manifest(dict):
    """A manifest as generate/batch.py keeps one: ``save`` writes it whole, as JSON, each time."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.saves = 0

    def save(self) -> None:
        self.path.write_text(json.dumps(self))  # fails on anything not JSON-ready
        self.saves += 1

    def reloaded(self) -> Manifest:
        again = Manifest(self.path)
        again.update(json.loads(self.path.read_text()))
        return again


@pytest.fixture()
def pipeline(tmp_path):
    return SketchPipeline(output_dir=tmp_path / "out")


def _runs(pipeline, n_runs=2, n=3, model=MODEL, **extra):
    return [
        pipeline.validate(
            {
                "brief": f"playful golf mascot {i}",
                "style_id": "vintage-mascot",
                "num_images": n,
                "model": model,
                **extra,
            }
        )
        for i in range(n_runs)
    ]


def _run(pipeline, runs, manifest, sleeps=None, sleep=None, **kw):
    sleeps = sleeps if sleeps is not None else []
    client = GeminiBatchClient(runs[0].adapter, sleep=sleep or sleeps.append, **kw.pop("client_kw", {}))
    return run_batch_api(pipeline, runs, manifest, manifest.save, client=client, **kw)


def _sketches(result):
    return json.loads(result.metadata_path.read_text())["sketches"]


def test_inline_job_writes_standard_run_folders_at_half_price(fake, pipeline, tmp_path):
    manifest = Manifest(tmp_path / "manifest.json")
    results = _run(pipeline, _runs(pipeline), manifest)
    assert [r.status for r in results] == ["complete", "complete"]
    assert fake.batch_creates == 1
    assert all(r.batch for r in fake.requests)  # no unary call was made
    entry = manifest.reloaded()["batch_api"]
    assert entry["job"].startswith("batches/") and entry["state"] == "SUCCEEDED"
    assert entry["source"] == "inline" and entry["model"] == resolve_model(MODEL).id
    assert entry["keys"] == {f"r{r}s{s}": [r, s] for r in range(2) for s in range(3)}
    assert set(entry["runs"]) == {"0", "1"} and manifest.saves >= 3
    for result in results:
        meta = json.loads(result.metadata_path.read_text())
        assert meta["status"] == "complete" and entry["job"] in meta["model"]["reason"]
        for sketch in meta["sketches"]:
            assert (result.output_dir / sketch["file"]).is_file()
            assert sketch["extra"]["batch_job"] == entry["job"] and sketch["extra"]["price"] == "batch"
            assert sketch["extra"]["batch_submitted_at"] == entry["submitted_at"]
            assert sketch["extra"]["batch_finished_at"] == entry["finished_at"]
            standard = float(sketch["extra"]["standard_cost_usd"])
            assert standard > 0 and sketch["cost_usd"] == pytest.approx(standard * 0.5, abs=1e-6)
        assert result.cost_usd == pytest.approx(sum(s["cost_usd"] for s in meta["sketches"]), abs=1e-5)


@pytest.mark.parametrize("inline_limit", [None, 1000], ids=["inline", "file"])
def test_batch_requests_are_the_ones_a_normal_run_sends(fake, pipeline, tmp_path, inline_limit):
    options = {"seed": 7, "aspect_ratio": "3:4", "image_size": "2K"}
    [unary] = _runs(pipeline, 1, **options)
    pipeline.run(unary)
    sent_alone = [r for r in fake.requests if r.batch is None]
    fake.reset()
    limit = {"client_kw": {"inline_limit_bytes": inline_limit}} if inline_limit else {}
    manifest = Manifest(tmp_path / "m.json")
    _run(pipeline, _runs(pipeline, 1, **options), manifest, **limit)
    assert manifest["batch_api"]["source"].startswith("files/" if inline_limit else "inline")
    in_batch = sorted((r for r in fake.requests if r.batch), key=lambda r: r.prompt)
    sent_alone.sort(key=lambda r: r.prompt)
    assert len(in_batch) == len(sent_alone) == 3

    def shape(r):
        return (r.prompt, r.aspect_ratio, r.image_size, r.seed, r.response_modalities, r.parts, r.images)

    assert [shape(r) for r in in_batch] == [shape(r) for r in sent_alone]
    assert {(r.seed, r.aspect_ratio, r.image_size) for r in in_batch} == {(7, "3:4", "2K")}


def test_file_job_when_the_requests_pass_the_inline_limit(fake, pipeline, tmp_path):
    manifest = Manifest(tmp_path / "m.json")
    results = _run(pipeline, _runs(pipeline), manifest, client_kw={"inline_limit_bytes": 1000})
    assert manifest["batch_api"]["source"].startswith("files/")
    assert [r.status for r in results] == ["complete", "complete"]
    job = fake.batches.jobs[manifest["batch_api"]["job"]]
    assert job.source == manifest["batch_api"]["source"] and job.result_file


def test_partly_failed_job_fails_only_its_own_sketches(fake, pipeline, tmp_path):
    per_day = Behavior.rate_limited(per_day=True)
    fake.script(per_day, match="golf mascot 1", then=per_day)  # every sketch of the second run
    fake.script(Behavior.server_error(), match="Sketch 2 of 3")
    fake.script(Behavior.image_safety(), match="Sketch 3 of 3")
    results = _run(pipeline, _runs(pipeline), Manifest(tmp_path / "m.json"))
    assert [r.status for r in results] == ["partial", "failed"]
    first, second = (_sketches(r) for r in results)
    assert [s["status"] for s in first] == ["completed", "failed", "failed"]
    assert first[1]["error"]["code"] == "server_error" and "batch job" in first[1]["error"]["message"]
    assert first[2]["error"]["code"] == "blocked_output" and first[2]["cost_usd"] == 0
    # A per-day quota error carries QuotaFailure details (which the SDK's model cannot read).
    assert {s["error"]["code"] for s in second} == {"quota_exhausted"}
    # Only the sketch that came back costs anything, at the batch price.
    assert first[0]["cost_usd"] == pytest.approx(float(first[0]["extra"]["standard_cost_usd"]) / 2, abs=1e-6)
    assert all(s["cost_usd"] == 0 for s in [*first[1:], *second])
    assert results[0].cost_usd == pytest.approx(first[0]["cost_usd"]) and results[1].cost_usd == 0


@pytest.mark.parametrize("inline_limit", [None, 1000], ids=["inline", "file"])
def test_an_answer_that_is_not_a_response_fails_only_its_sketch(fake, pipeline, tmp_path, inline_limit):
    fake.script(Behavior.raw_body('{"candidates": 5}'), match="Sketch 3 of 3")
    limit = {"client_kw": {"inline_limit_bytes": inline_limit}} if inline_limit else {}
    [result] = _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "m.json"), **limit)
    sketches = _sketches(result)
    assert [s["status"] for s in sketches] == ["completed", "completed", "failed"]
    assert sketches[2]["error"]["code"] == "bad_response"


@pytest.mark.parametrize(("final", "code"), [("EXPIRED", "batch_expired"), ("FAILED", "batch_failed")])
def test_expired_or_failed_job_reports_every_sketch(fake, pipeline, tmp_path, final, code):
    fake.script_batch("PENDING", "RUNNING", final)
    manifest = Manifest(tmp_path / "m.json")
    results = _run(pipeline, _runs(pipeline), manifest)
    assert [r.status for r in results] == ["failed", "failed"]
    for result in results:
        assert result.metadata_path.is_file()
        assert {s["error"]["code"] for s in _sketches(result)} == {code}
    assert manifest["batch_api"]["state"] == final


def test_answers_a_cancelled_job_made_before_it_ended_are_kept(fake, pipeline, tmp_path):
    fake.script_batch("PENDING", "CANCELLED+2")
    [result] = _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "m.json"))
    sketches = _sketches(result)
    assert result.status == "partial"
    assert [s["status"] for s in sketches] == ["completed", "completed", "failed"]
    assert sketches[2]["error"]["code"] == "cancelled"


def _interrupt(_delay):
    raise KeyboardInterrupt


def test_ctrl_c_then_yes_cancels_upstream_and_a_rerun_reports_it(fake, pipeline, tmp_path):
    manifest = Manifest(tmp_path / "m.json")
    with pytest.raises(KeyboardInterrupt):
        _run(pipeline, _runs(pipeline), manifest, sleep=_interrupt, on_interrupt=lambda job: True)
    assert fake.batches.cancels == 1
    again = manifest.reloaded()
    assert again["batch_api"]["cancelled"] is True and again["batch_api"]["state"] == "CANCELLED"
    results = _run(pipeline, _runs(pipeline), again)
    assert fake.batch_creates == 1
    assert {s["error"]["code"] for r in results for s in _sketches(r)} == {"cancelled"}


def test_restart_resumes_polling_without_a_second_submit(fake, pipeline, tmp_path):
    manifest = Manifest(tmp_path / "m.json")
    with pytest.raises(KeyboardInterrupt):
        _run(pipeline, _runs(pipeline), manifest, sleep=_interrupt, on_interrupt=lambda job: False)
    assert fake.batch_creates == 1 and fake.batches.cancels == 0
    again = manifest.reloaded()
    assert again["batch_api"]["state"] == "RUNNING" and again["batch_api"]["runs"] == {}
    results = _run(pipeline, _runs(pipeline), again)
    assert [r.status for r in results] == ["complete", "complete"]
    assert fake.batch_creates == 1
    # Run again once written: nothing is submitted or written twice; the results are read back.
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    reread = _run(pipeline, _runs(pipeline), again)
    assert [r.run_id for r in reread] == [r.run_id for r in results] and fake.batch_creates == 1
    assert [r.status for r in reread] == ["complete", "complete"] and all(len(r.images) == 3 for r in reread)
    assert reread[0].cost_usd == pytest.approx(results[0].cost_usd, abs=1e-6)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before


def test_manifest_object_with_data_and_a_null_entry(fake, pipeline, tmp_path):
    """generate/batch.py's Manifest keeps its document in ``data`` with ``"batch_api": None``."""

    class ObjectManifest:
        def __init__(self):
            self.data = {"rows": [], "batch_api": None}
            self.saves = 0

        def save(self):
            json.dumps(self.data)
            self.saves += 1

    manifest = ObjectManifest()
    client = GeminiBatchClient((runs := _runs(pipeline, 1))[0].adapter, sleep=lambda s: None)
    [result] = run_batch_api(pipeline, runs, manifest, manifest.save, client=client)
    assert result.status == "complete" and manifest.data["batch_api"]["runs"] == {"0": result.run_id}


def test_async_form_stops_polling_when_cancelled_and_asks(fake, pipeline, tmp_path):
    import asyncio

    fake.script_batch(*["PENDING"] * 50, "SUCCEEDED")
    manifest = Manifest(tmp_path / "m.json")
    runs = _runs(pipeline, 1)
    asked: list[str] = []
    polled = asyncio.Event()

    async def main():
        loop = asyncio.get_running_loop()
        client = GeminiBatchClient(runs[0].adapter, backoff=PollBackoff(0.01, 1, 0.01))
        task = asyncio.ensure_future(
            arun_batch_api(
                pipeline,
                runs,
                manifest,
                manifest.save,
                client=client,
                on_state=lambda s: loop.call_soon_threadsafe(polled.set),
                on_interrupt=lambda job: asked.append(job) or False,
            )
        )
        await polled.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert asked == [manifest["batch_api"]["job"]] and fake.batches.cancels == 0
    assert fake.batches.jobs[asked[0]].state == "PENDING"


def test_a_poll_that_fails_for_a_while_is_waited_out(fake, pipeline, tmp_path):
    fake.batches.fail_gets(
        (503, "UNAVAILABLE", "The service is currently unavailable."), (500, "INTERNAL", "x")
    )
    sleeps: list[float] = []
    results = _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "m.json"), sleeps=sleeps)
    assert results[0].status == "complete"
    assert sleeps == [5, 7.5, 11.25]  # after each failed poll, and after "running"; then done


def test_a_poll_that_never_answers_times_out_and_is_waited_out(fake, pipeline, tmp_path):
    fake.batches.hang_gets = 1
    sleeps: list[float] = []
    kw = {"client_kw": {"timeout_s": 1}}
    [result] = _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "m.json"), sleeps=sleeps, **kw)
    assert result.status == "complete" and sleeps == [5, 7.5]  # after the timed-out poll, after "running"


def test_a_job_that_cannot_be_read_is_one_clear_error_and_stays_recorded(fake, pipeline, tmp_path):
    fake.batches.fail_gets((404, "NOT_FOUND", "Batch not found."))
    manifest = Manifest(tmp_path / "m.json")
    with pytest.raises(BatchJobError, match="could not read batch job batches/") as info:
        _run(pipeline, _runs(pipeline, 1), manifest)
    assert "the job is gone" in str(info.value) and "\n" not in str(info.value)
    assert manifest.reloaded()["batch_api"]["job"] and fake.batch_creates == 1


def test_a_job_the_server_forgot_is_said_once_then_a_rerun_submits_it_anew(fake, pipeline, tmp_path):
    manifest = Manifest(tmp_path / "m.json")
    fake.script_batch("PENDING", "RUNNING")  # never ends: the user gives up waiting

    def ctrl_c(_delay: float) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(pipeline, _runs(pipeline, 1), manifest, sleep=ctrl_c)
    first = manifest.reloaded()["batch_api"]["job"]
    fake.batches.jobs.clear()  # deleted at Google meanwhile
    again = manifest.reloaded()
    with pytest.raises(BatchJobError, match="run the same command again to submit these sketches"):
        _run(pipeline, _runs(pipeline, 1), again)
    assert fake.batch_creates == 1 and again.reloaded()["batch_api"]["gone"] is True
    third = again.reloaded()
    [result] = _run(pipeline, _runs(pipeline, 1), third)
    assert result.status == "complete" and fake.batch_creates == 2
    entry = third.reloaded()["batch_api"]
    assert entry["previous_jobs"] == [first] and entry["job"] != first and "gone" not in entry


def test_a_job_error_never_shows_the_api_key(fake, pipeline, tmp_path):
    fake.batches.fail_gets((404, "NOT_FOUND", "no batch for key test-key"))  # a server echoing it
    with pytest.raises(BatchJobError) as info:
        _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "m.json"))
    assert "test-key" not in str(info.value) and "no batch for key" in str(info.value)


def test_a_sketch_whose_request_changed_since_submission_is_not_passed_off(fake, pipeline, tmp_path):
    manifest = Manifest(tmp_path / "m.json")
    with pytest.raises(KeyboardInterrupt):
        _run(pipeline, _runs(pipeline, 1), manifest, sleep=_interrupt, on_interrupt=lambda job: False)
    again = manifest.reloaded()
    again["batch_api"]["fingerprints"]["r0s1"] = "0" * 64  # as if its references had changed
    [result] = _run(pipeline, _runs(pipeline, 1), again)
    sketches = _sketches(result)
    assert [s["status"] for s in sketches] == ["completed", "failed", "completed"]
    assert (
        sketches[1]["error"]["code"] == "invalid_request"
        and "changed since" in sketches[1]["error"]["message"]
    )


def test_a_create_whose_answer_is_lost_is_found_again_not_paid_twice(fake, pipeline, tmp_path):
    fake.batches.drop_next_create = True
    manifest = Manifest(tmp_path / "m.json")
    [result] = _run(pipeline, _runs(pipeline, 1), manifest)
    assert result.status == "complete" and fake.batch_creates == 1
    assert manifest["batch_api"]["job"] in fake.batches.jobs


@pytest.mark.parametrize("inline_limit", [None, 1000], ids=["inline", "file"])
def test_output_only_in_the_operations_response_is_read(fake, pipeline, tmp_path, inline_limit):
    fake.batches.output_in_response_only = True
    limit = {"client_kw": {"inline_limit_bytes": inline_limit}} if inline_limit else {}
    [result] = _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "m.json"), **limit)
    assert result.status == "complete"


def test_catalog_lists_the_batch_price():
    pro = resolve_model(MODEL).describe()
    assert pro["batch_price_per_image_usd"]["1K"] == pytest.approx(pro["price_per_image_usd"]["1K"] * 0.5)


def test_resuming_with_other_sketches_is_refused_before_any_call(fake, pipeline, tmp_path):
    manifest = Manifest(tmp_path / "m.json")
    with pytest.raises(KeyboardInterrupt):
        _run(pipeline, _runs(pipeline, 1), manifest, sleep=_interrupt, on_interrupt=lambda job: False)
    polls = fake.batches.jobs[manifest["batch_api"]["job"]].gets
    with pytest.raises(ConfigError, match="submitted for 3 sketches, not these 4"):
        _run(pipeline, _runs(pipeline, 1, n=4), manifest.reloaded())
    assert fake.batches.jobs[manifest["batch_api"]["job"]].gets == polls and fake.batch_creates == 1


def test_polling_backs_off_to_its_cap(fake, pipeline, tmp_path):
    fake.script_batch(*["PENDING"] * 9, "RUNNING", "SUCCEEDED")
    sleeps: list[float] = []
    _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "m.json"), sleeps=sleeps)
    assert sleeps == [5, 7.5, 11.25, 16.875, 25.3125, 37.96875, 56.953125, 60, 60]
    assert list(zip(range(3), PollBackoff(1, 2, 3).delays(), strict=False)) == [(0, 1), (1, 2), (2, 3)]


def test_a_job_over_the_cap_is_refused_before_it_is_submitted(fake, pipeline, tmp_path):
    from generate.budget import BudgetExceeded

    runs = _runs(pipeline)
    standard = runs[0].adapter.entry.price_per_image["1K"]
    client = GeminiBatchClient(runs[0].adapter, sleep=lambda s: None)
    with pytest.raises(BudgetExceeded, match="a batch job of 6 sketches") as info:
        run_batch_api(
            pipeline, runs, Manifest(tmp_path / "m.json"), lambda: None, client=client, max_cost_usd=0.2
        )
    assert 6 * standard / 2 < info.value.estimate_usd < 6 * standard  # the batch price, and the prompts
    assert fake.batch_creates == 0 and fake.count == 0
    # Under the cap at the batch price (though over it at the standard one): it goes.
    runs = _runs(pipeline)
    client = GeminiBatchClient(runs[0].adapter, sleep=lambda s: None)
    cap = info.value.estimate_usd + 0.01
    results = run_batch_api(
        pipeline, runs, Manifest(tmp_path / "m2.json"), lambda: None, client=client, max_cost_usd=cap
    )
    assert [r.status for r in results] == ["complete", "complete"] and fake.batch_creates == 1


def test_runs_the_batch_api_cannot_take_are_refused_before_any_call(fake, pipeline, tmp_path):
    runs = _runs(pipeline, 1) + _runs(pipeline, 1, model="trace")
    with pytest.raises(ConfigError, match="not a Gemini model"):
        run_batch_api(pipeline, runs, Manifest(tmp_path / "m.json"), lambda: None)
    assert fake.count == 0 and fake.batch_creates == 0


def test_vertex_ai_is_refused_with_a_clear_error():
    from types import SimpleNamespace

    from generate.adapters.gemini.adapter import NanoBananaAdapter

    adapter = NanoBananaAdapter(MODEL, client=SimpleNamespace(vertexai=True))
    with pytest.raises(ConfigError, match="not Vertex AI"):
        GeminiBatchClient(adapter)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ask_cancel_without_a_terminal_keeps_the_job_and_says_how_to_resume():
    out = io.StringIO()
    assert (
        ask_cancel("batches/x", command="sketchgen batch b.csv --batch-api", stdin=io.StringIO(), out=out)
        is False
    )
    assert "batches/x" in out.getvalue() and "sketchgen batch b.csv --batch-api" in out.getvalue()


@pytest.mark.parametrize(("answer", "cancel"), [("y", True), ("yes", True), ("n", False), ("", False)])
def test_ask_cancel_on_a_terminal_asks(answer, cancel):
    out = io.StringIO()
    assert ask_cancel("batches/x", stdin=_Tty(), ask=lambda prompt: answer, out=out) is cancel
    assert ("still running" in out.getvalue()) is not cancel


def test_a_batch_of_briefs_cancelled_while_polling_asks_and_keeps_the_job(fake, pipeline, tmp_path):
    """``sketchgen batch --batch-api`` and Ctrl-C: the task is cancelled, polling stops at once."""
    import asyncio

    from generate.batch import prepare_batch
    from generate.batch_run import arun_prepared

    fake.script_batch(*["PENDING"] * 50, "SUCCEEDED")
    rows = [{"brief": "golf mascot", "style_id": "vintage-mascot"}, {"brief": "tennis ball"}]
    batch = prepare_batch(pipeline, rows, defaults={"model": MODEL, "style_id": "vintage-mascot"})
    asked: list[str] = []

    async def main():
        polled = asyncio.Event()
        loop = asyncio.get_running_loop()
        options = {
            "on_state": lambda s: loop.call_soon_threadsafe(polled.set),
            "on_interrupt": lambda job: asked.append(job) or False,
        }
        task = asyncio.ensure_future(arun_prepared(batch, batch_api=True, batch_api_options=options))
        await polled.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    data = json.loads(batch.manifest.path.read_text())
    assert data["status"] == "cancelled" and asked == [data["batch_api"]["job"]]
    assert fake.batches.cancels == 0 and fake.batch_creates == 1


@pytest.mark.parametrize("final", ["SUCCEEDED", "FAILED"])
def test_a_job_whose_state_is_left_out_ends_when_its_operation_is_done(fake, pipeline, tmp_path, final):
    # A server that says the end only as a long-running operation does (``done``, ``error``).
    fake.batches.omit_state = True
    fake.script_batch("PENDING", "RUNNING", final)
    sleeps: list[float] = []

    def sleep(delay: float) -> None:
        sleeps.append(delay)
        assert len(sleeps) < 10, "still polling a job that is done"

    [result] = _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "m.json"), sleep=sleep)
    if final == "SUCCEEDED":
        assert result.status == "complete"
    else:
        errors = [s["error"] for s in _sketches(result)]
        assert {e["code"] for e in errors} == {"batch_failed"}
        assert all("internal error" in e["message"] for e in errors)


def test_a_failed_job_names_the_operations_error(fake, pipeline, tmp_path):
    fake.script_batch("PENDING", "FAILED")
    [result] = _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "m.json"))
    assert all("The batch job failed: internal error." in s["error"]["message"] for s in _sketches(result))


def test_an_inline_answer_without_its_key_is_the_request_at_its_position(fake, pipeline, tmp_path):
    fake.batches.drop_answer_keys = {1}  # inline answers are documented to keep the requests' order
    [result] = _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "m.json"))
    assert result.status == "complete"


def test_results_file_lines_match_by_key_in_any_order_and_never_by_position(fake, pipeline, tmp_path):
    limit = {"client_kw": {"inline_limit_bytes": 1000}}
    fake.batches.reverse_answers = True
    fake.script(Behavior.server_error(), match="Sketch 3 of 3")
    [result] = _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "a.json"), **limit)
    # Sketch 3's own answer failed: it is sketch 3 that fails, not the sketch at its mirror position.
    assert [s["status"] for s in _sketches(result)] == ["completed", "completed", "failed"]

    fake.batches.drop_answer_keys = {0, 1, 2}  # a file's lines have no documented order
    [result] = _run(pipeline, _runs(pipeline, 1), Manifest(tmp_path / "b.json"), **limit)
    errors = [s["error"] for s in _sketches(result)]
    assert {e["code"] for e in errors} == {"bad_response"}
    assert all("without an answer for this sketch" in e["message"] for e in errors)
