"""The Gemini model catalog: data validity, name resolution, lifecycle and pricing."""

from __future__ import annotations

import datetime as dt

import pytest

from generate.adapter import Usage
from generate.adapters.gemini.catalog import (
    check_lifecycle,
    cost_usd,
    entry_for_unknown,
    estimate_cost,
    is_gemini_image_id,
    known_model_names,
    load_catalog,
    resolve_model,
)
from generate.errors import ConfigError

ALL_IDS = {
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3-pro-image",
    "gemini-3.1-flash-image-preview",
    "gemini-3.1-flash-image",
    "gemini-3.1-flash-lite-image",
    "gemini-nano-banana-2.1",
}


def test_catalog_lists_every_model_once_with_its_status():
    catalog = load_catalog()
    assert {e.id for e in catalog.models} == ALL_IDS
    status = {e.id: e.status for e in catalog.models}
    assert status["gemini-2.5-flash-image"] == "shutdown-listed"
    assert status["gemini-3-pro-image-preview"] == "shutdown"
    assert status["gemini-3.1-flash-image"] == "deprecated"
    assert status["gemini-3-pro-image"] == status["gemini-nano-banana-2.1"] == "live"
    assert catalog.price_table_date == "2026-11-21"
    names = known_model_names()
    assert len(names) == len(set(n.lower() for n in names))


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("nano-banana", "gemini-nano-banana-2.1"),
        ("nano-banana-pro", "gemini-3-pro-image"),
        ("gemini-3-pro-image", "gemini-3-pro-image"),
        ("models/gemini-3.1-flash-lite-image", "gemini-3.1-flash-lite-image"),
        ("Nano-Banana-Pro", "gemini-3-pro-image"),
    ],
)
def test_resolve_ids_and_aliases(name, model_id):
    entry = resolve_model(name)
    assert entry.id == model_id
    assert entry.effective_status() == "live"  # aliases point at live models


def test_unknown_name_is_a_config_error_with_a_suggestion():
    with pytest.raises(ConfigError) as info:
        resolve_model("nano-banan-pro")
    assert info.value.field == "model"
    assert "did you mean 'nano-banana-pro'" in str(info.value)


def test_pixel_tables_follow_the_documented_sizes():
    pro = resolve_model("gemini-3-pro-image")
    assert pro.pixels("16:9", "4K") == (5504, 3072)
    assert pro.pixels("2:3", "2K") == (1696, 2528)
    assert pro.pixels("21:9", "1K") == (1584, 672)
    flash = resolve_model("gemini-2.5-flash-image")
    assert flash.pixels("21:9") == (1536, 672)
    assert not flash.supports_image_size and flash.image_sizes == ("1K",)
    nb2 = resolve_model("nano-banana")
    assert nb2.pixels("1:4", "512") == (256, 1024)
    assert nb2.pixels("1:4", "4K") == (2048, 8192)
    assert pro.pixels("7:3", "1K") is None


def test_tokens_prices_and_reference_limits():
    flash = resolve_model("gemini-2.5-flash-image")
    pro = resolve_model("gemini-3-pro-image")
    nb2 = resolve_model("gemini-3.1-flash-image-preview")
    assert flash.tokens_per_image == {"1K": 1290} and flash.price_per_image["1K"] == 0.039
    assert pro.tokens_per_image["1K"] == 1120 and pro.tokens_per_image["4K"] == 2000
    assert pro.price_per_image["4K"] == 0.24 and pro.max_reference_images == 14
    assert nb2.price_per_image["512"] == 0.045 and nb2.tokens_per_image["2K"] == 1680
    assert flash.max_reference_images == 3
    for entry in load_catalog().models:  # the per-image price is the token rate times the tokens
        for size, tokens in entry.tokens_per_image.items():
            assert entry.price_per_image[size] == pytest.approx(
                tokens * entry.image_output_per_mtok / 1e6, abs=0.002
            )


