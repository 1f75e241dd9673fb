"""The trace family: owns "trace", always available, free, and auto's last choice."""

from __future__ import annotations

from generate.adapter import family_for, get_adapter
from generate.adapters.trace.adapter import TraceAdapter
from generate.adapters.trace.family import TraceFamily

FAMILY = TraceFamily()


def test_owns_only_trace_and_builds_the_trace_adapter_ignoring_foreign_options():
    assert FAMILY.owns("trace") and not FAMILY.owns("nano-banana") and not FAMILY.owns("trace-2")
    assert family_for("trace").name == "trace"
    assert isinstance(get_adapter("trace", api_key="not-for-trace", client=object()), TraceAdapter)


def test_always_available_needing_nothing():
    availability = FAMILY.availability()
    assert availability.available and availability.fix == ""
    assert (availability.credentials, availability.extra_installed, availability.weights_present) == (
        None,
        None,
        None,
    )


def test_listed_free_at_every_size_it_offers():
    (entry,) = FAMILY.models()
    caps = TraceAdapter.capabilities
    assert entry["id"] == "trace" and entry["network"] is False
    assert entry["price_per_image_usd"] == {size: 0.0 for size in caps.image_sizes}


def test_estimates_cost_nothing_and_name_the_size_only_when_offered():
    (row,) = FAMILY.estimate_costs(image_size="2K", num_references=3, num_images=5)
    assert row == {
        "model": "trace",
        "status": "live",
        "image_size": "2K",
        "per_image_usd": 0.0,
        "run_usd": 0.0,
    }
    assert FAMILY.estimate_costs(image_size="8K", num_references=0)[0]["image_size"] is None


def test_is_the_auto_fallback():
    assert FAMILY.default_model() == "trace"
    assert FAMILY.auto_priority is not None and FAMILY.auto_priority > 100
