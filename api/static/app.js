// sketchgen page, part 2: the form and the run being drawn (helpers in http.js; the gallery and an
// opened run's details in gallery.js; settings, uploads, spend and start-up in studio.js).
//
// A run is POST /generate-stream read as it arrives: placeholders are laid out first and each
// sketch.completed fills its own. Stopping (or leaving the page) closes the connection, which
// cancels the sketches still pending on the server; the ones already drawn are kept. Each drawn
// sketch offers Refine (an instruction) and More like this: a child run streamed the same way from
// /runs/{run_id}/sketches/{index}/refine-stream or vary-stream.
"use strict";

const state = {
  styles: [], models: [], controller: null, runsOffset: 0, cards: [], runId: null, ratio: "1:1",
  favourite: false, upload: { image: null, references: [] },
};
const RESUMABLE = ["interrupted", "failed", "partial", "cancelled"];

// ---- form ------------------------------------------------------------------------------------------
function fillSelect(select, items, selected) {
  select.replaceChildren(...items.map(([value, label, disabled]) => {
    const option = new Option(label, value, false, value === selected);
    option.disabled = Boolean(disabled);
    return option;
  }));
  if (selected !== undefined && items.some(([v]) => v === selected)) select.value = selected;
}

function currentStyle() {
  return state.styles.find((s) => s.id === $("style_id").value);
}

// A model by id or alias: "auto" names what it resolves to, which may be an alias (nano-banana).
function findModel(name) {
  const key = String(name || "").toLowerCase();
  return state.models.find((m) => m.id.toLowerCase() === key)
    || state.models.find((m) => (m.aliases || []).some((a) => a.toLowerCase() === key));
}

// The model whose catalog figures apply to a pick: itself, or what "auto" resolves to.
function effectiveModel(id) {
  const model = findModel(id);
  if (model && !model.aspect_ratios.length && model.resolves_to) return findModel(model.resolves_to) || null;
  return model || null;
}

// Past its shutdown date (listed or confirmed): the server refuses it, so it cannot be picked.
function isRetired(m) {
  return m.status === "shutdown" || m.status === "shutdown-listed";
}

function refreshModelOptions() {
  const model = findModel($("model").value);
  const caps = effectiveModel($("model").value) || { aspect_ratios: [], image_sizes: [] };
  const style = currentStyle();
  const ratios = caps.aspect_ratios.length ? caps.aspect_ratios : ["1:1", "3:4", "4:3", "9:16", "16:9"];
  const sizes = caps.image_sizes.length ? caps.image_sizes : ["1K"];
  const wantRatio = ratios.includes($("aspect_ratio").value) ? $("aspect_ratio").value : style && style.aspect_ratio;
  fillSelect($("aspect_ratio"), ratios.map((r) => [r, r]), ratios.includes(wantRatio) ? wantRatio : ratios[0]);
  const wantSize = sizes.includes($("image_size").value) ? $("image_size").value : "1K";
  fillSelect($("image_size"), sizes.map((s) => [s, s]), sizes.includes(wantSize) ? wantSize : sizes[0]);
  $("model-note").textContent = model && model.notes ? model.notes : "";
  // Options the chosen model does not take are greyed out (the service would refuse them).
  for (const option of ["google_search", "person_generation"]) {
    const control = $(option);
    control.disabled = caps[option] === false;
    if (control.disabled && control.type === "checkbox") control.checked = false;
    else if (control.disabled) control.value = "";
  }
  refreshSheetOptions();
}

// ---- sheet mode: several sketches from one call ------------------------------------------------
// The grids the picked model offers at the picked size (its catalog's sheet_layouts; a model with
// none makes no sheets). A grid sets the count (its cells), so the Sketches select says that count
// and is not sent; the service still checks the cell size at the ratio and says why it refuses.
const GRID_COUNT = "grid";

function sheetCells(layout) {
  const [cols, rows] = String(layout).split("x").map(Number);
  return cols * rows;
}

