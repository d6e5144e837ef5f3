/**
 * The page's session: signing in, renewing the access token before it
 * expires, resuming after a reload or in a new tab, and signing out.
 *
 * The refresh token never reaches this script: the server sets it as an
 * `HttpOnly; SameSite=Strict; Path=/api/auth` cookie (sign-in with
 * `refresh_cookie: true`), and `POST /api/auth/refresh` without a body
 * spends it and sets the next one. The access token (a JWT) lives in
 * sessionStorage (api.js) and is renewed at three quarters of its lifetime,
 * counted on this computer's clock from when it arrived, so a wrong clock
 * does not matter.
 *
 * A refresh token is spent on use, and one presented twice ends the session
 * (the server takes it for a stolen copy). Tabs share the cookie, so renewals
 * run one at a time under a Web Lock: a tab that waited sends the cookie the
 * previous renewal set.
 */
import { ApiError, getToken, setToken } from "./api.js";

/** Where the local expiry of the current access token is kept (ms since the epoch). */
const EXPIRES_KEY = "coffer.token.expires";
/** And when it arrived, so a reloaded page renews at the same moment. */
const ISSUED_KEY = "coffer.token.issued";
/** Renew once this share of the lifetime has passed. */
const RENEW_AT = 0.75;
/** After a failed renewal that may be temporary (network, 5xx), try again this soon. */
const RETRY_MS = 5000;

/**
 * @typedef {{access_token: string, expires_in: number}} TokenAnswer
 * @typedef {{
 *   onChange: (token: string, expiresAt: number) => void,
 *   onEnded: (message: string) => void,
 * }} SessionHooks
 */

/** @param {Response} response */
async function problemMessage(response) {
  try {
    const problem = await response.json();
    if (typeof problem?.title === "string") {
      return problem.detail ? `${problem.title}: ${problem.detail}` : problem.title;
    }
  } catch {
    // Not a problem body.
  }
  return `The server answered ${response.status}`;
}

/**
 * Runs `task` while holding the page-wide renewal lock (where Web Locks exist).
 *
 * @template T
 * @param {() => Promise<T>} task
 * @returns {Promise<T>}
 */
function exclusively(task) {
  return navigator.locks?.request ? navigator.locks.request("coffer-refresh", task) : task();
}

/**
 * Creates the session controller.
 *
 * @param {SessionHooks} hooks `onChange` after every new token (sign-in,
 *   renewal, resume); `onEnded` when the server has ended the session.
 */
export function createSession({ onChange, onEnded }) {
  let timer;
  /** @type {Promise<boolean> | undefined} */
  let renewing;

  function expiresAt() {
    return Number(sessionStorage.getItem(EXPIRES_KEY)) || 0;
  }

  /** Keeps a new access token and schedules its renewal. */
  function adopt(/** @type {TokenAnswer} */ answer) {
    const now = Date.now();
    const expiry = now + answer.expires_in * 1000;
    setToken(answer.access_token);
    sessionStorage.setItem(EXPIRES_KEY, String(expiry));
    sessionStorage.setItem(ISSUED_KEY, String(now));
    schedule(now + answer.expires_in * 1000 * RENEW_AT);
    onChange(answer.access_token, expiry);
  }

  function schedule(at) {
    clearTimeout(timer);
    timer = setTimeout(() => renew(), Math.max(0, at - Date.now()));
  }

  function forget() {
    clearTimeout(timer);
    setToken(null);
    sessionStorage.removeItem(EXPIRES_KEY);
    sessionStorage.removeItem(ISSUED_KEY);
  }

  /**
   * Trades the cookie for a new access token (one renewal at a time).
   *
   * @returns {Promise<boolean>} Whether the session goes on. `false` means
   *   the server ended it (then `onEnded` has been called if a session was running).
   */
  function renew() {
    renewing ??= exclusively(async () => {
      let response;
      try {
        response = await fetch("/api/auth/refresh", { method: "POST" });
      } catch {
        schedule(Date.now() + RETRY_MS); // offline: keep the token, try again soon
        return getToken() !== null && expiresAt() > Date.now();
      }
      if (response.ok) {
        adopt(await response.json());
        return true;
      }
      if (response.status === 401) {
        await response.body?.cancel();
        const wasSignedIn = getToken() !== null;
        forget();
        if (wasSignedIn) onEnded("Your session has ended: sign in again");
        return false;
      }
      await response.body?.cancel();
      schedule(Date.now() + RETRY_MS);
      return getToken() !== null && expiresAt() > Date.now();
    }).finally(() => (renewing = undefined));
    return renewing;
  }

  return {
    renew,

    /**
     * Signs in; the refresh token arrives as the HttpOnly cookie.
     *
     * @param {string} username
     * @param {string} password
     * @throws {ApiError} with the server's reason.
     */
    async signIn(username, password) {
      let response;
      try {
        response = await fetch("/api/auth/token", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ username, password, refresh_cookie: true }),
        });
      } catch {
        throw new ApiError("Cannot reach the server: check your connection", 0);
      }
      if (!response.ok) throw new ApiError(await problemMessage(response), response.status);
      adopt(await response.json());
    },

    /**
     * Continues a session after a reload (the token in sessionStorage) or in a
     * new tab (the cookie).
     *
     * @returns {Promise<boolean>} Whether there is a session.
     */
    async resume() {
      const token = getToken();
      const expiry = expiresAt();
      if (token && expiry > Date.now()) {
        const issued = Number(sessionStorage.getItem(ISSUED_KEY)) || Date.now();
        schedule(issued + (expiry - issued) * RENEW_AT);
        onChange(token, expiry);
        return true;
      }
      forget();
      return await renew();
    },

    /** Ends the session on the server (access token and refresh family) and forgets it. */
    async signOut() {
      // Logout needs a live access token to name the session it ends.
      if (getToken() && expiresAt() - Date.now() < RETRY_MS) await renew();
      clearTimeout(timer);
      const token = getToken();
      await fetch("/api/auth/logout", {
        method: "POST",
        headers: token ? { Authorization: `Bearer ${token}` } : {},
      }).then((response) => response.body?.cancel(), () => {});
      forget();
    },

    /** Forgets the session locally (it has ended on the server). */
    forget,
  };
}
