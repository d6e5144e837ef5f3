/**
 * Resumable uploads from the page: every file goes to `/api/uploads` through
 * tus-js-client (served from its npm package as /static/vendor/tus.min.js, a
 * classic script that defines `globalThis.tus`). Chunks of at most 50 MiB,
 * so a proxy's 100 MB body limit never bites; automatic retries after a
 * network drop, each resuming from the offset the server reports; and after a
 * page reload the same file chosen again resumes where it stopped, because
 * tus-js-client remembers each unfinished upload in localStorage by the
 * file's name, type, size and modification time.
 *
 * The token is read again before every request, so a transfer that outlives
 * one access token carries the renewed one.
 */
import { api, ApiError, getToken } from "./api.js";
import { formatBytes } from "./format.js";
import { el } from "./ui.js";

/** Largest request body sent (a proxy's 100 MB limit stays far away). */
export const CHUNK_BYTES = 50 * 1024 * 1024;

/** Waits between automatic retries after a failed request, in ms. */
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000];

/**
 * Answers worth another try: no answer at all (the network), 5xx, and the
 * ones that mean "not now" — 408 (the body went idle), 409 (ask for the
 * offset again), 423 (another request holds the upload), 429 (too many
 * uploads at once).
 */
const RETRY_STATUSES = new Set([0, 408, 409, 423, 429]);

function shouldRetry(error) {
  const status = error?.originalResponse?.getStatus() ?? 0;
  return status >= 500 || RETRY_STATUSES.has(status);
}

/** The abort reason that stops uploads without terminating them (signing out). */
export const KEEP_FOR_LATER = "keep-for-later";

const ENDPOINT = "/api/uploads";

/** @returns {any} tus-js-client, or throws when its script did not load. */
function tusClient() {
  const tus = /** @type {any} */ (globalThis).tus;
  if (!tus?.Upload) throw new ApiError("The upload client did not load: reload the page", 0);
  return tus;
}

/** The signed-in user's id (the token's `sub`), to keep one account's uploads from another's. */
function currentUser() {
  try {
    const payload = (getToken() ?? "").split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    return JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "="))).sub ?? "";
  } catch {
    return "";
  }
}

/** A readable message from a tus-js-client error (the problem's title and detail when sent). */
function readableError(error) {
  const response = error?.originalResponse;
  if (!response) return new ApiError("Upload failed: the connection was lost", 0);
  const status = response.getStatus();
  try {
    const problem = JSON.parse(response.getBody());
    if (typeof problem.title === "string") {
      return new ApiError(
        problem.detail ? `${problem.title}: ${problem.detail}` : problem.title,
        status,
      );
    }
  } catch {
    // not a problem body
  }
  return new ApiError(`The server answered ${status}`, status);
}

/**
 * Uploads one file, resuming an unfinished upload of the same file if this
 * browser started one.
 *
 * @param {File} file
 * @param {{onProgress: (sent: number, total: number) => void,
 *   onResumed?: (percent: number) => void, signal?: AbortSignal}} options
 * @returns {Promise<any>} The file record the server queued.
 */
export function uploadResumable(file, { onProgress, onResumed, signal }) {
  const tus = tusClient();
  const user = currentUser();
  return new Promise((resolve, reject) => {
    let fileId = null;
    const upload = new tus.Upload(file, {
      endpoint: ENDPOINT,
      chunkSize: CHUNK_BYTES,
      retryDelays: RETRY_DELAYS,
      onShouldRetry: shouldRetry,
      removeFingerprintOnSuccess: true,
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream", user },
      onBeforeRequest(request) {
        request.setHeader("Authorization", `Bearer ${getToken() ?? ""}`);
      },
      onAfterResponse(request, response) {
        if (request.getMethod() === "HEAD" && response.getStatus() === 200) {
          const offset = Number(response.getHeader("Upload-Offset"));
          const length = Number(response.getHeader("Upload-Length"));
          if (length > 0 && offset > 0) onResumed?.((offset / length) * 100);
        }
        fileId = response.getHeader("Coffer-File-Id") || fileId;
      },
      onProgress,
      onError(error) {
        reject(readableError(error));
      },
      async onSuccess() {
        try {
          if (!fileId) throw new ApiError("The server did not name the stored file", 0);
          resolve(await api(`/api/files/${encodeURIComponent(fileId)}`));
        } catch (error) {
          reject(error);
        }
      },
    });
    signal?.addEventListener("abort", () => {
      // A cancel terminates, so the server frees the staged bytes and the
      // quota they hold; signing out keeps the upload to resume later.
      upload.abort(signal.reason !== KEEP_FOR_LATER).catch(() => {});
      reject(new ApiError("Upload cancelled", 0));
    }, { once: true });
    upload.findPreviousUploads().then((previous) => {
      const mine = previous.filter((entry) => entry.metadata?.user === user);
      if (mine.length > 0) upload.resumeFromPreviousUpload(mine[0]);
      upload.start();
    }, () => upload.start());
  });
}

/**
 * Unfinished uploads of the signed-in user that this browser can resume.
 *
 * @returns {Promise<{name: string, size: number, startedAt: string, key: string}[]>}
 */
export async function unfinishedUploads() {
  const storage = /** @type {any} */ (globalThis).tus?.defaultOptions?.urlStorage;
  if (!storage?.findAllUploads) return [];
  const user = currentUser();
  const entries = await storage.findAllUploads().catch(() => []);
  return entries
    .filter((entry) => entry.metadata?.user === user)
    .map((entry) => ({
      name: entry.metadata?.filename ?? "(unnamed)",
      size: entry.size,
      startedAt: entry.creationTime,
      key: entry.urlStorageKey,
      url: entry.uploadUrl,
    }));
}

/**
 * Forgets an unfinished upload: terminates it on the server (freeing its
 * quota) and removes it from this browser.
 *
 * @param {{key: string, url?: string}} entry
 */
export async function forgetUpload(entry) {
  if (entry.url) {
    await fetch(entry.url, {
      method: "DELETE",
      headers: { "Tus-Resumable": "1.0.0", Authorization: `Bearer ${getToken() ?? ""}` },
    }).catch(() => {});
  }
  await tusClient().defaultOptions.urlStorage.removeUpload(entry.key);
}

/**
 * Shows the signed-in user's unfinished uploads in `list`, each with the
 * advice to choose the same file again and a Forget button.
 *
 * @param {HTMLElement} list A `<ul>`; hidden when there is nothing to show.
 */
export async function renderUnfinished(list) {
  const entries = await unfinishedUploads();
  list.replaceChildren(...entries.map((entry) => {
    const forget = el("button", {
      class: "button button-small button-quiet",
      text: "Forget",
      attrs: { type: "button", "aria-label": `Forget the unfinished upload of ${entry.name}` },
    });
    forget.addEventListener("click", async () => {
      await forgetUpload(entry);
      await renderUnfinished(list);
    });
    return el("li", { class: "unfinished", attrs: { "data-name": entry.name } }, [
      el("span", { class: "upload-name", text: entry.name }),
      el("span", { class: "upload-size", text: formatBytes(entry.size) }),
      el("span", { class: "hint", text: "Choose this file again to resume" }),
      forget,
    ]);
  }));
  list.hidden = entries.length === 0;
  const heading = list.previousElementSibling;
  if (heading) heading.hidden = entries.length === 0;
}
