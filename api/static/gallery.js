// sketchgen page, part 3: the gallery of past runs and an opened run (its details, lineage, star,
// zip and delete).
//
// The gallery asks GET /runs for one page at a time with the filters as query parameters (the
// catalog on the server does the filtering, searching and sorting); "Load more" asks for the next
// page from next_offset. Thumbnails are fetched with the token like every image (blob: URLs) and
// kept apart from the opened run's images, which are let go when another run opens.
"use strict";

const PAGE_SIZE = 24;
const WATCH_MS = 2000; // how often an opened run that another process is writing is read again
// While the run catalog is being built the gallery asks again: first after INDEXING_MS, then twice
// as long each time up to INDEXING_MAX_MS. A build of 100,000 folders takes minutes, and each ask
// lists a page and fetches its thumbnails again: a fixed short wait would be a steady stream of them.
const INDEXING_MS = 1500;
const INDEXING_MAX_MS = 30_000;
const thumbs = [];
let watchTimer = null;
let indexingTimer = null;
let indexingWait = INDEXING_MS;
let searchTimer = null;
let galleryRequest = 0;

function formatWhen(run) {
  const stamp = run.timestamp ? new Date(run.timestamp) : null;
  return stamp && !isNaN(stamp) ? stamp.toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : run.run_id;
}

function galleryQuery() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.runsOffset) });
  for (const [id, name] of [["f-q", "q"], ["f-style", "style"], ["f-model", "model"], ["f-status", "status"],
                            ["f-since", "since"], ["f-until", "until"]]) {
    const value = $(id).value.trim();
    if (value && !(name === "q" && !value.replace(/\*/g, "").trim())) params.set(name, value);
  }
  if ($("f-sort").value !== "newest") params.set("sort", $("f-sort").value);
  if ($("f-favourite").checked) params.set("favourite", "true");
  return params;
}

function fillFilterChoices() {
  const keep = (id) => $(id).value;
  const style = keep("f-style");
  const model = keep("f-model");
  fillSelect($("f-style"), [["", "Any style"], ...state.styles.map((s) => [s.id, s.name])], style);
  fillSelect($("f-model"), [["", "Any model"], ...state.models.map((m) => [m.id, m.display_name || m.id])], model);
}

function runTile(run) {
  const li = document.createElement("li");
  li.className = "tile";
  li.dataset.runId = run.run_id;
  const open = document.createElement("button");
  open.type = "button";
  open.className = "open-run";
  open.dataset.runId = run.run_id;
  const total = run.num_images || run.succeeded + run.failed + run.cancelled;
  open.innerHTML = `<span class="thumb"></span><span class="what"></span><span class="when"></span>
    <span class="badge ${escapeHTML(run.status)}">${escapeHTML(run.status)} · ${run.succeeded}/${total}</span>`;
  open.querySelector(".what").textContent = run.brief || "(no brief)";
  const meta = [formatWhen(run), run.style_id, run.model].filter(Boolean).join(" · ");
  open.querySelector(".when").textContent = run.cost_usd ? `${meta} · $${run.cost_usd.toFixed(3)}` : meta;
  open.addEventListener("click", () => openRun(run.run_id));
  const picture = run.contact_sheet_url || (run.image_urls || [])[0];
  if (picture) {
    blobURL(picture, thumbs).then((href) => {
      const img = new Image();
      img.alt = `${run.contact_sheet_url ? "Contact sheet" : "First sketch"} of “${run.brief || run.run_id}”`;
      img.src = href;
      open.querySelector(".thumb").replaceChildren(img);
    }).catch(() => { open.querySelector(".thumb").textContent = "no picture"; });
  } else {
    open.querySelector(".thumb").textContent = "no sketches";
  }
  li.append(open, starButton("small tile-star", run.run_id, Boolean(run.favourite)));
  return li;
}

