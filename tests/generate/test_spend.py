"""summarize_spend sums recorded cost by day, model or style; DailySpend is today's UTC spend."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from generate.errors import ConfigError
from generate.pipeline import RunRequest, SketchPipeline
from generate.spend import DailyBudgetReached, DailySpend, summarize_spend
from tests.generate.spend_helpers import recorded_run

DAY1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "outputs"
    recorded_run(root, DAY1, 0.50, model="gemini-3-pro-image-preview", style="vintage-mascot")
    recorded_run(
        root, DAY1 + timedelta(seconds=1), 0.25, model="gemini-2.5-flash-image", style="vintage-mascot"
    )
    recorded_run(root, DAY2, 0.125, model="gemini-2.5-flash-image", style="editorial-spot")
    return root


def test_sums_by_day(root):
    summary = summarize_spend(root, by="day")
    assert summary["total_usd"] == pytest.approx(0.875) and summary["runs"] == 3
    assert [(g["key"], g["cost_usd"], g["runs"]) for g in summary["groups"]] == [
        ("2026-03-01", 0.75, 2),
        ("2026-03-02", 0.125, 1),
    ]
    assert summary["sketches"] == 12


def test_sums_by_model_and_by_style(root):
    by_model = {g["key"]: g["cost_usd"] for g in summarize_spend(root, by="model")["groups"]}
    assert by_model == {"gemini-3-pro-image-preview": 0.5, "gemini-2.5-flash-image": 0.375}
    by_style = [(g["key"], g["cost_usd"]) for g in summarize_spend(root, by="style")["groups"]]
    assert by_style == [("vintage-mascot", 0.75), ("editorial-spot", 0.125)]  # highest first


def test_since_keeps_that_utc_day_on(root):
    summary = summarize_spend(root, since="2026-03-02")
    assert summary["total_usd"] == pytest.approx(0.125) and summary["since"] == "2026-03-02"


def test_bad_grouping_or_date_is_a_clear_error(root):
    with pytest.raises(ConfigError, match="by must be one of day, model, style"):
        summarize_spend(root, by="colour")
    with pytest.raises(ConfigError, match="since must be a date") as info:
        summarize_spend(root, since="yesterday")
    assert info.value.field == "since"


def test_no_runs_is_zero(tmp_path):
    assert summarize_spend(tmp_path / "none")["total_usd"] == 0


def test_a_real_run_is_counted(tmp_path):
    SketchPipeline(output_dir=tmp_path).run(RunRequest(brief="golf mascot", model="trace"))
    summary = summarize_spend(tmp_path, by="model")
    assert summary["runs"] == 1 and summary["groups"][0]["key"] == "trace"


def test_daily_spend_counts_today_only_and_sees_a_run_grow(tmp_path):
    now = datetime.now(UTC)
    recorded_run(tmp_path, now - timedelta(days=2), 5.0)
    today = recorded_run(tmp_path, now, 0.25)
    spend = DailySpend(tmp_path)
    assert spend.today(now) == pytest.approx(0.25)
    meta_path = tmp_path / today / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["totals"]["cost_usd"] = 0.75  # a sketch more settled: metadata rewritten
    meta_path.write_text(json.dumps(meta))
    import os

    os.utime(meta_path, ns=(1, meta_path.stat().st_mtime_ns + 1_000_000))
    assert spend.today(now) == pytest.approx(0.75)


def test_daily_spend_sees_a_rewrite_in_the_same_mtime_tick_as_its_last_read(tmp_path, monkeypatch):
    import os

    import generate.run_catalog as run_catalog

    now = datetime.now(UTC)
    run_id = recorded_run(tmp_path, now, 0.25)
    meta_path = tmp_path / run_id / "metadata.json"
    tick = meta_path.stat().st_mtime_ns
    monkeypatch.setattr(run_catalog, "_now_ns", lambda: tick + 1_000_000)  # read 1 ms after the write
    spend = DailySpend(tmp_path)
    assert spend.today(now) == pytest.approx(0.25)
    meta = json.loads(meta_path.read_text())
    meta["totals"]["cost_usd"] = 0.75  # a sketch more settled, written within the same tick
    meta_path.write_text(json.dumps(meta))
    os.utime(meta_path, ns=(tick, tick))
    assert spend.today(now) == pytest.approx(0.75)
    # Once its mtime is old enough to vouch for a read, the read is kept (and still right).
    monkeypatch.setattr(run_catalog, "_now_ns", lambda: tick + run_catalog.RACY_NS)
    assert spend.today(now) == pytest.approx(0.75)
    assert spend.today(now) == pytest.approx(0.75)


def test_daily_budget_reached_says_so_with_time_to_midnight(tmp_path):
    now = datetime.now(UTC)
    recorded_run(tmp_path, now, 1.0)
    spend = DailySpend(tmp_path)
    spend.check(1.5, now)  # under: no error
    with pytest.raises(DailyBudgetReached, match=r"daily budget of \$1\.00 is spent") as info:
        spend.check(1.0, now)
    assert info.value.code == "budget_exceeded" and 0 < info.value.retry_after_s <= 86400


@pytest.fixture
def far_east(monkeypatch):
    """This process in UTC+13 (Auckland in March): run folders are named in local time."""
    import time

    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_daily_budget_resets_at_utc_midnight_not_local_midnight(tmp_path, far_east):
    late = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 12:30 on March 2nd in Auckland
    recorded_run(tmp_path, late, 2.0)
    spend = DailySpend(tmp_path)
    with pytest.raises(DailyBudgetReached) as info:
        spend.check(1.0, late + timedelta(minutes=20))  # 23:50 UTC: still that UTC day
    assert info.value.retry_after_s == 600
    spend.check(1.0, late + timedelta(minutes=31))  # 00:01 UTC: a new day, nothing spent in it
    assert spend.today(late + timedelta(minutes=31)) == 0
    assert summarize_spend(tmp_path)["groups"][0]["key"] == "2026-03-01"


@pytest.mark.parametrize("cost", ["n/a", {"usd": 1}, [0.1], True, -0.5])
def test_a_run_whose_recorded_cost_is_not_a_sum_counts_nothing_and_takes_no_other_down(root, cost):
    """One hand-edited or damaged metadata.json (a cost that is not a number of dollars) is listed
    at no cost; the history, spend and the catalog behind them still answer for every other run."""
    from generate.run_catalog import catalog_for
    from generate.runs import list_runs

    damaged = recorded_run(root, DAY2 + timedelta(hours=1), 0.0)
    path = root / damaged / "metadata.json"
    meta = json.loads(path.read_text())
    meta["totals"]["cost_usd"] = cost
    meta["resumes"] = [{"at": DAY2.isoformat(), "cost_usd": cost, "sketches": [0]}]
    path.write_text(json.dumps(meta))

    runs = {r["run_id"]: r for r in list_runs(root, limit=100)}
    assert len(runs) == 4 and runs[damaged]["cost_usd"] == 0.0
    summary = summarize_spend(root)
    assert summary["total_usd"] == pytest.approx(0.875) and summary["runs"] == 4
    assert catalog_for(root).spend() == pytest.approx(0.875)
    assert DailySpend(root).today(DAY2) == pytest.approx(0.125)
