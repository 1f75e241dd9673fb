"""Recorded spend: what past runs cost, summed from their metadata.

Cost is what each run's ``metadata.json`` records (``totals.cost_usd``: the per-sketch costs
computed from the API's usage figures at the catalog's price), so a resumed run counts what its
resumes cost too. Spend is dated by when it was billed (:func:`billed_days`): each resume's
``cost_usd`` on the UTC day of its ``at``, the rest of the run's cost on the UTC day of its
``timestamp``. The service's daily budget resets at 00:00 UTC.

:func:`summarize_spend` is the one place spend is summed, so that a run catalog can later be
swapped in beneath it; :class:`DailySpend` is the service's cached view of today's spend.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from generate.errors import ConfigError, SketchgenError
from generate.run_catalog import CATALOG_NAME, building_catalog, catalog_for, catalog_state, stat_vouches
from generate.runs import RUN_ID_PATTERN, list_runs, scan_runs
from generate.types import default_output_root

__all__ = [
    "GROUPINGS",
    "summarize_spend",
    "parse_day",
    "utc_day",
    "billed_days",
    "recorded_usd",
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


def recorded_usd(value: Any) -> float:
    """A cost as metadata records it, in dollars: a finite number of at least 0, else 0.0 (a
    hand-edited or damaged record counts nothing rather than taking the history or spend down)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return max(float(value), 0.0)


def billed_days(meta: dict[str, Any]) -> dict[str, float]:
    """What a run's metadata says it was billed on each UTC day: ``{"YYYY-MM-DD": usd}``, days in order.

    Each ``resumes[]`` entry with an ``at`` and a ``cost_usd`` above 0 counts on its own UTC day;
    what is left of ``totals.cost_usd`` counts on the run's start day, which is always there (a run
    that cost nothing still ran that day). Metadata from before resumes were dated counts wholly
    on its start day, as it did. A run without a readable ``timestamp`` has no start day.
    """
    totals = meta.get("totals") if isinstance(meta.get("totals"), dict) else {}
    rest = recorded_usd(totals.get("cost_usd"))
    days: dict[str, float] = {}
    resumes = meta.get("resumes")
    for entry in resumes if isinstance(resumes, list) else []:
        cost = recorded_usd(entry.get("cost_usd")) if isinstance(entry, dict) else 0.0
        day = utc_day(entry.get("at")) if cost > 0 else None
        if day is not None:
            days[day.isoformat()] = days.get(day.isoformat(), 0.0) + cost
            rest -= cost
    start = utc_day(meta.get("timestamp"))
    if start is not None:
        # max(): a resume's share is rounded apart from the total; never a negative start day
        days[start.isoformat()] = days.get(start.isoformat(), 0.0) + max(rest, 0.0)
    return {day: round(cost, 6) for day, cost in sorted(days.items())}


def summarize_spend(
    root: Path | str | None = None, since: str | date | None = None, by: str = "day"
) -> dict[str, Any]:
    """Recorded cost of the runs under ``root`` billed from UTC day ``since`` on, grouped ``by`` day
    (the day it was billed, :func:`billed_days`), model (the model that made the run) or style.

    Returns ``{since, by, total_usd, runs, sketches, groups: [{key, cost_usd, runs, sketches}]}``,
    groups by key (days in order; models and styles by cost, highest first). A run billed on
    several days counts in each of those days' ``runs``; its sketches count once, on the first of
    them from ``since`` on (the totals count each run and its sketches once).
    """
    if by not in GROUPINGS:
        raise ConfigError(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}", field="by")
    first = parse_day(since)
    groups: dict[str, dict[str, Any]] = {}
    total, runs, sketches = 0.0, 0, 0
    for run in _every_run(root):
        billed = run.get("billed")
        if not isinstance(billed, dict):  # a summary from before spend was dated by billing
            billed = billed_days(run)
        billed = {d: c for d, c in billed.items() if first is None or d >= first.isoformat()}
        if not billed:
            continue
        made = int(run.get("succeeded") or 0)
        for n, (day, cost) in enumerate(billed.items()):
            key = {"day": day, "model": run.get("model"), "style": run.get("style_id")}[by] or "?"
            group = groups.setdefault(
                key, {"key": key, "cost_usd": 0.0, "runs": 0, "sketches": 0, "ids": set()}
            )
            group["cost_usd"] += cost
            if (run.get("run_id") or id(run)) not in group["ids"]:
                group["ids"].add(run.get("run_id") or id(run))
                group["runs"] += 1
            group["sketches"] += made if n == 0 else 0
            total += cost
        runs += 1
        sketches += made
    order = sorted(groups.values(), key=lambda g: g["key"] if by == "day" else (-g["cost_usd"], g["key"]))
    for group in order:
        group["cost_usd"] = round(group["cost_usd"], 6)
        del group["ids"]
    return {
        "since": first.isoformat() if first else None,
        "by": by,
        "total_usd": round(total, 6),
        "runs": runs,
        "sketches": sketches,
        "groups": order,
    }


