/**
 * Entry point of Coffer's browser page (an ES module, no build step): sign in
 * or register, then show the user, the access token with a live countdown to
 * its expiry (renewed before then, see session.js), uploads and the file list.
 * A session the server has ended (revoked elsewhere, or unused for the
 * refresh lifetime) shows the sign-in form again, but never cuts an upload
 * already on its way.
 *
 * The page's CSP allows no inline script or style, so all behaviour lives in
 * these modules and all styling in style.css.
 */
import { api, ApiError, getToken, setRenewHandler, setUnauthorizedHandler } from "./api.js";
import { createFileList } from "./files.js";
import { formatBytes, formatCountdown, formatTime } from "./format.js";
import { createShares } from "./shares.js";
import { createSession } from "./session.js";
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
/** Who was signed in last: uploads left running by an ended session belong to them. */
let lastUser = "";

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

/** The token demo: the current access token, when it expires, and a countdown. */
function showToken(token, expiresAt) {
  $("token").value = token;
  const expiry = $("token-expiry");
  const countdown = $("token-countdown");
  clearInterval(countdownTimer);
  expiry.dateTime = new Date(expiresAt).toISOString();
  expiry.textContent = `at ${formatTime(expiresAt)}`;
  const tick = () => {
    const left = expiresAt - Date.now();
    // Renewal comes well before this; a token past its time means the server is unreachable.
    countdown.textContent = left > 0 ? `(in ${formatCountdown(left)})` : "(renewing…)";
    countdown.classList.toggle("countdown-soon", left <= EXPIRY_WARNING_MS);
  };
  tick();
  countdownTimer = setInterval(tick, 1000);
}

const session = createSession({
  onChange: showToken,
  onEnded: (message) => endSession(message),
});
setRenewHandler(() => session.renew());

/** Shows the signed-in page, for a session resumed or just started. */
async function enterApp() {
  if (!await session.resume()) return false;
  // Who is signed in, before the page shows it (a refused session signs out here).
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

/** Shows the sign-in form (the session is over). */
function showSignedOut(message, kind) {
  clearInterval(countdownTimer);
  files.reset();
  shares.reset();
  $("token").value = "";
  $("account-name").textContent = "";
  views.app.hidden = true;
  views.account.hidden = true;
  views.auth.hidden = false;
  document.body.classList.remove("signed-in");
  notify(message, kind);
  $("username").focus();
}

/**
 * Signs out at the user's request: ends the session on the server (this
 * access token and every token of the sign-in), cancels the uploads — after
 * asking, if any is running — and shows the sign-in form.
 */
async function signOut() {
  if (uploader.busy() && !confirm("Uploads are still running. Sign out and cancel them?")) return;
  uploader.reset();
  await session.signOut();
  showSignedOut("You are signed out", "success");
}

/**
 * The server ended the session (revoked, or its refresh token expired).
 * Uploads already on their way finish — the server accepted them when they
 * started — and stay listed for whoever signs in next as the same user.
 */
function endSession(message) {
  session.forget();
  showSignedOut(
    uploader.busy() ? `${message}. Uploads already started will still finish` : message,
    "error",
  );
}

setUnauthorizedHandler(() => endSession("Your session has ended: sign in again"));

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
    await session.signIn(username, password);
    if (username !== lastUser) uploader.reset();
    lastUser = username;
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

$("sign-out").addEventListener("click", () => signOut());
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
