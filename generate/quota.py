"""Per-model quota for the whole process: an images-per-minute pace, and a per-day quota that ran out.

Every run in one process (the CLI, the HTTP service, a batch of briefs) asks the same
:class:`ModelGate` for a model before each call (:func:`model_gate`). The gate does two things:

* **Pace** (``SKETCHGEN_RATE_LIMITS``): ``"nano-banana-pro=60,gemini-3.1-flash-lite-image=500,trace=0"``
  — a model id or alias, ``=``, images per minute; ``0`` or absent is unlimited. The limit is a
  :class:`generate.limiter.RateLimiter` (token bucket, fair across runs: a batch cannot starve an
  interactive run). The catalog carries no default: Google shows live per-minute figures only in
  AI Studio (docs/gemini-api-facts.md §12), so an absent model is unlimited and its 429s are
  retried after their RetryInfo delay by the generator.
* **Per-day quota** (a 429 whose QuotaFailure violation names a ``...PerDay...`` quota id):
  such a quota does not come back until the daily reset (midnight Pacific), so retrying only burns
  time; a 402 (prepaid credits used up) stops the model for :data:`CREDITS_RECHECK` the same way. The first sketch that gets it closes the gate (:meth:`ModelGate.exhaust`): every sketch of
  the process waiting for that model, and every later one until the reset, fails at once with
  ``quota_exhausted`` and a message that says so (a model chain then falls back to its next model).

This module imports nothing outside the standard library.
"""

from __future__ import annotations

import asyncio
import difflib
import os
import re
import threading
import time
from collections.abc import Hashable, Iterable
from datetime import UTC, datetime, timedelta, timezone

from generate.errors import ConfigError, ErrorCode, ModelCallError
from generate.limiter import RateLimiter

__all__ = [
    "RATE_LIMITS_ENV",
    "ModelGate",
    "model_gate",
    "rate_limits",
    "check_rate_limits",
    "reset_gates",
    "next_daily_reset",
    "is_per_day",
]

RATE_LIMITS_ENV = "SKETCHGEN_RATE_LIMITS"
CREDITS_RECHECK = timedelta(minutes=15)  # a 402 (credits used up): how long calls stop before one tries again


def _entries(raw: str | None = None) -> list[tuple[str, float]]:
    """``[(model name, images per minute)]`` as written (``0`` kept); ConfigError for a bad entry."""
    text = os.environ.get(RATE_LIMITS_ENV, "") if raw is None else raw
    entries: list[tuple[str, float]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        try:
            per_minute = float(value) if sep else -1.0
        except ValueError:
            per_minute = -1.0
        if not name or not per_minute >= 0 or per_minute == float("inf"):
            raise ConfigError(
                f"{RATE_LIMITS_ENV}: {item!r} is not MODEL=IMAGES_PER_MINUTE (a number, 0 = unlimited), "
                'e.g. "nano-banana-pro=60,trace=0"',
                field="rate_limits",
            )
        entries.append((name, per_minute))
    return entries


def rate_limits(raw: str | None = None) -> dict[str, float]:
    """``{model name: images per minute}`` from ``$SKETCHGEN_RATE_LIMITS`` (or ``raw``); unlimited
    entries (``0``) are left out. ConfigError (field ``rate_limits``) naming the bad entry."""
    limits: dict[str, float] = {}
    for name, per_minute in _entries(raw):
        if per_minute > 0:
            limits[name] = per_minute
        else:
            limits.pop(name, None)
    return limits


def _model_ids() -> dict[str, str]:
    """Every registered family's model names (ids and aliases) -> the model's id, so that
    ``nano-banana-pro=60`` paces ``gemini-3-pro-image`` and ``gpt-image-1.5=5`` paces
    ``openai:gpt-image-1.5`` whichever name a run uses."""
    from generate.adapter import _load_builtins, families

    _load_builtins()
    ids: dict[str, str] = {}
    for family in families():
        for entry in family.models():
            for name in (entry["id"], *(entry.get("aliases") or ())):
                ids.setdefault(str(name), str(entry["id"]))
    return ids


def is_per_day(quota_id: str) -> bool:
    """Whether a quota id names a per-day quota: ``GenerateRequestsPerDayPerProjectPerModel-FreeTier``,
    or the spelled-out ``"... Requests per day per user ..."`` some Google front ends send."""
    return "perday" in re.sub(r"[^a-z]", "", quota_id.lower())


def check_rate_limits() -> None:
    """Raise ConfigError now if ``$SKETCHGEN_RATE_LIMITS`` is malformed or names a model no
    registered family knows (a typo would otherwise leave the model unpaced, unnoticed until its
    429s): checked before any call."""
    names = [name for name, _ in _entries()]
    if not names:
        return
    from generate.adapter import adapter_names, family_for

    known = _model_ids()
    for name in names:
        if name in known or family_for(name) is not None or name in adapter_names():
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else "; `sketchgen models` lists the known ones"
        raise ConfigError(f"{RATE_LIMITS_ENV} names an unknown model {name!r}{hint}", field="rate_limits")


def next_daily_reset(now: datetime | None = None) -> datetime:
    """The next midnight Pacific time, when Gemini's per-day quotas reset (docs/gemini-api-facts.md)."""
    try:
        from zoneinfo import ZoneInfo

        pacific = ZoneInfo("America/Los_Angeles")
    except Exception:  # noqa: BLE001 - no tz database here: Pacific standard time is close enough
        pacific = timezone(timedelta(hours=-8))
    local = (now or datetime.now(UTC)).astimezone(pacific)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC)


