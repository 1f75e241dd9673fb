"""Quota-aware scheduling: a per-model pace shared fairly by every run, and a spent daily quota.

The token bucket is driven by a fake clock (``ticker=False``: grants happen on ``dispatch()``), so
no test depends on how fast this machine is. Gemini runs go through the real google-genai client
and the fake Gemini server's per-minute and per-day 429 answers.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from generate import GenerationConfig
from generate.errors import ConfigError, ErrorCode, ModelCallError
from generate.events import SketchFallback, SketchRetry
from generate.limiter import RateLimiter
from generate.quota import ModelGate, model_gate, next_daily_reset, rate_limits
from generate.testing import Behavior
from tests.generate.test_fallback import _run


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


HANG_GUARD_S = 120


def _run_or_hang(run, *args):
    """``run(*args)`` on a daemon thread; fails the test if it has not returned within
    HANG_GUARD_S (a guard against a run sleeping for hours, not a timing assertion)."""
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = run(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    assert not thread.is_alive(), f"the run did not finish within {HANG_GUARD_S} s"
    if "error" in box:
        raise box["error"]
    return box["result"]


async def _settle_loop() -> None:
    for _ in range(5):  # grants land through call_soon_threadsafe
        await asyncio.sleep(0)


# -- the token bucket -------------------------------------------------------------------------------
def test_an_interactive_run_is_not_starved_by_a_big_one():
    async def scenario():
        clock = FakeClock()
        bucket = RateLimiter(60, clock=clock, ticker=False)  # one token a second
        order: list[str] = []

        async def call(owner: str) -> None:
            await bucket.aacquire(owner)
            order.append(owner)

        batch = [asyncio.create_task(call("batch")) for _ in range(40)]
        await _settle_loop()
        assert order == ["batch"]  # the bucket's one token went at once; 39 wait
        clock.advance(3)
        bucket.dispatch()
        await _settle_loop()
        assert order == ["batch"] * 2  # a full bucket holds one token, not three: the pace stays even
        interactive = [asyncio.create_task(call("interactive")) for _ in range(4)]
        await _settle_loop()
        for _ in range(6):
            clock.advance(1)
            bucket.dispatch()
            await _settle_loop()
        # The next token goes to whoever was granted the fewest in the last minute (the earlier
        # owner among equals): the newcomer catches up, then the two alternate. Its 4 calls are in
        # within 6 tokens, not behind the batch's 38 waiting calls.
        assert order[2:] == ["interactive", "interactive", "batch", "interactive", "batch", "interactive"]
        assert order.count("interactive") == 4
        assert all(t.done() for t in interactive)
        assert bucket.granted_recently("interactive") == 4
        assert bucket.waiting == 40 - 4
        for task in batch:
            task.cancel()
        await asyncio.gather(*batch, return_exceptions=True)
        assert bucket.waiting == 0

    asyncio.run(scenario())


def test_the_pace_never_passes_the_limit_in_any_minute():
    async def scenario():
        clock = FakeClock()
        bucket = RateLimiter(30, clock=clock, ticker=False)  # one token every 2 s
        grants: list[float] = []

        async def call() -> None:
            await bucket.aacquire("run")
            grants.append(clock())

        tasks = [asyncio.create_task(call()) for _ in range(100)]
        await _settle_loop()
        for _ in range(300):  # 150 fake seconds in half-second steps
            clock.advance(0.5)
            bucket.dispatch()
            await _settle_loop()
        for start in grants:
            assert sum(start <= t < start + 60 for t in grants) <= 30
        assert len(grants) == 1 + 75  # the first at once, then one every 2 s
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(scenario())


def test_a_cancelled_waiter_takes_no_token():
    async def scenario():
        clock = FakeClock()
        bucket = RateLimiter(60, clock=clock, ticker=False)
        await bucket.aacquire("a")  # the one token
        gone = asyncio.create_task(bucket.aacquire("a"))
        later = asyncio.create_task(bucket.aacquire("b"))
        await _settle_loop()
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        clock.advance(1)
        bucket.dispatch()
        await _settle_loop()
        assert later.done() and bucket.waiting == 0
        assert bucket.granted_recently("a") == 1

    asyncio.run(scenario())


def test_failing_the_waiters_wakes_threads_and_coroutines_with_the_error():
    clock = FakeClock()
    bucket = RateLimiter(60, clock=clock, ticker=False)
    assert bucket.acquire(owner="x")
    error = ModelCallError(ErrorCode.QUOTA_EXHAUSTED, "spent")
    caught: list[BaseException] = []

    def wait_in_thread() -> None:
        try:
            bucket.acquire(owner="t")
        except ModelCallError as exc:
            caught.append(exc)

    thread = threading.Thread(target=wait_in_thread)
    thread.start()
    while bucket.waiting < 1:  # the thread has queued
        time.sleep(0.01)

    async def scenario():
        waiter = asyncio.create_task(bucket.aacquire("c"))
        await _settle_loop()
        assert bucket.waiting == 2
        assert bucket.fail_waiters(error) == 2
        with pytest.raises(ModelCallError, match="spent"):
            await waiter

    asyncio.run(scenario())
    thread.join(timeout=30)
    assert caught == [error]


def test_threads_get_tokens_from_the_ticker():
    bucket = RateLimiter(60_000)  # real clock, a token every millisecond
    got: list[bool] = []
    threads = [threading.Thread(target=lambda: got.append(bucket.acquire(owner="t"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert got == [True] * 6


# -- SKETCHGEN_RATE_LIMITS ----------------------------------------------------------------------------
def test_rate_limits_read_names_and_images_per_minute(monkeypatch):
    monkeypatch.setenv("SKETCHGEN_RATE_LIMITS", "nano-banana-pro=60, gemini-3.1-flash-lite-image=500,trace=0")
    assert rate_limits() == {"nano-banana-pro": 60.0, "gemini-3.1-flash-lite-image": 500.0}
    # An alias names the model as well as its id does.
    assert model_gate("gemini-3-pro-image", names=("nano-banana-pro",)).per_minute == 60
    assert model_gate("trace").per_minute is None  # 0: unlimited
    assert model_gate("gemini-nano-banana-2.1").per_minute is None  # absent: unlimited


@pytest.mark.parametrize("raw", ["nano-banana-pro", "nano-banana-pro=fast", "=60", "trace=-1"])
def test_a_bad_rate_limit_is_refused_before_any_call(raw, monkeypatch, gemini_env, tmp_path):
    monkeypatch.setenv("SKETCHGEN_RATE_LIMITS", raw)
    with pytest.raises(ConfigError, match="SKETCHGEN_RATE_LIMITS") as info:
        _run("sync", GenerationConfig(num_images=3, model_name="nano-banana-pro", output_dir=tmp_path))
    assert info.value.field == "rate_limits" and "\n" not in str(info.value)
    assert gemini_env.count == 0


def test_a_limit_paces_its_model_under_any_of_its_names(monkeypatch):
    """An id or an alias in the variable paces the model whichever name a run used."""
    monkeypatch.setenv("SKETCHGEN_RATE_LIMITS", "nano-banana-pro=60,gpt-image-1.5=5")
    assert model_gate("gemini-3-pro-image").per_minute == 60  # no caller named the alias yet
    assert model_gate("openai:gpt-image-1.5", names=("openai:gpt-image-1.5",)).per_minute == 5


def test_a_rate_limit_naming_an_unknown_model_is_refused_with_the_nearest_name(
    monkeypatch, gemini_env, tmp_path
):
    monkeypatch.setenv("SKETCHGEN_RATE_LIMITS", "trace=0,nano-banana-pr=60")
    with pytest.raises(ConfigError, match="unknown model 'nano-banana-pr'.*'nano-banana-pro'") as info:
        _run("sync", GenerationConfig(num_images=3, model_name="nano-banana-pro", output_dir=tmp_path))
    assert info.value.field == "rate_limits" and "\n" not in str(info.value)
    assert gemini_env.count == 0


@pytest.mark.parametrize("mode", ["sync", "gather"])
def test_every_call_of_a_run_takes_a_token_of_its_model(mode, monkeypatch, gemini_env, tmp_path):
    monkeypatch.setenv("SKETCHGEN_RATE_LIMITS", "nano-banana-pro=600000")
    result, _ = _run(mode, GenerationConfig(num_images=3, model_name="nano-banana-pro", output_dir=tmp_path))
    assert result.status == "complete"
    gate = model_gate("gemini-3-pro-image", names=("nano-banana-pro",))
    assert gate.rate.granted_recently(result.run_id) == 3


def test_runs_of_one_schedule_group_count_as_one_owner(monkeypatch, gemini_env, tmp_path):
    """A batch's runs share one owner, so an interactive run competes with the batch as a whole."""
    monkeypatch.setenv("SKETCHGEN_RATE_LIMITS", "nano-banana-pro=600000")
    config = GenerationConfig(
        num_images=3, model_name="nano-banana-pro", output_dir=tmp_path, schedule_group="batch:b1"
    )
    first, _ = _run("gather", config)
    second, _ = _run("sync", config)
    rate = model_gate("gemini-3-pro-image").rate
    assert rate.granted_recently("batch:b1") == 6
    assert rate.granted_recently(first.run_id) == rate.granted_recently(second.run_id) == 0


