"""The studio page in headless Chromium: the gallery, an opened run, working on a sketch, managing
runs, settings, uploads; at a phone's width and with the keyboard alone; axe-core on every view.

Each view is screenshotted under the test's tmp dir. Runs come from ``trace`` (offline) or from the
fake Gemini server (real google-genai over real HTTP).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image

from generate.run_catalog import CATALOG_NAME
from tests.api.test_page import CHROMIUM, WAIT_MS, browser, page  # noqa: F401 - the page fixtures, shared
from tests.api.test_runs_files import make_run

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def check_axe(tab, view: str) -> None:
    """No serious or critical accessibility violation on what the page shows now."""
    if not tab.evaluate("typeof window.axe !== 'undefined'"):
        tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} -> {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{view}: {bad}"


def shoot(tab, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"studio-{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    return path


def ready(tab, server) -> None:
    tab.goto(server.url + "/")
    tab.wait_for_selector("body[data-ready=true]")


def tiles(tab) -> list[str]:
    return tab.eval_on_selector_all("#runs li.tile", "els => els.map(e => e.dataset.runId)")


def trace_run(server, brief: str, n: int = 3, **extra) -> str:
    r = httpx.post(
        server.url + "/generate",
        json={"brief": brief, "model": "trace", "num_images": n, **extra},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    return r.json()["run_id"]


def _real_pngs(folder: Path) -> None:
    for i, path in enumerate(sorted(folder.glob("*.png"))):
        Image.new("L", (96, 96), 60 + 30 * i).save(path)


@pytest.fixture
def many_runs(output_dir):
    """30 runs on disk and no catalog file yet: the page must build it from the folders."""
    for day in range(1, 31):
        style = "badge-emblem" if day % 3 == 0 else "vintage-mascot"
        brief = "retro caddie robot" if day == 7 else f"playful golf mascot number {day}"
        folder = make_run(output_dir, f"202501{day:02d}_090000", style=style, brief=brief, n=2)
        _real_pngs(folder)
    assert not (output_dir / CATALOG_NAME).exists()
    return output_dir


def test_gallery_from_folders_without_a_catalog(page, live_server, many_runs, tmp_path):  # noqa: F811
    server = live_server()
    ready(page, server)
    page.wait_for_function("document.querySelectorAll('#runs .tile .thumb img').length === 24")
    assert (many_runs / CATALOG_NAME).exists()
    assert tiles(page)[0] == "20250130_090000"
    assert page.locator("#more-runs").is_visible()
    first = page.locator("#runs .tile img").first
    assert "Contact sheet of" in first.get_attribute("alt")
    shoot(page, tmp_path, "gallery")
    check_axe(page, "gallery")

    page.click("#more-runs")  # the next page, from next_offset
    page.wait_for_function("document.querySelectorAll('#runs .tile').length === 30")
    assert page.locator("#more-runs").is_hidden()
    assert len(set(tiles(page))) == 30

    page.select_option("#f-style", "badge-emblem")
    page.wait_for_function("document.querySelectorAll('#runs .tile').length === 10")
    page.select_option("#f-style", "")
    page.select_option("#f-sort", "oldest")
    page.wait_for_function("document.querySelector('#runs .tile').dataset.runId === '20250101_090000'")
    page.fill("#f-since", "2025-01-05")
    page.fill("#f-until", "2025-01-06")
    page.wait_for_function("document.querySelectorAll('#runs .tile').length === 2")
    page.fill("#f-since", "")
    page.fill("#f-until", "")
    page.select_option("#f-status", "partial")
    page.wait_for_selector("#gallery-status:has-text('No runs match')")
    page.select_option("#f-status", "")

    # Typing searches once the typing pauses (debounced), not once per key.
    page.locator("#f-q").press_sequentially("caddie", delay=30)
    page.wait_for_function("document.querySelectorAll('#runs .tile').length === 1")
    assert tiles(page) == ["20250107_090000"]
    shoot(page, tmp_path, "gallery-search")
    check_axe(page, "gallery searched")

    page.fill("#f-q", "")
    page.check("#f-favourite")
    page.wait_for_selector("#gallery-status:has-text('No runs match')")


def test_open_a_run_with_details_and_lineage(page, live_server, fake_gemini, output_dir, tmp_path):  # noqa: F811
    server = live_server()
    ready(page, server)
    page.fill("#brief", "playful golf mascot with a very long brief that has to wrap on a phone screen")
    page.select_option("#num_images", "3")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    page.wait_for_selector("#cancel[hidden]", state="attached")
    parent = page.inner_text("#run-title").removeprefix("Run ")
    assert page.locator("#star-run").is_visible() and page.locator("#delete-run").is_visible()
    shoot(page, tmp_path, "run")
    check_axe(page, "finished run")

    page.locator("#sketches .card.completed").nth(1).locator("button.refine").click()
    page.wait_for_selector("#refine-dialog[open]")
    check_axe(page, "refine dialog")
    shoot(page, tmp_path, "refine-dialog")
    page.fill("#refine-instruction", "make the cap bigger")
    page.click("#refine-dialog button[value=ok]")
    page.wait_for_function(f"document.querySelector('#run-title').textContent !== 'Run {parent}'")
    page.wait_for_selector("#cancel[hidden]", state="attached")
    page.wait_for_function("document.querySelector('#run-status').textContent.startsWith('complete')")
    child = page.inner_text("#run-title").removeprefix("Run ")

    # Open the parent from the gallery: its details and its child in the lineage.
    page.locator(f"#runs li.tile[data-run-id='{parent}'] button.open-run").click()
    page.wait_for_function(f"document.querySelector('#run-title').textContent === 'Run {parent}'")
    page.wait_for_selector("#lineage:not([hidden])")
    page.click("#run-meta summary")
    facts = page.inner_text("#run-facts")
    assert "playful golf mascot" in facts and "nano-banana" in facts.lower() or "gemini" in facts.lower()
    assert "$" in facts
    assert page.locator("#run-prompts details").count() == 3
    assert "Sketch 1 of 3" in page.locator("#run-prompts pre").first.text_content()
    link = page.locator(f"#lineage a[href='#run={child}']")
    assert "make the cap bigger" in page.inner_text("#lineage")
    shoot(page, tmp_path, "run-details")
    check_axe(page, "run details")

    link.click()  # to the child, whose lineage names the parent
    page.wait_for_function(f"document.querySelector('#run-title').textContent === 'Run {child}'")
    page.wait_for_selector(f"#lineage a[href='#run={parent}']")
    assert "(this run)" in page.inner_text("#lineage")


def test_star_download_zip_and_delete_a_run(page, live_server, output_dir, tmp_path):  # noqa: F811
    server = live_server()
    keep = trace_run(server, "badge of a golf club")
    gone = trace_run(server, "retro caddie robot")
    ready(page, server)
    page.locator(f"#runs li.tile[data-run-id='{gone}'] button.open-run").click()
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")

    # Star from the sketch's card: the run is starred everywhere it shows.
    page.locator("#sketches .card.completed").first.locator("button.star").click()
    page.wait_for_selector(f"#runs li.tile[data-run-id='{gone}'] button.star[aria-pressed=true]")
    assert page.get_attribute("#star-run", "aria-pressed") == "true"
    assert (output_dir / gone / ".favourite").exists()
    page.check("#f-favourite")
    page.wait_for_function(
        f"(t => t.length === 1 && t[0].dataset.runId === '{gone}')(document.querySelectorAll('#runs li.tile'))"
    )
    page.uncheck("#f-favourite")

    card = page.locator("#sketches .card.completed").first
    held = page.evaluate("blobs.length")  # the opened run's images
    for label, name, magic in [("JPEG", "sketch_0.jpg", b"\xff\xd8\xff"), ("WebP", "sketch_0.webp", b"RIFF")]:
        with page.expect_download() as info:
            card.locator(f"button:text-is('{label}')").click()
        assert info.value.suggested_filename == name
        saved = tmp_path / name
        info.value.save_as(saved)
        assert saved.read_bytes().startswith(magic)
        with Image.open(saved) as image:
            assert all(r == g == b for r, g, b in image.convert("RGB").getdata())
    with page.expect_download() as info:
        page.click("#archive-run")
    assert info.value.suggested_filename == f"sketchgen_{gone}.zip"
    info.value.save_as(tmp_path / "run.zip")
    with zipfile.ZipFile(tmp_path / "run.zip") as archive:
        assert f"{gone}/metadata.json" in archive.namelist() and f"{gone}/sketch_2.png" in archive.namelist()
    # Downloads are not kept in the page's memory with the run's images.
    assert page.evaluate("blobs.length") == held

    # Delete asks first; Escape keeps the run and gives focus back to the button.
    page.focus("#delete-run")
    page.keyboard.press("Enter")
    page.wait_for_selector("#delete-dialog[open]")
    assert gone in page.inner_text("#delete-what")
    shoot(page, tmp_path, "delete-dialog")
    check_axe(page, "delete dialog")
    page.keyboard.press("Escape")
    page.wait_for_selector("#delete-dialog:not([open])", state="attached")
    assert page.evaluate("document.activeElement.id") == "delete-run"
    assert (output_dir / gone).is_dir()
    page.click("#delete-run")
    page.click("#confirm-delete")
    page.wait_for_selector("#run-status:has-text('deleted')")
    page.wait_for_function("document.querySelectorAll('#runs li.tile').length === 1")
    assert tiles(page) == [keep]
    assert not (output_dir / gone).exists()


def test_settings_are_kept_in_the_browser_and_applied(page, live_server, output_dir, tmp_path):  # noqa: F811
    server = live_server()
    ready(page, server)
    page.click("#open-settings")
    page.wait_for_selector("#settings-dialog[open]")
    check_axe(page, "settings dialog")
    shoot(page, tmp_path, "settings")
    page.select_option("#s-style", "badge-emblem")
    page.select_option("#s-model", "trace")
    page.select_option("#s-count", "5")
    page.click("#settings-dialog button[value=ok]")
    assert page.evaluate("document.activeElement.id") == "open-settings"
    # The dialog's close event (which saves) is a task of its own: wait for it, not a fixed time.
    page.wait_for_function("localStorage.getItem('sketchgen.settings') !== null")
    saved = json.loads(page.evaluate("localStorage.getItem('sketchgen.settings')"))
    assert saved["style_id"] == "badge-emblem" and saved["model"] == "trace" and saved["num_images"] == "5"

    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.input_value("#style_id") == "badge-emblem"
    assert page.input_value("#model") == "trace"
    assert page.input_value("#num_images") == "5"
    page.fill("#brief", "golf club crest")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 5")
    meta = json.loads(next(output_dir.glob("2*/metadata.json")).read_text())
    assert meta["style_id"] == "badge-emblem" and meta["model"]["used"] == "trace"


def _png_bytes(colour: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (64, 64), colour).save(buf, "PNG")
    return buf.getvalue()


def test_a_picked_image_starts_an_edit_run_with_references(page, live_server, fake_gemini, tmp_path):  # noqa: F811
    server = live_server()
    ready(page, server)
    drawing, ref = tmp_path / "my-drawing.png", tmp_path / "my-ref.png"
    drawing.write_bytes(_png_bytes(20))
    ref.write_bytes(_png_bytes(220))
    page.set_input_files("#edit-image", str(drawing))
    page.set_input_files("#reference-images", str(ref))
    page.wait_for_selector("#picked li:has-text('my-ref.png')")
    assert "To redraw: my-drawing.png" in page.inner_text("#picked")
    shoot(page, tmp_path, "uploads")
    check_axe(page, "uploads picked")
    page.fill("#brief", "clean up my golf mascot")
    page.select_option("#num_images", "3")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    # The library may re-encode what it sends: compare what the pictures are, not their bytes.
    sent = set()
    for request in fake_gemini.requests:
        for _, data in request.images:
            with Image.open(io.BytesIO(data)) as image:
                low, high = image.convert("L").getextrema()
                if image.size == (64, 64) and high - low <= 2:
                    sent.add(low // 10)
    assert {2, 22} <= sent, sent
    assert page.locator("#picked li").count() == 0  # used once: the next run starts without them


def test_a_dropped_image_is_picked(page, live_server, tmp_path):  # noqa: F811
    server = live_server()
    ready(page, server)
    import base64

    data = base64.b64encode(_png_bytes(90)).decode()
    page.evaluate(
        """(b64) => {
      const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'dropped.png', {type: 'image/png'}));
      document.getElementById('drop-zone').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true}));
    }""",
        data,
    )
    page.wait_for_selector("#picked li:has-text('To redraw: dropped.png')")


def test_spend_shows_today_and_this_month(page, live_server, output_dir, monkeypatch):  # noqa: F811
    from tests.generate.spend_helpers import freeze_now

    now = freeze_now(monkeypatch)  # the page loads seconds later: on the same UTC day
    run_id = now.astimezone().strftime("%Y%m%d_%H%M%S")  # a run started just now
    folder = make_run(output_dir, run_id, model="gemini-3-pro-image")
    meta = json.loads((folder / "metadata.json").read_text())
    meta["totals"]["cost_usd"] = 0.268
    (folder / "metadata.json").write_text(json.dumps(meta))
    server = live_server()
    ready(page, server)
    page.wait_for_selector("#spend:has-text('today $0.27')")
    assert "this month $0.27" in page.inner_text("#spend")


def test_phone_width_and_keyboard_alone(browser, live_server, output_dir, tmp_path):  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(WAIT_MS)
    phone = context.new_page()
    errors: list[str] = []
    phone.on("pageerror", lambda exc: errors.append(str(exc)))
    server = live_server()
    long_brief = "a very playful vintage golf mascot holding an oversized driver and winking at the crowd"
    run_id = trace_run(server, long_brief)
    ready(phone, server)
    phone.wait_for_selector("#runs .tile .thumb img")
    problems = phone.evaluate(
        """() => {
      const out = [];
      if (document.documentElement.scrollWidth > window.innerWidth) out.push('page scrolls sideways');
      for (const el of document.querySelectorAll('#runs .what')) {
        if (el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1) out.push('brief cut off');
        if (!el.textContent.includes('winking at the crowd')) out.push('brief shortened');
      }
      return out;
    }"""
    )
    assert problems == []
    shoot(phone, tmp_path, "phone-gallery")
    check_axe(phone, "phone gallery")

    # Keyboard alone: Tab reaches the run's tile, Enter opens it, focus is visible on the way.
    for _ in range(60):
        phone.keyboard.press("Tab")
        if phone.evaluate("document.activeElement.classList.contains('open-run')"):
            break
    else:
        pytest.fail("Tab never reached a gallery tile")
    outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), "no visible focus on the tile"
    phone.keyboard.press("Enter")
    phone.wait_for_function(f"document.querySelector('#run-title').textContent === 'Run {run_id}'")
    phone.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    sticking_out = phone.evaluate(
        """() => [...document.querySelectorAll('#sketches .card')].flatMap(card => {
      const box = card.getBoundingClientRect();
      return [...card.querySelectorAll('.caption button, .caption a')].filter(el => {
        const r = el.getBoundingClientRect();
        return r.right > box.right + 1 || r.left < box.left - 1;
      }).map(el => el.textContent);
    })"""
    )
    assert sticking_out == [], sticking_out
    refine = phone.locator("#sketches .card.completed").first.locator("button.refine")
    refine.focus()
    phone.keyboard.press("Enter")
    phone.wait_for_selector("#refine-dialog[open]")
    assert phone.evaluate("document.activeElement.id") == "refine-instruction"
    phone.keyboard.press("Escape")
    phone.wait_for_selector("#refine-dialog:not([open])", state="attached")
    assert phone.evaluate("document.activeElement.getAttribute('aria-label')") == "Refine sketch 1"
    assert phone.get_attribute("#run-status", "aria-live") == "polite"
    shoot(phone, tmp_path, "phone-run")
    check_axe(phone, "phone run")
    context.close()
    assert not errors, errors


def test_a_run_another_process_is_writing_shows_its_progress_then_its_status(page, live_server, output_dir):  # noqa: F811
    from generate.run_lock import RunLock
    from generate.runs import atomic_write_json

    folder = make_run(output_dir, "20250102_090000", status="running", brief="owl still drawing", n=3)
    meta = json.loads((folder / "metadata.json").read_text())
    done = json.loads(json.dumps(meta))
    meta["sketches"] = meta["sketches"][:1]
    meta["totals"]["succeeded"] = 1
    atomic_write_json(folder / "metadata.json", meta)
    lock = RunLock(folder).acquire()  # its writer is alive
    try:
        server = live_server()
        ready(page, server)
        page.click("#runs li.tile .open-run")
        page.wait_for_selector("#run-status:has-text('running')")
        page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 1")
        assert page.locator("#delete-run").is_hidden()

        done["status"] = "complete"
        atomic_write_json(folder / "metadata.json", done)
    finally:
        lock.release()
    page.wait_for_selector("#run-status:has-text('complete')", timeout=60_000)
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    assert page.locator("#delete-run").is_visible()
    assert page.inner_text("#runs li.tile .badge").startswith("complete · 3/3")


def test_a_star_that_fails_says_so_next_to_the_star_pressed(page, live_server, output_dir):  # noqa: F811
    import shutil

    opened = make_run(output_dir, "20250102_090000", brief="owl crest")
    other = make_run(output_dir, "20250101_090000", brief="golf badge")
    _real_pngs(opened)
    server = live_server()
    ready(page, server)
    page.click("#runs li.tile[data-run-id='20250102_090000'] .open-run")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    shutil.rmtree(opened)  # removed by another process meanwhile
    shutil.rmtree(other)

    page.click("#star-run")
    page.wait_for_selector("#run-status.failed:has-text('Could not star run 20250102_090000')")
    assert "Could not" not in page.inner_text("#gallery-status")

    page.click("#runs li.tile[data-run-id='20250101_090000'] button.star")
    page.wait_for_selector("#gallery-status:has-text('Could not star run 20250101_090000')")
    assert page.get_attribute("#star-run", "aria-pressed") == "false"


def test_the_gallery_says_it_is_indexing_then_shows_every_run(page, live_server, many_runs, monkeypatch):  # noqa: F811
    """While the catalog is rebuilt from the folders the gallery says so, with the count so far, and
    shows the full history once the build is done, not a silently short list."""
    import threading

    from generate.run_catalog import reindex
    from tests.generate.test_run_catalog_build import DEADLINE_S, HeldBuild

    held = HeldBuild(monkeypatch)
    builder = threading.Thread(target=reindex, args=(many_runs,))
    builder.start()
    try:
        assert held.stored.wait(DEADLINE_S)
        server = live_server()
        page.goto(server.url + "/")
        page.wait_for_selector("#gallery-status:has-text('Indexing past runs… (10 so far)')")
        assert page.locator("#runs .tile").count() == 10
        check_axe(page, "gallery indexing")
    finally:
        held.release()
    builder.join(DEADLINE_S)
    page.wait_for_function(
        "document.querySelectorAll('#runs .tile').length === 24", timeout=DEADLINE_S * 1000
    )
    page.wait_for_selector("#gallery-status:has-text('24 runs shown, more below')")
    assert tiles(page)[0] == "20250130_090000"


def _values(tab, selector: str) -> list[str]:
    return tab.eval_on_selector_all(f"{selector} option", "os => os.map(o => o.value)")


def test_a_grid_run_from_the_form_fills_its_cells(page, live_server, output_dir, tmp_path):  # noqa: F811
    """Grid: the layouts the picked model offers at the picked size, its count instead of Sketches,
    sent as ``sheet``; the cells arrive as sketches; a refusal is said next to the control."""
    server = live_server()
    ready(page, server)
    page.select_option("#model", "trace")
    page.select_option("#image_size", "1K")
    assert _values(page, "#sheet") == ["", "2x2"]  # 3x3 at 1K: cells under 384 px
    assert "larger size" in page.inner_text("#sheet-note")
    page.select_option("#image_size", "2K")
    assert _values(page, "#sheet") == ["", "2x2", "3x2", "2x3", "3x3"]
    page.select_option("#model", "openai:gpt-image-2")  # draws one sketch per call
    assert page.locator("#sheet").is_disabled() and "no grids" in page.inner_text("#sheet-note")
    page.select_option("#model", "trace")
    page.select_option("#image_size", "2K")
    page.select_option("#num_images", "3")

    page.focus("#num_images")  # the keyboard reaches it right after the count
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "sheet"
    page.select_option("#sheet", "3x2")
    assert page.locator("#num_images").is_disabled()
    assert page.eval_on_selector("#num_images", "s => s.options[s.selectedIndex].text") == "6 in one grid"
    check_axe(page, "grid picked")

    page.fill("#brief", "playful golf mascot")
    page.click("#generate")
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 6")
    page.wait_for_function("document.querySelector('#run-status').textContent.startsWith('complete: 6 of 6')")
    assert "n6" in page.get_attribute("#sketches", "class")
    run_id = page.inner_text("#run-title").removeprefix("Run ")
    meta = json.loads((output_dir / run_id / "metadata.json").read_text())
    assert meta["config"]["sheet"] == "3x2" and (output_dir / run_id / "sheet_01.png").exists()
    assert [s["sheet"]["cell"] for s in meta["sketches"]] == [[r, c] for r in range(2) for c in range(3)]
    shoot(page, tmp_path, "grid-run")

    # A grid the service refuses at this ratio (cells under 384 px) is said next to the control.
    page.select_option("#aspect_ratio", "21:9")
    page.select_option("#image_size", "1K")
    page.select_option("#sheet", "2x2")
    page.click("#generate")
    page.wait_for_selector("#sheet-error:not([hidden])")
    assert "384" in page.inner_text("#sheet-error") and "2x2" in page.inner_text("#sheet-error")
    assert page.locator("#sheet.invalid").count() == 1 and page.locator("#form-error").is_hidden()
    check_axe(page, "grid refused")
    page.select_option("#sheet", "")  # off again: the count picked before comes back
    assert page.locator("#sheet-error").is_hidden() and page.locator("#num_images").is_enabled()
    assert page.locator("#num_images").input_value() == "3"


def test_a_refused_run_leaves_nothing_of_the_run_before(page, live_server, output_dir):  # noqa: F811
    """A new designer's walk: an empty history says so (not "no match"); a run the service refuses
    after another was drawn does not keep that run's Star / zip / Delete under its "New run" title."""
    server = live_server()
    ready(page, server)
    assert page.inner_text("#gallery-status").startswith("No runs yet")
    page.select_option("#f-status", "failed")
    page.wait_for_selector("#gallery-status:has-text('No runs match these filters')")
    page.select_option("#f-status", "")
    page.wait_for_selector("#gallery-status:has-text('No runs yet')")

    page.select_option("#model", "trace")
    page.fill("#brief", "playful golf mascot")
    page.select_option("#num_images", "3")
    page.click("#generate")
    page.wait_for_selector("#delete-run:not([hidden])")
    page.wait_for_selector("#cancel[hidden]", state="attached")

    page.select_option("#aspect_ratio", "21:9")
    page.select_option("#image_size", "1K")
    page.select_option("#sheet", "2x2")  # cells under 384 px at 21:9: refused before any call
    page.click("#generate")
    page.wait_for_selector("#sheet-error:not([hidden])")
    for action in ("#star-run", "#archive-run", "#delete-run", "#contact-sheet"):
        assert page.locator(action).is_hidden(), action
    assert page.inner_text("#run-title") == "Not started"
    assert "not started" in page.inner_text("#run-status")
    check_axe(page, "refused run")


