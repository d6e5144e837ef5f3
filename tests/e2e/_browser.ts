/**
 * Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven
 * by playwright-core (never a downloaded browser). A missing binary fails at
 * once with a message that says how to install it, instead of a launch that
 * hangs or a cryptic spawn error.
 */
import { type Browser, chromium } from "playwright-core";

/** Where CI (.ci/run) installs Chromium. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/**
 * Launches headless Chromium. Dispose the result (`await using`) to close it.
 *
 * @param executablePath The Chromium binary (default {@linkcode CHROMIUM_PATH}).
 * @returns The browser.
 * @throws {Error} at once if the binary is missing, or if the launch takes over 20 s.
 */
export async function launchChromium(executablePath = CHROMIUM_PATH): Promise<Browser> {
  try {
    const info = await Deno.stat(executablePath);
    if (!info.isFile) throw new Error("not a file");
  } catch {
    throw new Error(
      `Cannot run the browser tests: Chromium not found at ${executablePath}; ` +
        "install it with `apt-get update && apt-get install -y chromium` (.ci/run does this)",
    );
  }
  return await chromium.launch({ executablePath, args: FLAGS, timeout: 20_000 });
}
