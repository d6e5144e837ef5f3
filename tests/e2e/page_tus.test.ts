/**
 * The page's resumable uploads in headless Chromium: a 40 MiB upload through
 * a link that drops the connection once mid-transfer still completes (the
 * client resumes where the server says), and a reload mid-upload followed by
 * choosing the same file again resumes instead of starting over. The bytes
 * stored are compared with the bytes chosen.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { collect, randomBytes, tempDir } from "../helpers.ts";
import { startTcpProxy, type TcpProxyOptions } from "../tcp_proxy.ts";
import { signUp, startTestServer, type TestUser, waitForFile } from "../test_server.ts";
import { launchChromium } from "./_browser.ts";

interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
}
declare const document: { querySelectorAll(selector: string): Iterable<PageElement> };

const MIB = 1024 * 1024;
const PASSWORD = "correct horse battery staple";

/** A server with its worker, a proxy in front of it, a browser page and a 40 MiB file on disk. */
async function openSession(proxyOptions: TcpProxyOptions) {
  await using stack = new AsyncDisposableStack();
  const server = stack.use(await startTestServer({ worker: true }));
  const proxy = stack.use(startTcpProxy(Number(new URL(server.url).port), proxyOptions));
  const dir = stack.use(await tempDir());
  const bytes = randomBytes(40 * MIB);
  const path = join(dir.path, "forty.bin");
  await Deno.writeFile(path, bytes);
  const browser = stack.use(await launchChromium());
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  stack.defer(() => {
    if (errors.length > 0) throw new Error(`The page threw: ${errors.join("; ")}`);
  });
  const user = await signUp(server);
  await page.goto(proxy.url);
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.locator("#app-view").waitFor({ state: "visible" });
  const owned = stack.move();
  return {
    server,
    proxy,
    page,
    user,
    path,
    bytes,
    [Symbol.asyncDispose]: () => owned.disposeAsync(),
  };
}

/** Waits until the upload item is stored (failing at once if it failed) and returns its data. */
async function waitStored(page: Page): Promise<Record<string, string | undefined>> {
  await page.waitForFunction(
    () => {
      const items = [...document.querySelectorAll("#uploads .upload")];
      const failed = items.find((item) => item.dataset.state === "failed");
      if (failed) throw new Error(`Upload failed: ${failed.textContent}`);
      return items.some((item) => item.dataset.state === "stored");
    },
    undefined,
    { timeout: 120_000 },
  );
  return await page.locator("#uploads .upload").last().evaluate((node) => ({
    ...(node as unknown as PageElement).dataset,
  }));
}

async function assertStoredAsChosen(
  server: Awaited<ReturnType<typeof openSession>>["server"],
  user: TestUser,
  bytes: Uint8Array,
) {
  const { files } = await (await fetch(`${server.url}/api/files`, { headers: user.headers }))
    .json();
  assert.equal(files.length, 1, "one file, not a restarted second one");
  assert.equal((await waitForFile(server, user, files[0].id, 60_000)).status, "stored");
  const content = await fetch(`${server.url}/api/files/${files[0].id}/content`, {
    headers: user.headers,
  });
  const stored = await collect(content.body!);
  assert.equal(stored.length, bytes.length);
  assert.ok(stored.every((byte, i) => byte === bytes[i]), "the bytes stored are the bytes chosen");
}

Deno.test({
  name: "page: a 40 MiB upload whose connection drops once mid-transfer still completes",
  async fn() {
    await using session = await openSession({ cutAfterBytes: 15 * MIB });
    const { page, proxy, server, user, path, bytes } = session;
    await page.locator("#file-input").setInputFiles(path);
    const item = await waitStored(page);
    assert.equal(proxy.cuts, 1, "the link dropped once");
    assert.ok(Number(item.resumedAt) > 0, `resumed at ${item.resumedAt} %`);
    await assertStoredAsChosen(server, user, bytes);
  },
});

Deno.test({
  name: "page: after a reload mid-upload, choosing the same file again resumes it",
  async fn() {
    await using session = await openSession({ bytesPerSecond: 6 * MIB });
    const { page, server, user, path, bytes } = session;
    await page.locator("#file-input").setInputFiles(path);
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll("#uploads .upload")].some((item) =>
          Number(item.dataset.transferMax) >= 30
        ),
      undefined,
      { timeout: 60_000 },
    );
    await page.reload();
    await page.locator("#app-view").waitFor({ state: "visible" });
    const unfinished = page.locator("#unfinished-uploads .unfinished");
    await unfinished.first().waitFor();
    assert.equal(await unfinished.getAttribute("data-name"), "forty.bin");
    assert.match(await unfinished.textContent() ?? "", /Choose this file again to resume/);

    await page.locator("#file-input").setInputFiles(path);
    const status = page.locator("#uploads .upload .upload-status");
    await status.filter({ hasText: /Resumed at \d+ %/ }).waitFor();
    const item = await waitStored(page);
    assert.ok(Number(item.resumedAt) >= 10, `resumed at ${item.resumedAt} %, not from the start`);
    await assertStoredAsChosen(server, user, bytes);
    await page.locator("#unfinished-uploads").waitFor({ state: "hidden" });
  },
});
