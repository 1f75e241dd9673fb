// sketchgen page, part 4: dialogs, settings kept in the browser, picked or dropped images, the spend
// line, and start-up.
"use strict";

const SETTINGS_KEY = "sketchgen.settings";
const MAX_IMAGE_BYTES = 20 * 1024 * 1024; // the service's limit per image
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp"];

// ---- dialogs ------------------------------------------------------------------------------------
// A modal dialog (Escape closes it, as native dialogs do); resolves with the button's value, "" when
// dismissed. Focus goes back to what opened it.
function openDialog(dialog, opener = document.activeElement) {
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => {
      if (opener && opener.isConnected) opener.focus();
      resolve(dialog.returnValue);
    }, { once: true });
    dialog.showModal();
  });
}

async function askInstruction(index) {
  $("refine-title").textContent = `Refine sketch ${index + 1}`;
  $("refine-instruction").value = "";
  const answer = await openDialog($("refine-dialog"));
  const text = $("refine-instruction").value.trim();
  return answer === "ok" && text ? text : null;
}

// ---- settings ----------------------------------------------------------------------------------
function loadSettings() {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") || {};
  } catch (_) {
    return {};
  }
}

// The saved defaults onto the form, each only if the form still offers it.
function applySettings() {
  const saved = loadSettings();
  const offer = (id, value) => {
    if (value && [...$(id).options].some((o) => o.value === value && !o.disabled)) $(id).value = value;
  };
  // The defaults are a count of single sketches: a grid picked before is let go.
  $("sheet").value = "";
  onSheetChange();
  offer("style_id", saved.style_id);
  onStyleChange();
  offer("model", saved.model);
  refreshModelOptions();
  offer("image_size", saved.image_size);
  refreshSheetOptions();
  offer("num_images", saved.num_images);
  refreshPrice();
}

async function editSettings() {
  const saved = loadSettings();
  fillSelect($("s-style"), state.styles.map((s) => [s.id, s.name]), saved.style_id || $("style_id").value);
  fillSelect($("s-model"), state.models.map((m) => [m.id, modelLabel(m), isRetired(m)]), saved.model || $("model").value);
  $("s-size").value = saved.image_size || $("image_size").value || "1K";
  $("s-count").value = saved.num_images || $("num_images").dataset.before || $("num_images").value;
  const answer = await openDialog($("settings-dialog"), $("open-settings"));
  if (answer === "ok") {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({
      style_id: $("s-style").value, model: $("s-model").value, image_size: $("s-size").value, num_images: $("s-count").value,
    }));
    applySettings();
  } else if (answer === "clear") {
    localStorage.removeItem(SETTINGS_KEY);
  }
}

// ---- images to redraw or to use as references ----------------------------------------------------
function readAsBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function addImages(files, asReferences) {
  for (const file of files) {
    if (!IMAGE_TYPES.includes(file.type)) {
      showFormError(`${file.name} is not a PNG, JPEG or WebP image.`);
      continue;
    }
    if (file.size > MAX_IMAGE_BYTES) {
      showFormError(`${file.name} is larger than 20 MiB, the limit.`);
      continue;
    }
    const item = { name: file.name, data: await readAsBase64(file) };
    if (asReferences) state.upload.references.push(item);
    else state.upload.image = item;
  }
  showPicked();
}

function showPicked() {
  const items = [];
  const row = (text, remove) => {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = text;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary small";
    button.textContent = "Remove";
    button.setAttribute("aria-label", `Remove ${text}`);
    button.addEventListener("click", () => { remove(); showPicked(); $("edit-image").focus(); });
    li.append(label, button);
    return li;
  };
  if (state.upload.image) items.push(row(`To redraw: ${state.upload.image.name}`, () => { state.upload.image = null; }));
  state.upload.references.forEach((ref, i) => items.push(row(`Reference: ${ref.name}`, () => state.upload.references.splice(i, 1))));
  $("picked").replaceChildren(...items);
}

// The picked images as request fields; sent once: the next run starts without them.
function uploadFields() {
  const fields = {};
  if (state.upload.image) fields.image_base64 = state.upload.image.data;
  if (state.upload.references.length) fields.references_base64 = state.upload.references.map((r) => r.data);
  state.upload = { image: null, references: [] };
  $("edit-image").value = "";
  $("reference-images").value = "";
  showPicked();
  return fields;
}

function wireDropZone() {
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const files = [...event.dataTransfer.files];
    // The first dropped image is redrawn when none is picked yet; the rest become references.
    if (!state.upload.image && files.length) addImages([files.shift()], false).then(() => addImages(files, true));
    else addImages(files, true);
  });
  $("edit-image").addEventListener("change", (e) => addImages([...e.target.files], false));
  $("reference-images").addEventListener("change", (e) => addImages([...e.target.files], true));
}

// ---- spend -------------------------------------------------------------------------------------------
async function loadSpend() {
  try {
    const spend = await getJSON("/spend");
    $("spend").textContent = `Spent today $${spend.today_usd.toFixed(2)} · this month $${spend.month_usd.toFixed(2)}`;
    const models = Object.entries(spend.by_model || {}).map(([m, usd]) => `${m} $${usd.toFixed(2)}`);
    $("spend").title = models.length ? `This month: ${models.join(", ")}` : "Nothing spent this month";
  } catch (_) {
    $("spend").textContent = "";
  }
}

// ---- start -------------------------------------------------------------------------------------------
function openFromHash() {
  const match = /^#run=([0-9_]+)$/.exec(location.hash);
  if (match) openRun(decodeURIComponent(match[1]));
}

async function start() {
  $("brief").addEventListener("input", () => { $("brief-count").textContent = String($("brief").value.length); });
  $("style_id").addEventListener("change", onStyleChange);
  $("model").addEventListener("change", refreshModelOptions);
  $("image_size").addEventListener("change", refreshSheetOptions);
  $("sheet").addEventListener("change", onSheetChange);
  $("aspect_ratio").addEventListener("change", () => { $("sheet-error").hidden = true; $("sheet").classList.remove("invalid"); });
  $("num_images").addEventListener("change", refreshPrice);
  $("brief-form").addEventListener("submit", generate);
  $("cancel").addEventListener("click", () => state.controller && state.controller.abort());
  $("refresh-runs").addEventListener("click", () => { loadRuns(true); loadSpend(); });
  $("more-runs").addEventListener("click", () => loadRuns(false));
  $("docs-link").addEventListener("click", openDocs);
  $("open-settings").addEventListener("click", editSettings);
  $("star-run").addEventListener("click", () => toggleStar(state.runId, !state.favourite, $("star-run")));
  $("archive-run").addEventListener("click", downloadArchive);
  $("delete-run").addEventListener("click", deleteRun);
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); loadRuns(true); });
  $("f-q").addEventListener("input", onFiltersChanged);
  $("filters").addEventListener("change", (event) => { if (event.target.id !== "f-q") onFiltersChanged(event); });
  window.addEventListener("hashchange", openFromHash);
  wireDropZone();
  try {
    await loadChoices();
    fillFilterChoices();
    applySettings();
  } catch (err) {
    showFormError(`Could not load styles and models: ${err.message}`);
  }
  await Promise.all([loadRuns(true), loadSpend()]);
  openFromHash();
  document.body.dataset.ready = "true";
}

start();
