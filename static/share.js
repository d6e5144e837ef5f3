/**
 * The public page of a share link (`/s/:id`), for someone without an
 * account: the file's name, size and expiry, a password form when the link
 * has one, and a Download link. The link is a plain navigation to
 * `/s/:id/content` (with `?t=<ticket>` after unlocking), so the browser's own
 * download manager streams the file to disk — nothing is held in page
 * memory. Opening this page, or its info, never counts as a download.
 *
 * The ticket lives only in this page's memory; it expires after a few
 * minutes, after which the form asks for the password again.
 */
import { formatBytes, formatDate } from "./format.js";

const $ = (id) => document.getElementById(id);
const linkId = decodeURIComponent(location.pathname.split("/")[2] ?? "");
const base = `/s/${encodeURIComponent(linkId)}`;
/** Re-ask the password this long before the ticket would expire. */
const TICKET_MARGIN_MS = 30_000;

let ticket;
let ticketExpiry = 0;

function show(section) {
  for (const id of ["link-loading", "link-gone", "unlock-form", "link-file"]) {
    $(id).hidden = id !== section;
  }
}

function gone(text = "This link is no longer available.") {
  $("gone-text").textContent = text;
  document.title = "Link no longer available — Coffer";
  show("link-gone");
}

/** Reads `/info` (with the ticket, if any); `null` when the link is gone. */
async function loadInfo() {
  const query = ticket ? `?t=${encodeURIComponent(ticket)}` : "";
  const response = await fetch(`${base}/info${query}`, { cache: "no-store" });
  if (response.status === 404 || response.status === 410) return null;
  if (!response.ok) throw new Error(`The server answered ${response.status}`);
  return await response.json();
}

function showFile(info) {
  $("file-name").textContent = info.name;
  $("file-size").textContent = formatBytes(info.size);
  const expiry = $("file-expiry");
  expiry.dateTime = info.expires_at;
  expiry.textContent = formatDate(info.expires_at);
  const left = $("file-left");
  left.hidden = info.downloads_left === null;
  if (info.downloads_left !== null) {
    left.textContent = info.downloads_left === 1
      ? "This link works for one more download."
      : `This link works for ${info.downloads_left} more downloads.`;
  }
  const query = ticket ? `?t=${encodeURIComponent(ticket)}` : "";
  $("download").href = `${base}/content${query}`;
  document.title = `${info.name} — Coffer`;
  show("link-file");
}

async function refresh() {
  let info;
  try {
    info = await loadInfo();
  } catch (error) {
    gone(`This link cannot be opened right now: ${error.message}. Try again later.`);
    return;
  }
  if (!info) return gone();
  if (info.password_required && info.name === null) {
    show("unlock-form");
    $("link-password").focus();
    return;
  }
  showFile(info);
}

$("unlock-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = $("unlock-error");
  const password = $("link-password").value;
  error.hidden = true;
  if (!password) {
    error.textContent = "Enter the password you were given";
    error.hidden = false;
    return;
  }
  const button = event.target.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch(`${base}/unlock`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ password }),
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
    ticketExpiry = Date.now() + body.expires_in * 1000;
    $("link-password").value = "";
    await refresh();
  } finally {
    button.disabled = false;
  }
});

$("download").addEventListener("click", (event) => {
  if (ticket && Date.now() > ticketExpiry - TICKET_MARGIN_MS) {
    // The ticket is about to lapse: ask again rather than start a download that fails.
    event.preventDefault();
    ticket = undefined;
    show("unlock-form");
  }
});

refresh();
