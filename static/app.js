/**
 * Entry point of Coffer's browser page (an ES module, no build step): sign in
 * or register, then show the user, the access token with a live countdown to
 * its expiry (signing out when it expires), uploads and the file list.
 *
 * The page's CSP allows no inline script or style, so all behaviour lives in
 * these modules and all styling in style.css.
 */
import { api, ApiError, getToken, setToken, setUnauthorizedHandler, tokenExpiry } from "./api.js";
import { createFileList } from "./files.js";
import { formatBytes, formatCountdown, formatTime } from "./format.js";
import { createShares } from "./shares.js";
import { createUploader } from "./upload.js";
import { copyText } from "./ui.js";

const USERNAME = /^[a-z0-9_.-]{3,64}$/;
/** The countdown turns amber this close to expiry. */
const EXPIRY_WARNING_MS = 5 * 60 * 1000;

const $ = (id) => document.getElementById(id);

const views = { auth: $("auth-view"), app: $("app-view"), account: $("account") };
const authForm = $("auth-form");
const authError = $("auth-error");
const notice = $("notice");

let countdownTimer;
let noticeTimer;

/**
 * Shows a message in the notice bar (a polite live region).
 *
 * @param {string} text
 * @param {"info" | "success" | "error"} [kind]
 */
function notify(text, kind = "info") {
  clearTimeout(noticeTimer);
  notice.textContent = text;
  notice.className = `notice notice-${kind}`;
  // The region stays in place (empty when idle) so screen readers keep listening to it.
  noticeTimer = setTimeout(() => (notice.textContent = ""), kind === "error" ? 20_000 : 8000);
}

function showAuthError(message) {
  authError.textContent = message;
  authError.hidden = !message;
}

async function refreshUsage() {
  try {
    const me = await api("/api/me");
    $("account-name").textContent = me.username;
    $("usage-text").textContent = `${formatBytes(me.used_bytes)} of ${
      formatBytes(me.quota_bytes)
    } used`;
  } catch {
    // The usage line is informative only; a 401 signs out through the handler.
  }
}

const shares = createShares({ root: $("shares-root"), notify });

const files = createFileList({
  list: $("files"),
  empty: $("files-empty"),
  error: $("files-error"),
  loadMore: $("load-more"),
  notify,
  onChange: refreshUsage,
  extraActions: (record) => [shares.shareButton(record)],
});

const uploader = createUploader({
  input: $("file-input"),
  dropZone: $("drop-zone"),
  list: $("uploads"),
  clear: $("clear-uploads"),
  unfinished: $("unfinished-uploads"),
  files,
  notify,
  onAccepted: refreshUsage,
});

function startCountdown(token) {
  const expiresAt = tokenExpiry(token);
  const expiry = $("token-expiry");
  const countdown = $("token-countdown");
  clearInterval(countdownTimer);
  if (expiresAt === undefined) {
    expiry.textContent = "at an unknown time";
    countdown.textContent = "";
    return;
  }
  expiry.dateTime = new Date(expiresAt).toISOString();
  expiry.textContent = `at ${formatTime(expiresAt)}`;
  const tick = () => {
    const left = expiresAt - Date.now();
    if (left <= 0) {
      signOut("Your session expired: sign in again", false);
      return;
    }
    countdown.textContent = `(in ${formatCountdown(left)})`;
    countdown.classList.toggle("countdown-soon", left <= EXPIRY_WARNING_MS);
  };
  tick();
  countdownTimer = setInterval(tick, 1000);
}

/** Shows the signed-in page for the stored token. */
async function enterApp() {
  const token = getToken();
  const expiresAt = token ? tokenExpiry(token) : undefined;
  if (!token || (expiresAt !== undefined && expiresAt <= Date.now())) {
    setToken(null);
    return false;
  }
  $("token").value = token;
  startCountdown(token);
  // Who is signed in, before the page shows it (a refused token signs out here).
  await refreshUsage();
  if (!getToken()) return false;
  views.auth.hidden = true;
  views.app.hidden = false;
  views.account.hidden = false;
  document.body.classList.add("signed-in");
  await files.reload();
  await shares.reload();
  await uploader.showUnfinished();
  return true;
}

/**
 * Signs out: revokes the token on the server (unless it is already dead),
 * forgets it, stops every transfer and stream, and shows the sign-in form.
 *
 * @param {string} message What to tell the user.
 * @param {boolean} revoke Whether to call `/api/auth/logout`.
 */
async function signOut(message, revoke) {
  clearInterval(countdownTimer);
  uploader.reset();
  files.reset();
  shares.reset();
  if (revoke && getToken()) {
    await api("/api/auth/logout", { method: "POST" }).catch(() => {});
  }
  setToken(null);
  $("token").value = "";
  $("account-name").textContent = "";
  views.app.hidden = true;
  views.account.hidden = true;
  views.auth.hidden = false;
  document.body.classList.remove("signed-in");
  notify(message, revoke ? "success" : "error");
  $("username").focus();
}

setUnauthorizedHandler(() => signOut("Your session has ended: sign in again", false));

authForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const register = event.submitter?.value === "register";
  const username = $("username").value.trim().toLowerCase();
  const password = $("password").value;
  showAuthError("");
  if (!username || !password) {
    showAuthError("Enter a username and a password");
    return;
  }
  if (register && !USERNAME.test(username)) {
    showAuthError("Usernames are 3–64 characters: a–z, 0–9, “_”, “.” or “-”");
    return;
  }
  if (register && password.length < 8) {
    showAuthError("Passwords need at least 8 characters");
    return;
  }
  const buttons = authForm.querySelectorAll("button");
  for (const button of buttons) button.disabled = true;
  authForm.setAttribute("aria-busy", "true");
  try {
    if (register) {
      await api("/api/auth/register", { method: "POST", body: { username, password } });
    }
    const issued = await api("/api/auth/token", { method: "POST", body: { username, password } });
    setToken(issued.access_token);
    $("password").value = "";
    if (await enterApp()) {
      notify(register ? `Welcome, ${username}. Your account is ready` : `Signed in as ${username}`);
      $("main").focus();
    }
  } catch (failure) {
    showAuthError(failure instanceof ApiError ? failure.message : String(failure));
  } finally {
    for (const button of buttons) button.disabled = false;
    authForm.removeAttribute("aria-busy");
  }
});

$("sign-out").addEventListener("click", () => signOut("You are signed out", true));
$("refresh-files").addEventListener("click", () => files.reload());
$("copy-token").addEventListener("click", async () => {
  try {
    await copyText($("token").value);
    notify("Access token copied", "success");
  } catch (failure) {
    notify(failure.message, "error");
  }
});

if (!(await enterApp())) views.auth.hidden = false;
