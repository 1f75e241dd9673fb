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

:class:`RateLimiter` is the same fairness for a rate instead of a count: a token bucket per model
(images per minute), whose next token goes to the waiting owner granted the fewest tokens in the
last minute. :mod:`generate.quota` keeps one per model for the whole process.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import deque
from collections.abc import Hashable
from contextlib import asynccontextmanager, contextmanager

__all__ = ["ConcurrencyLimiter", "RateLimiter", "shared_limiter"]


class _Waiter:
    """A thread (``event``) or a coroutine (``loop`` + ``future``) waiting for a slot for ``owner``."""

    __slots__ = ("owner", "event", "loop", "future", "error")

    def __init__(self, owner: Hashable, *, event=None, loop=None, future=None) -> None:
        self.owner = owner
        self.error: BaseException | None = None  # set instead of a grant: the wait failed (RateLimiter)
        self.event: threading.Event | None = event
        self.loop: asyncio.AbstractEventLoop | None = loop
        self.future: asyncio.Future | None = future


def _wait_for_grant(limiter, waiter: _Waiter, cancel: threading.Event | None, *, give_back) -> bool:
    """Block a thread until ``waiter`` is handed its slot or token (True, or woken with an error),
    or ``cancel`` is set first (False, holding nothing): a waiter still queued is withdrawn; one
    handed a grant while it gave up passes it on (``give_back``). ``cancel`` is polled, as a
    thread cannot wait on two events at once."""
    while not waiter.event.wait(0.05):
        if cancel is not None and cancel.is_set():
            with limiter._lock:
                if limiter._withdraw(waiter):
                    return False
            waiter.event.wait()
            if waiter.error is None:
                give_back()
            return False
    return True


