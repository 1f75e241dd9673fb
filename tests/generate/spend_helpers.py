"""Run folders with recorded cost, written the way a run writes its metadata (for spend tests)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path


def recorded_run(
    root: Path,
    when: datetime,
    cost: float,
    *,
    model: str = "gemini-3-pro-image-preview",
    style: str = "vintage-mascot",
) -> str:
    """A finished run started at ``when`` (an aware datetime) that cost ``cost``; returns its id."""
    local = when.astimezone()
    base = local.strftime("%Y%m%d_%H%M%S")
    run_id, n = base, 1
    while (root / run_id).exists():
        n += 1
        run_id = f"{base}_{n}"
    folder = root / run_id
    folder.mkdir(parents=True)
    meta = {
        "schema_version": 1,
        "run_id": run_id,
        "timestamp": local.isoformat(timespec="seconds"),
        "status": "complete",
        "style_id": style,
        "prompt_spec": {"brief": "golf mascot"},
        "config": {"num_images": 4, "model_name": model},
        "model": {"requested": model, "used": model},
        "totals": {"succeeded": 4, "failed": 0, "cancelled": 0, "cost_usd": cost},
    }
    (folder / "metadata.json").write_text(json.dumps(meta))
    return run_id


def freeze_now(monkeypatch, moment: datetime | None = None) -> datetime:
    """Make ``moment`` (default: now) the instant the library's daily budget and the service's
    ``GET /spend`` take as now, and return it. A test that records a run "today" and then asks for
    today's spend cannot straddle 00:00 UTC, or the end of a month, between the two."""
    import api.routes_studio
    import generate.spend

    moment = moment or datetime.now(UTC)

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return moment.astimezone(tz) if tz is not None else moment.astimezone().replace(tzinfo=None)

    for module in (generate.spend, api.routes_studio):
        monkeypatch.setattr(module, "datetime", Frozen)
    return moment


def resumed(root: Path, run_id: str, when: datetime, cost: float, **entry) -> None:
    """Record a resume of ``run_id`` made at ``when`` (aware) that billed ``cost``, as a resume does:
    one more ``resumes[]`` entry, and the run's total grown by it. ``entry`` overrides its fields
    (``at=None`` or ``cost_usd=None`` drops them, as metadata from before they were recorded)."""
    path = root / run_id / "metadata.json"
    meta = json.loads(path.read_text())
    record = {"at": when.astimezone().isoformat(timespec="seconds"), "sketches": [0], "cost_usd": cost}
    record.update(model=meta["model"]["used"], previous_status="partial", status="complete", **entry)
    meta.setdefault("resumes", []).append({k: v for k, v in record.items() if v is not None})
    meta["totals"]["cost_usd"] = round(meta["totals"]["cost_usd"] + cost, 6)
    path.write_text(json.dumps(meta))
