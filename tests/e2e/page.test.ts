/**
 * The browser page, end to end in headless Chromium against a real API and
 * worker: register and sign in, the token demo, uploads with both progress
 * phases, downloads through tickets compared byte for byte, the data key,
 * delete, sign out, silent token renewal across a long upload, a session
 * ended elsewhere, hostile file names, uploads refused over the quota or the
 * size limit, and a screenshot of the signed-in page.
 *
 * Every server, browser and context is closed by `await using`, so Deno's
 * resource and op sanitizers stay on.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Dialog, Page } from "playwright-core";
import { ciphertextSize, decryptStream, parseKeyExport } from "../../crypto/mod.ts";
import { randomBytes } from "../helpers.ts";
import {
  signUp,
  startTestServer,
  type TestServer,
  type TestServerOptions,
  waitForFile,
} from "../test_server.ts";
import { launchChromium } from "./_browser.ts";

// The few browser globals that callbacks run inside the page use. They are
// declared here rather than with `/// <reference lib="dom" />`, which would
// change the global types of every file `deno check .` sees.
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
}
declare const document: {
  querySelectorAll(selector: string): Iterable<PageElement>;
  querySelector(selector: string): PageElement | null;
  getElementById(id: string): PageElement | null;
  documentElement: { scrollWidth: number };
  cookie: string;
};
declare class DataTransfer {
  items: { add(file: File): void };
}

const PASSWORD = "correct horse battery staple";
const ARTIFACTS = new URL("../../test-artifacts/", import.meta.url);

interface Session extends AsyncDisposable {
  server: TestServer;
  page: Page;
  /** Every dialog the page opened (confirms are accepted, anything else dismissed). */
  dialogs: { type: string; message: string }[];
}

/** A real server with its worker, a browser, and one page on the server's origin. */
async function openSession(config: TestServerOptions["config"] = {}): Promise<Session> {
  await using stack = new AsyncDisposableStack();
  const server = stack.use(await startTestServer({ worker: true, config }));
  const browser = stack.use(await launchChromium());
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const dialogs: Session["dialogs"] = [];
  page.on("dialog", (dialog: Dialog) => {
    dialogs.push({ type: dialog.type(), message: dialog.message() });
    (dialog.type() === "confirm" ? dialog.accept() : dialog.dismiss()).catch(() => {});
  });
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  stack.defer(() => {
    // Uncaught script errors fail the test, after everything is closed.
    if (errors.length > 0) throw new Error(`The page threw: ${errors.join("; ")}`);
  });
  const owned = stack.move();
  return { server, page, dialogs, [Symbol.asyncDispose]: () => owned.disposeAsync() };
}

async function signInThroughForm(page: Page, username: string, button: string) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: button, exact: true }).click();
  await page.locator("#app-view").waitFor({ state: "visible" });
}

/** Picks files through the file input and waits until every upload item is stored. */
async function uploadThroughInput(page: Page, files: { name: string; bytes: Uint8Array }[]) {
  await page.locator("#file-input").setInputFiles(
    files.map(({ name, bytes }) => ({
      name,
      mimeType: "application/octet-stream",
      buffer: Buffer.from(bytes),
    })),
  );
  await waitForStoredUploads(page, files.length);
}

async function waitForStoredUploads(page: Page, count: number, timeout = 30_000) {
  await page.waitForFunction(
    (n) => {
      const items = [...document.querySelectorAll("#uploads .upload")];
      const failed = items.find((item) => item.dataset.state === "failed");
      if (failed) throw new Error(`Upload failed: ${failed.textContent}`);
      return items.filter((item) => item.dataset.state === "stored").length >= n;
    },
    count,
    { timeout },
  );
}

function fileRow(page: Page, name: string) {
  return page.locator(".file").filter({
    has: page.locator(".file-name").getByText(name, { exact: true }),
  });
}

/** The page's clipboard (the context is granted clipboard-read). */
async function readClipboard(page: Page): Promise<string> {
  return await page.evaluate("navigator.clipboard.readText()") as string;
}

/** Clicks a button that starts a download and returns the downloaded bytes. */
async function downloadFrom(page: Page, click: () => Promise<void>) {
  const [download] = await Promise.all([page.waitForEvent("download"), click()]);
  const path = await download.path();
  return { name: download.suggestedFilename(), bytes: await Deno.readFile(path) };
}