def test_undocumented_models_say_their_figures_are_unconfirmed():
    for model_id in ("gemini-3-pro-image", "gemini-3.1-flash-lite-image", "gemini-nano-banana-2.1"):
        assert resolve_model(model_id).unconfirmed, model_id


def test_shut_down_models_fail_before_any_call_and_name_the_replacement():
    with pytest.raises(ConfigError) as info:
        check_lifecycle(resolve_model("gemini-3-pro-image-preview"))
    assert info.value.field == "model" and "'gemini-3-pro-image'" in str(info.value)
    with pytest.raises(ConfigError, match="gemini-nano-banana-2.1"):
        check_lifecycle(resolve_model("gemini-2.5-flash-image"))


def test_deprecated_model_gives_a_warning_and_live_none():
    warnings = check_lifecycle(resolve_model("gemini-3.1-flash-image"))
    assert len(warnings) == 1 and "deprecated" in warnings[0] and "gemini-nano-banana-2.1" in warnings[0]
    assert check_lifecycle(resolve_model("nano-banana-pro")) == []


def test_a_passed_shutdown_date_turns_a_deprecated_model_into_a_shut_down_one():
    entry = resolve_model("gemini-3.1-flash-image").model_copy(update={"shutdown": dt.date(2026, 12, 1)})
    assert check_lifecycle(entry, today=dt.date(2026, 11, 30))
    with pytest.raises(ConfigError, match="shut down on 2026-12-01"):
        check_lifecycle(entry, today=dt.date(2026, 12, 1))


def test_cost_is_priced_per_modality_from_usage():
    pro = resolve_model("nano-banana-pro")
    usage = Usage(
        prompt_tokens=1000,
        output_tokens=1130,
        output_image_tokens=1120,
        output_text_tokens=10,
        thoughts_tokens=290,
    )
    expected = (1000 * 2.0 + 1120 * 120.0 + (10 + 290) * 12.0) / 1e6
    assert cost_usd(pro, usage) == pytest.approx(expected)
    flash = resolve_model("gemini-2.5-flash-image")
    assert cost_usd(flash, Usage(output_tokens=1290, output_image_tokens=1290)) == pytest.approx(0.0387)


def test_a_blocked_image_costs_no_image_price_but_thinking_is_billed():
    pro = resolve_model("nano-banana-pro")
    blocked = Usage(prompt_tokens=500, output_tokens=0, output_image_tokens=0, thoughts_tokens=291)
    cost = cost_usd(pro, blocked)
    assert cost == pytest.approx((500 * 2.0 + 291 * 12.0) / 1e6)
    assert cost < 0.01


def test_estimate_cost_grows_with_size_and_references():
    pro = resolve_model("nano-banana-pro")
    one_k = estimate_cost(pro, "1K", 0)
    assert 0.134 < one_k < 0.15
    assert estimate_cost(pro, "4K", 0) > one_k + 0.1
    assert estimate_cost(pro, "1K", 3) == pytest.approx(one_k + 3 * 560 * 2.0 / 1e6)
    flash = resolve_model("gemini-2.5-flash-image")
    assert estimate_cost(flash, "4K", 0) == estimate_cost(flash, "1K", 0)  # fixed size: default price


def test_unknown_gemini_image_ids_get_pro_figures_marked_unconfirmed():
    assert is_gemini_image_id("gemini-4-ultra-image") and is_gemini_image_id("models/gemini-3-pro-image")
    assert not is_gemini_image_id("gemini-2.5-pro") and not is_gemini_image_id("imagen-4.0-generate-001")
    entry = entry_for_unknown("models/gemini-4-ultra-image")
    assert entry.id == "gemini-4-ultra-image" and entry.status == "live"
    assert entry.unconfirmed and entry.aliases == ()


def test_describe_carries_lifecycle_and_price():
    info = resolve_model("gemini-3-pro-image-preview").describe()
    assert info["status"] == "shutdown" and info["shutdown"] == "2026-06-25"
    assert info["replaced_by"] == "gemini-3-pro-image"
    assert info["price_per_image_usd"]["4K"] == 0.24 and info["price_table_date"] == "2026-11-21"