def _every_run(root: Path | str | None) -> list[dict[str, Any]]:
    """Every run's summary: from the run catalog, or from the folders while another process is
    rebuilding it (its rows are partial until it ends; this process's own build is waited for)."""
    runs = list_runs(root, limit=sys.maxsize)
    root = Path(root) if root is not None else default_output_root()
    if (catalog_state(root) or {}).get("building"):
        return scan_runs(root, limit=sys.maxsize)
    return runs


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

    The runs looked at are those billed today: the run catalog knows each run's billed days (one
    indexed query, no directory listing: it stays fast at 100,000 runs). Where there is no
    complete catalog (none built yet, one being built, or an outputs folder that cannot hold one),
    the folders are read: those whose name (their local start time) can fall on today's UTC day,
    and the older ones whose metadata.json changed today (a resume; a ``stat`` per run). A run's
    metadata is read again only when its file changed (a finished run's never does). A read made
    within the mtime tick of the file's last write is not cached (see
    :func:`generate.run_catalog.stat_vouches`): a rewrite in that same tick leaves the stat as is.
    A run resumed or made by another process is seen by the catalog as its refresh finds it (a
    settled run's rewrite at the next sweep, :data:`generate.run_catalog.SWEEP_INTERVAL_S`).
    """

    def __init__(self, root: Path | str | None = None) -> None:
        self._root = Path(root) if root is not None else None
        self._cache: dict[str, tuple[tuple[int, int], dict[str, float]]] = {}
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self._root if self._root is not None else default_output_root()

    def today(self, now: datetime | None = None) -> float:
        now = (now or datetime.now(UTC)).astimezone(UTC)
        day = now.date().isoformat()
        if not self.root.is_dir():
            return 0.0
        catalog = self._catalog()
        wanted = set(catalog.billed_on(day)) if catalog is not None else self._billed_on_from_folders(now)
        total = 0.0
        with self._lock:
            for name in wanted:
                total += self._billed(name).get(day, 0.0)
            self._cache = {k: v for k, v in self._cache.items() if k in wanted}
        return round(total, 6)

    def _catalog(self):
        """The run catalog when it holds every run; None while one is built (it is partial), and
        before one exists (building it here, minutes at 100,000 runs, would hold up a budget check)."""
        if building_catalog(self.root) is not None or not (self.root / CATALOG_NAME).exists():
            return None
        catalog = catalog_for(self.root)
        state = catalog_state(self.root) if catalog is not None else None
        return catalog if state is not None and not state["building"] else None

    def _billed_on_from_folders(self, now: datetime) -> set[str]:
        """The runs that may have been billed on ``now``'s UTC day, from the folders (no catalog)."""
        start = datetime(now.year, now.month, now.day, tzinfo=UTC)
        # A run started today (UTC) has a local-time name no earlier than UTC midnight in local time.
        earliest = start.astimezone().strftime("%Y%m%d_%H%M%S")
        try:
            names = [e.name for e in os.scandir(self.root) if RUN_ID_PATTERN.match(e.name)]
        except OSError:
            return set()
        since = start.timestamp() * 1e9
        wanted = set()
        for name in names:
            if name[:15] >= earliest:
                wanted.add(name)
                continue
            try:  # an older run resumed today: its metadata was rewritten today
                if (self.root / name / "metadata.json").stat().st_mtime_ns >= since:
                    wanted.add(name)
            except OSError:
                continue
        return wanted

    def _billed(self, run_id: str) -> dict[str, float]:
        path = os.path.join(self.root, run_id, "metadata.json")  # a str: a stat per run of the day
        try:
            st = os.stat(path)
        except OSError:
            return {}
        version = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(run_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        try:
            billed = billed_days(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, AttributeError):
            return {}  # a half-copied folder: counted once it reads
        if stat_vouches(st.st_mtime_ns):
            self._cache[run_id] = (version, billed)
        else:
            self._cache.pop(run_id, None)
        return billed

    def check(self, budget_usd: float | None, now: datetime | None = None) -> None:
        """Raise :class:`DailyBudgetReached` when today's spend is at or over ``budget_usd``."""
        if budget_usd is None:
            return
        now = (now or datetime.now(UTC)).astimezone(UTC)
        spent = self.today(now)
        if spent >= budget_usd:
            midnight = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
            raise DailyBudgetReached(spent, budget_usd, max(1, int((midnight - now).total_seconds())))