async function decrypt(ciphertext: Uint8Array, key: Uint8Array, context: Uint8Array) {
  const plain = ReadableStream.from([ciphertext]).pipeThrough(decryptStream(key, context));
  return new Uint8Array(await new Response(plain).arrayBuffer());
}

Deno.test({
  name: "page: register, upload 5 MiB with both progress phases, download, key, delete, sign out",
  async fn() {
    await using session = await openSession();
    const { page, server, dialogs } = session;
    const username = `e2e-${crypto.randomUUID().slice(0, 8)}`;
    await page.goto(server.url);
    await signInThroughForm(page, username, "Create account");

    // The token demo: user, token (a JWT), expiry and a countdown that moves.
    await page.locator("#account-name", { hasText: username }).waitFor();
    const token = await page.getByLabel(/Access token/).inputValue();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("coffer.token")), token);
    assert.match(await page.locator("#token-expiry").textContent() ?? "", /^at \d/);
    const countdown = page.locator("#token-countdown");
    const before = await countdown.textContent();
    assert.match(before ?? "", /^\(in (59:[0-5]\d|1:00:00)\)$/);
    await page.waitForFunction((text) => {
      return document.getElementById("token-countdown")?.textContent !== text;
    }, before);
    await page.getByRole("button", { name: "Copy token" }).click();
    await page.locator("#notice", { hasText: "Access token copied" }).waitFor();
    assert.equal(await readClipboard(page), token);

    // Upload 5 MiB: the transfer bar, then the encrypt-and-store bar, each to its end.
    const original = randomBytes(5 * 1024 * 1024);
    await uploadThroughInput(page, [{ name: "five.bin", bytes: original }]);
    const item = page.locator("#uploads .upload").first();
    assert.equal(await item.getAttribute("data-transfer-max"), "100");
    assert.equal(await item.getAttribute("data-storing-max"), "100");
    assert.equal(await item.getAttribute("data-phases"), "transferring,storing,stored");
    assert.equal(await item.getAttribute("data-status-via"), "events");
    assert.equal(await item.locator(".upload-status").textContent(), "Stored");
    assert.equal(await item.getByLabel("Transfer").getAttribute("value"), "100");
    assert.equal(await item.getByLabel("Encrypt & store").getAttribute("value"), "100");
    const row = fileRow(page, "five.bin");
    await row.locator(".badge", { hasText: "Stored" }).waitFor();
    assert.equal(await row.getAttribute("data-status"), "stored");
    assert.match(await row.locator(".file-meta").textContent() ?? "", /5\.0 MiB/);

    // Decrypted download through the page: the same bytes.
    const plain = await downloadFrom(
      page,
      () => row.getByRole("button", { name: "Download" }).click(),
    );
    assert.equal(plain.name, "five.bin");
    assert.equal(plain.bytes.length, original.length);
    assert.deepEqual(plain.bytes, original);

    // Encrypted download plus the copied data key decrypt offline to the same bytes.
    const sealed = await downloadFrom(
      page,
      () => row.getByRole("button", { name: "Encrypted" }).click(),
    );
    assert.equal(sealed.name, "five.bin.cbl");
    assert.equal(sealed.bytes.length, ciphertextSize(original.length));
    await row.getByRole("button", { name: "Copy key" }).click();
    await page.locator("#notice", { hasText: "Data key of “five.bin” copied" }).waitFor();
    assert.equal(dialogs.at(-1)?.type, "confirm");
    assert.match(dialogs.at(-1)?.message ?? "", /Anyone with this key/);
    const exported = parseKeyExport(await readClipboard(page));
    assert.deepEqual(await decrypt(sealed.bytes, exported.key, exported.context), original);

    // Delete after confirming.
    const confirmsBefore = dialogs.length;
    await row.getByRole("button", { name: "Delete" }).click();
    await row.waitFor({ state: "detached" });
    assert.equal(dialogs.length, confirmsBefore + 1);
    assert.match(dialogs.at(-1)?.message ?? "", /^Delete “five\.bin”\?/);
    await page.locator("#files-empty").waitFor({ state: "visible" });
    const listed = await fetch(`${server.url}/api/files`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.deepEqual((await listed.json()).files, []);

    // Sign out: back to the form, token forgotten and revoked.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.locator("#auth-view").waitFor({ state: "visible" });
    assert.equal(await page.locator("#app-view").isHidden(), true);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("coffer.token")), null);
    const me = await fetch(`${server.url}/api/me`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    await me.body?.cancel();
    assert.equal(me.status, 401);
  },
});

