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
        await asyncio.wait_for(limiter.aacquire(), timeout=1)
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
    t.join(timeout=2)
    assert result == [False]
    limiter.release()
    assert limiter.in_use == 0