function refreshSheetOptions() {
  const caps = effectiveModel($("model").value) || {};
  const offered = caps.sheet_layouts || {};
  const size = $("image_size").value;
  const layouts = offered[size] || [];
  const want = $("sheet").value;
  fillSelect($("sheet"), [["", "Off"], ...layouts.map((l) => [l, l])],
    layouts.includes(want) ? want : "");
  $("sheet").disabled = !layouts.length;
  const sizes = Object.keys(offered).filter((s) => offered[s].length);
  let note = "";
  if (!sizes.length) note = "This model draws one sketch per call: no grids.";
  else if (!layouts.length) note = `No grid at ${size}: this model makes grids at ${sizes.join(", ")}.`;
  else if (layouts.length < new Set(Object.values(offered).flat()).size) {
    note = `More grids at a larger size (${sizes.filter((s) => s !== size).join(", ")}).`;
  }
  $("sheet-note").textContent = note;
  onSheetChange();
}

function onSheetChange() {
  const layout = $("sheet").value;
  const count = $("num_images");
  const own = count.querySelector(`option[value="${GRID_COUNT}"]`);
  if (layout) {
    const label = `${sheetCells(layout)} in one grid`;
    if (own) own.textContent = label;
    else count.append(new Option(label, GRID_COUNT));
    if (count.value !== GRID_COUNT) count.dataset.before = count.value;
    count.value = GRID_COUNT;
    count.disabled = true;
  } else {
    if (own) own.remove();
    if (count.disabled) count.value = count.dataset.before || "4";
    count.disabled = false;
    delete count.dataset.before; // only kept while a grid holds the count
  }
  $("sheet-error").hidden = true;
  $("sheet").classList.remove("invalid");
  refreshPrice();
}

// The sketches a run makes: the grid's cells, or the count picked.
function sketchCount() {
  return $("sheet").value ? sheetCells($("sheet").value) : Number($("num_images").value);
}

// The price of what is picked: the chosen size's per-image price times the count.
function refreshPrice() {
  const model = effectiveModel($("model").value);
  const count = Number($("num_images").value);
  const layout = $("sheet").value;
  let text = "";
  if (model && model.network === false) text = "Free: runs offline, no model is called.";
  else if (model) {
    const per = (model.price_per_image_usd || {})[$("image_size").value];
    if (per !== undefined && layout) {
      text = `About $${per.toFixed(3)} for one ${layout} grid of ${sheetCells(layout)} sketches, one call at ${$("image_size").value} (${model.id}).`;
    } else if (per !== undefined) {
      const each = `$${per.toFixed(3)} per sketch at ${$("image_size").value}`;
      text = `About ${each}, $${(per * count).toFixed(3)} for ${count} (${model.id}).`;
    }
  }
  $("price-note").textContent = text;
}

function onStyleChange() {
  const style = currentStyle();
  $("style-description").textContent = style ? style.description : "";
  if (style) {
    // With a grid picked the grid sets the count: the style's count is the one to come back to
    // when the grid is turned off. Its aspect ratio applies either way (a grid too fine for it
    // is refused by the service, next to the Grid control).
    if ($("sheet").value) $("num_images").dataset.before = String(style.num_images);
    else $("num_images").value = String(style.num_images);
    if ([...$("aspect_ratio").options].some((o) => o.value === style.aspect_ratio)) {
      $("aspect_ratio").value = style.aspect_ratio;
    }
    refreshPrice();
  }
}

// A model's label in a select: its name and, when not plainly live, its stage. Short enough to be
// read whole in the form's select at a phone's width; the price of the pick is the note below it.
function modelLabel(m) {
  const resolved = m.resolves_to ? findModel(m.resolves_to) : null;
  const name = m.resolves_to ? `${m.display_name || m.id}: ${resolved ? resolved.display_name || resolved.id : m.resolves_to}`
    : m.display_name || m.id;
  const stage = isRetired(m) ? "retired" : m.status && !["live", "ga"].includes(m.status) ? m.status : "";
  if (!stage) return name;
  // "Nano Banana 2 (preview)" deprecated: "Nano Banana 2 (preview, deprecated)", one aside, not two.
  return name.endsWith(")") ? `${name.slice(0, -1)}, ${stage})` : `${name} (${stage})`;
}