# -- 429s: per minute is retried, per day stops the model --------------------------------------------
@pytest.mark.parametrize("mode", ["sync", "gather"])
def test_a_per_minute_429_is_retried_after_its_retry_info(mode, gemini_env, tmp_path):
    gemini_env.script(Behavior.rate_limited(retry_delay_s=0.2), Behavior.ok(), match="Sketch 2 of 3")
    config = GenerationConfig(num_images=3, model_name="nano-banana-pro,trace", output_dir=tmp_path)
    result, events = _run(mode, config)
    assert result.status == "complete"
    assert {s.model for s in result.sketches} == {"gemini-3-pro-image"}  # retried, not fallen back
    retries = [e for e in events if isinstance(e, SketchRetry)]
    assert [(e.index, e.reason) for e in retries] == [(1, ErrorCode.RATE_LIMITED)]
    assert 0.2 <= retries[0].delay_s <= 0.2 * 1.1 + 0.01  # the server's delay plus a little jitter
    assert not [e for e in events if isinstance(e, SketchFallback)]
    assert model_gate("gemini-3-pro-image").exhausted_error() is None


@pytest.mark.parametrize("mode", ["sync", "gather"])
def test_a_per_day_quota_fails_every_pending_sketch_at_once(mode, gemini_env, tmp_path):
    gemini_env.set_default(Behavior.rate_limited(retry_delay_s=0.01, per_day=True))
    config = GenerationConfig(
        num_images=3, model_name="nano-banana-pro", output_dir=tmp_path, max_concurrency=1
    )
    result, events = _run(mode, config)
    assert result.status == "failed"
    assert gemini_env.count == 1  # the first answer said "per day": nobody calls again
    assert not [e for e in events if isinstance(e, SketchRetry)]  # and nobody retries into the wall
    codes = [s.error["code"] for s in result.sketches]
    assert codes == [ErrorCode.QUOTA_EXHAUSTED] * 3
    skipped = [s for s in result.sketches if s.attempts == 0]
    assert len(skipped) == 2
    assert all("daily quota of gemini-3-pro-image is used up" in s.error["message"] for s in skipped)

    # Another run in the same process does not call the model either, until the daily reset.
    again, _ = _run(mode, config)
    assert again.status == "failed" and gemini_env.count == 1
    assert all("daily quota" in s.error["message"] for s in again.sketches)


