/**
 * The engines every format test runs against: WebCrypto and OpenSSL through
 * FFI. The suite runs with every permission, and CI machines have libcrypto
 * 3, so a failure to load OpenSSL fails these tests rather than skipping them.
 *
 * @module
 */

import { type CryptoEngine, webCryptoEngine } from "../../../crypto/mod.ts";
import { loadOpenSslEngine } from "../../../crypto/openssl_engine.ts";

/** The OpenSSL engine, loaded once for the test process. */
export const opensslEngine = loadOpenSslEngine();

/** Both engines, WebCrypto first. */
export const ENGINES: readonly CryptoEngine[] = [webCryptoEngine, opensslEngine];

/** Registers `fn` once per engine, its name suffixed with the engine's. */
export function eachEngine(
  name: string,
  fn: (engine: CryptoEngine, t: Deno.TestContext) => void | Promise<void>,
  options: { ignore?: boolean } = {},
): void {
  for (const engine of ENGINES) {
    Deno.test({
      name: `${name} [${engine.name}]`,
      ignore: options.ignore,
      fn: (t) => fn(engine, t),
    });
  }
}