class ModelGate:
    """What every call to one model waits on, process-wide: its pace and its per-day quota."""

    def __init__(self, model: str, per_minute: float | None = None, *, clock=None) -> None:
        self.model = model
        options = {"clock": clock, "ticker": False} if clock is not None else {}
        self.rate = RateLimiter(per_minute, **options) if per_minute else None
        self._lock = threading.Lock()
        self._exhausted: ModelCallError | None = None
        self._until: datetime | None = None

    @property
    def per_minute(self) -> float | None:
        return self.rate.per_minute if self.rate is not None else None

    def exhausted_error(self) -> ModelCallError | None:
        """The error every call to this model gets now (None while the quota is not known spent)."""
        with self._lock:
            if self._exhausted is None:
                return None
            if self._until is not None and datetime.now(UTC) >= self._until:
                self._exhausted = self._until = None  # the daily reset has passed: try again
                return None
            return self._exhausted

    def exhaust(self, error: ModelCallError, *, until: datetime | None = None) -> None:
        """Record that ``error`` stops every call to this model, and fail every call waiting now.

        A per-day quota (a QuotaFailure ``...PerDay...`` quota id) stops it until ``until``
        (default: the next daily reset); anything else (a 402: prepaid credits used up) for
        :data:`CREDITS_RECHECK` (credits may be topped up any time). ``error``'s message is
        rewritten to say which, for its own sketch.
        """
        quota_ids = [str(q) for q in error.details.get("quota_ids") or []]
        if any(is_per_day(q) for q in quota_ids):
            until = until or next_daily_reset()
            what = (
                f"the daily quota of {self.model} is used up "
                f"(until about {until.strftime('%Y-%m-%d %H:%M UTC')}, the daily reset)"
            )
        else:
            until = until or datetime.now(UTC) + CREDITS_RECHECK
            what = (
                f"the quota or credits of {self.model} are used up "
                f"(tried again after {until.strftime('%H:%M UTC')})"
            )
        if not error.message.startswith(what):
            error.message = f"{what}: {error.message}"
        skip = ModelCallError(
            ErrorCode.QUOTA_EXHAUSTED,
            f"not attempted: {what}, found by another sketch in this process",
            retryable=False,
            fatal_for_run=True,
            http_status=error.http_status,
            details={"quota_ids": quota_ids, "until": until.isoformat()},
        )
        with self._lock:
            if self._exhausted is None:
                self._exhausted, self._until = skip, until
        if self.rate is not None:
            self.rate.fail_waiters(skip)

    # A sketch waiting out a retry delay wakes early when the quota is found spent: its next
    # attempt then fails at once instead of after the delay.
    _POLL_S = 0.1

    def wait_unless_spent(self, delay: float, *, cancel: threading.Event) -> bool:
        """Sleep ``delay`` seconds (blocking), less if the quota is found spent meanwhile;
        True if ``cancel`` was set (the caller stops)."""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            if cancel.wait(min(left, self._POLL_S)):
                return True
            if self.exhausted_error() is not None:
                return False
        return cancel.is_set()

    async def asleep_unless_spent(self, delay: float) -> None:
        """:meth:`wait_unless_spent` for coroutines (cancellation is the task's own)."""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, self._POLL_S))
            if self.exhausted_error() is not None:
                return

    def acquire(self, cancel: threading.Event | None = None, *, owner: Hashable = None) -> bool:
        """Wait for this model's next token (blocking). False if ``cancel`` is set first; raises
        the ``quota_exhausted`` ModelCallError when the per-day quota is known spent."""
        error = self.exhausted_error()
        if error is not None:
            raise error
        if self.rate is not None and not self.rate.acquire(cancel, owner=owner):
            return False
        error = self.exhausted_error()  # spent while we waited (fail_waiters may have missed us)
        if error is not None:
            raise error
        return True

    async def aacquire(self, owner: Hashable = None) -> None:
        """:meth:`acquire` for coroutines."""
        error = self.exhausted_error()
        if error is not None:
            raise error
        if self.rate is not None:
            await self.rate.aacquire(owner)
        error = self.exhausted_error()
        if error is not None:
            raise error


_GATES: dict[str, ModelGate] = {}
_NAMES: dict[str, set[str]] = {}  # model id -> every other name it was asked for by (aliases, ...)
_GATES_LOCK = threading.Lock()


def model_gate(model: str, *, names: Iterable[str] = ()) -> ModelGate:
    """The process-wide gate of ``model`` (the model id an adapter calls).

    Its pace is the ``$SKETCHGEN_RATE_LIMITS`` entry naming ``model``, or one of ``names`` (aliases,
    the name the user wrote) given now or by an earlier caller. A later change of the variable
    gives the model a new pace (its quota state is kept).
    """
    limits = rate_limits()
    ids = _model_ids() if limits else {}
    key = ids.get(model, model)
    with _GATES_LOCK:
        known = _NAMES.setdefault(model, set())
        known.update(n for n in names if n != model)
        per_minute = limits.get(model)
        if per_minute is None:
            per_minute = next((limits[n] for n in sorted(known) if n in limits), None)
        if per_minute is None:  # an alias or id of the same model, written differently
            per_minute = next((v for n, v in limits.items() if ids.get(n, n) == key), None)
        gate = _GATES.get(model)
        if gate is None or gate.per_minute != per_minute:
            fresh = ModelGate(model, per_minute)
            if gate is not None:  # keep a spent daily quota across a pace change
                fresh._exhausted, fresh._until = gate._exhausted, gate._until
            gate = _GATES[model] = fresh
        return gate


def reset_gates() -> None:
    """Forget every gate (paces and spent quotas): for tests, and after the user raised a quota."""
    with _GATES_LOCK:
        _GATES.clear()
        _NAMES.clear()