// ``polling``: asked again by the indexing wait (not by the user), so the next wait is longer.
async function loadRuns(reset, polling = false) {
  if (reset) {
    state.runsOffset = 0;
    thumbs.splice(0).forEach((href) => URL.revokeObjectURL(href));
  }
  const ticket = ++galleryRequest;
  clearTimeout(indexingTimer);
  $("gallery-status").textContent = "Loading…";
  let page;
  try {
    page = await getJSON(`/runs?${galleryQuery()}`);
  } catch (err) {
    if (ticket !== galleryRequest) return;
    $("gallery-status").textContent = `Could not list the runs: ${err.message}`;
    if (reset) $("runs").replaceChildren();
    return;
  }
  if (ticket !== galleryRequest) return; // a newer search answered meanwhile
  if (reset) $("runs").replaceChildren();
  $("runs").append(...page.runs.map(runTile));
  const shown = $("runs").children.length;
  const catalog = page.catalog || {};
  if (catalog.building) {
    // The service is building its history from the run folders: this list is the part built so
    // far. Asked again until the build is done, then the full list replaces it.
    $("gallery-status").textContent = `Indexing past runs… (${catalog.indexed ?? 0} so far)`;
    indexingWait = polling ? Math.min(indexingWait * 2, INDEXING_MAX_MS) : INDEXING_MS;
    indexingTimer = setTimeout(() => loadRuns(true, true), indexingWait);
  } else {
    const filtered = [...galleryQuery().keys()].some((k) => !["limit", "offset"].includes(k));
    $("gallery-status").textContent = shown ? `${shown} run${shown === 1 ? "" : "s"} shown${page.next_offset == null ? "" : ", more below"}.`
      : filtered ? "No runs match these filters." : "No runs yet: each run you make is kept here.";
  }
  state.runsOffset = page.next_offset == null ? state.runsOffset : page.next_offset;
  $("more-runs").hidden = page.next_offset == null;
}

function onFiltersChanged(event) {
  clearTimeout(searchTimer);
  // Typing waits for a pause; a pick from a list applies at once.
  searchTimer = setTimeout(() => loadRuns(true), event && event.target.id === "f-q" ? 300 : 0);
}

// ---- an opened run ----------------------------------------------------------------------------
function runLink(runId, text) {
  const link = document.createElement("a");
  link.href = `#run=${encodeURIComponent(runId)}`;
  link.textContent = text;
  return link;
}

function showLineage(run) {
  const nav = $("lineage");
  const parent = run.parent && run.parent.run_id ? run.parent : null;
  const children = run.children || [];
  nav.hidden = !parent && !children.length;
  if (nav.hidden) return nav.replaceChildren();
  const root = document.createElement("ul");
  root.className = "tree";
  let here = root;
  if (parent) {
    const li = document.createElement("li");
    li.append(runLink(parent.run_id, `${parent.run_id}`), ` (parent; sketch ${(parent.index ?? 0) + 1})`);
    const sub = document.createElement("ul");
    li.append(sub);
    root.append(li);
    here = sub;
  }
  const self = document.createElement("li");
  const current = document.createElement("strong");
  current.textContent = `${run.run_id} (this run)`;
  current.setAttribute("aria-current", "page");
  self.append(current);
  if (children.length) {
    const sub = document.createElement("ul");
    for (const child of children) {
      const li = document.createElement("li");
      const what = child.kind === "refine" ? `refined sketch ${(child.index ?? 0) + 1}` : `${child.kind || "child"} of sketch ${(child.index ?? 0) + 1}`;
      li.append(runLink(child.run_id, child.run_id), ` — ${what}${child.instruction ? `: “${child.instruction}”` : ""} (${child.status || "?"})`);
      sub.append(li);
    }
    self.append(sub);
  }
  here.append(self);
  const title = document.createElement("h3");
  title.textContent = "Lineage";
  nav.replaceChildren(title, root);
}

function fact(list, term, value) {
  if (value === undefined || value === null || value === "") return;
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = String(value);
  list.append(dt, dd);
}

