"""A process-wide concurrency cap that threads and coroutines share, fair across runs.

The sync mode calls models from worker threads and the async modes from coroutines, possibly on
several event loops (the HTTP service, a user's own loop). One :class:`ConcurrencyLimiter` per model
family caps them all together, so two runs in one process never exceed ``capacity`` calls in flight.

Fairness: every acquire names an ``owner`` (the generator passes the run id). A released slot goes
to the waiting owner that holds the fewest slots now, the earliest-seen owner among equals, and
within one owner to its earliest waiter. So a run whose calls hang (each holding a slot until its
timeout) is served after runs holding fewer, and a run that arrives behind another run's backlog
gets its first call in at the next free slot instead of behind every queued call. Under overload
the runs share the slots evenly. Acquires without an owner share one anonymous owner (plain FIFO).

A released slot is handed straight to the chosen waiter. A coroutine cancelled while waiting never
leaks a slot.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import deque
from collections.abc import Hashable
from contextlib import asynccontextmanager, contextmanager

__all__ = ["ConcurrencyLimiter", "shared_limiter"]


class _Waiter:
    """A thread (``event``) or a coroutine (``loop`` + ``future``) waiting for a slot for ``owner``."""

    __slots__ = ("owner", "event", "loop", "future")

    def __init__(self, owner: Hashable, *, event=None, loop=None, future=None) -> None:
        self.owner = owner
        self.event: threading.Event | None = event
        self.loop: asyncio.AbstractEventLoop | None = loop
        self.future: asyncio.Future | None = future


class ConcurrencyLimiter:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._in_use = 0
        self._lock = threading.Lock()
        self._queues: dict[Hashable, deque[_Waiter]] = {}  # only owners with waiters
        self._held: dict[Hashable, int] = {}  # owner -> slots it holds now
        self._seen: dict[Hashable, int] = {}  # owner -> order first seen, while it holds or waits
        self._counter = itertools.count()

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        """How many acquires are queued now."""
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    def held_by(self, owner: Hashable) -> int:
        """How many slots ``owner`` holds now."""
        with self._lock:
            return self._held.get(owner, 0)

    def set_capacity(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        with self._lock:
            grow = capacity - self._capacity
            self._capacity = capacity
        for _ in range(max(0, grow)):
            self._wake_one_if_room()

    # -- bookkeeping (all under self._lock) -----------------------------------------------------
    def _take(self, owner: Hashable) -> None:
        self._held[owner] = self._held.get(owner, 0) + 1
        self._seen.setdefault(owner, next(self._counter))

    def _drop(self, owner: Hashable) -> None:
        left = self._held.get(owner, 0) - 1
        if left > 0:
            self._held[owner] = left
            return
        self._held.pop(owner, None)
        if owner not in self._queues:
            self._seen.pop(owner, None)

    def _enqueue(self, waiter: _Waiter) -> None:
        self._seen.setdefault(waiter.owner, next(self._counter))
        self._queues.setdefault(waiter.owner, deque()).append(waiter)

    def _withdraw(self, waiter: _Waiter) -> bool:
        queue = self._queues.get(waiter.owner)
        if queue is None or waiter not in queue:
            return False
        queue.remove(waiter)
        if not queue:
            del self._queues[waiter.owner]
            if waiter.owner not in self._held:
                self._seen.pop(waiter.owner, None)
        return True

    def _next_waiter(self) -> _Waiter | None:
        """Pop the fairest waiter and account the slot to its owner."""
        if not self._queues:
            return None
        owner = min(self._queues, key=lambda o: (self._held.get(o, 0), self._seen[o]))
        queue = self._queues[owner]
        waiter = queue.popleft()
        if not queue:
            del self._queues[owner]
        self._take(owner)
        return waiter

    def _wake_one_if_room(self) -> None:
        with self._lock:
            if self._in_use >= self._capacity or not self._queues:
                return
            self._in_use += 1
            waiter = self._next_waiter()
        self._hand_over(waiter)

    # -- sync ---------------------------------------------------------------------------------
    def acquire(self, cancel: threading.Event | None = None, *, owner: Hashable = None) -> bool:
        """Block until a slot is free. Returns False (holding nothing) if ``cancel`` gets set first."""
        with self._lock:
            if self._in_use < self._capacity and not self._queues:
                self._in_use += 1
                self._take(owner)
                return True
            waiter = _Waiter(owner, event=threading.Event())
            self._enqueue(waiter)
        event = waiter.event
        while not event.wait(0.05):
            if cancel is not None and cancel.is_set():
                with self._lock:
                    if self._withdraw(waiter):
                        return False
                # The slot was handed over while we gave up: pass it on.
                event.wait()
                self.release(owner=owner)
                return False
        return True

    @contextmanager
    def slot(self, owner: Hashable = None):
        self.acquire(owner=owner)
        try:
            yield
        finally:
            self.release(owner=owner)

    # -- async --------------------------------------------------------------------------------
    async def aacquire(self, owner: Hashable = None) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._in_use < self._capacity and not self._queues:
                self._in_use += 1
                self._take(owner)
                return
            waiter = _Waiter(owner, loop=loop, future=loop.create_future())
            self._enqueue(waiter)
        future = waiter.future
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                if self._withdraw(waiter):
                    raise
            # Granted before we could withdraw: if the grant already landed, give the slot back;
            # if it is still in flight, _grant() sees the cancelled future and passes it on.
            if future.done() and not future.cancelled():
                self.release(owner=owner)
            raise

    @asynccontextmanager
    async def aslot(self, owner: Hashable = None):
        await self.aacquire(owner)
        try:
            yield
        finally:
            self.release(owner=owner)

    # -- release ------------------------------------------------------------------------------
    def release(self, owner: Hashable = None) -> None:
        """Give back one of ``owner``'s slots (the owner it was acquired for)."""
        with self._lock:
            self._drop(owner)
            waiter = self._next_waiter() if self._in_use <= self._capacity else None
            if waiter is None:
                self._in_use -= 1
                return
            # The slot moves to the waiter; in_use unchanged.
        self._hand_over(waiter)

    def _hand_over(self, waiter: _Waiter) -> None:
        if waiter.event is not None:
            waiter.event.set()
            return
        try:
            waiter.loop.call_soon_threadsafe(self._grant, waiter)
        except RuntimeError:  # that loop is closed: its waiter is gone, pass the slot on
            self.release(owner=waiter.owner)

    def _grant(self, waiter: _Waiter) -> None:
        if waiter.future.done():  # cancelled while the grant was in flight
            self.release(owner=waiter.owner)
        else:
            waiter.future.set_result(None)


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
