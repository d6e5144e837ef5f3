/**
 * The file list: newest first, paginated with "Load more", one row per file
 * with its name, size, date and a status badge that updates live, and the
 * actions download (decrypted), download encrypted, copy data key, delete.
 *
 * The list also owns the status watchers: one per unfinished file (a status
 * stream, or polling; see watchStatus in api.js), shared by its row and by its
 * upload progress item (see upload.js).
 */
import { api, ApiError, downloadThroughTicket, watchStatus } from "./api.js";
import { formatBytes, formatDate } from "./format.js";
import { copyText, el } from "./ui.js";

const PAGE_SIZE = 20;

const STATUS_LABELS = {
  queued: "Queued",
  encrypting: "Encrypting",
  stored: "Stored",
  failed: "Failed",
};

/**
 * @typedef {{id: string, name: string, size: number, status: string, created_at: string,
 *   error?: string}} FileRecord
 * @typedef {{status: string, progress: {percent: number}, attempt?: number, error?: string}} StatusView
 */

/**
 * Creates the file list controller.
 *
 * @param {{list: HTMLElement, empty: HTMLElement, error: HTMLElement,
 *   loadMore: HTMLButtonElement, notify: (text: string, kind?: string) => void,
 *   onChange: () => void, extraActions?: (record: FileRecord) => HTMLElement[]}} options
 *   `extraActions` adds buttons to each row (shares.js: "Share").
 */