def test_sketches_waiting_for_the_pace_are_failed_when_the_daily_quota_runs_out(
    monkeypatch, gemini_env, tmp_path
):
    # One image a day: the other two sketches would wait a whole day for their tokens.
    monkeypatch.setenv("SKETCHGEN_RATE_LIMITS", "nano-banana-pro=0.0007")
    gemini_env.set_default(Behavior.rate_limited(retry_delay_s=0.01, per_day=True))
    config = GenerationConfig(num_images=3, model_name="nano-banana-pro,trace", output_dir=tmp_path)

    result, events = _run_or_hang(_run, "gather", config)
    assert result.status == "complete" and gemini_env.count == 1
    assert {s.model for s in result.sketches} == {"trace"}
    for sketch in result.sketches:
        assert [f["error_code"] for f in sketch.fallbacks] == [ErrorCode.QUOTA_EXHAUSTED]
    moves = [e for e in events if isinstance(e, SketchFallback)]
    assert len(moves) == 3 and {e.reason for e in moves} == {ErrorCode.QUOTA_EXHAUSTED}


def test_a_spent_quota_comes_back_after_the_daily_reset():
    from datetime import UTC, datetime, timedelta

    gate = ModelGate("m")
    gate.exhaust(
        ModelCallError(ErrorCode.QUOTA_EXHAUSTED, "per day"), until=datetime.now(UTC) + timedelta(hours=1)
    )
    assert gate.exhausted_error().code == ErrorCode.QUOTA_EXHAUSTED
    gone = ModelGate("n")
    gone.exhaust(
        ModelCallError(ErrorCode.QUOTA_EXHAUSTED, "per day"), until=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert gone.exhausted_error() is None
    reset = next_daily_reset(datetime(2026, 12, 1, 12, 0, tzinfo=UTC))  # 04:00 in Los Angeles
    assert reset == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # midnight PST


def test_credits_used_up_stop_the_model_for_a_while_too(gemini_env, tmp_path):
    gemini_env.set_default(
        Behavior.http_error(402, "RESOURCE_EXHAUSTED", "Your prepayment credits are depleted.")
    )
    config = GenerationConfig(
        num_images=3, model_name="nano-banana-pro,trace", output_dir=tmp_path, max_concurrency=1
    )
    result, _ = _run("gather", config)
    assert result.status == "complete" and gemini_env.count == 1
    assert {s.model for s in result.sketches} == {"trace"}
    messages = [s.fallbacks[0]["message"] for s in result.sketches]
    assert sum("credits of gemini-3-pro-image are used up" in m for m in messages) == 3
    assert sum(m.startswith("not attempted") for m in messages) == 2


@pytest.mark.parametrize("mode", ["sync", "gather"])
def test_a_sketch_waiting_out_a_long_retry_delay_fails_when_the_quota_is_found_spent(
    mode, gemini_env, tmp_path
):
    # Sketch 1 is told to come back in an hour (a per-minute answer); sketch 2 learns the daily
    # quota is spent. Sketch 1 must not sleep the hour through: it fails as soon as that is known.
    gemini_env.script(Behavior.rate_limited(retry_delay_s=3600), match="Sketch 1 of 3")
    # (answered later, so that sketch 1 is already waiting when the news comes)
    spent = Behavior.rate_limited(retry_delay_s=1, per_day=True, latency=2.0)
    gemini_env.script(spent, match="Sketch 2 of 3")
    gemini_env.script(spent, match="Sketch 3 of 3")
    config = GenerationConfig(
        num_images=3, model_name="nano-banana-pro", output_dir=tmp_path, max_backoff_s=7200
    )

    result, events = _run_or_hang(_run, mode, config)
    assert [s.error["code"] for s in result.sketches] == [ErrorCode.QUOTA_EXHAUSTED] * 3
    assert [e.index for e in events if isinstance(e, SketchRetry)] == [0]
    assert "daily quota" in result.sketches[0].error["message"]
    assert sum("Sketch 1 of 3" in r.prompt for r in gemini_env.requests) == 1
