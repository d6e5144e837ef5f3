/**
 * Uploads from the file picker and drag-and-drop. Each file gets an item
 * with two progress bars: the transfer (resumable through tus_upload.js, with
 * its speed and the time left) and then encryption and storage (the server's
 * status stream, shared with the file list), ending in "Stored" or a readable
 * error. An expiring access token never stops a transfer: every tus request
 * asks for the current token, which the page renews meanwhile (session.js).
 * While transfers run, leaving the page asks first.
 *
 * Items expose their progress in data attributes (`data-state`,
 * `data-transfer-max`, `data-storing-max`, `data-phases`, and
 * `data-status-via`: "events" or "polling") so the browser tests can check
 * that both phases ran to the end however fast they were.
 */
import { formatBytes, formatCountdown } from "./format.js";
import { KEEP_FOR_LATER, renderUnfinished, uploadResumable } from "./tus_upload.js";
import { el, uniqueId } from "./ui.js";

/** Files sent at once; the rest wait their turn. */
const PARALLEL_TRANSFERS = 2;

/** Announce progress in steps this big, so screen readers are not flooded. */
const ANNOUNCE_STEP = 25;

/** Speed is measured over about this much of the recent past. */
const RATE_WINDOW_MS = 3000;

/**
 * Measures a transfer's speed over the last few seconds.
 *
 * @returns {(loaded: number, total: number) => string} Gives the text for a
 *   progress step: "1.2 MiB/s · 0:42 left", or "" until there is a measure.
 */
function rateMeter() {
  /** @type {{at: number, loaded: number}[]} */
  const samples = [];
  return (loaded, total) => {
    const now = performance.now();
    samples.push({ at: now, loaded });
    while (samples.length > 2 && now - samples[1].at > RATE_WINDOW_MS) samples.shift();
    const first = samples[0];
    const seconds = (now - first.at) / 1000;
    if (seconds < 0.5 || loaded <= first.loaded) return "";
    const perSecond = (loaded - first.loaded) / seconds;
    const left = formatCountdown(((total - loaded) / perSecond) * 1000);
    return `${formatBytes(Math.round(perSecond))}/s · ${left} left`;
  };
}

/**
 * @param {string} label
 * @returns {{wrap: HTMLElement, bar: HTMLProgressElement, value: HTMLElement}}
 */
function progressBar(label) {
  const id = uniqueId("progress");
  const bar = el("progress", { attrs: { id, max: "100", value: "0" } });
  const value = el("span", { class: "bar-value", text: "0%", attrs: { "aria-hidden": "true" } });
  const wrap = el("div", { class: "bar" }, [
    el("label", { class: "bar-label", text: label, attrs: { for: id } }),
    bar,
    value,
  ]);
  return { wrap, bar, value };
}

/** One file on its way: the item element and the setters for its two phases. */
function createItem(file) {
  const transfer = progressBar("Transfer");
  const storing = progressBar("Encrypt & store");
  storing.bar.removeAttribute("value");
  storing.value.textContent = "";
  // The visible text names the phase; the hidden part adds the percentage in
  // steps, so screen readers hear progress without being flooded.
  const phaseText = el("span", { text: "Waiting to start…" });
  const rate = el("span", { class: "upload-rate" });
  const measure = rateMeter();
  const percentText = el("span", { class: "visually-hidden" });
  const status = el("p", {
    class: "upload-status",
    attrs: { "aria-live": "polite", "aria-atomic": "true" },
  }, [phaseText, percentText, rate]);
  const cancel = el("button", {
    class: "button button-small button-quiet",
    text: "Cancel",
    attrs: { type: "button", "aria-label": `Cancel upload of ${file.name}` },
  });
  const node = el("li", { class: "upload", attrs: { "data-state": "waiting" } }, [
    el("div", { class: "upload-head" }, [
      el("p", { class: "upload-name", text: file.name }),
      el("span", { class: "upload-size", text: formatBytes(file.size) }),
      cancel,
    ]),
    transfer.wrap,
    storing.wrap,
    status,
  ]);
  node.dataset.name = file.name;
  node.dataset.transferMax = "0";
  node.dataset.storingMax = "0";
  node.dataset.phases = "";

  const phase = (name) => {
    node.dataset.state = name;
    const phases = node.dataset.phases ? node.dataset.phases.split(",") : [];
    if (phases.at(-1) !== name) node.dataset.phases = [...phases, name].join(",");
  };
  /** Shows the phase text; the percentage only when it enters a new step. */
  const announce = (text, percent) => {
    if (phaseText.textContent !== text) {
      phaseText.textContent = text;
      percentText.textContent = "";
    }
    const step = percent === undefined
      ? ""
      : ` ${Math.floor(percent / ANNOUNCE_STEP) * ANNOUNCE_STEP}%`;
    if (percentText.textContent !== step) percentText.textContent = step;
  };
  const finish = (text, className) => {
    announce(text);
    status.className = `upload-status ${className}`;
  };
  const setBar = (progress, percent, key) => {
    const rounded = Math.min(100, Math.max(0, Math.floor(percent)));
    progress.bar.value = rounded;
    progress.value.textContent = `${rounded}%`;
    node.dataset[key] = String(Math.max(Number(node.dataset[key]), rounded));
  };

  return {
    node,
    cancel,
    /** @param {number} loaded @param {number} total */
    transferring(loaded, total) {
      if (node.dataset.state !== "transferring") phase("transferring");
      const percent = total > 0 ? (loaded / total) * 100 : 0;
      setBar(transfer, percent, "transferMax");
      announce(
        node.dataset.resumedAt ? `Resumed at ${node.dataset.resumedAt} %…` : "Uploading…",
        percent,
      );
      rate.textContent = loaded < total ? measure(loaded, total) : "";
    },
    /** @param {number} percent Where the server said an earlier upload stopped. */
    resumed(percent) {
      node.dataset.resumedAt = String(Math.floor(percent));
      announce(`Resumed at ${node.dataset.resumedAt} %…`, percent);
    },
    storing(view) {
      if (node.dataset.state !== "storing") {
        phase("storing");
        cancel.hidden = true;
        rate.textContent = "";
      }
      if (view.status === "queued") {
        storing.bar.removeAttribute("value");
        announce("Uploaded. Waiting to be encrypted…");
        return;
      }
      setBar(storing, view.progress.percent, "storingMax");
      announce("Encrypting and storing…", view.progress.percent);
    },
    stored() {
      setBar(storing, 100, "storingMax");
      phase("stored");
      finish("Stored", "upload-status-ok");
    },
    failed(message) {
      phase("failed");
      rate.textContent = "";
      cancel.hidden = true;
      if (!storing.bar.hasAttribute("value")) storing.bar.value = 0;
      finish(message, "error-text");
    },
  };
}

