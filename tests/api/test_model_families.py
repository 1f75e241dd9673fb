"""GET /models lists every registered family's models with their availability, third parties included."""

from __future__ import annotations

from tests.generate.stub_family import MODEL, READY_VAR, registered


async def test_models_carry_family_and_availability(client):
    r = await client.get("/models")
    assert r.status_code == 200
    models = {m["id"]: m for m in r.json()}
    trace = models["trace"]
    assert trace["family"] == "trace" and trace["available"] is True
    assert trace["availability"]["reason"]
    pro = models["gemini-3-pro-image"]
    assert pro["family"] == "gemini" and pro["available"] is False
    assert "GEMINI_API_KEY" in pro["availability"]["fix"]


async def test_a_third_party_family_is_listed_and_auto_can_resolve_to_it(client, monkeypatch):
    monkeypatch.setenv(READY_VAR, "1")
    with registered(priority=0):
        models = {m["id"]: m for m in (await client.get("/models")).json()}
    stub = models[MODEL]
    assert stub["family"] == "stub" and stub["available"] is True
    assert stub["price_per_image_usd"] == {"1K": 0.01, "2K": 0.02}
    assert models["auto"]["resolves_to"] == MODEL
