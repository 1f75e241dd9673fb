"""The shared concurrency limiter: threads and coroutines under one cap, no leaked slots."""

from __future__ import annotations

import asyncio
import threading
import time

from generate.limiter import ConcurrencyLimiter


def test_threads_and_coroutines_share_one_cap():
    limiter = ConcurrencyLimiter(2)
    peak = 0
    current = 0
    lock = threading.Lock()

    def enter():
        nonlocal peak, current
        with lock:
            current += 1
            peak = max(peak, current)

    def leave():
        nonlocal current
        with lock:
            current -= 1

    def worker():
        with limiter.slot():
            enter()
            time.sleep(0.02)
            leave()

    async def coro():
        async with limiter.aslot():
            enter()
            await asyncio.sleep(0.02)
            leave()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()

    async def main():
        await asyncio.gather(*(coro() for _ in range(4)))

    asyncio.run(main())
    for t in threads:
        t.join()
    assert peak == 2
    assert limiter.in_use == 0


def test_cancelled_waiter_does_not_leak_a_slot():
    limiter = ConcurrencyLimiter(1)

    async def main():
        await limiter.aacquire()
        waiter = asyncio.create_task(limiter.aacquire())
        await asyncio.sleep(0.01)
        waiter.cancel()
        limiter.release()
        try:
            await waiter
        except asyncio.CancelledError:
            pass
        # The slot must be free again: a new acquire succeeds at once.
        await asyncio.wait_for(limiter.aacquire(), timeout=30)  # a bound for a hang, not a timing
        limiter.release()

    asyncio.run(main())
    assert limiter.in_use == 0


def test_sync_acquire_gives_up_when_cancelled():
    limiter = ConcurrencyLimiter(1)
    limiter.acquire()
    cancel = threading.Event()
    result = []
    t = threading.Thread(target=lambda: result.append(limiter.acquire(cancel=cancel)))
    t.start()
    cancel.set()
    t.join(timeout=30)
    assert result == [False]
    limiter.release()
    assert limiter.in_use == 0


def test_a_released_slot_goes_to_the_run_holding_fewest():
    """Owner "a" holds both slots (say, two hung calls) and queued first; "b" queued after. The
    next free slot goes to "b", which holds none, not to "a"'s earlier waiter."""
    limiter = ConcurrencyLimiter(2)
    order: list[str] = []

    async def main():
        await limiter.aacquire("a")
        await limiter.aacquire("a")

        async def wait(owner):
            await limiter.aacquire(owner)
            order.append(owner)

        a_waits = asyncio.create_task(wait("a"))
        await asyncio.sleep(0)
        b_waits = asyncio.create_task(wait("b"))
        await asyncio.sleep(0)
        assert limiter.waiting == 2
        limiter.release("a")  # one of a's calls ends: b (holding 0) beats a (holding 1)
        await b_waits
        assert order == ["b"] and not a_waits.done()
        limiter.release("b")  # now a (1) and nobody else waiting: a's turn
        await a_waits
        limiter.release("a")
        limiter.release("a")

    asyncio.run(main())
    assert order == ["b", "a"] and limiter.in_use == 0 and limiter.waiting == 0


def test_threads_are_served_fairly_too():
    limiter = ConcurrencyLimiter(1)
    limiter.acquire(owner="a")
    order: list[str] = []

    def take(owner):
        limiter.acquire(owner=owner)
        order.append(owner)
        limiter.release(owner=owner)

    first = threading.Thread(target=take, args=("a",))
    first.start()
    while limiter.waiting < 1:
        time.sleep(0.001)
    second = threading.Thread(target=take, args=("b",))
    second.start()
    while limiter.waiting < 2:
        time.sleep(0.001)
    limiter.release(owner="a")  # a held 1 -> 0, b holds 0: the earlier-seen owner "a" goes first
    first.join(30)
    second.join(30)
    assert order == ["a", "b"] and limiter.in_use == 0 and limiter.held_by("a") == 0
