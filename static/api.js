/**
 * The page's client for Coffer's REST API: JSON requests with the bearer
 * token, RFC 9457 problem details turned into readable {@linkcode ApiError}s,
 * the status stream of a file (Server-Sent Events, falling back to polling),
 * and downloads through tickets (uploads are tus_upload.js's). A request refused with 401 renews the session
 * once (session.js) and is sent again.
 *
 * The access token lives in sessionStorage: it survives a reload of this tab
 * but is not shared with other tabs and disappears when the tab closes. It is
 * not a cookie because the API authenticates with `Authorization: Bearer`,
 * which also means no cross-site request can use it (no CSRF). The refresh
 * token is an HttpOnly cookie this script never sees (session.js renews the
 * access token with it); it is scoped to /api/auth, so no file route ever
 * receives it.
 */

const TOKEN_KEY = "coffer.token";

/** An API failure, with a message written for people. */
export class ApiError extends Error {
  /**
   * @param {string} message Readable text (the problem's title and detail).
   * @param {number} status HTTP status, or 0 when the server could not be reached.
   */
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** Called when the API refuses the token (expired, revoked): the app signs out. */
let onUnauthorized = () => {};

/** @param {() => void} handler */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

/** Renews the access token after a 401; resolves to whether the session goes on. */
let renewSession = () => Promise.resolve(false);

/** @param {() => Promise<boolean>} handler */
export function setRenewHandler(handler) {
  renewSession = handler;
}

/** @returns {string | null} The stored access token. */
export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** @param {string | null} token Stores or (with null) forgets the token. */
export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * Reads a JWT's `exp` claim without verifying it (the server verifies; the
 * page only needs to know when to stop using the token).
 *
 * @param {string} token
 * @returns {number | undefined} Expiry in milliseconds since the epoch.
 */
export function tokenExpiry(token) {
  try {
    const payload = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    const claims = JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")));
    return typeof claims.exp === "number" ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Turns an error response into readable text: the problem's title and detail,
 * never the raw body.
 *
 * @param {number} status
 * @param {string} contentType
 * @param {string} text The response body.
 * @returns {ApiError}
 */
function problemError(status, contentType, text) {
  let message = `The server answered ${status}`;
  if (/json/i.test(contentType)) {
    try {
      const problem = JSON.parse(text);
      if (problem && typeof problem.title === "string") {
        message = problem.detail ? `${problem.title}: ${problem.detail}` : problem.title;
      }
    } catch {
      // Not JSON after all: keep the generic message.
    }
  } else if (status === 502 || status === 503 || status === 504) {
    message = "The server is unavailable; try again in a moment";
  }
  if (status === 401 && getToken()) onUnauthorized();
  return new ApiError(message, status);
}

/** @param {Response} response */
async function failure(response) {
  const text = await response.text().catch(() => "");
  return problemError(response.status, response.headers.get("Content-Type") ?? "", text);
}

function authHeaders() {
  const token = getToken();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/**
 * Fetches an API path with the token; throws an ApiError on failure.
 *
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<Response>}
 */
async function send(path, init = {}) {
  const attempt = async () => {
    try {
      return await fetch(path, { ...init, headers: { ...authHeaders(), ...init.headers } });
    } catch {
      throw new ApiError("Cannot reach the server: check your connection", 0);
    }
  };
  let response = await attempt();
  if (response.status === 401 && getToken()) {
    // Expired early (the computer slept) or revoked: renew once, then try again.
    await response.body?.cancel();
    if (!await renewSession()) throw new ApiError("Your session has ended: sign in again", 401);
    response = await attempt();
  }
  if (!response.ok) throw await failure(response);
  return response;
}

/**
 * Calls a JSON endpoint.
 *
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [options]
 * @returns {Promise<any>} The parsed body, or null for 204.
 */
export async function api(path, options = {}) {
  const init = { method: options.method ?? "GET", headers: {} };
  if (options.body !== undefined) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(options.body);
  }
  const response = await send(path, init);
  return response.status === 204 ? null : await response.json();
}

const POLL_MS = 1000;

/**
 * Most status streams open at once. Over HTTP/1.1 a browser opens about six
 * connections per server, and every open EventSource holds one, so files
 * beyond this many are polled instead, leaving connections for uploads,
 * downloads and the rest of the page.
 */
const MAX_STREAMS = 3;
let openStreams = 0;

/**
 * Follows a file's status until it is stored or failed: Server-Sent Events
 * (the token goes in `?access_token=` because EventSource cannot send
 * headers; the server never logs query strings), and polling of `/status`
 * when the stream fails or EventSource is missing.
 *
 * @param {string} id File id.
 * @param {(status: {status: string, progress: {percent: number}, error?: string},
 *   via: "events" | "polling") => void} onStatus Called with each state and how it came.
 * @returns {() => void} Stops following.
 */
export function watchStatus(id, onStatus) {
  let stopped = false;
  let timer;
  const finished = (view) => view.status === "stored" || view.status === "failed";
  let streaming = false;
  const closeStream = () => {
    if (streaming) openStreams--;
    streaming = false;
    source?.close();
  };
  const stop = () => {
    stopped = true;
    closeStream();
    clearTimeout(timer);
  };
  const poll = async () => {
    if (stopped) return;
    try {
      const view = await api(`/api/files/${encodeURIComponent(id)}/status`);
      if (stopped) return;
      onStatus(view, "polling");
      if (finished(view)) return stop();
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 404)) {
        onStatus({ status: "failed", progress: { percent: 0 }, error: error.message }, "polling");
        return stop();
      }
      // Anything else (network, 5xx) is retried on the next tick.
    }
    timer = setTimeout(poll, POLL_MS);
  };
  const query = new URLSearchParams({ access_token: getToken() ?? "" });
  const source = typeof EventSource === "function" && openStreams < MAX_STREAMS
    ? new EventSource(`/api/files/${encodeURIComponent(id)}/events?${query}`)
    : undefined;
  if (!source) {
    poll();
    return stop;
  }
  openStreams++;
  streaming = true;
  source.addEventListener("status", (event) => {
    const view = JSON.parse(event.data);
    onStatus(view, "events");
    if (finished(view)) stop();
  });
  source.onerror = () => {
    // The stream broke (or was refused) before the end: poll instead of reconnecting.
    closeStream();
    if (!stopped) poll();
  };
  return stop;
}

/**
 * Downloads a file through a ticket (`POST /api/files/:id/ticket`): a
 * short-lived URL that needs no token, opened as an `<a download>` link, so
 * the browser's own download manager streams the file to disk with its own
 * progress — nothing is held in this page, whatever the size.
 *
 * @param {string} id File id.
 * @param {"content" | "ciphertext"} variant Decrypted, or the stored ciphertext.
 * @param {string} fallbackName Used if the response named no file.
 */
export async function downloadThroughTicket(id, variant, fallbackName) {
  const ticket = await api(`/api/files/${encodeURIComponent(id)}/ticket`, {
    method: "POST",
    body: { variant },
  });
  const link = document.createElement("a");
  link.href = ticket.url;
  link.download = fallbackName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
}