Deno.test({
  name: "page: shows API errors and file names as text, never HTML; polls without EventSource",
  async fn() {
    await using session = await openSession();
    const { page, server, dialogs } = session;
    const user = await signUp(server);
    // A browser without Server-Sent Events: the page falls back to polling /status.
    await page.addInitScript(() => Reflect.deleteProperty(globalThis, "EventSource"));
    await page.goto(server.url);

    // A wrong password reads as the problem's title, not as JSON.
    await page.getByLabel("Username").fill(user.username);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    const error = page.locator("#auth-error");
    await error.waitFor({ state: "visible" });
    assert.equal(await error.textContent(), "Invalid username or password");

    await signInThroughForm(page, user.username, "Sign in");
    const hostile = "<img src=x onerror=alert(1)>.txt";
    await uploadThroughInput(page, [{ name: hostile, bytes: new TextEncoder().encode("hi") }]);
    const row = fileRow(page, hostile);
    await row.locator(".badge", { hasText: "Stored" }).waitFor();
    assert.equal(await row.locator(".file-name").textContent(), hostile);
    const item = page.locator("#uploads .upload").first();
    assert.equal(await item.locator(".upload-name").textContent(), hostile);
    assert.equal(await item.getAttribute("data-status-via"), "polling");
    assert.equal(await page.locator("main img").count(), 0);
    // Give a planted handler every chance to run, then check that none did.
    await page.waitForTimeout(300);
    assert.equal(dialogs.length, 0, `dialogs opened: ${JSON.stringify(dialogs)}`);

    // Control: the dialog listener does see an alert when one really happens.
    await page.evaluate(() => alert("control"));
    assert.deepEqual(dialogs.map((d) => d.type), ["alert"]);
  },
});