function showDetails(run) {
  $("run-details").hidden = false;
  const facts = $("run-facts");
  facts.replaceChildren();
  const totals = run.totals || {};
  const model = run.model || {};
  fact(facts, "Brief", run.prompt_spec && run.prompt_spec.brief);
  fact(facts, "Style", run.style_id);
  fact(facts, "Model", model.used && model.requested && model.used !== model.requested ? `${model.used} (asked: ${model.requested})` : model.used || model.requested);
  fact(facts, "Status", run.status);
  fact(facts, "Cost", `$${Number(totals.cost_usd || 0).toFixed(3)}`);
  fact(facts, "Made", formatWhen(run));
  fact(facts, "Sketches", `${totals.succeeded ?? 0} drawn, ${totals.failed ?? 0} failed, ${totals.cancelled ?? 0} stopped`);
  const refs = run.reference_images || [];
  const scores = run.retrieval_scores || [];
  const list = $("run-references");
  list.replaceChildren(...(refs.length ? refs : [null]).map((ref, i) => {
    const li = document.createElement("li");
    li.textContent = ref === null ? "None." : `${String(ref).split("/").pop()}${scores[i] != null ? ` — score ${Number(scores[i]).toFixed(3)}` : ""}`;
    return li;
  }));
  $("run-prompts").replaceChildren(...(run.sketches || []).filter((s) => s.prompt).map((sketch) => {
    const block = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `Sketch ${sketch.index + 1}${sketch.variation ? ` — ${variationLabel(sketch.variation)}` : ""}`;
    const text = document.createElement("pre");
    text.textContent = sketch.prompt;
    block.append(summary, text);
    return block;
  }));
  showLineage(run);
}

// What an opened run shows that changes while it is written (its status and each sketch's).
function progressOf(run) {
  return JSON.stringify([run.status, (run.sketches || []).map((s) => [s.index, s.status, s.file])]);
}

// A run still being written (by another process, or by a stream another tab started) is read
// again every WATCH_MS while it stays open, so its sketches appear and its final status shows;
// the gallery tile is brought up to date when it settles.
function watchRun(run) {
  clearTimeout(watchTimer);
  if (run.status !== "running") return;
  const seen = progressOf(run);
  watchTimer = setTimeout(async () => {
    if (state.runId !== run.run_id || state.controller) return; // another run opened meanwhile
    let now;
    try {
      now = await getJSON(`/runs/${encodeURIComponent(run.run_id)}`);
    } catch {
      return watchRun(run); // a passing failure: try again at the next tick
    }
    if (state.runId !== run.run_id || state.controller) return;
    if (progressOf(now) === seen) return watchRun(now);
    showRun(now, false);
    if (now.status !== "running") updateTile(now);
  }, WATCH_MS);
}

function updateTile(run) {
  const badge = document.querySelector(`#runs li.tile[data-run-id="${CSS.escape(run.run_id)}"] .badge`);
  if (!badge) return;
  const totals = run.totals || {};
  const total = (run.config && run.config.num_images) || (run.sketches || []).length;
  badge.className = `badge ${run.status}`;
  badge.textContent = `${run.status} · ${totals.succeeded ?? 0}/${total}`;
}

async function openRun(runId) {
  if (state.controller) {
    $("gallery-status").textContent = "A run is being made here: wait for it or stop it before opening another.";
    return;
  }
  let run;
  try {
    run = await getJSON(`/runs/${encodeURIComponent(runId)}`);
  } catch (err) {
    setStatus(`Could not open run ${runId}: ${err.message}`, true);
    return;
  }
  showRun(run, true);
}

