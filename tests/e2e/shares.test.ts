/**
 * Share links and file requests in headless Chromium against a real API and
 * worker. The owner makes a password-protected link on the page; a fresh
 * browser context (no session) opens it, unlocks it, downloads through the
 * browser's download manager and gets the uploaded bytes; after the owner
 * revokes it the link shows "no longer available". Then the owner makes a
 * file request, a fresh context uploads two files through `/r/:id`, and the
 * owner sees them in the file list.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Browser, Dialog, Page } from "playwright-core";
import { randomBytes } from "../helpers.ts";
import { startTestServer } from "../test_server.ts";
import { launchChromium } from "./_browser.ts";

// Browser globals used inside page callbacks (see page.test.ts for why they are declared here).
interface PageElement {
  dataset: Record<string, string | undefined>;
}
declare const document: { querySelectorAll(selector: string): Iterable<PageElement> };

const PASSWORD = "correct horse battery staple";
const LINK_PASSWORD = "shared secret 42";

/** A new context without any session, its page failing the test on any script error. */
async function freshPage(browser: Browser, errors: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (error) => errors.push(error.message));
  return page;
}

Deno.test({
  name: "page: a password link opens in a fresh browser, downloads the file, and dies on revoke",
  async fn() {
    await using server = await startTestServer({ worker: true });
    await using browser = await launchChromium();
    const errors: string[] = [];
    const owner = await freshPage(browser, errors);
    await owner.context().grantPermissions(["clipboard-read", "clipboard-write"], {
      origin: server.url,
    });
    owner.on("dialog", (dialog: Dialog) => {
      (dialog.type() === "confirm" ? dialog.accept() : dialog.dismiss()).catch(() => {});
    });
    await owner.goto(server.url);
    await owner.getByLabel("Username").fill(`e2e-${crypto.randomUUID().slice(0, 8)}`);
    await owner.getByLabel("Password").fill(PASSWORD);
    await owner.getByRole("button", { name: "Create account", exact: true }).click();
    await owner.locator("#app-view").waitFor({ state: "visible" });

    const original = randomBytes(3 * 1024 * 1024 + 17);
    await owner.locator("#file-input").setInputFiles([{
      name: "holiday.bin",
      mimeType: "application/octet-stream",
      buffer: Buffer.from(original),
    }]);
    const row = owner.locator(".file").filter({ hasText: "holiday.bin" });
    await row.locator(".badge", { hasText: "Stored" }).waitFor({ timeout: 30_000 });

    // Share with a password and a limit of 2 downloads.
    await row.getByRole("button", { name: "Share" }).click();
    const dialog = owner.locator("#share-dialog");
    await dialog.getByLabel("Download limit").fill("2");
    await dialog.getByLabel("Password").fill(LINK_PASSWORD);
    await dialog.getByRole("button", { name: "Create link" }).click();
    await owner.locator("#notice", { hasText: "created and copied" }).waitFor();
    const shareRow = owner.locator(".share").filter({ hasText: "holiday.bin" });
    const link = (await shareRow.locator(".link-url").textContent())!;
    assert.match(link, new RegExp(`^${server.url}/s/[A-Za-z0-9_-]{22}$`));
    assert.equal(await owner.evaluate("navigator.clipboard.readText()"), link);
    assert.match(await shareRow.textContent() ?? "", /0 of 2 downloads/);

    // A stranger's browser: password, then the browser's own download.
    const stranger = await freshPage(browser, errors);
    await stranger.goto(link);
    await stranger.getByLabel("Password").fill("not the password");
    await stranger.getByRole("button", { name: "Unlock" }).click();
    await stranger.getByText("That password is not right").waitFor();
    await stranger.getByLabel("Password").fill(LINK_PASSWORD);
    await stranger.getByRole("button", { name: "Unlock" }).click();
    await stranger.locator("#file-name", { hasText: "holiday.bin" }).waitFor();
    assert.match(await stranger.locator("#file-left").textContent() ?? "", /2 more downloads/);
    const [download] = await Promise.all([
      stranger.waitForEvent("download"),
      stranger.getByRole("link", { name: "Download" }).click(),
    ]);
    assert.equal(download.suggestedFilename(), "holiday.bin");
    const saved = await Deno.readFile(await download.path());
    assert.equal(saved.length, original.length);
    assert.deepEqual(saved, original);
    assert.equal(await stranger.evaluate("sessionStorage.length"), 0, "no session on that side");

    // The owner sees the download, then revokes; the stranger's page says so.
    await owner.waitForFunction(async () => {
      const response = await fetch("/api/shares", {
        headers: { Authorization: `Bearer ${sessionStorage.getItem("coffer.token")}` },
      });
      const { shares } = await response.json();
      return shares[0]?.downloads === 1;
    });
    const sharesCard = owner.locator("section").filter({ has: owner.locator("#shares-title") });
    await sharesCard.getByRole("button", { name: "Refresh" }).click();
    await shareRow.filter({ hasText: "1 of 2 downloads" }).waitFor();
    await shareRow.getByRole("button", { name: "Activity" }).click();
    await shareRow.locator(".accesses li", { hasText: "127.0.0.1" }).waitFor();
    await shareRow.getByRole("button", { name: "Revoke" }).click();
    await shareRow.waitFor({ state: "detached" });
    await stranger.reload();
    await stranger.getByText("This link is no longer available").waitFor();
    assert.equal(await stranger.locator("#download").isVisible(), false);
    assert.deepEqual(errors, []);
  },
});

