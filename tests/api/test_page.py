"""The web page, driven end to end in headless Chromium against uvicorn and the fake Gemini server."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from generate.testing import Behavior

CHROMIUM = Path("/usr/bin/chromium")
LEAD_SCREENSHOT = Path("/tmp/sketchgen-page.png")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)"
    ),
]


# How long a wait for the page may take before it fails: a bound for a page that never gets there,
# not a timing (Playwright's default 30 s is tight for Chromium on a loaded CI machine).
WAIT_MS = 60_000


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, errors


def test_designer_generates_watches_downloads_and_reopens(page, live_server, fake_gemini, tmp_path):
    # Sketch 1 is quick and the rest are held until it was seen, so placeholders fill in one by one.
    release = threading.Event()
    fake_gemini.script(Behavior.ok(latency=0.0), match="Sketch 1 of 4")
    fake_gemini.set_default(Behavior.ok(held_until=release))
    server = live_server()

    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#style_id option").count() >= 4
    assert page.locator("#style_id").input_value() == "vintage-mascot"
    assert page.locator("#model option[value=auto]").count() == 1
    assert page.locator("#aspect_ratio option").count() >= 1
    assert page.locator("#image_size option").count() >= 1

    page.fill("#brief", "playful golf mascot")
    page.select_option("#style_id", "vintage-mascot")
    page.select_option("#num_images", "4")
    page.select_option("#model", "auto")
    page.select_option("#aspect_ratio", "1:1")
    page.select_option("#image_size", "1K")
    page.click("#generate")

    # Placeholders first, then they fill in as sketches finish.
    page.wait_for_selector("#sketches .card.completed img")
    assert page.locator("#sketches .card").count() == 4
    assert page.locator("#sketches .card.pending").count() >= 1
    release.set()
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 4")
    page.wait_for_selector("#contact-sheet:not([hidden])")
    assert "complete: 4 of 4" in page.inner_text("#run-status")
    assert page.evaluate(  # every image really decoded
        "[...document.querySelectorAll('#sketches .card img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    shot = tmp_path / "sketchgen-page.png"
    page.screenshot(path=str(shot), full_page=True)
    shutil.copyfile(shot, LEAD_SCREENSHOT)

    with page.expect_download() as info:
        page.locator("#sketches .card.completed a[download]").first.click()
    assert info.value.suggested_filename == "sketch_0.png"
    saved = tmp_path / "download.png"
    info.value.save_as(saved)
    assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as info:
        page.click("#contact-sheet")
    assert info.value.suggested_filename.endswith("contact_sheet.png")

    # A second run in which one sketch is refused: its reason shows in its place.
    fake_gemini.reset()
    fake_gemini.script(Behavior.image_safety(), match="Sketch 2 of 3", then=Behavior.image_safety())
    page.fill("#brief", "retro caddie robot")
    page.select_option("#num_images", "3")
    page.click("#generate")
    page.wait_for_selector("#sketches .card.failed")
    failed = page.locator("#sketches .card.failed")
    assert failed.get_attribute("data-index") == "1"
    assert "blocked_output" in failed.inner_text() and "IMAGE_SAFETY" in failed.inner_text()
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 2")
    page.wait_for_selector("#contact-sheet:not([hidden])")
    assert "partial" in page.inner_text("#run-status")
    page.screenshot(path=str(tmp_path / "sketchgen-page-failed.png"), full_page=True)

    # Past runs are listed, newest first, and the first run can be reopened.
    page.wait_for_function("document.querySelectorAll('#runs li button.open-run').length === 2")
    first_run = page.locator("#runs li button.open-run").nth(1)
    assert "playful golf mascot" in first_run.inner_text()
    first_run.click()
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 4")
    assert page.locator("#sketches .card").count() == 4
    assert page.locator("#sketches .card.failed").count() == 0


def test_page_shows_validation_errors_next_to_the_field(page, live_server, fake_gemini):
    server = live_server()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.click("#generate")  # empty brief
    assert page.locator("#brief.invalid").count() == 1
    # A brief the server refuses (whitespace only passes the browser but not the API).
    page.evaluate("document.getElementById('brief').value = '!!!'")
    page.click("#generate")
    page.wait_for_selector("#form-error:not([hidden])")
    assert "brief" in page.inner_text("#form-error")
    assert page.locator("#brief.invalid").count() == 1
    assert fake_gemini.count == 0


def test_page_sends_the_request_options(page, live_server, fake_gemini):
    server = live_server()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#brief", "playful golf mascot")
    page.select_option("#num_images", "3")
    page.click("#more-options summary")
    page.select_option("#model", "trace")  # trace takes neither option: greyed out
    assert page.locator("#google_search").is_disabled() and page.locator("#person_generation").is_disabled()
    page.select_option("#model", "gemini-3-pro-image")
    assert page.locator("#google_search").is_enabled() and page.locator("#person_generation").is_enabled()
    page.select_option("#model", "auto")
    page.fill("#seed", "42")
    page.check("#google_search")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    assert [(r.seed, r.google_search, r.response_modalities) for r in fake_gemini.requests] == [
        (42, True, ["TEXT", "IMAGE"])
    ] * 3

    # Image only with grounding: refused by the service before any call, next to the field.
    fake_gemini.reset()
    page.check("#response_modalities")
    page.click("#generate")
    page.wait_for_selector("#form-error:not([hidden])")
    assert "google_search" in page.inner_text("#form-error")
    assert page.locator("#response_modalities.invalid").count() == 1
    assert fake_gemini.count == 0


def test_page_asks_for_the_token(page, live_server, fake_gemini):
    server = live_server(api_token="page-token-123")
    page.goto(server.url + "/")
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token-input", "wrong-token")
    page.click("#token-dialog button[type=submit]")
    page.wait_for_selector("#token-error:not([hidden])")
    page.fill("#token-input", "page-token-123")
    page.click("#token-dialog button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#style_id option").count() >= 4
    page.fill("#brief", "golf mascot")
    page.select_option("#num_images", "3")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    assert page.evaluate("sessionStorage.getItem('sketchgen.token')") == "page-token-123"
    assert os.environ.get("SKETCHGEN_API_TOKEN") is None  # the app got it as an argument only
    # The API docs link opens /docs with the kept token, which a navigation cannot send as a header.
    with page.context.expect_page() as docs:
        page.click("#docs-link")
    docs_page = docs.value
    docs_page.wait_for_load_state()
    assert "page-token-123" not in page.get_attribute("#docs-link", "href")
    response = docs_page.request.get(docs_page.url)
    assert response.status == 200, docs_page.url
    docs_page.close()


def test_automatic_with_credentials_offers_the_resolved_models_sizes_and_prices(
    page, live_server, fake_gemini
):
    # fake_gemini sets a dummy key and GEMINI_BASE_URL: "auto" resolves to Nano Banana (an alias).
    from generate.adapters.gemini.catalog import resolve_model

    entry = resolve_model("nano-banana")
    server = live_server()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#model").input_value() == "auto"
    # Says what it will use: the model's name in the label, its id in the price note.
    assert entry.display_name in page.locator("#model option[value=auto]").inner_text()
    assert f"({entry.id})" in page.inner_text("#price-note")

    sizes = page.eval_on_selector_all("#image_size option", "os => os.map(o => o.value)")
    ratios = page.eval_on_selector_all("#aspect_ratio option", "os => os.map(o => o.value)")
    assert sizes == list(entry.image_sizes)
    assert ratios == list(entry.aspect_ratios)

    # The price shown is the chosen size's, and follows the size and the count.
    page.select_option("#num_images", "4")
    page.select_option("#image_size", "2K")
    note = page.inner_text("#price-note")
    assert f"${entry.price_per_image['2K']:.3f} per sketch at 2K" in note
    assert f"${entry.price_per_image['2K'] * 4:.3f} for 4" in note
    page.select_option("#image_size", "4K")
    assert f"${entry.price_per_image['4K']:.3f} per sketch at 4K" in page.inner_text("#price-note")

    # Retired models are marked and cannot be picked; live ones can.
    retired = page.locator("#model option[value='gemini-3-pro-image-preview']")
    assert retired.is_disabled() and "retired" in retired.inner_text()
    listed = page.locator("#model option[value='gemini-2.5-flash-image']")
    assert listed.is_disabled() and "retired" in listed.inner_text()
    assert not page.locator("#model option[value='gemini-3-pro-image']").is_disabled()

    # A 2K run with Automatic really asks the model for 2K.
    page.select_option("#image_size", "2K")
    page.fill("#brief", "playful golf mascot")
    page.select_option("#num_images", "3")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    assert [r.image_size for r in fake_gemini.requests] == ["2K"] * 3


def test_designer_refines_and_varies_a_sketch(page, live_server, fake_gemini, output_dir):
    server = live_server()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#brief", "playful golf mascot")
    page.select_option("#num_images", "3")
    page.select_option("#model", "auto")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    page.wait_for_selector("#cancel[hidden]", state="attached")  # the run has ended: a new one may start
    first_run = page.inner_text("#run-title").removeprefix("Run ")

    page.locator("#sketches .card.completed").nth(1).locator("button.refine").click()
    page.wait_for_selector("#refine-dialog[open]")
    page.fill("#refine-instruction", "make the cap bigger")
    page.click("#refine-dialog button[value=ok]")
    # A child in the same second is "<first_run>_2": compare whole titles.
    page.wait_for_function(
        f"(t => t.startsWith('Run ') && t !== 'Run {first_run}')(document.querySelector('#run-title').textContent)"
    )
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 1")
    page.wait_for_selector("#cancel[hidden]", state="attached")
    child_run = page.inner_text("#run-title").removeprefix("Run ")
    assert "complete: 1 of 1" in page.inner_text("#run-status")
    assert "make the cap bigger" in fake_gemini.requests[-1].prompt
    # "auto" is Nano Banana (Flash), which does not sign its images: refined as an edit of the sketch.
    assert "REVISION of the image given" in fake_gemini.requests[-1].prompt

    page.locator("#sketches .card.completed").first.locator("button.vary").click()
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    page.wait_for_function("document.querySelector('#run-status').textContent.startsWith('complete')")
    grandchild = page.inner_text("#run-title").removeprefix("Run ")
    assert grandchild not in (first_run, child_run)
    import json

    meta = json.loads((output_dir / grandchild / "metadata.json").read_text())
    assert meta["parent"]["run_id"] == child_run and meta["parent"]["kind"] == "vary"


def test_iterate_buttons_are_disabled_while_a_run_streams(page, live_server, fake_gemini):
    # Sketch 1 is drawn while the others are held in flight: its Refine / More like this cannot start
    # a run yet, and say so instead of doing nothing when clicked.
    release = threading.Event()
    fake_gemini.script(Behavior.ok(latency=0.0), match="Sketch 1 of 3")
    fake_gemini.set_default(Behavior.ok(held_until=release))
    server = live_server()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#brief", "playful golf mascot")
    page.select_option("#num_images", "3")
    page.click("#generate")
    first = page.locator("#sketches .card.completed").first
    first.locator("button.vary").wait_for()
    assert page.locator("#cancel").is_visible()
    for kind in ("refine", "vary"):
        button = first.locator(f"button.{kind}")
        assert button.is_disabled() and "finish" in (button.get_attribute("title") or "")
    page.screenshot(path="/tmp/sketchgen-page-streaming.png")
    release.set()
    page.wait_for_selector("#cancel[hidden]", state="attached", timeout=60_000)
    assert first.locator("button.vary").is_enabled() and first.locator("button.refine").is_enabled()
    assert all(b.is_enabled() for b in page.locator("#sketches button.vary").all())


def test_an_interrupted_run_shows_as_such_and_resumes_from_the_page(page, live_server, output_dir):
    import json

    import httpx

    server = live_server()
    made = httpx.post(
        server.url + "/generate",
        json={"brief": "playful golf mascot", "model": "trace", "num_images": 3},
        timeout=60,
    ).json()
    folder = output_dir / made["run_id"]
    meta = json.loads((folder / "metadata.json").read_text())
    meta["status"] = "running"  # as a killed process leaves it
    meta["sketches"][2].update(status="running", file=None)
    (folder / "sketch_2.png").unlink()
    (folder / "metadata.json").write_text(json.dumps(meta))

    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    badge = page.locator("#runs li button.open-run .badge").first
    assert "interrupted" in badge.inner_text() and "interrupted" in (badge.get_attribute("class") or "")
    page.locator("#runs li button.open-run").first.click()
    page.wait_for_selector("#resume-run:not([hidden])")
    assert "interrupted" in page.inner_text("#run-status")
    assert page.locator("#sketches .card.completed").count() == 2
    page.click("#resume-run")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    page.wait_for_function("document.querySelector('#run-status').textContent.startsWith('complete')")
    assert page.locator("#resume-run").is_hidden()
    assert json.loads((folder / "metadata.json").read_text())["status"] == "complete"


_OVERFLOW_JS = """() => {
  const out = [];
  if (document.documentElement.scrollWidth > window.innerWidth) out.push(`page ${document.documentElement.scrollWidth}px wide`);
  for (const card of document.querySelectorAll('#sketches .card')) {
    const box = card.getBoundingClientRect();
    for (const el of card.querySelectorAll('.caption > *')) {
      const r = el.getBoundingClientRect();
      if (r.right > box.right + 1 || r.left < box.left - 1) out.push(`${el.textContent} sticks out of its card`);
    }
  }
  for (const el of document.querySelectorAll('.run-links > *:not([hidden])')) {
    if (el.getBoundingClientRect().right > document.querySelector('.run').getBoundingClientRect().right + 1)
      out.push(`${el.textContent} sticks out of the run panel`);
  }
  const card = document.querySelector('#sketches .card');
  card.scrollIntoView({block: 'center'});
  const c = card.getBoundingClientRect(), f = document.querySelector('.panel').getBoundingClientRect();
  if (f.bottom > c.top && f.top < c.bottom && f.right > c.left && f.left < c.right)
    out.push('the form panel overlaps the first sketch scrolled to');
  for (const el of document.querySelectorAll('#runs .what')) {
    // A brief wraps onto more lines; it is never cut off or squeezed to a sliver.
    if (el.getBoundingClientRect().width < 120) out.push(`past run's brief shown ${el.getBoundingClientRect().width}px wide`);
    if (el.scrollWidth > el.clientWidth + 1 || getComputedStyle(el).whiteSpace === 'nowrap')
      out.push(`past run's brief "${el.textContent}" is cut off`);
  }
  return out;
}"""


@pytest.mark.parametrize("width", [390, 1280])
def test_a_finished_run_fits_a_phone_and_a_laptop_with_a_token(browser, live_server, fake_gemini, width):
    """Every card's buttons stay inside their card and nothing scrolls sideways, at a phone's width
    and at a laptop's, on a service with a token (the first-use flow: the token, then a run)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    server = live_server(api_token="page-token-123")
    page.goto(server.url + "/")
    page.wait_for_selector("#token-dialog[open]")
    page.fill("#token-input", "page-token-123")
    page.click("#token-dialog button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    page.fill("#brief", "playful golf mascot")
    page.select_option("#num_images", "4")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 4")
    page.wait_for_selector("#contact-sheet:not([hidden])")
    page.wait_for_selector("#runs .what")
    problems = page.evaluate(_OVERFLOW_JS)
    context.close()
    assert problems == [], problems


# Every pickable option of a select, picked in turn: its label's rendered width (the select's own
# font, measured on a canvas) against the room the select leaves for it (its width less its padding,
# where the page draws the arrow). A label wider than that is cut off in the closed select.
_CUT_LABELS_JS = """(ids) => {
  const out = [];
  const ctx = document.createElement('canvas').getContext('2d');
  for (const id of ids) {
    const select = document.getElementById(id);
    const css = getComputedStyle(select);
    ctx.font = `${css.fontStyle} ${css.fontWeight} ${css.fontSize} ${css.fontFamily}`;
    const room = select.clientWidth - parseFloat(css.paddingLeft) - parseFloat(css.paddingRight);
    const before = select.value;
    for (const option of select.options) {
      if (option.disabled) continue;
      select.value = option.value;
      const text = select.options[select.selectedIndex].text;
      const width = ctx.measureText(text).width;
      if (width > room) out.push(`#${id} "${text}" needs ${Math.ceil(width)}px, has ${Math.floor(room)}px`);
    }
    select.value = before;
    if (select.scrollWidth > select.clientWidth) out.push(`#${id} overflows its box`);
  }
  return out;
}"""

LABELLED_SELECTS = [
    "style_id",
    "model",
    "aspect_ratio",
    "image_size",
    "num_images",
    "sheet",
    "f-style",
    "f-model",
    "f-status",
    "f-sort",
]


@pytest.mark.parametrize("width", [390, 1280])
@pytest.mark.parametrize("keyed", [False, True], ids=["offline", "gemini"])
def test_no_select_cuts_its_label(browser, live_server, fake_gemini, monkeypatch, width, keyed):
    """The model select's labels ("Automatic: Trace (offline)", "SDXL + scribble ControlNet
    (local)", ...) and every other select's are read whole when picked, at a phone's width and a
    laptop's; with no key "auto" is trace, with one it is Nano Banana."""
    if not keyed:
        for name in fake_gemini.env():
            monkeypatch.delenv(name, raising=False)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    server = live_server()
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    auto = page.locator("#model option[value=auto]").inner_text()
    assert ("Trace" in auto) != keyed, auto
    assert page.locator("#model option:not([disabled])").count() >= 10
    page.select_option("#image_size", "2K")
    page.select_option("#sheet", "3x3")  # the count then reads "9 in one grid"
    cut = page.evaluate(_CUT_LABELS_JS, LABELLED_SELECTS)
    page.screenshot(path=f"/tmp/sketchgen-page-labels-{width}.png", full_page=True)
    page.click("#open-settings")  # the same model labels, in the narrower settings dialog
    page.wait_for_selector("#settings-dialog[open]")
    cut += page.evaluate(_CUT_LABELS_JS, ["s-style", "s-model", "s-size", "s-count"])
    context.close()
    assert cut == [], cut
