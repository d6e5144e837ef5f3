/**
 * The public page of a file request (`/r/:id`), for someone without an
 * account: what the request is for, its limits, a password form when it has
 * one, and an upload area where each file gets a progress bar (XHR upload
 * progress; fetch cannot report it). Files are sent one request each, two
 * at a time. The server answers only `{received: [{name, size}]}`: an
 * uploader never sees anything stored.
 */
import { formatBytes, formatDate } from "./format.js";
import { el, uniqueId } from "./ui.js";

const $ = (id) => document.getElementById(id);
const linkId = decodeURIComponent(location.pathname.split("/")[2] ?? "");
const base = `/r/${encodeURIComponent(linkId)}`;
const PARALLEL = 2;

let ticket;
let info;
const queue = [];
let running = 0;

function show(section) {
  for (const id of ["link-loading", "link-gone", "unlock-form", "request-open"]) {
    $(id).hidden = id !== section;
  }
}

function gone() {
  document.title = "Link no longer available — Coffer";
  show("link-gone");
}

function describe() {
  $("link-title").textContent = info.title;
  document.title = `${info.title} — Coffer`;
  const parts = [`Files up to ${formatBytes(info.max_bytes)} each`];
  if (info.files_left !== null) {
    parts.push(info.files_left === 1 ? "1 more file" : `${info.files_left} more files`);
  }
  parts.push(`until ${formatDate(info.expires_at)}`);
  $("request-limits").textContent = parts.join(" · ");
}

/** Loads the request; after uploads, a request that is now full keeps the list of what was sent. */
async function refresh(afterUploads = false) {
  const response = await fetch(`${base}/info`, { cache: "no-store" });
  if ((response.status === 404 || response.status === 410) && afterUploads) {
    $("request-limits").textContent = "This link takes no more files. Thank you!";
    $("drop-zone").hidden = true;
    return;
  }
  if (response.status === 404 || response.status === 410) return gone();
  if (!response.ok) {
    $("gone-text").textContent = `This link cannot be opened right now (${response.status}).`;
    return show("link-gone");
  }
  info = await response.json();
  describe();
  if (!afterUploads) show(info.password_required && !ticket ? "unlock-form" : "request-open");
}

function problemText(xhr) {
  try {
    const problem = JSON.parse(xhr.responseText);
    return problem.detail ? `${problem.title}: ${problem.detail}` : problem.title;
  } catch {
    return `The server answered ${xhr.status}`;
  }
}

/** One file's item: name, size, a progress bar and a status line. */
function createItem(file) {
  const id = uniqueId("progress");
  const bar = el("progress", { attrs: { id, max: "100", value: "0" } });
  const status = el("p", {
    class: "upload-status",
    text: "Waiting…",
    attrs: { "aria-live": "polite" },
  });
  const node = el("li", { class: "upload", attrs: { "data-state": "waiting" } }, [
    el("div", { class: "upload-head" }, [
      el("p", { class: "upload-name", text: file.name }),
      el("span", { class: "upload-size", text: formatBytes(file.size) }),
    ]),
    el("div", { class: "bar" }, [
      el("label", { class: "bar-label", text: "Upload", attrs: { for: id } }),
      bar,
    ]),
    status,
  ]);
  node.dataset.name = file.name;
  return {
    node,
    progress: (loaded, total) => {
      bar.value = total > 0 ? Math.round((loaded / total) * 100) : 0;
      node.dataset.state = "sending";
      status.textContent = `Sending… ${bar.value}%`;
    },
    done: (ok, text) => {
      node.dataset.state = ok ? "received" : "failed";
      if (ok) bar.value = 100;
      status.textContent = text;
      status.classList.toggle("upload-status-ok", ok);
    },
  };
}

function send(file, item) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const query = new URLSearchParams(ticket ? { t: ticket } : {});
    xhr.open("POST", `${base}/files?${query}`);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) item.progress(event.loaded, event.total);
    };
    xhr.onload = () => {
      if (xhr.status === 202) item.done(true, "Received");
      else if (xhr.status === 404 || xhr.status === 410) {
        item.done(false, "This link no longer takes files");
      } else item.done(false, problemText(xhr));
      resolve();
    };
    xhr.onerror = () => {
      item.done(false, "The connection was lost");
      resolve();
    };
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

function pump() {
  while (running < PARALLEL && queue.length > 0) {
    const { file, item } = queue.shift();
    running++;
    send(file, item).finally(() => {
      running--;
      pump();
      if (running === 0 && queue.length === 0) refresh(true);
    });
  }
}

function add(files) {
  for (const file of files) {
    if (file.size > info.max_bytes) {
      const item = createItem(file);
      $("uploads").append(item.node);
      item.done(false, `Too large: files here are limited to ${formatBytes(info.max_bytes)}`);
      continue;
    }
    const item = createItem(file);
    $("uploads").append(item.node);
    queue.push({ file, item });
  }
  pump();
}

$("file-input").addEventListener("change", (event) => {
  add([...event.target.files]);
  event.target.value = "";
});
const zone = $("drop-zone");
zone.addEventListener("dragover", (event) => {
  event.preventDefault();
  zone.classList.add("drop-zone-active");
});
zone.addEventListener("dragleave", () => zone.classList.remove("drop-zone-active"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("drop-zone-active");
  add([...(event.dataTransfer?.files ?? [])]);
});

$("unlock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("unlock-error");
  error.hidden = true;
  const response = await fetch(`${base}/unlock`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ password: $("link-password").value }),
  });
  if (response.status === 404 || response.status === 410) return gone();
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    error.textContent = response.status === 401
      ? "That password is not right"
      : body.detail ?? body.title ?? `The server answered ${response.status}`;
    error.hidden = false;
    return;
  }
  ticket = body.ticket;
  $("link-password").value = "";
  show("request-open");
});

refresh();