Deno.test({
  name: "page: a session revoked elsewhere ends; the refresh token is an HttpOnly cookie",
  async fn() {
    await using session = await openSession();
    const { page, server } = session;
    const user = await signUp(server);
    await page.goto(server.url);
    await signInThroughForm(page, user.username, "Sign in");
    // The refresh token is out of the script's reach, and scoped to /api/auth.
    assert.equal(await page.evaluate(() => document.cookie), "");
    const cookies = await page.context().cookies(server.url + "/api/auth/refresh");
    const refresh = cookies.find((cookie) => cookie.name === "coffer_refresh");
    assert.ok(refresh, JSON.stringify(cookies));
    assert.equal(refresh.httpOnly, true);
    assert.equal(refresh.sameSite, "Strict");
    assert.equal(refresh.path, "/api/auth");
    assert.deepEqual(await page.context().cookies(server.url + "/api/files"), []);

    // A new tab has no token of its own: it resumes the session from the cookie.
    const tab = await page.context().newPage();
    await tab.goto(server.url);
    await tab.locator("#app-view").waitFor({ state: "visible" });
    const tabToken = await tab.getByLabel(/Access token/).inputValue();
    assert.notEqual(tabToken, await page.getByLabel(/Access token/).inputValue());
    await tab.close();

    // Signed out elsewhere (the session's token): the next request finds it ended.
    const token = await page.getByLabel(/Access token/).inputValue();
    const logout = await fetch(`${server.url}/api/auth/logout`, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(logout.status, 204);
    await page.locator("#refresh-files").click();
    await page.locator("#auth-view").waitFor({ state: "visible" });
    assert.equal(
      await page.locator("#notice").textContent(),
      "Your session has ended: sign in again",
    );
    assert.equal(await page.evaluate(() => sessionStorage.getItem("coffer.token")), null);
    // …and a reload does not bring it back.
    await page.reload();
    await page.locator("#auth-view").waitFor({ state: "visible" });
    assert.equal(await page.locator("#app-view").isHidden(), true);
  },
});

Deno.test({
  name: "page: with a 30 s token it stays signed in, an upload spanning an expiry completes, " +
    "downloads go through tickets without a Blob",
  async fn() {
    await using session = await openSession({ tokenTtlSeconds: 30 });
    const { page, server } = session;
    const user = await signUp(server);
    // Count every blob: URL the page makes (a ticket download makes none).
    await page.addInitScript(() => {
      const original = URL.createObjectURL;
      (globalThis as unknown as { blobUrls: number }).blobUrls = 0;
      URL.createObjectURL = (object) => {
        (globalThis as unknown as { blobUrls: number }).blobUrls++;
        return original(object);
      };
    });
    await page.goto(server.url);
    await signInThroughForm(page, user.username, "Sign in");
    assert.match(await page.locator("#token-renewal").textContent() ?? "", /renews automatically/);
    const first = await page.getByLabel(/Access token/).inputValue();
    const firstExp = JSON.parse(atob(first.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")))
      .exp * 1000;

    // A slow link: about 40 s for the upload, past the first token's expiry.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: 80 * 1024,
    });
    const original = randomBytes(3 * 1024 * 1024);
    const startedAt = Date.now();
    await page.locator("#file-input").setInputFiles([{
      name: "slow.bin",
      mimeType: "application/octet-stream",
      buffer: Buffer.from(original),
    }]);
    const item = page.locator("#uploads .upload").first();
    // Speed and time left while it runs; leaving the page would ask first.
    await page.waitForFunction(() =>
      /\/s · \d+:\d\d left/.test(document.querySelector(".upload-rate")?.textContent ?? "")
    );
    const asks = await page.evaluate(() => {
      const event = new Event("beforeunload", { cancelable: true });
      globalThis.dispatchEvent(event);
      return event.defaultPrevented;
    });
    assert.equal(asks, true, "a leave-page warning while the transfer runs");

    // Renewed (at least twice) while the upload is on its way; never signed out.
    const seen = new Set([first]);
    while (seen.size < 3) {
      await page.waitForFunction(
        (known) =>
          !known.includes((document.getElementById("token") as unknown as { value: string }).value),
        [...seen],
        { timeout: 40_000 },
      );
      seen.add(await page.getByLabel(/Access token/).inputValue());
      assert.equal(await page.locator("#app-view").isVisible(), true);
    }
    await page.waitForFunction(
      () => (document.querySelector("#uploads .upload")?.dataset.phases ?? "").includes("storing"),
      undefined,
      { timeout: 90_000 },
    );
    const transferEnd = Date.now();
    await waitForStoredUploads(page, 1, 90_000);
    assert.ok(startedAt < firstExp && transferEnd > firstExp, "the transfer spanned an expiry");
    assert.equal(await item.getAttribute("data-phases"), "transferring,storing,stored");
    assert.equal(await page.locator("#app-view").isVisible(), true);
    await cdp.send("Network.emulateNetworkConditions", {
      offline: false,
      latency: 0,
      downloadThroughput: -1,
      uploadThroughput: -1,
    });
    const asksAfter = await page.evaluate(() => {
      const event = new Event("beforeunload", { cancelable: true });
      globalThis.dispatchEvent(event);
      return event.defaultPrevented;
    });
    assert.equal(asksAfter, false, "no warning once nothing is transferring");

    // The download goes through a ticket: the browser fetches /api/dl/…, the bytes match.
    const row = fileRow(page, "slow.bin");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      row.getByRole("button", { name: "Download" }).click(),
    ]);
    assert.match(download.url(), new RegExp(`^${server.url}/api/dl/[A-Za-z0-9_-]{43}$`));
    assert.equal(download.suggestedFilename(), "slow.bin");
    const bytes = await Deno.readFile(await download.path());
    assert.equal(bytes.length, original.length);
    assert.deepEqual(bytes, original);
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as { blobUrls: number }).blobUrls),
      0,
    );
  },
});

Deno.test({
  name: "page: lists files newest first, 20 at a time, with Load more",
  async fn() {
    await using session = await openSession();
    const { page, server } = session;
    const user = await signUp(server);
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) {
      const response = await fetch(`${server.url}/api/files?name=file-${i}.txt`, {
        method: "POST",
        headers: user.headers,
        body: `file ${i}`,
      });
      assert.equal(response.status, 202);
      ids.push((await response.json()).id);
    }
    for (const id of ids) await waitForFile(server, user, id);
    const first = await (await fetch(`${server.url}/api/files?limit=20`, { headers: user.headers }))
      .json();
    const rest = await (await fetch(
      `${server.url}/api/files?limit=20&cursor=${encodeURIComponent(first.next_cursor)}`,
      { headers: user.headers },
    )).json();
    const expected = [...first.files, ...rest.files].map((file: { name: string }) => file.name);

    await page.goto(server.url);
    await signInThroughForm(page, user.username, "Sign in");
    const names = page.locator("#files .file-name");
    await page.locator(".file").nth(19).waitFor();
    assert.equal(await page.locator(".file").count(), 20);
    const loadMore = page.getByRole("button", { name: "Load more" });
    await loadMore.click();
    await page.locator(".file").nth(22).waitFor();
    assert.deepEqual(await names.allTextContents(), expected);
    assert.equal(expected.length, 23);
    assert.equal(expected[0], "file-22.txt");
    await loadMore.waitFor({ state: "hidden" });
  },
});

