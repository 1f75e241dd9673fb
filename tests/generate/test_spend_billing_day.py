"""Spend is dated by billing: a run's own attempt on its start day, each resume on the UTC day it ran.

``summarize_spend``, the run catalog's spend query and the daily budget (``DailySpend``) agree, and
the daily budget finds a run resumed today though its folder is named for an older day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from generate.run_catalog import CATALOG_NAME, catalog_for, note_written
from generate.spend import DailyBudgetReached, DailySpend, billed_days, summarize_spend
from tests.generate.spend_helpers import recorded_run, resumed

YESTERDAY = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
TODAY = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _by_day(root, since=None) -> dict[str, tuple[float, int]]:
    return {g["key"]: (g["cost_usd"], g["runs"]) for g in summarize_spend(root, since=since)["groups"]}


def _catalog(root):
    catalog = catalog_for(root)
    assert catalog is not None
    return catalog


def test_a_run_resumed_today_counts_only_the_resume_today(tmp_path):
    run_id = recorded_run(tmp_path, YESTERDAY, 0.50)
    resumed(tmp_path, run_id, TODAY, 0.125)
    recorded_run(tmp_path, TODAY, 0.25)  # a run of today's own

    assert _by_day(tmp_path) == {"2026-03-01": (0.5, 1), "2026-03-02": (0.375, 2)}
    summary = summarize_spend(tmp_path)
    assert summary["total_usd"] == 0.875 and summary["runs"] == 2 and summary["sketches"] == 8
    assert summarize_spend(tmp_path, since="2026-03-02")["total_usd"] == 0.375

    catalog = _catalog(tmp_path)
    assert catalog.spend("2026-03-02", "2026-03-02") == pytest.approx(0.375)
    assert catalog.spend("2026-03-01", "2026-03-01") == pytest.approx(0.5)
    assert catalog.spend() == pytest.approx(0.875)

    spend = DailySpend(tmp_path)
    assert spend.today(TODAY) == pytest.approx(0.375)
    assert spend.today(YESTERDAY) == pytest.approx(0.5)
    spend.check(0.4, TODAY)  # today's 0.375 is under: yesterday's 0.50 is not today's
    with pytest.raises(DailyBudgetReached):
        spend.check(0.375, TODAY)


def test_the_daily_budget_sees_a_resume_of_an_old_run(tmp_path):
    run_id = recorded_run(tmp_path, TODAY - timedelta(days=20), 3.0)
    _catalog(tmp_path)  # the history made the catalog: the budget asks it, not the folders
    spend = DailySpend(tmp_path)
    spend.check(1.0, TODAY)  # nothing billed today yet
    resumed(tmp_path, run_id, TODAY, 1.5)
    note_written(tmp_path / run_id)  # as a resume in this process says (another's: the next sweep)
    with pytest.raises(DailyBudgetReached) as info:
        spend.check(1.0, TODAY)
    assert info.value.spent_usd == pytest.approx(1.5)


def test_without_a_catalog_the_daily_budget_still_finds_the_resumed_run(tmp_path, monkeypatch):
    import generate.run_catalog

    run_id = recorded_run(tmp_path, YESTERDAY, 0.50)
    recorded_run(tmp_path, YESTERDAY - timedelta(hours=1), 0.75)
    resumed(tmp_path, run_id, TODAY, 0.125)
    monkeypatch.setattr(generate.run_catalog, "catalog_for", lambda root: None)  # read-only outputs
    assert DailySpend(tmp_path).today(TODAY) == pytest.approx(0.125)


def test_a_resume_across_the_month_boundary_counts_in_the_new_month(tmp_path):
    run_id = recorded_run(tmp_path, datetime(2026, 2, 28, 23, 30, tzinfo=UTC), 0.5)
    resumed(tmp_path, run_id, datetime(2026, 3, 1, 0, 15, tzinfo=UTC), 0.25)
    resumed(tmp_path, run_id, datetime(2026, 3, 1, 0, 45, tzinfo=UTC), 0.0625)

    assert _by_day(tmp_path) == {"2026-02-28": (0.5, 1), "2026-03-01": (0.3125, 1)}
    assert summarize_spend(tmp_path, since="2026-03-01")["total_usd"] == 0.3125
    catalog = _catalog(tmp_path)
    assert catalog.spend("2026-03-01", "2026-03-31") == pytest.approx(0.3125)
    assert catalog.spend("2026-02-01", "2026-02-28") == pytest.approx(0.5)
    assert catalog.spend_by_model("2026-03-01", "2026-03-31") == {"gemini-3-pro-image-preview": 0.3125}
    assert DailySpend(tmp_path).today(datetime(2026, 3, 1, 12, tzinfo=UTC)) == pytest.approx(0.3125)


def test_by_model_counts_a_resumed_run_once(tmp_path):
    run_id = recorded_run(tmp_path, YESTERDAY, 0.5)
    resumed(tmp_path, run_id, TODAY, 0.25)
    (group,) = summarize_spend(tmp_path, by="model")["groups"]
    assert group == {"key": "gemini-3-pro-image-preview", "cost_usd": 0.75, "runs": 1, "sketches": 4}


def test_old_metadata_without_dated_resumes_counts_on_its_start_day(tmp_path):
    run_id = recorded_run(tmp_path, YESTERDAY, 0.5)
    resumed(tmp_path, run_id, TODAY, 0.25, at=None)  # recorded before resumes said when
    other = recorded_run(tmp_path, YESTERDAY + timedelta(seconds=1), 0.5)
    resumed(tmp_path, other, TODAY, 0.25, cost_usd=None)  # ... or what they cost
    assert _by_day(tmp_path) == {"2026-03-01": (1.5, 2)}
    assert DailySpend(tmp_path).today(TODAY) == 0
    assert _catalog(tmp_path).spend("2026-03-02", "2026-03-02") == 0


def test_billed_days_of_a_run_without_cost_keeps_its_start_day():
    meta = {"timestamp": "2026-03-01T10:00:00+00:00", "totals": {"cost_usd": 0.0}}
    assert billed_days(meta) == {"2026-03-01": 0.0}
    assert billed_days({"totals": {"cost_usd": 1.0}}) == {}  # no start day: not counted, as before


def test_the_daily_budget_never_builds_the_catalog(tmp_path):
    recorded_run(tmp_path, TODAY, 0.25)
    assert DailySpend(tmp_path).today(TODAY) == pytest.approx(0.25)
    assert not (tmp_path / CATALOG_NAME).exists()  # a first build can take minutes at 100,000 runs