Deno.test({
  name: "page: a file request takes two files from a fresh browser, and the owner sees them",
  async fn() {
    await using server = await startTestServer({ worker: true });
    await using browser = await launchChromium();
    const errors: string[] = [];
    const owner = await freshPage(browser, errors);
    await owner.context().grantPermissions(["clipboard-read", "clipboard-write"], {
      origin: server.url,
    });
    await owner.goto(server.url);
    await owner.getByLabel("Username").fill(`e2e-${crypto.randomUUID().slice(0, 8)}`);
    await owner.getByLabel("Password").fill(PASSWORD);
    await owner.getByRole("button", { name: "Create account", exact: true }).click();
    await owner.locator("#app-view").waitFor({ state: "visible" });

    await owner.getByLabel("What should people send you?").fill("Scans for the tax return");
    await owner.getByLabel("Most files").fill("5");
    await owner.getByRole("button", { name: "Create upload link" }).click();
    const requestRow = owner.locator(".request").filter({ hasText: "Scans for the tax return" });
    const link = (await requestRow.locator(".link-url").textContent())!;
    assert.match(link, new RegExp(`^${server.url}/r/[A-Za-z0-9_-]{22}$`));

    const sender = await freshPage(browser, errors);
    await sender.goto(link);
    await sender.locator("h1", { hasText: "Scans for the tax return" }).waitFor();
    const files = [
      { name: "scan-1.pdf", bytes: randomBytes(700 * 1024) },
      { name: "scan-2.pdf", bytes: randomBytes(300 * 1024) },
    ];
    await sender.locator("#file-input").setInputFiles(files.map(({ name, bytes }) => ({
      name,
      mimeType: "application/pdf",
      buffer: Buffer.from(bytes),
    })));
    await sender.waitForFunction(() => {
      const items = [...document.querySelectorAll("#uploads .upload")];
      const failed = items.find((item) => item.dataset.state === "failed");
      if (failed) throw new Error("An upload failed");
      return items.filter((item) => item.dataset.state === "received").length === 2;
    });
    await sender.getByText("3 more files").waitFor();

    await owner.locator("#refresh-files").click();
    for (const { name } of files) {
      await owner.locator(".file").filter({ hasText: name }).locator(".badge", {
        hasText: "Stored",
      }).waitFor({ timeout: 30_000 });
    }
    const response = await owner.evaluate(async () => {
      const token = sessionStorage.getItem("coffer.token");
      const list = await fetch("/api/files", { headers: { Authorization: `Bearer ${token}` } });
      return await list.json();
    }) as { files: { name: string; size: number; via_request?: string }[] };
    for (const { name, bytes } of files) {
      const record = response.files.find((file) => file.name === name);
      assert.equal(record?.size, bytes.length);
      assert.ok(record?.via_request);
    }
    assert.deepEqual(errors, []);
  },
});