/**
 * Creates the uploader.
 *
 * @param {{input: HTMLInputElement, dropZone: HTMLElement, list: HTMLElement,
 *   clear: HTMLButtonElement, files: ReturnType<typeof import("./files.js").createFileList>,
 *   notify: (text: string, kind?: string) => void, onAccepted: () => void}} options
 */
export function createUploader(
  { input, dropZone, list, clear, unfinished, files, notify, onAccepted },
) {
  /** @type {Array<() => Promise<void>>} */
  const waiting = [];
  const controllers = new Set();
  let running = 0;

  function updateClear() {
    clear.hidden = !list.querySelector('[data-state="stored"], [data-state="failed"]');
  }

  function pump() {
    while (running < PARALLEL_TRANSFERS && waiting.length > 0) {
      running++;
      waiting.shift()().finally(() => {
        running--;
        pump();
      });
    }
  }

  /** @param {File} file */
  function enqueue(file) {
    const item = createItem(file);
    const controller = new AbortController();
    controllers.add(controller);
    item.cancel.addEventListener("click", () => controller.abort());
    list.append(item.node);
    waiting.push(async () => {
      if (controller.signal.aborted) {
        item.failed("Upload cancelled");
        updateClear();
        return;
      }
      item.transferring(0, file.size);
      try {
        const record = await uploadResumable(file, {
          signal: controller.signal,
          onProgress: (loaded, total) => item.transferring(loaded, total),
          onResumed: (percent) => item.resumed(percent),
        });
        item.transferring(file.size, file.size);
        item.storing({ status: "queued", progress: { percent: 0 } });
        onAccepted();
        files.upsert(record, true);
        files.follow(record.id, (view, via) => {
          item.node.dataset.statusVia = via;
          if (view.status === "stored") item.stored();
          else if (view.status === "failed") {
            item.failed(`Failed: ${view.error ?? "unknown error"}`);
          } else item.storing(view);
          updateClear();
        });
      } catch (failure) {
        item.failed(failure.message);
        updateClear();
      } finally {
        controllers.delete(controller);
        if (unfinished) renderUnfinished(unfinished).catch(() => {});
      }
    });
    pump();
  }

  /** @param {Iterable<File>} selected */
  function uploadAll(selected) {
    for (const file of selected) enqueue(file);
  }

  input.addEventListener("change", () => {
    uploadAll([...input.files]);
    input.value = "";
  });

  // Without these, a file dropped beside the zone would replace the page.
  globalThis.addEventListener("dragover", (event) => event.preventDefault());
  globalThis.addEventListener("drop", (event) => event.preventDefault());
  let depth = 0;
  dropZone.addEventListener("dragenter", (event) => {
    event.preventDefault();
    depth++;
    dropZone.classList.add("is-dragging");
  });
  dropZone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) dropZone.classList.remove("is-dragging");
  });
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    dropZone.classList.remove("is-dragging");
    // Entries can only be inspected during the event, so look at them now.
    const items = [...(event.dataTransfer?.items ?? [])].filter((item) => item.kind === "file");
    const isFolder = items.map((item) => item.webkitGetAsEntry?.()?.isDirectory === true);
    const dropped = [...(event.dataTransfer?.files ?? [])];
    if (isFolder.includes(true)) {
      notify("Folders cannot be uploaded: drop the files inside them", "error");
    }
    uploadAll(dropped.filter((_, index) => !isFolder[index]));
  });

  // Closing or reloading the page would cut the transfers: ask first.
  globalThis.addEventListener("beforeunload", (event) => {
    if (running === 0 && waiting.length === 0) return;
    event.preventDefault();
    event.returnValue = ""; // older browsers need it set
  });

  clear.addEventListener("click", () => {
    for (const node of list.querySelectorAll('[data-state="stored"], [data-state="failed"]')) {
      node.remove();
    }
    updateClear();
  });

  return {
    /** Whether any file is being sent or waiting to be. */
    busy: () => running > 0 || waiting.length > 0,
    /** Lists the unfinished uploads this browser can resume (after signing in). */
    async showUnfinished() {
      if (unfinished) await renderUnfinished(unfinished).catch(() => {});
    },
    /** Stops every transfer (kept on the server, to resume) and forgets every item (signing out). */
    reset() {
      waiting.length = 0;
      for (const controller of controllers) controller.abort(KEEP_FOR_LATER);
      if (unfinished) {
        unfinished.replaceChildren();
        unfinished.hidden = true;
      }
      controllers.clear();
      list.replaceChildren();
      updateClear();
    },
  };
}