async function loadChoices() {
  const [styles, models] = await Promise.all([getJSON("/styles"), getJSON("/models")]);
  state.styles = styles;
  state.models = models;
  fillSelect($("style_id"), styles.map((s) => [s.id, s.name]), styles.some((s) => s.id === "vintage-mascot") ? "vintage-mascot" : undefined);
  fillSelect($("model"), models.map((m) => [m.id, modelLabel(m), isRetired(m)]), "auto");
  refreshModelOptions();
  onStyleChange();
}

function clearFieldErrors() {
  document.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
  document.querySelectorAll("#form-error, .field-error").forEach((el) => { el.hidden = true; });
}

// A refusal is said next to the field it names where the field has its own line (#<field>-error),
// else above the Generate button.
function showFormError(message, field) {
  const line = (field && $(`${field}-error`)) || $("form-error");
  line.textContent = message;
  line.hidden = false;
  const input = field && document.querySelector(`#brief-form [name="${field}"]`);
  if (input) {
    input.classList.add("invalid");
    input.focus();
  }
}

// ---- the current run ---------------------------------------------------------------------------
function ratioCSS(ratio) {
  const [w, h] = String(ratio || "1:1").split(":").map(Number);
  return w > 0 && h > 0 ? `${w} / ${h}` : "1 / 1";
}

function setRunLinks(contactSheetUrl, metadataUrl, runId) {
  for (const [id, url, name] of [["contact-sheet", contactSheetUrl, `${runId}_contact_sheet.png`],
                                 ["metadata-link", metadataUrl, `${runId}_metadata.json`]]) {
    const link = $(id);
    link.hidden = true;
    if (!url) continue;
    blobURL(url).then((href) => { link.href = href; link.download = name; link.hidden = false; })
      .catch(() => {});
  }
}

function makeCards(count, ratio) {
  const grid = $("sketches");
  grid.className = `grid n${count}`;
  state.cards = [];
  grid.replaceChildren();
  for (let i = 0; i < count; i++) {
    const card = document.createElement("figure");
    card.className = "card pending";
    card.dataset.index = String(i);
    card.innerHTML = `<div class="frame"><div class="placeholder">Sketch ${i + 1}<br>waiting…</div></div>
      <figcaption class="caption"><span class="label"></span></figcaption>`;
    card.querySelector(".frame").style.aspectRatio = ratioCSS(ratio);
    grid.append(card);
    state.cards.push(card);
  }
}

function cardAt(index) {
  return state.cards[index] || null;
}

function setPlaceholder(card, html) {
  card.querySelector(".frame").innerHTML = `<div class="placeholder">${html}</div>`;
}

