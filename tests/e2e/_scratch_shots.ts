/// <reference lib="dom" />
import { Buffer } from "node:buffer";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer } from "../test_server.ts";
import { launchChromium } from "./_browser.ts";

await using server = await startTestServer({
  worker: true,
  config: { quotaBytes: 2 * 1024 * 1024 },
});
await using browser = await launchChromium();
for (const scheme of ["light", "dark"] as const) {
  const context = await browser.newContext({
    viewport: { width: 375, height: 812 },
    colorScheme: scheme,
  });
  const page = await context.newPage();
  page.on("console", (m) => console.log("console:", m.text()));
  await page.goto(server.url);
  await page.screenshot({ path: `/tmp/scratch/auth-${scheme}.png` });
  await page.getByLabel("Username").fill("Bad Name!");
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.screenshot({ path: `/tmp/scratch/auth-error-${scheme}.png` });
  const user = await signUp(server);
  await page.getByLabel("Username").fill(user.username);
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.locator("#app-view").waitFor();
  await page.locator("#file-input").setInputFiles([
    {
      name: "a-very-long-file-name-without-any-spaces-that-goes-on-and-on-forever.tar.gz",
      mimeType: "application/octet-stream",
      buffer: Buffer.from(randomBytes(1000)),
    },
    {
      name: "too-big.iso",
      mimeType: "application/octet-stream",
      buffer: Buffer.from(randomBytes(3 * 1024 * 1024)),
    },
  ]);
  await page.waitForTimeout(1500);
  await page.setViewportSize({ width: 375, height: 812 });
  await page.screenshot({ path: `/tmp/scratch/errors-375-${scheme}.png`, fullPage: true });
  await page.setViewportSize({ width: 1100, height: 800 });
  await page.screenshot({ path: `/tmp/scratch/errors-wide-${scheme}.png`, fullPage: true });
  await context.close();
}
