"""Budgets over HTTP: max_cost_usd refused before any call; the daily budget answers 429 budget_exceeded."""

from __future__ import annotations

from datetime import UTC, timedelta

import httpx
import pytest

from api.main import create_app
from generate import spend
from generate.run_catalog import note_written
from tests.generate.spend_helpers import freeze_now, recorded_run, resumed


async def test_a_run_over_its_cap_is_422_before_any_call(client, fake_gemini, output_dir):
    r = await client.post(
        "/generate",
        json={"brief": "golf mascot", "model": "nano-banana-pro", "num_images": 4, "max_cost_usd": 0.2},
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "max_cost_usd" and "$0.2000" in body["message"]
    assert fake_gemini.count == 0 and not any(output_dir.iterdir())


@pytest.mark.parametrize("cap", [0, -1, True, "abc", "NaN", "inf"])
async def test_a_cap_of_zero_or_less_or_not_a_number_is_422(client, cap):
    r = await client.post("/generate", json={"brief": "golf mascot", "max_cost_usd": cap})
    assert r.status_code == 422 and r.json()["field"] == "max_cost_usd"


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"1e400", b"true"])
async def test_a_cap_json_cannot_hold_as_a_number_is_422_for_a_run_and_a_batch(client, raw):
    for path, rows in (("/generate", b'"brief": "golf mascot"'), ("/batches", b'"rows": [{"brief": "a"}]')):
        body = b"{" + rows + b', "max_cost_usd": ' + raw + b"}"
        r = await client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (path, raw, r.text)
        assert r.json()["field"] == "max_cost_usd", r.text


@pytest.fixture
async def spent(output_dir, monkeypatch):
    """A service with a $1 daily budget (its clock stopped: "today" is one day throughout)."""
    monkeypatch.setenv("SKETCHGEN_DAILY_BUDGET_USD", "1")
    freeze_now(monkeypatch)
    app = create_app(output_dir=output_dir)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sketchgen") as c:
        yield c


async def test_daily_budget_reached_refuses_every_run_route(spent, fake_gemini, output_dir):
    first = await spent.post("/generate", json={"brief": "golf mascot", "model": "trace", "num_images": 3})
    assert first.status_code == 200  # nothing spent yet
    run_id = first.json()["run_id"]
    recorded_run(output_dir, spend.datetime.now(UTC), 1.2)  # at the frozen now
    calls = [
        ("POST", "/generate", {"brief": "golf mascot"}),
        ("POST", "/generate-stream", {"brief": "golf mascot"}),
        ("GET", "/generate-stream?brief=golf+mascot", None),
        ("POST", f"/runs/{run_id}/sketches/0/refine", {"instruction": "bigger cap"}),
        ("POST", f"/runs/{run_id}/sketches/0/vary", {"num_images": 3}),
    ]
    for method, url, body in calls:
        r = await spent.request(method, url, json=body)
        assert r.status_code == 429, (url, r.text)
        assert r.json()["code"] == "budget_exceeded", url
        assert "daily budget of $1.00 is spent" in r.json()["message"]
        assert 0 < int(r.headers["Retry-After"]) <= 86400
    assert fake_gemini.count == 0


async def test_under_the_daily_budget_runs_go_ahead(spent, output_dir):
    recorded_run(output_dir, spend.datetime.now(UTC), 0.5)
    r = await spent.post("/generate", json={"brief": "golf mascot", "model": "trace", "num_images": 3})
    assert r.status_code == 200, r.text


def test_a_bad_daily_budget_stops_start_up(monkeypatch, output_dir):
    from generate.errors import ConfigError

    monkeypatch.setenv("SKETCHGEN_DAILY_BUDGET_USD", "0")
    with pytest.raises(ConfigError, match="SKETCHGEN_DAILY_BUDGET_USD must be more than 0"):
        create_app(output_dir=output_dir)


@pytest.mark.parametrize(("cap", "says"), [(0, "must be more than 0 US dollars (got 0)"), (True, "not true")])
async def test_a_run_a_batch_and_the_library_refuse_a_bad_cap_in_the_same_words(client, cap, says):
    from generate.errors import ConfigError
    from generate.pipeline import RunRequest

    for path, body in (("/generate", {"brief": "golf mascot"}), ("/batches", {"rows": [{"brief": "a"}]})):
        r = await client.post(path, json={**body, "max_cost_usd": cap})
        assert r.status_code == 422, (path, r.text)
        assert says in r.text, (path, r.text)
    with pytest.raises(ConfigError) as refused:
        RunRequest.parse({"brief": "golf mascot", "max_cost_usd": cap})
    assert refused.value.field == "max_cost_usd" and says in str(refused.value)


async def test_a_resume_of_an_old_run_today_counts_against_the_daily_budget(spent, output_dir):
    now = spend.datetime.now(UTC)  # the frozen now
    old = recorded_run(output_dir, now - timedelta(days=3), 5.0)  # that day's, not today's
    request = {"brief": "golf mascot", "model": "trace", "num_images": 3}
    assert (await spent.post("/generate", json=request)).status_code == 200
    resumed(output_dir, old, now, 1.25)
    note_written(output_dir / old)  # as this service's own resume does
    r = await spent.post("/generate", json=request)
    assert r.status_code == 429 and "$1.2500 recorded today" in r.json()["message"]