class _FairQueues:
    """Waiters queued per owner and served fairest first: what both limiters share."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[Hashable, deque[_Waiter]] = {}  # only owners with waiters
        self._seen: dict[Hashable, int] = {}  # owner -> order first seen (ties go to the earliest)
        self._counter = itertools.count()

    @property
    def waiting(self) -> int:
        """How many acquires are queued now."""
        with self._lock:
            return sum(len(q) for q in self._queues.values())

    # -- under self._lock ---------------------------------------------------------------------
    def _enqueue(self, waiter: _Waiter) -> None:
        self._seen.setdefault(waiter.owner, next(self._counter))
        self._queues.setdefault(waiter.owner, deque()).append(waiter)

    def _withdraw(self, waiter: _Waiter) -> bool:
        """Take a waiter that gave up out of its queue; False if it was not queued (granted)."""
        queue = self._queues.get(waiter.owner)
        if queue is None or waiter not in queue:
            return False
        queue.remove(waiter)
        if not queue:
            del self._queues[waiter.owner]
        return True

    def _unused(self, waiter: _Waiter) -> None:
        """What a waiter was handed but cannot use (its loop closed, its task cancelled): passed on."""
        raise NotImplementedError

    def _hand_over(self, waiter: _Waiter) -> None:
        """Wake ``waiter`` with its grant (or its ``error``), from any thread."""
        if waiter.event is not None:
            waiter.event.set()
            return
        try:
            waiter.loop.call_soon_threadsafe(self._grant, waiter)
        except RuntimeError:  # that loop is closed: its waiter is gone
            self._unused(waiter)

    def _grant(self, waiter: _Waiter) -> None:
        if waiter.future.done():  # cancelled while the grant was in flight
            self._unused(waiter)
        else:
            waiter.future.set_result(None)

    def _pop_fairest(self, load) -> _Waiter:
        """Pop the earliest waiter of the owner with the least ``load(owner)`` (earliest seen among equals)."""
        owner = min(self._queues, key=lambda o: (load(o), self._seen[o]))
        queue = self._queues[owner]
        waiter = queue.popleft()
        if not queue:
            del self._queues[owner]
        return waiter


class ConcurrencyLimiter(_FairQueues):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        super().__init__()
        self._capacity = capacity
        self._in_use = 0
        self._held: dict[Hashable, int] = {}  # owner -> slots it holds now (_seen kept while it holds)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def in_use(self) -> int:
        return self._in_use

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

    def _withdraw(self, waiter: _Waiter) -> bool:
        if not super()._withdraw(waiter):
            return False
        if waiter.owner not in self._queues and waiter.owner not in self._held:
            self._seen.pop(waiter.owner, None)
        return True

    def _next_waiter(self) -> _Waiter | None:
        """Pop the fairest waiter and account the slot to its owner."""
        if not self._queues:
            return None
        waiter = self._pop_fairest(lambda o: self._held.get(o, 0))
        self._take(waiter.owner)
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
        return _wait_for_grant(self, waiter, cancel, give_back=lambda: self.release(owner=owner))

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

    def _unused(self, waiter: _Waiter) -> None:
        self.release(owner=waiter.owner)


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


class RateLimiter(_FairQueues):
    """At most ``per_minute`` grants a minute, shared by threads and coroutines, fair across owners.

    A token bucket that holds at most ``burst`` tokens (default 1) and gains ``per_minute / 60`` a
    second, so grants are paced evenly: no 60-second window holds more than
    ``per_minute + burst - 1`` of them (exactly ``per_minute`` with the default burst).

    Fairness: the next token goes to the waiting owner granted the fewest tokens in the last 60 s
    (the earliest-seen owner among equals, and within one owner its earliest waiter). So an owner
    with a long backlog (a batch) and one that arrives later with a few sketches (an interactive run)
    alternate, instead of the newcomer waiting behind the whole backlog.

    ``clock`` (seconds, monotonic) is injectable for tests; ``ticker=False`` leaves granting to
    explicit :meth:`dispatch` calls (tests driving a fake clock). Otherwise a daemon thread wakes
    when the next token is due while anyone waits, and exits when nobody does.
    """

    WINDOW_S = 60.0

    def __init__(
        self, per_minute: float, *, burst: int = 1, clock=time.monotonic, ticker: bool = True
    ) -> None:
        if not per_minute > 0:
            raise ValueError("per_minute must be more than 0")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self._rate = per_minute / 60.0
        self._per_minute = per_minute
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        super().__init__()
        self._wake = threading.Condition(self._lock)
        self._recent: dict[Hashable, deque[float]] = {}  # owner -> grant times in the last window
        self._ticker_enabled = ticker
        self._ticker: threading.Thread | None = None

    @property
    def per_minute(self) -> float:
        return self._per_minute

    def granted_recently(self, owner: Hashable) -> int:
        """Tokens ``owner`` was granted in the last minute."""
        with self._lock:
            self._forget_old(self._clock())
            return len(self._recent.get(owner, ()))

    # -- bookkeeping (all under self._lock) -----------------------------------------------------
    def _refill(self, now: float) -> None:
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now

    def _forget_old(self, now: float) -> None:
        for owner in list(self._recent):
            stamps = self._recent[owner]
            while stamps and stamps[0] <= now - self.WINDOW_S:
                stamps.popleft()
            if not stamps:
                del self._recent[owner]
                if owner not in self._queues:
                    self._seen.pop(owner, None)

    def _take(self, owner: Hashable, now: float) -> None:
        self._tokens -= 1
        self._recent.setdefault(owner, deque()).append(now)
        self._seen.setdefault(owner, next(self._counter))

    def _due_in(self) -> float:
        return max(0.0, (1 - self._tokens) / self._rate)

    def _grant_due(self) -> tuple[list[_Waiter], float | None]:
        """Pop every waiter a token is due for now; (granted, seconds until the next token or None)."""
        now = self._clock()
        self._refill(now)
        self._forget_old(now)
        granted: list[_Waiter] = []
        while self._queues and self._tokens >= 1:
            waiter = self._pop_fairest(lambda o: len(self._recent.get(o, ())))
            granted.append(waiter)
            self._take(waiter.owner, now)
        return granted, (self._due_in() if self._queues else None)

    def _enqueue(self, waiter: _Waiter) -> None:
        super()._enqueue(waiter)
        if self._ticker_enabled and (self._ticker is None or not self._ticker.is_alive()):
            self._ticker = threading.Thread(target=self._tick, name="sketchgen-rate", daemon=True)
            self._ticker.start()
        self._wake.notify()

    def _give_back(self, owner: Hashable) -> None:
        """A token granted to a waiter that had already gone: it was never used."""
        with self._lock:
            self._tokens = min(self._burst, self._tokens + 1)
            stamps = self._recent.get(owner)
            if stamps:
                stamps.pop()
        self.dispatch()

    # -- granting -------------------------------------------------------------------------------
    def dispatch(self) -> float | None:
        """Hand out every token due now; returns seconds until the next one (None: nobody waits)."""
        with self._lock:
            granted, due = self._grant_due()
        for waiter in granted:
            self._hand_over(waiter)
        return due

    def _tick(self) -> None:
        while True:
            with self._lock:
                granted, due = self._grant_due()
                if due is None and not granted:
                    self._ticker = None
                    return
            for waiter in granted:
                self._hand_over(waiter)
            if due is not None:
                with self._lock:
                    self._wake.wait(timeout=max(due, 0.001))

    def fail_waiters(self, error: BaseException) -> int:
        """Wake every waiter with ``error`` instead of a token (a quota that will not come back
        soon); returns how many. Later acquires are not affected."""
        with self._lock:
            waiters = [w for queue in self._queues.values() for w in queue]
            self._queues.clear()
        for waiter in waiters:
            waiter.error = error
            self._hand_over(waiter)
        return len(waiters)

    def _unused(self, waiter: _Waiter) -> None:
        if waiter.error is None:  # a waiter woken with an error was granted nothing
            self._give_back(waiter.owner)

    # -- sync -----------------------------------------------------------------------------------
    def acquire(self, cancel: threading.Event | None = None, *, owner: Hashable = None) -> bool:
        """Block until a token is granted (True), or ``cancel`` is set first (False, nothing taken).

        Raises the error given to :meth:`fail_waiters` if that wakes this waiter instead.
        """
        with self._lock:
            now = self._clock()
            self._refill(now)
            if not self._queues and self._tokens >= 1:
                self._take(owner, now)
                return True
            waiter = _Waiter(owner, event=threading.Event())
            self._enqueue(waiter)
        if not _wait_for_grant(self, waiter, cancel, give_back=lambda: self._give_back(owner)):
            return False
        if waiter.error is not None:
            raise waiter.error
        return True

    # -- async ----------------------------------------------------------------------------------
    async def aacquire(self, owner: Hashable = None) -> None:
        """Wait for a token without blocking the loop; raises like :meth:`acquire`."""
        loop = asyncio.get_running_loop()
        with self._lock:
            now = self._clock()
            self._refill(now)
            if not self._queues and self._tokens >= 1:
                self._take(owner, now)
                return
            waiter = _Waiter(owner, loop=loop, future=loop.create_future())
            self._enqueue(waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            with self._lock:
                if self._withdraw(waiter):
                    raise
            if waiter.future.done() and not waiter.future.cancelled() and waiter.error is None:
                self._give_back(owner)
            raise
        if waiter.error is not None:
            raise waiter.error