def test_a_grid_run_with_a_failed_cell_offers_no_resume(page, live_server, fake_gemini):  # noqa: F811
    """The service does not resume a sheet run cell by cell: the page offers no Resume for one (it
    used to, and the click was refused) and says to run it again."""
    from generate.testing import Behavior

    fake_gemini.set_default(Behavior.sheet_empty_cell(0, 1))
    server = live_server()
    made = httpx.post(
        server.url + "/generate",
        json={"brief": "playful golf mascot", "model": "nano-banana", "sheet": "2x2"},
        timeout=120,
    ).json()
    assert made["status"] == "partial", made
    ready(page, server)
    page.locator("#runs li button.open-run").first.click()
    page.wait_for_function("document.querySelectorAll('#sketches .card.completed img').length === 3")
    assert page.locator("#sketches .card.failed").count() == 1
    assert "sheet_cell_empty" in page.inner_text("#sketches .card.failed")
    assert page.locator("#resume-run").is_hidden()
    assert "2x2 grid is not resumed" in page.inner_text("#run-status")


def test_the_indexing_poll_backs_off_and_stops_when_the_build_is_done(page, live_server):  # noqa: F811
    """A build of the catalog takes minutes at 100,000 runs: the gallery asks again less and less
    often (not every 1.5 s for the build's life), and not at all once the build is done. The page's
    clock is Playwright's, so the waits it asks for are read exactly, without waiting for them."""
    import time

    server = live_server()
    answers = {"building": True, "n": 0}

    def runs(route):
        answers["n"] += 1
        catalog = {"building": True, "indexed": answers["n"]} if answers["building"] else None
        body = {"runs": [], "limit": 24, "offset": 0, "next_offset": None, "catalog": catalog}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/runs?*", runs)
    page.add_init_script(
        "window.__asked = []; const fetch0 = window.fetch;"
        "window.fetch = (url, ...rest) => { if (String(url).startsWith('/runs?')) window.__asked.push(Date.now());"
        " return fetch0(url, ...rest); };"
    )
    page.clock.install(time=1_700_000_000_000)
    page.clock.pause_at(1_700_000_000_000 + 1)  # the page's time moves only when told
    ready(page, server)

    def settled(n: int) -> None:
        """The n-th answer is shown (its next wait, if any, is set): polled, never slept on."""
        deadline = time.monotonic() + 60
        while page.evaluate("window.__asked.length") < n or f"({n} so far)" not in page.inner_text(
            "#gallery-status"
        ):
            assert time.monotonic() < deadline, page.inner_text("#gallery-status")
            time.sleep(0.05)

    waits = []
    for n in range(1, 9):
        settled(n)
        now = page.evaluate("Date.now()")
        page.clock.run_for(60_000)
        deadline = time.monotonic() + 60
        while page.evaluate("window.__asked.length") <= n:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        waits.append(page.evaluate(f"window.__asked[{n}]") - now)
    assert waits[0] == 1500
    assert waits == sorted(waits) and waits[-1] >= 10_000, waits
    assert max(waits) <= 30_000, waits

    answers["building"] = False
    page.clock.run_for(60_000)
    page.wait_for_selector("#gallery-status:has-text('No runs yet')")
    asked = page.evaluate("window.__asked.length")
    page.clock.run_for(600_000)
    assert page.evaluate("window.__asked.length") == asked  # nothing asked once the build is done