export function createFileList(
  { list, empty, error, loadMore, notify, onChange, extraActions = () => [] },
) {
  /** @type {Map<string, {record: FileRecord, row: HTMLElement}>} */
  const rows = new Map();
  /** @type {Map<string, () => void>} Stops the status stream of an unfinished file. */
  const watchers = new Map();
  /** @type {Map<string, Set<(view: StatusView, via: string) => void>>} Survive a reload. */
  const listeners = new Map();
  let cursor = null;
  let generation = 0;

  function showError(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  function updateEmpty() {
    empty.hidden = rows.size > 0;
  }

  function statusText(view) {
    const label = STATUS_LABELS[view.status] ?? view.status;
    const retry = view.attempt ? ` (attempt ${view.attempt})` : "";
    return view.status === "encrypting"
      ? `${label} ${Math.floor(view.progress.percent)}%${retry}`
      : `${label}${retry}`;
  }

  /** Applies a status to a row: badge, data-status, which actions are possible. */
  function applyStatus(id, view) {
    const entry = rows.get(id);
    if (!entry) return;
    const { record, row } = entry;
    record.status = view.status;
    row.dataset.status = view.status;
    const badge = row.querySelector(".badge");
    badge.className = `badge badge-${view.status}`;
    badge.textContent = statusText(view);
    const reason = row.querySelector(".file-error");
    reason.textContent = view.status === "failed" ? (view.error ?? "Storing failed") : "";
    reason.hidden = view.status !== "failed";
    for (const button of row.querySelectorAll("[data-needs-stored]")) {
      button.disabled = view.status !== "stored";
    }
  }

  /** Applies a status to the row and tells the file's listeners (upload items). */
  function publish(id, view, via = "list") {
    applyStatus(id, view);
    for (const listener of listeners.get(id) ?? []) listener(view, via);
    if (view.status === "stored" || view.status === "failed") listeners.delete(id);
  }

  /**
   * Follows a file's status until it is stored or failed.
   *
   * @param {string} id
   * @param {(view: StatusView, via: string) => void} [listener] Also told about each
   *   change, and how it came ("events", "polling" or "list").
   */
  function follow(id, listener) {
    if (listener) {
      if (!listeners.has(id)) listeners.set(id, new Set());
      listeners.get(id).add(listener);
    }
    if (watchers.has(id)) return;
    const stop = watchStatus(id, (view, via) => {
      publish(id, view, via);
      if (view.status === "stored" || view.status === "failed") {
        watchers.delete(id);
        onChange();
      }
    });
    watchers.set(id, stop);
  }

  async function remove(record, row) {
    if (!confirm(`Delete “${record.name}”? This cannot be undone.`)) return;
    try {
      await api(`/api/files/${encodeURIComponent(record.id)}`, { method: "DELETE" });
    } catch (failure) {
      notify(`Cannot delete “${record.name}”: ${failure.message}`, "error");
      return;
    }
    const next = row.nextElementSibling ?? row.previousElementSibling;
    watchers.get(record.id)?.();
    watchers.delete(record.id);
    publish(record.id, { status: "failed", progress: { percent: 0 }, error: "Deleted" });
    rows.delete(record.id);
    row.remove();
    updateEmpty();
    next?.querySelector("button:not(:disabled)")?.focus();
    notify(`Deleted “${record.name}”`, "success");
    onChange();
  }

  async function copyKey(record) {
    const warning = `Copy the data key of “${record.name}”?\n\n` +
      "Anyone with this key and the encrypted file can read the file, " +
      "without your password. Store it somewhere safe.";
    if (!confirm(warning)) return;
    try {
      const key = await api(`/api/files/${encodeURIComponent(record.id)}/key`);
      await copyText(JSON.stringify(key, null, 2));
      notify(`Data key of “${record.name}” copied. Keep it secret`, "success");
    } catch (failure) {
      notify(`Cannot copy the key of “${record.name}”: ${failure.message}`, "error");
    }
  }

  /**
   * Starts a download through a ticket; the browser shows its progress. The
   * button says "Starting…" until the browser has the URL.
   */
  async function runDownload(button, id, variant, name) {
    const label = button.textContent;
    button.disabled = true;
    button.textContent = "Starting…";
    try {
      await downloadThroughTicket(id, variant, name);
    } catch (failure) {
      notify(`Cannot download “${name}”: ${failure.message}`, "error");
    } finally {
      button.textContent = label;
      button.disabled = false;
    }
  }

  function actionButton(text, handler, { needsStored = true, danger = false } = {}) {
    const button = el("button", {
      class: danger ? "button button-small button-danger" : "button button-small",
      text,
      attrs: { type: "button" },
    });
    if (needsStored) button.dataset.needsStored = "";
    button.addEventListener("click", () => handler(button));
    return button;
  }

  /** @param {FileRecord} record */
  function createRow(record) {
    const row = el("li", { class: "file", attrs: { "data-id": record.id } });
    const actions = el("div", {
      class: "file-actions",
      attrs: { role: "group", "aria-label": `Actions for ${record.name}` },
    }, [
      actionButton("Download", (b) => runDownload(b, record.id, "content", record.name)),
      actionButton(
        "Encrypted",
        (b) => runDownload(b, record.id, "ciphertext", `${record.name}.cbl`),
      ),
      actionButton("Copy key", () => copyKey(record)),
      ...extraActions(record),
      actionButton("Delete", () => remove(record, row), { needsStored: false, danger: true }),
    ]);
    row.append(
      el("div", { class: "file-main" }, [
        el("p", { class: "file-name", text: record.name }),
        el("p", { class: "file-meta" }, [
          el("span", { text: formatBytes(record.size) }),
          el("span", { class: "dot", text: "·", attrs: { "aria-hidden": "true" } }),
          el("time", {
            text: formatDate(record.created_at),
            attrs: { datetime: record.created_at },
          }),
        ]),
        el("p", { class: "file-error error-text", attrs: { hidden: "" } }),
      ]),
      el("span", { class: "badge" }),
      actions,
    );
    return row;
  }

  /**
   * Adds a record (newest first when `prepend`) or refreshes an existing row.
   *
   * @param {FileRecord} record
   * @param {boolean} [prepend]
   */
  function upsert(record, prepend = false) {
    const existing = rows.get(record.id);
    if (!existing) {
      const row = createRow(record);
      rows.set(record.id, { record: { ...record }, row });
      if (prepend) list.prepend(row);
      else list.append(row);
    }
    const view = {
      status: record.status,
      progress: { percent: record.status === "stored" ? 100 : 0 },
      error: record.error,
    };
    if (record.status === "queued" || record.status === "encrypting") {
      applyStatus(record.id, view);
      follow(record.id);
    } else {
      publish(record.id, view);
    }
    updateEmpty();
  }

  async function fetchPage() {
    const started = generation;
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (cursor) query.set("cursor", cursor);
    loadMore.disabled = true;
    try {
      const page = await api(`/api/files?${query}`);
      if (started !== generation) return;
      showError("");
      for (const record of page.files) upsert(record);
      cursor = page.next_cursor;
      loadMore.hidden = !cursor;
    } catch (failure) {
      if (started !== generation) return;
      showError(
        `Cannot list your files: ${failure instanceof ApiError ? failure.message : failure}`,
      );
    } finally {
      loadMore.disabled = false;
      updateEmpty();
    }
  }

  /** Forgets every row and stops every watcher (and, unless reloading, every listener). */
  function reset(reloading = false) {
    generation++;
    for (const stop of watchers.values()) stop();
    watchers.clear();
    if (!reloading) listeners.clear();
    rows.clear();
    list.replaceChildren();
    cursor = null;
    loadMore.hidden = true;
    empty.hidden = true;
    showError("");
  }

  loadMore.addEventListener("click", () => fetchPage());

  return {
    /** Loads the first page again. */
    async reload() {
      reset(true);
      await fetchPage();
    },
    /** Forgets everything (signing out). */
    reset: () => reset(false),
    upsert,
    follow,
  };
}
