"""A process-wide concurrency cap that threads and coroutines share.

The sync mode calls models from worker threads and the async modes from coroutines, possibly on
several event loops (the HTTP service, a user's own loop). One :class:`ConcurrencyLimiter` per model
family caps them all together, so two runs in one process never exceed ``capacity`` calls in flight.

Waiters are served first-come first-served; a released slot is handed straight to the next waiter.
A coroutine cancelled while waiting never leaks a slot.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from contextlib import asynccontextmanager, contextmanager

__all__ = ["ConcurrencyLimiter", "shared_limiter"]


class ConcurrencyLimiter:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._in_use = 0
        self._lock = threading.Lock()
        # Each waiter is a threading.Event (a thread) or (loop, future) (a coroutine).
        self._waiters: deque[threading.Event | tuple[asyncio.AbstractEventLoop, asyncio.Future]] = deque()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def in_use(self) -> int:
        return self._in_use

    def set_capacity(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        with self._lock:
            grow = capacity - self._capacity
            self._capacity = capacity
        for _ in range(max(0, grow)):
            self._wake_one_if_room()

    def _wake_one_if_room(self) -> None:
        with self._lock:
            if self._in_use >= self._capacity or not self._waiters:
                return
            self._in_use += 1
            waiter = self._waiters.popleft()
        self._hand_over(waiter)

    # -- sync ---------------------------------------------------------------------------------
    def acquire(self, cancel: threading.Event | None = None) -> bool:
        """Block until a slot is free. Returns False (holding nothing) if ``cancel`` gets set first."""
        with self._lock:
            if self._in_use < self._capacity and not self._waiters:
                self._in_use += 1
                return True
            event = threading.Event()
            self._waiters.append(event)
        while not event.wait(0.05):
            if cancel is not None and cancel.is_set():
                with self._lock:
                    if event in self._waiters:
                        self._waiters.remove(event)
                        return False
                # The slot was handed over while we gave up: pass it on.
                event.wait()
                self.release()
                return False
        return True

    @contextmanager
    def slot(self):
        self.acquire()
        try:
            yield
        finally:
            self.release()

    # -- async --------------------------------------------------------------------------------
    async def aacquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._in_use < self._capacity and not self._waiters:
                self._in_use += 1
                return
            future: asyncio.Future = loop.create_future()
            entry = (loop, future)
            self._waiters.append(entry)
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                if entry in self._waiters:
                    self._waiters.remove(entry)
                    raise
            # Granted before we could withdraw: if the grant already landed, give the slot back;
            # if it is still in flight, _grant() sees the cancelled future and passes it on.
            if future.done() and not future.cancelled():
                self.release()
            raise

    @asynccontextmanager
    async def aslot(self):
        await self.aacquire()
        try:
            yield
        finally:
            self.release()

    # -- release ------------------------------------------------------------------------------
    def release(self) -> None:
        with self._lock:
            if self._waiters and self._in_use <= self._capacity:
                waiter = self._waiters.popleft()  # the slot moves to it; in_use unchanged
            else:
                self._in_use -= 1
                return
        self._hand_over(waiter)

    def _hand_over(self, waiter) -> None:
        if isinstance(waiter, threading.Event):
            waiter.set()
            return
        loop, future = waiter
        try:
            loop.call_soon_threadsafe(self._grant, future)
        except RuntimeError:  # that loop is closed: its waiter is gone, pass the slot on
            self.release()

    def _grant(self, future: asyncio.Future) -> None:
        if future.done():  # cancelled while the grant was in flight
            self.release()
        else:
            future.set_result(None)


_SHARED: dict[str, ConcurrencyLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(key: str, capacity: int) -> ConcurrencyLimiter:
    """The process-wide limiter for ``key`` (one per model family); the latest capacity wins."""
    with _SHARED_LOCK:
        limiter = _SHARED.get(key)
        if limiter is None:
            limiter = _SHARED[key] = ConcurrencyLimiter(capacity)
            return limiter
    if limiter.capacity != capacity:
        limiter.set_capacity(capacity)
    return limiter
