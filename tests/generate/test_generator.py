"""ImageGenerator semantics in every mode, against a scripted adapter.

The adapter here implements the real ImageModelAdapter interface and scripts each sketch's attempts
(an image, or a typed error), so the generator's own behaviour (indexing, retries, statuses,
cancellation, metadata) is pinned down independently of any model. The same scenarios run through
the real google-genai client and the fake Gemini server in test_generator_gemini.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time

import numpy as np
import pytest
from PIL import Image

from generate import GenerationConfig, ImageGenerator
from generate.adapter import AdapterCapabilities, ImageModelAdapter, ImageRequest, ModelImage, Usage
from generate.contact_sheet import sheet_layout
from generate.errors import ConfigError, ErrorCode, ModelCallError
from generate.events import RunCompleted, RunStarted, SketchCompleted, SketchFailed, SketchRetry
from prompt.compiler import PromptCompiler
from rag.types import RetrievalResult
from style.registry import StyleRegistry

RATIOS = ("1:1", "3:4", "4:3", "16:9", "9:16")


def colour_png(w=640, h=640, colour=(200, 40, 40)) -> bytes:
    img = Image.new("RGB", (w, h), (255, 255, 255))
    img.paste(Image.new("RGB", (w // 2, h // 2), colour), (w // 4, h // 4))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


class ScriptedAdapter(ImageModelAdapter):
    """Each index has a list of per-attempt outcomes: "ok", a ModelCallError, or ("sleep", s)."""

    name = "scripted"
    capabilities = AdapterCapabilities(max_reference_images=3, aspect_ratios=RATIOS, image_sizes=("1K", "2K"))

    def __init__(self, script=None, delay=0.0):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.delay = delay
        self.calls: list[tuple[int, int]] = []
        self.started = 0
        self.cancelled = 0
        self.lock = threading.Lock()

    def _next(self, request: ImageRequest):
        with self.lock:
            self.calls.append((request.index, request.attempt))
            steps = self.script.get(request.index, [])
            return steps.pop(0) if steps else "ok"

    def _image(self, request):
        return ModelImage(
            data=colour_png(),
            mime_type="image/png",
            model="scripted-1",
            usage=Usage(output_image_tokens=1290, total_tokens=1300),
            cost_usd=0.039,
            response_id=f"r{request.index}-{request.attempt}",
            finish_reason="STOP",
        )

    def generate(self, request):
        step = self._next(request)
        time.sleep(self.delay)
        if isinstance(step, ModelCallError):
            raise step
        return self._image(request)

    async def agenerate(self, request):
        step = self._next(request)
        self.started += 1
        try:
            await asyncio.sleep(step[1] if isinstance(step, tuple) else self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if isinstance(step, ModelCallError):
            raise step
        return self._image(request)


@pytest.fixture
def run_inputs():
    style = StyleRegistry().get_style("vintage-mascot")
    spec = PromptCompiler().compile("playful golf mascot", style)
    return {"prompt_spec": spec, "style": style, "retrieval_result": RetrievalResult.empty("test")}


def _rate_limited(after=0.01):
    return ModelCallError(
        ErrorCode.RATE_LIMITED, "slow down", retryable=True, retry_after_s=after, http_status=429
    )


def _blocked():
    return ModelCallError(ErrorCode.BLOCKED_OUTPUT, "image blocked", finish_reason="IMAGE_SAFETY")


def _run(mode, adapter, inputs, config):
    gen = ImageGenerator(adapter=adapter)
    events = []
    if mode == "sync":
        result = gen.generate(**inputs, config=config, on_event=events.append)
    elif mode == "gather":
        result = asyncio.run(gen.generate_async(**inputs, config=config, on_event=events.append))
    else:

        async def consume():
            async for ev in gen.astream_events(**inputs, config=config):
                events.append(ev)
            return gen.last_result

        result = asyncio.run(consume())
    return result, events


MODES = ["sync", "gather", "stream"]
SCRIPT = {
    1: [_rate_limited(), "ok"],
    2: [_blocked()],
    3: [ModelCallError(ErrorCode.SERVER_ERROR, "503", retryable=True), "ok"],
}


@pytest.mark.parametrize("mode", MODES)
def test_same_per_sketch_outcome_in_every_mode(mode, run_inputs, tmp_path):
    config = GenerationConfig(num_images=4, seed=7, output_dir=tmp_path, initial_backoff_s=0.01)
    result, events = _run(mode, ScriptedAdapter(SCRIPT), run_inputs, config)

    assert result.status == "partial"
    assert [s.status for s in result.sketches] == ["completed", "completed", "failed", "completed"]
    assert [s.attempts for s in result.sketches] == [1, 2, 1, 2]
    assert result.image_errors[2]["code"] == ErrorCode.BLOCKED_OUTPUT
    assert [p.name for p in result.images] == ["sketch_0.png", "sketch_1.png", "sketch_3.png"]
    assert result.cost_usd == pytest.approx(3 * 0.039)
    for path in result.images:
        with Image.open(path) as img:
            assert img.mode == "L" and img.size == (1024, 1024)

    names = [ev.event for ev in events]
    assert names[0] == "run.started" and names[-1] == "run.completed"
    assert sorted(ev.index for ev in events if isinstance(ev, SketchRetry)) == [1, 3]
    assert {ev.index for ev in events if isinstance(ev, SketchCompleted)} == {0, 1, 3}
    assert [ev.index for ev in events if isinstance(ev, SketchFailed)] == [2]
    assert len({ev.seq for ev in events}) == len(events)

    meta = json.loads(result.metadata_path.read_text())
    assert meta["status"] == "partial" and meta["run_id"] == result.run_id
    assert meta["totals"]["succeeded"] == 3 and meta["totals"]["failed"] == 1
    rec = meta["sketches"][1]
    assert rec["attempts"] == 2 and rec["retries"][0]["code"] == ErrorCode.RATE_LIMITED
    assert rec["variation"]["layout"] and "Sketch 2 of 4" in rec["prompt"]
    assert meta["sketches"][2]["error"]["code"] == ErrorCode.BLOCKED_OUTPUT
    assert set(meta["sketches"][0]["quality"]) == {
        "source_colourfulness",
        "background_cleanliness",
        "ink_coverage",
    }
    assert meta["sketches"][0]["quality"]["source_colourfulness"] > 10  # the scripted image is red
    # The contact sheet, filled in as sketches arrived: pictures where they landed, the failure marked.
    sheet = np.asarray(Image.open(result.output_dir / "contact_sheet.png"))
    _, boxes = sheet_layout(4, titled=True)
    for index, (x0, y0, x1, y1) in enumerate(boxes):
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        if index == 2:
            assert sheet[y0 : y0 + 3, x0:x1].mean() < 60  # the heavy frame of a failed slot
        else:
            assert sheet[cy, cx] < 120 and sheet[y0 + 5, cx] > 240  # the red square on white paper


@pytest.mark.parametrize("mode", MODES)
def test_every_sketch_failing_still_writes_metadata(mode, run_inputs, tmp_path):
    script = {i: [_blocked()] for i in range(3)}
    config = GenerationConfig(num_images=3, output_dir=tmp_path)
    result, _ = _run(mode, ScriptedAdapter(script), run_inputs, config)
    assert result.status == "failed" and result.images == []
    meta = json.loads(result.metadata_path.read_text())
    assert meta["status"] == "failed" and meta["images"] == []
    assert [s["status"] for s in meta["sketches"]] == ["failed"] * 3


def test_fatal_error_stops_new_calls(run_inputs, tmp_path):
    fatal = ModelCallError(ErrorCode.AUTH, "key rejected", http_status=403, fatal_for_run=True)
    adapter = ScriptedAdapter({0: [fatal]}, delay=0)
    config = GenerationConfig(num_images=3, max_concurrency=1, output_dir=tmp_path)
    result, _ = _run("gather", adapter, run_inputs, config)
    assert result.status == "failed"
    assert len(adapter.calls) == 1  # sketches 1 and 2 were never sent
    assert all(s.error["code"] == ErrorCode.AUTH for s in result.sketches)


def test_retry_honours_server_delay_and_cap(run_inputs, tmp_path):
    # The server asks for more than max_backoff_s: give up rather than hammer it.
    script = {0: [_rate_limited(after=120)]}
    config = GenerationConfig(num_images=3, output_dir=tmp_path, max_backoff_s=30)
    result, events = _run("gather", ScriptedAdapter(script), run_inputs, config)
    assert result.sketches[0].status == "failed" and result.sketches[0].attempts == 1
    assert not [e for e in events if isinstance(e, SketchRetry)]


def test_attempts_are_capped(run_inputs, tmp_path):
    script = {0: [_rate_limited()] * 10}
    config = GenerationConfig(num_images=3, output_dir=tmp_path, max_attempts=3)
    adapter = ScriptedAdapter(script)
    result, _ = _run("sync", adapter, run_inputs, config)
    assert result.sketches[0].attempts == 3
    assert [a for i, a in adapter.calls if i == 0] == [1, 2, 3]


def test_streaming_unpacks_as_index_path_error(run_inputs, tmp_path):
    config = GenerationConfig(num_images=3, output_dir=tmp_path)
    gen = ImageGenerator(adapter=ScriptedAdapter({1: [_blocked()]}))

    async def consume():
        return [tuple(o) async for o in gen.generate_streaming_async(**run_inputs, config=config)]

    outcomes = sorted(asyncio.run(consume()), key=lambda t: t[0])
    assert [o[0] for o in outcomes] == [0, 1, 2]
    index, path, error = outcomes[1]
    assert path is None and error.code == ErrorCode.BLOCKED_OUTPUT
    assert outcomes[0][1].exists() and outcomes[0][2] is None


def test_stream_yields_each_sketch_as_soon_as_written(run_inputs, tmp_path):
    # Sketches 1 and 2 take an hour (cancelled when the stream is closed), not a second that a
    # loaded machine writing sketch 0 could outlast.
    script = {0: [("sleep", 0.05)], 1: [("sleep", 3600)], 2: [("sleep", 3600)]}
    config = GenerationConfig(num_images=3, output_dir=tmp_path)
    gen = ImageGenerator(adapter=ScriptedAdapter(script))

    async def first_completed():
        stream = gen.astream_events(**run_inputs, config=config)
        try:
            async for ev in stream:
                if isinstance(ev, SketchCompleted):
                    # The file is on disk when the event arrives, while the others are still running.
                    assert ev.index == 0 and (tmp_path / ev.run_id / ev.file).exists()
                    meta = json.loads((tmp_path / ev.run_id / "metadata.json").read_text())
                    return [s["status"] for s in meta["sketches"]]
        finally:
            await stream.aclose()

    statuses = asyncio.run(first_completed())
    assert statuses[0] == "completed" and statuses[1:] == ["running", "running"]


def test_consumer_leaving_cancels_pending_calls(run_inputs, tmp_path):
    # Calls of an hour: waited for, they would outlast the suite's per-test timeout.
    script = {0: [("sleep", 0.01)], 1: [("sleep", 3600)], 2: [("sleep", 3600)]}
    adapter = ScriptedAdapter(script)
    config = GenerationConfig(num_images=3, output_dir=tmp_path)
    gen = ImageGenerator(adapter=adapter)

    async def leave_after_first():
        stream = gen.astream_events(**run_inputs, config=config)
        async for ev in stream:
            if isinstance(ev, SketchCompleted):
                break
        await stream.aclose()

    asyncio.run(leave_after_first())
    assert adapter.cancelled == 2
    result = gen.last_result
    assert result.status == "cancelled"
    assert [s.status for s in result.sketches] == ["completed", "cancelled", "cancelled"]
    assert result.images[0].exists()
    meta = json.loads(result.metadata_path.read_text())
    assert meta["status"] == "cancelled" and meta["totals"]["cancelled"] == 2


def test_task_cancelled_during_gather(run_inputs, tmp_path):
    adapter = ScriptedAdapter({i: [("sleep", 30)] for i in range(3)})
    config = GenerationConfig(num_images=3, output_dir=tmp_path)
    gen = ImageGenerator(adapter=adapter)

    async def cancel_soon():
        task = asyncio.create_task(gen.generate_async(**run_inputs, config=config))
        while adapter.started < 3:  # noqa: ASYNC110 - polling a plain counter is fine here
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_soon())
    assert adapter.cancelled == 3
    assert gen.last_result.status == "cancelled"


def test_concurrency_cap_is_shared_across_runs(run_inputs, tmp_path):
    in_flight = 0
    peak = 0

    class Counting(ScriptedAdapter):
        name = "counting"

        async def agenerate(self, request):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.05)
            in_flight -= 1
            return self._image(request)

    config = GenerationConfig(num_images=4, max_concurrency=2, output_dir=tmp_path)

    async def two_runs():
        a, b = ImageGenerator(adapter=Counting()), ImageGenerator(adapter=Counting())
        return await asyncio.gather(
            a.generate_async(**run_inputs, config=config), b.generate_async(**run_inputs, config=config)
        )

    results = asyncio.run(two_runs())
    assert peak == 2
    assert all(r.status == "complete" for r in results)
    assert results[0].run_id != results[1].run_id


def test_bad_input_is_rejected_before_any_call(run_inputs, tmp_path):
    adapter = ScriptedAdapter()
    with pytest.raises(ConfigError) as exc:
        ImageGenerator(adapter=adapter).generate(
            **run_inputs, config=GenerationConfig(aspect_ratio="7:3", output_dir=tmp_path)
        )
    assert exc.value.field == "aspect_ratio" and "1:1" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        GenerationConfig(num_images=7)
    assert exc.value.field == "num_images"
    assert adapter.calls == [] and not list(tmp_path.iterdir())


def test_started_event_names_the_model(run_inputs, tmp_path):
    _, events = _run(
        "gather", ScriptedAdapter(), run_inputs, GenerationConfig(num_images=3, output_dir=tmp_path)
    )
    started = events[0]
    assert isinstance(started, RunStarted) and started.model == "scripted" and started.num_images == 3
    done = events[-1]
    assert isinstance(done, RunCompleted) and done.status == "complete" and done.succeeded == 3