function escapeHTML(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function variationLabel(variation) {
  if (!variation) return "";
  return [variation.layout, variation.exaggeration].filter(Boolean).join(" · ").replace(/[-_]/g, " ");
}

async function showSketch(card, url, file, variation) {
  card.className = "card completed";
  card.querySelector(".label").textContent = variationLabel(variation);
  try {
    const href = await blobURL(url);
    const img = new Image();
    img.alt = `Sketch ${Number(card.dataset.index) + 1}: ${variationLabel(variation)}`;
    img.src = href;
    card.querySelector(".frame").replaceChildren(img);
    card.querySelector(".caption").append(
      downloadGroup(url, href, file, Number(card.dataset.index)),
      ...iterateButtons(state.runId, Number(card.dataset.index)),
      ...(state.runId ? [starButton("small card-star")] : []),
    );
  } catch (err) {
    setPlaceholder(card, `Could not load the sketch: ${escapeHTML(err.message)}`);
  }
}

// Download as PNG (the file itself), JPEG or WebP (converted by the service, grayscale kept).
function downloadGroup(url, href, file, index) {
  const group = document.createElement("span");
  group.className = "downloads";
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", `Download sketch ${index + 1}`);
  const link = document.createElement("a");
  link.className = "button secondary small";
  link.textContent = "PNG";
  link.href = href;
  link.download = file;
  link.setAttribute("aria-label", `Download sketch ${index + 1} as PNG`);
  group.append(link);
  for (const [format, label, suffix] of [["jpeg", "JPEG", ".jpg"], ["webp", "WebP", ".webp"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button secondary small";
    button.textContent = label;
    button.setAttribute("aria-label", `Download sketch ${index + 1} as ${label}`);
    button.addEventListener("click", () => downloadAs(`${url}?format=${format}`, file.replace(/\.[^.]+$/, suffix)));
    group.append(button);
  }
  return group;
}

async function downloadAs(url, name) {
  try {
    // Kept apart from the opened run's images and let go once the download has its bytes: a zip
    // or a converted copy would otherwise stay in memory until another run opens.
    const kept = [];
    const link = Object.assign(document.createElement("a"), { href: await blobURL(url, kept), download: name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => kept.forEach((href) => URL.revokeObjectURL(href)), 1000);
  } catch (err) {
    setStatus(`Could not download ${name}: ${err.message}`, true);
  }
}

function iterateButtons(runId, index) {
  if (!runId) return [];
  return [["refine", "Refine…"], ["vary", "More like this"]].map(([kind, label]) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `button secondary small ${kind}`;
    button.textContent = label;
    button.setAttribute("aria-label", kind === "refine" ? `Refine sketch ${index + 1}` : `More like this: sketch ${index + 1}`);
    button.addEventListener("click", () => iterate(kind, runId, index));
    setIterateEnabled(button, !state.controller);
    return button;
  });
}

// One run streams at a time: while it does, the sketches' Refine / More like this are disabled and
// say why (a click used to do nothing).
function setIterateEnabled(button, enabled) {
  button.disabled = !enabled;
  button.title = enabled ? "" : "Wait for the run to finish (or stop it) first";
}

function setAllIterateEnabled(enabled) {
  document.querySelectorAll("#sketches button.refine, #sketches button.vary").forEach((b) => setIterateEnabled(b, enabled));
}

async function iterate(kind, runId, index) {
  if (state.controller) return; // a run is streaming; finish or stop it first
  let body;
  if (kind === "refine") {
    const instruction = await askInstruction(index);
    if (!instruction) return;
    body = { instruction: instruction.trim(), num_images: 1, previews: true };
  } else {
    body = { num_images: Number($("num_images").value) || Number($("num_images").dataset.before) || 4, previews: true };
  }
  const path = `/runs/${encodeURIComponent(runId)}/sketches/${index}/${kind}-stream`;
  const what = kind === "refine" ? `Refining sketch ${index + 1} of ${runId}` : `More like sketch ${index + 1} of ${runId}`;
  await streamRun(path, body, body.num_images, state.ratio, what);
}

function showFailure(card, status, code, message, variation) {
  card.className = `card ${status}`;
  if (variation) card.querySelector(".label").textContent = variationLabel(variation);
  const title = status === "cancelled" ? "Stopped" : "Failed";
  setPlaceholder(card, `<strong>${title}${code ? ` (${escapeHTML(code)})` : ""}</strong>${escapeHTML(message)}`);
}

function setStatus(text, failed = false) {
  $("run-status").textContent = text;
  $("run-status").classList.toggle("failed", failed);
}

function handleEvent({ event, data }) {
  if (event === "run.started") {
    state.runId = data.run_id;
    $("run-title").textContent = `Run ${data.run_id}`;
    if (state.cards.length !== data.num_images) makeCards(data.num_images, $("aspect_ratio").value);
    setStatus(`Drawing ${data.num_images} sketches with ${data.model}…`);
    setRunActions(null);
  } else if (event === "stage") {
    const refs = data.details && data.details.references;
    setStatus(data.name === "references_retrieved" ? `Found ${refs ? refs.length : 0} reference images; sketching…` : "Prompt compiled…");
  } else if (event === "sketch.preview") {
    const card = cardAt(data.index);
    if (card) card.querySelector(".frame").innerHTML = `<img class="preview" alt="" src="data:${data.mime_type};base64,${data.data_b64}">`;
  } else if (event === "sketch.retry") {
    const card = cardAt(data.index);
    if (card) setPlaceholder(card, `Sketch ${data.index + 1}<br>retrying (${escapeHTML(data.reason)}), attempt ${data.attempt} of ${data.max_attempts}…`);
  } else if (event === "sketch.completed") {
    const card = cardAt(data.index);
    if (card) showSketch(card, data.url, data.file, data.variation);
  } else if (event === "sketch.failed") {
    const card = cardAt(data.index);
    if (card) showFailure(card, data.code === "cancelled" ? "cancelled" : "failed", data.code, data.message, data.variation);
  } else if (event === "run.completed") {
    const cost = data.cost_usd ? ` · $${data.cost_usd.toFixed(3)}` : "";
    setStatus(`${data.status}: ${data.succeeded} of ${data.succeeded + data.failed + data.cancelled} sketches in ${data.wall_s.toFixed(1)} s${cost}`,
      data.status === "failed");
    state.cards.forEach((card) => {
      if (card.classList.contains("pending")) showFailure(card, "cancelled", "", "Not drawn.");
    });
    setRunLinks(data.contact_sheet_url, data.metadata_url, data.run_id);
    setRunActions(data.run_id, false, data.status);
  } else if (event === "error") {
    setStatus(`The run failed: ${data.message}`, true);
  }
}

// The "More options" controls; a field left at its default is not sent, so the service decides.
function requestOptions() {
  const options = {};
  const seed = $("seed").value.trim();
  if (seed !== "") options.seed = Number(seed);
  if ($("person_generation").value) options.person_generation = $("person_generation").value;
  if ($("google_search").checked) options.google_search = true;
  if ($("response_modalities").checked) options.response_modalities = "image";
  return options;
}

async function generate(event) {
  event.preventDefault();
  clearFieldErrors();
  const brief = $("brief").value.trim();
  if (!brief) return showFormError("Type a brief first.", "brief");
  const sheet = $("sheet").value;
  const body = {
    brief, style_id: $("style_id").value, model: $("model").value,
    aspect_ratio: $("aspect_ratio").value, image_size: $("image_size").value, previews: true,
    // A grid's count is its cells: the service takes the layout alone.
    ...(sheet ? { sheet } : { num_images: Number($("num_images").value) }),
    ...requestOptions(), ...uploadFields(),
  };
  await streamRun("/generate-stream", body, sketchCount(), body.aspect_ratio, sheet ? `New ${sheet} grid` : "New run");
}

// A run's events (POST /generate-stream, an iteration's stream, POST /runs/{id}/resume-stream) into
// the cards. ``count`` null: a resumed run, which keeps the cards and sketches it already has.
async function streamRun(path, body, count, ratio, title) {
  setRunLinks(null, null, "");
  if (count != null) {
    forgetBlobs();
    state.runId = null;
    state.ratio = ratio;
    makeCards(count, ratio);
    $("run-title").textContent = title;
  }
  setStatus("Starting…");
  $("resume-run").hidden = true;
  const controller = new AbortController();
  state.controller = controller;
  setAllIterateEnabled(false);
  $("generate").disabled = true;
  $("cancel").hidden = false;
  try {
    const response = await api(path, {
      method: "POST", signal: controller.signal,
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      let payload = {};
      try { payload = await response.json(); } catch (_) { /* not JSON */ }
      // Refused before it started: nothing of the run shown before stays (its star, zip and
      // delete would act on no run), and the reason is said by the field it names.
      $("sketches").replaceChildren();
      state.cards = [];
      setRunActions(null);
      $("run-title").textContent = "Not started";
      setStatus("The run was not started: see the message in the form.", true);
      const retry = response.headers.get("Retry-After");
      const message = payload.message || response.statusText;
      showFormError(response.status === 429 && retry ? `${message} (try again in ${retry} s)` : message, payload.field);
      return;
    }
    for await (const message of readEvents(response)) handleEvent(message);
  } catch (err) {
    if (err.name === "AbortError") {
      setStatus("Stopped. Sketches already drawn are kept.");
      state.cards.forEach((card) => {
        if (card.classList.contains("pending")) showFailure(card, "cancelled", "", "Stopped before it was drawn.");
      });
    } else {
      setStatus(`Connection lost: ${err.message}`, true);
    }
  } finally {
    state.controller = null;
    setAllIterateEnabled(true);
    $("generate").disabled = false;
    $("cancel").hidden = true;
    loadRuns(true);
    loadSpend();
  }
}
