"""Recorded spend: what past runs cost, summed from their metadata.

Cost is what each run's ``metadata.json`` records (``totals.cost_usd``: the per-sketch costs
computed from the API's usage figures at the catalog's price), so a resumed run counts what its
resumes cost too. Days are UTC days of the run's ``timestamp``: the service's daily budget resets
at 00:00 UTC.

:func:`summarize_spend` is the one place spend is summed, so that a run catalog can later be
swapped in beneath it; :class:`DailySpend` is the service's cached view of today's spend.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from generate.errors import ConfigError, SketchgenError
from generate.run_catalog import stat_vouches
from generate.runs import RUN_ID_PATTERN, list_runs
from generate.types import default_output_root

__all__ = [
    "GROUPINGS",
    "summarize_spend",
    "parse_day",
    "utc_day",
    "DailySpend",
    "DailyBudgetReached",
    "daily_budget_from_env",
]

GROUPINGS = ("day", "model", "style")


def parse_day(value: str | date | None, *, field: str = "since") -> date | None:
    """``YYYY-MM-DD`` (or a date) as a date; ConfigError naming ``field`` otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ConfigError(f"{field} must be a date like 2026-01-31, got {value!r}", field=field) from None


def utc_day(timestamp: str | None) -> date | None:
    """The UTC day of an ISO timestamp as run metadata records it (local time with its offset)."""
    try:
        moment = datetime.fromisoformat(str(timestamp))
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # an old record without an offset: read as this machine's local time
        moment = moment.astimezone()
    return moment.astimezone(UTC).date()


def summarize_spend(
    root: Path | str | None = None, since: str | date | None = None, by: str = "day"
) -> dict[str, Any]:
    """Recorded cost of the runs under ``root`` from UTC day ``since`` on, grouped ``by`` day, model
    (the model that made the run) or style.

    Returns ``{since, by, total_usd, runs, sketches, groups: [{key, cost_usd, runs, sketches}]}``,
    groups by key (days in order; models and styles by cost, highest first).
    """
    if by not in GROUPINGS:
        raise ConfigError(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}", field="by")
    first = parse_day(since)
    groups: dict[str, dict[str, Any]] = {}
    total, runs, sketches = 0.0, 0, 0
    for run in list_runs(root, limit=sys.maxsize):
        day = utc_day(run.get("timestamp"))
        if day is None or (first is not None and day < first):
            continue
        cost = float(run.get("cost_usd") or 0.0)
        made = int(run.get("succeeded") or 0)
        key = {"day": day.isoformat(), "model": run.get("model"), "style": run.get("style_id")}[by] or "?"
        group = groups.setdefault(key, {"key": key, "cost_usd": 0.0, "runs": 0, "sketches": 0})
        group["cost_usd"] += cost
        group["runs"] += 1
        group["sketches"] += made
        total += cost
        runs += 1
        sketches += made
    order = sorted(groups.values(), key=lambda g: g["key"] if by == "day" else (-g["cost_usd"], g["key"]))
    for group in order:
        group["cost_usd"] = round(group["cost_usd"], 6)
    return {
        "since": first.isoformat() if first else None,
        "by": by,
        "total_usd": round(total, 6),
        "runs": runs,
        "sketches": sketches,
        "groups": order,
    }


class DailyBudgetReached(SketchgenError):
    """Today's recorded spend has reached ``SKETCHGEN_DAILY_BUDGET_USD``; ``retry_after_s`` is the
    time until the UTC day ends."""

    code = "budget_exceeded"

    def __init__(self, spent_usd: float, budget_usd: float, retry_after_s: int) -> None:
        super().__init__(
            f"the daily budget of ${budget_usd:.2f} is spent (${spent_usd:.4f} recorded today, UTC); "
            "new runs are refused until 00:00 UTC",
            field="budget",
        )
        self.spent_usd = spent_usd
        self.budget_usd = budget_usd
        self.retry_after_s = retry_after_s


def daily_budget_from_env() -> float | None:
    """``SKETCHGEN_DAILY_BUDGET_USD`` as a number above 0, or None when unset (ConfigError if bad)."""
    from generate.types import check_max_cost

    raw = os.environ.get("SKETCHGEN_DAILY_BUDGET_USD", "").strip()
    if not raw:
        return None
    try:
        return check_max_cost(raw, source="SKETCHGEN_DAILY_BUDGET_USD")
    except ConfigError as exc:
        raise ConfigError(str(exc), field="SKETCHGEN_DAILY_BUDGET_USD") from None


class DailySpend:
    """Today's (UTC) recorded spend under ``root``, without rereading every run on every request.

    Only the run folders whose name (their local start time) can fall on today's UTC day are looked
    at, and a run's metadata is read again only when its file changed (a finished run's never
    does): a check costs one directory listing and a ``stat`` per run of the day. A read made
    within the mtime tick of the file's last write is not cached (see
    :func:`generate.run_catalog.stat_vouches`): a rewrite in that same tick leaves the stat as is.
    """

    def __init__(self, root: Path | str | None = None) -> None:
        self._root = Path(root) if root is not None else None
        self._cache: dict[str, tuple[tuple[int, int], date | None, float]] = {}
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self._root if self._root is not None else default_output_root()

    def today(self, now: datetime | None = None) -> float:
        now = (now or datetime.now(UTC)).astimezone(UTC)
        day = now.date()
        # A run started today (UTC) has a local-time name no earlier than UTC midnight in local time.
        start = datetime(day.year, day.month, day.day, tzinfo=UTC).astimezone()
        earliest = start.strftime("%Y%m%d_%H%M%S")
        try:
            names = [p.name for p in self.root.iterdir() if RUN_ID_PATTERN.match(p.name)]
        except OSError:
            return 0.0
        total = 0.0
        with self._lock:
            for name in names:
                if name[:15] < earliest:
                    continue
                run_day, cost = self._cost_of(name)
                if run_day == day:
                    total += cost
            self._cache = {k: v for k, v in self._cache.items() if k[:15] >= earliest}
        return round(total, 6)

    def _cost_of(self, run_id: str) -> tuple[date | None, float]:
        path = self.root / run_id / "metadata.json"
        try:
            st = path.stat()
        except OSError:
            return None, 0.0
        version = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(run_id)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            run_day = utc_day(meta.get("timestamp"))
            cost = float((meta.get("totals") or {}).get("cost_usd") or 0.0)
        except (OSError, ValueError, TypeError, AttributeError):
            return None, 0.0  # a half-copied folder: counted once it reads
        if stat_vouches(st.st_mtime_ns):
            self._cache[run_id] = (version, run_day, cost)
        else:
            self._cache.pop(run_id, None)
        return run_day, cost

    def check(self, budget_usd: float | None, now: datetime | None = None) -> None:
        """Raise :class:`DailyBudgetReached` when today's spend is at or over ``budget_usd``."""
        if budget_usd is None:
            return
        now = (now or datetime.now(UTC)).astimezone(UTC)
        spent = self.today(now)
        if spent >= budget_usd:
            midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
            raise DailyBudgetReached(spent, budget_usd, max(1, int((midnight - now).total_seconds())))