def test_a_grid_turned_off_gives_back_the_count_of_now_and_a_style_s_ratio_applies(page, live_server):  # noqa: F811
    """A style picked while a grid is on still sets its aspect ratio, and its count is the one the
    Sketches select comes back to; a count picked after the grid was turned off is the one the
    Settings dialog offers, not the count from before the grid."""
    server = live_server()
    ready(page, server)
    page.select_option("#model", "trace")
    page.select_option("#image_size", "2K")
    page.select_option("#style_id", "vintage-mascot")
    assert page.input_value("#aspect_ratio") == "1:1" and page.input_value("#num_images") == "4"
    page.select_option("#sheet", "2x2")
    page.select_option("#style_id", "editorial-spot")  # 4:3, 3 sketches
    assert page.input_value("#aspect_ratio") == "4:3"
    assert page.input_value("#sheet") == "2x2" and page.locator("#num_images").is_disabled()
    page.select_option("#sheet", "")
    assert page.input_value("#num_images") == "3"

    page.select_option("#sheet", "2x2")
    page.select_option("#sheet", "")
    page.select_option("#num_images", "6")
    page.click("#open-settings")
    page.wait_for_selector("#settings-dialog[open]")
    assert page.input_value("#s-count") == "6"
    page.keyboard.press("Escape")