function showRun(run, scroll) {
  forgetBlobs();
  const sketches = run.sketches || [];
  const ratio = run.config && run.config.aspect_ratio;
  state.runId = run.run_id;
  state.ratio = ratio || "1:1";
  state.favourite = Boolean(run.favourite);
  makeCards(sketches.length, ratio);
  $("run-title").textContent = `Run ${run.run_id}`;
  const brief = run.prompt_spec && run.prompt_spec.brief;
  // A grid is one call: the service does not resume it cell by cell, so no Resume is offered.
  const sheet = run.config && run.config.sheet;
  const resumable = RESUMABLE.includes(run.status) && !sheet;
  const why = sheet && RESUMABLE.includes(run.status) ? ` · a ${sheet} grid is not resumed cell by cell: run it again` : "";
  setStatus(`${run.status} · ${run.style_id || ""} · ${(run.model && run.model.used) || ""}${brief ? ` · “${brief}”` : ""}${why}`, run.status === "failed");
  const base = `/runs/${encodeURIComponent(run.run_id)}/files`;
  for (const sketch of sketches) {
    const card = cardAt(sketch.index);
    if (!card) continue;
    if (sketch.status === "completed" && sketch.file) showSketch(card, `${base}/${sketch.file}`, sketch.file, sketch.variation);
    else {
      const error = sketch.error || {};
      showFailure(card, sketch.status === "failed" ? "failed" : "cancelled", error.code, error.message || sketch.status, sketch.variation);
    }
  }
  const hasSheet = (run.files || []).some((f) => f.name === "contact_sheet.png");
  setRunLinks(hasSheet ? `${base}/contact_sheet.png` : null, `${base}/metadata.json`, run.run_id);
  // A run whose process died, or that failed or stopped part-way, can make its missing sketches.
  const resume = $("resume-run");
  resume.hidden = !resumable;
  resume.onclick = () => streamRun(`/runs/${encodeURIComponent(run.run_id)}/resume-stream`, {}, null);
  setRunActions(run.run_id, state.favourite, run.status);
  showDetails(run);
  watchRun(run);
  if (scroll) $("run-title").scrollIntoView({ behavior: "smooth", block: "start" });
}

// ---- star, zip, delete ------------------------------------------------------------------------
function starButton(extra, runId = state.runId, favourite = state.favourite) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `secondary star ${extra}`;
  button.dataset.runId = runId;
  paintStar(button, favourite);
  button.addEventListener("click", () => toggleStar(button.dataset.runId, button.getAttribute("aria-pressed") !== "true", button));
  return button;
}

function paintStar(button, favourite) {
  button.setAttribute("aria-pressed", String(favourite));
  button.textContent = favourite ? "★ Starred" : "☆ Star";
  button.setAttribute("aria-label", `${favourite ? "Unstar" : "Star"} run ${button.dataset.runId}`);
}

// The outcome is said next to the button pressed: under the gallery for a tile's star, in the opened
// run's status line for its own stars (there only a failure is said: the button shows the rest).
async function toggleStar(runId, favourite, button) {
  const inGallery = Boolean(button && button.closest("#runs"));
  try {
    const response = await api(`/runs/${encodeURIComponent(runId)}/favourite`, {
      method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ favourite }),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
  } catch (err) {
    const message = `Could not ${favourite ? "star" : "unstar"} run ${runId}: ${err.message}`;
    if (inGallery) $("gallery-status").textContent = message;
    else setStatus(message, true);
    return;
  }
  if (runId === state.runId) state.favourite = favourite;
  document.querySelectorAll("button.star").forEach((b) => { if (b.dataset.runId === runId) paintStar(b, favourite); });
  if (inGallery) $("gallery-status").textContent = `Run ${runId} ${favourite ? "starred" : "unstarred"}.`;
}

function setRunActions(runId, favourite = false, status = null) {
  const star = $("star-run");
  star.hidden = !runId;
  $("archive-run").hidden = !runId;
  $("delete-run").hidden = !runId || status === "running";
  if (!runId) return void ($("run-details").hidden = true);
  star.dataset.runId = runId;
  paintStar(star, favourite);
}

async function downloadArchive() {
  const runId = state.runId;
  await downloadAs(`/runs/${encodeURIComponent(runId)}/archive`, `sketchgen_${runId}.zip`);
}

async function deleteRun() {
  const runId = state.runId;
  if (!runId || state.controller) return;
  $("delete-what").textContent = `Run ${runId}: ${$("run-status").textContent}`;
  if ((await openDialog($("delete-dialog"), $("delete-run"))) !== "ok") return;
  const response = await api(`/runs/${encodeURIComponent(runId)}`, { method: "DELETE" });
  if (!response.ok && response.status !== 404) {
    setStatus(`Could not delete run ${runId}: ${await errorMessage(response)}`, true);
    return;
  }
  forgetBlobs();
  state.runId = null;
  state.cards = [];
  $("sketches").replaceChildren();
  $("run-title").textContent = "No run open";
  setRunLinks(null, null, "");
  $("resume-run").hidden = true;
  setRunActions(null);
  setStatus(`Run ${runId} deleted.`);
  await loadRuns(true);
  $("gallery-title").focus();
}
