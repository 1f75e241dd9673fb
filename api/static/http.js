// sketchgen page, part 1: talking to the API (plain JavaScript, no build step).
//
// The API token, when the service has one, is asked for on the first 401, kept in sessionStorage
// (this tab only) and sent as an Authorization header, never in a URL (the API docs link is the one
// exception, see openDocs): images and downloads are fetched with it and shown as blob: URLs, and
// the run is streamed with fetch() and the small Server-Sent Events reader below rather than
// EventSource, which cannot send headers.
"use strict";

const blobs = [];

const TOKEN_KEY = "sketchgen.token";
const $ = (id) => document.getElementById(id);

// ---- HTTP -------------------------------------------------------------------------------------
function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function api(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = { ...(options.headers || {}), ...authHeaders() };
    const response = await fetch(path, { ...options, headers });
    if (response.status !== 401) return response;
    await askForToken(attempt > 0 || Boolean(sessionStorage.getItem(TOKEN_KEY)));
  }
  throw new Error("the API token was not accepted");
}

async function getJSON(path) {
  const response = await api(path);
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body.message || JSON.stringify(body.detail) || response.statusText;
  } catch (_) {
    return `${response.status} ${response.statusText}`;
  }
}

function askForToken(rejected) {
  const dialog = $("token-dialog");
  $("token-error").hidden = !rejected;
  $("token-input").value = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      sessionStorage.setItem(TOKEN_KEY, $("token-input").value.trim());
      resolve();
    }, { once: true });
    if (!dialog.open) dialog.showModal();
  });
}

// /docs is a page the browser navigates to, so it cannot get the header: with a token kept, the link
// hands it over as ?token= (the one documented way in), set at the click and never left in the page.
function openDocs(event) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return;
  event.preventDefault();
  window.open(`/docs?token=${encodeURIComponent(token)}`, "_blank", "noopener");
}

// A blob: URL of a file fetched with the token, kept in `kept` (the opened run's by default) so it
// is let go with the others it belongs to.
async function blobURL(url, kept = blobs) {
  const response = await api(url);
  if (!response.ok) throw new Error(await errorMessage(response));
  const href = URL.createObjectURL(await response.blob());
  kept.push(href);
  return href;
}

function forgetBlobs() {
  blobs.splice(0).forEach((href) => URL.revokeObjectURL(href));
}

// ---- SSE over fetch -----------------------------------------------------------------------------
async function* readEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const message = { event: "message", data: "", id: null };
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue; // blank or a ping comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") data.push(text);
        else if (field === "event") message.event = text;
        else if (field === "id") message.id = text;
      }
      if (data.length) {
        message.data = JSON.parse(data.join("\n"));
        yield message;
      }
    }
  }
}
