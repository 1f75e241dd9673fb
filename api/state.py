"""Service settings and the per-app state shared by the routes.

Settings come from ``create_app(...)`` arguments first, then the environment:

* ``SKETCHGEN_API_TOKEN``: when set, every endpoint but ``/healthz`` (and the static page shell)
  needs ``Authorization: Bearer <token>``.
* ``SKETCHGEN_MAX_RUNS`` (default 64): runs in flight at once, across ``/generate`` and both
  ``/generate-stream`` forms. One more is answered 429 with ``Retry-After`` instead of queueing.
* ``SKETCHGEN_MAX_BODY_BYTES`` (default 32 MiB, room for a 20 MiB image as base64): the largest
  request body; larger ones are answered 413 (see :mod:`api.limits`).
* ``SKETCHGEN_OUTPUT_DIR``: where run folders live (read by the library).
* ``SKETCHGEN_DAILY_BUDGET_USD`` (default: none): once the runs recorded today (UTC) have cost
  this much, every request that would start runs is answered 429 with ``code: budget_exceeded``
  and ``Retry-After`` up to 00:00 UTC (see :class:`generate.spend.DailySpend`).
* ``SKETCHGEN_UPLOAD_RETENTION_HOURS`` (default 24) and ``SKETCHGEN_UPLOADS_MAX_MB`` (default 1024):
  uploads no run refers to are removed once that old; the uploads folder holds at most that much
  (an upload past it is answered 507 ``uploads_full``). See :mod:`generate.uploads`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import HTTPConnection

from generate.errors import ConfigError
from generate.spend import DailySpend, daily_budget_from_env
from generate.uploads import (
    DEFAULT_MAX_MB,
    DEFAULT_RETENTION_HOURS,
    max_bytes_from_env,
    retention_hours_from_env,
)

__all__ = ["ServiceSettings", "RunSlots", "ServiceState", "Overloaded", "get_state"]

DEFAULT_MAX_RUNS = 64
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024


def _env_int(name: str, default: int, *, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}", field=name) from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}", field=name)
    return value


@dataclass
class ServiceSettings:
    """Knobs of one app instance. ``output_dir`` None means the library's default ($SKETCHGEN_OUTPUT_DIR
    or ./generated_outputs), read when a run starts."""

    output_dir: Path | None = None
    api_token: str | None = None
    max_runs: int = DEFAULT_MAX_RUNS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    retry_after_s: int = 5
    sse_ping_s: float = 15.0
    # A client that does not read for this long is treated as gone: its run is cancelled.
    sse_send_timeout_s: float = 30.0
    # How long a cancelled run may take to cancel its calls and record itself before we stop waiting.
    cancel_grace_s: float = 10.0
    daily_budget_usd: float | None = None
    upload_retention_hours: float = DEFAULT_RETENTION_HOURS
    uploads_max_bytes: int = DEFAULT_MAX_MB * 2**20

    @classmethod
    def from_env(cls, **overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "api_token": os.environ.get("SKETCHGEN_API_TOKEN", "").strip() or None,
            "max_runs": _env_int("SKETCHGEN_MAX_RUNS", DEFAULT_MAX_RUNS),
            "max_body_bytes": _env_int("SKETCHGEN_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1024),
            "daily_budget_usd": daily_budget_from_env(),
            "upload_retention_hours": retention_hours_from_env(),
            "uploads_max_bytes": max_bytes_from_env(),
        }
        out = os.environ.get("SKETCHGEN_OUTPUT_DIR", "").strip()
        if out:
            values["output_dir"] = Path(out)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values.get("output_dir") is not None:
            values["output_dir"] = Path(values["output_dir"])
        return cls(**values)


class Overloaded(Exception):
    """Too many runs in flight; answered 429 with Retry-After."""

    def __init__(self, max_runs: int, retry_after_s: int) -> None:
        super().__init__(f"the service is running its maximum of {max_runs} runs; retry shortly")
        self.retry_after_s = retry_after_s


class RunSlots:
    """A counter of runs in flight with a hard cap: :meth:`acquire` never waits, it refuses.

    Refusing (429) instead of queueing keeps latency bounded and makes the client decide whether to
    retry; an unbounded queue would also hold sockets and memory for runs nobody may still want.
    """

    def __init__(self, limit: int, retry_after_s: int = 5) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self) -> RunSlot:
        with self._lock:
            if self._in_flight >= self.limit:
                raise Overloaded(self.limit, self.retry_after_s)
            self._in_flight += 1
        return RunSlot(self)

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1


class RunSlot:
    """One taken slot; :meth:`release` is idempotent so every exit path may call it."""

    def __init__(self, slots: RunSlots) -> None:
        self._slots = slots
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._slots._release()


@dataclass
class ServiceState:
    """What the routes share: settings, the run cap, and the library objects (built on first use so
    importing ``api.main`` stays cheap)."""

    settings: ServiceSettings
    pipeline: Any = None
    registry: Any = None
    slots: RunSlots = field(init=False)
    spend: DailySpend = field(init=False)
    # Batch id -> the asyncio task running it, for the batches this service started. Per service,
    # not per process: batch ids are times, so two services over two output folders (or two test
    # apps in one process) can hold the same id for different batches.
    batches: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.slots = RunSlots(self.settings.max_runs, self.settings.retry_after_s)
        self.spend = DailySpend(self.settings.output_dir)  # None: the library's default, read per check

    def check_budget(self) -> None:
        """Raise :class:`generate.spend.DailyBudgetReached` once today's spend reaches the daily
        budget (blocking: a directory listing; call it from a worker thread)."""
        self.spend.check(self.settings.daily_budget_usd)

    def get_registry(self):
        with self._lock:
            if self.registry is None:
                existing = getattr(self.pipeline, "registry", None)
                if existing is not None:
                    self.registry = existing
                else:
                    from style.registry import StyleRegistry

                    self.registry = StyleRegistry()
            return self.registry

    def get_pipeline(self):
        registry = self.get_registry()
        with self._lock:
            if self.pipeline is None:
                from generate.pipeline import SketchPipeline

                self.pipeline = SketchPipeline(registry=registry, output_dir=self.settings.output_dir)
            return self.pipeline

    def output_root(self) -> Path:
        if self.settings.output_dir is not None:
            return self.settings.output_dir
        from generate.types import default_output_root

        return default_output_root()


def get_state(conn: HTTPConnection) -> ServiceState:
    """FastAPI dependency: the app's :class:`ServiceState`."""
    return conn.app.state.sketchgen