Deno.test({
  name: "page: screenshots of the signed-in page at desktop and 375 px width",
  async fn() {
    await using session = await openSession();
    const { page, server } = session;
    const user = await signUp(server, `alice-${crypto.randomUUID().slice(0, 4)}`);
    await page.goto(server.url);
    await signInThroughForm(page, user.username, "Sign in");

    // Two files through the picker, one by drag and drop.
    await uploadThroughInput(page, [
      { name: "quarterly-report-2025.pdf", bytes: randomBytes(300 * 1024) },
      { name: "holiday photos (family).zip", bytes: randomBytes(1024 * 1024 + 17) },
    ]);
    const dataTransfer = await page.evaluateHandle(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File(["dropped in"], "notes.txt", { type: "text/plain" }));
      return transfer;
    });
    await page.locator("#drop-zone").dispatchEvent("drop", { dataTransfer });
    await waitForStoredUploads(page, 3);
    await fileRow(page, "notes.txt").locator(".badge", { hasText: "Stored" }).waitFor();
    assert.equal(await page.locator(".file").count(), 3);
    assert.equal(await page.locator(".file-name").first().textContent(), "notes.txt");

    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const shots = [
      { file: "signed-in.png", width: 1280, height: 800 },
      { file: "signed-in-375.png", width: 375, height: 812 },
    ];
    for (const shot of shots) {
      await page.setViewportSize({ width: shot.width, height: shot.height });
      // Nothing may stick out sideways (usable on a phone).
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(overflow <= shot.width, `page is ${overflow}px wide at ${shot.width}px`);
      const path = new URL(shot.file, ARTIFACTS);
      await page.screenshot({ path: path.pathname, fullPage: true, animations: "disabled" });
      const png = await Deno.readFile(path);
      assert.ok(png.length > 1000, `${shot.file} is only ${png.length} bytes`);
      assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    }
  },
});

Deno.test("launchChromium() fails at once with a clear message when Chromium is missing", async () => {
  const started = performance.now();
  await assert.rejects(
    () => launchChromium("/nonexistent/chromium"),
    /Chromium not found at \/nonexistent\/chromium; install it with/,
  );
  assert.ok(performance.now() - started < 2000);
});

Deno.test({
  name: "page: an upload over the quota or the size limit fails with the server's reason",
  async fn() {
    await using session = await openSession({
      quotaBytes: 256 * 1024,
      maxFileBytes: 1024 * 1024,
    });
    const { page, server } = session;
    const user = await signUp(server);
    await page.goto(server.url);
    await signInThroughForm(page, user.username, "Sign in");
    await page.locator("#file-input").setInputFiles([
      {
        name: "over-quota.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(randomBytes(512 * 1024)),
      },
      {
        name: "too-large.bin",
        mimeType: "application/octet-stream",
        buffer: Buffer.from(randomBytes(2 * 1024 * 1024)),
      },
    ]);
    const items = page.locator("#uploads .upload");
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll("#uploads .upload")].filter((item) =>
          item.dataset.state === "failed"
        ).length === 2,
      undefined,
      { timeout: 30_000 },
    );
    const texts = (await items.allTextContents()).join("\n");
    assert.match(
      texts,
      /over-quota\.bin.*Storage quota exceeded: This upload would exceed your 262144-byte quota/,
    );
    assert.match(texts, /too-large\.bin.*File too large/);
    // Nothing was kept and nothing counts against the quota.
    const me = await (await fetch(`${server.url}/api/me`, { headers: user.headers })).json();
    assert.equal(me.used_bytes, 0);
    const listed = await (await fetch(`${server.url}/api/files`, { headers: user.headers })).json();
    assert.deepEqual(listed.files, []);
  },
});
