/**
 * Picks the AES-GCM engine once, at start-up, for the server, the worker and
 * the CLI: OpenSSL's libcrypto through FFI when it loads and passes a
 * known-answer self-test, else WebCrypto (`COFFER_CRYPTO_ENGINE=auto`, the
 * default); `openssl` makes a failure fatal, `webcrypto` never tries FFI.
 * The choice is logged once as `crypto.engine` and handed down to every
 * stream, decryptor and key ring; nothing else knows which engine runs.
 */
import { type CryptoEngine, DecryptionError, webCryptoEngine } from "./crypto/mod.ts";
import { loadOpenSslEngine } from "./crypto/openssl_engine.ts";
import type { Logger } from "./log.ts";

/** The `COFFER_CRYPTO_ENGINE` choices. */
export const ENGINE_CHOICES = ["auto", "openssl", "webcrypto"] as const;
/** One of {@linkcode ENGINE_CHOICES}. */
export type EngineChoice = typeof ENGINE_CHOICES[number];

/** What to load: the choice and an optional libcrypto path (`COFFER_LIBCRYPTO`). */
export interface EngineSettings {
  cryptoEngine: EngineChoice;
  libcrypto?: string;
}

/** The engine in use; disposing it unloads the library (WebCrypto: nothing). */
export interface SelectedEngine extends Disposable {
  engine: CryptoEngine;
  /** The libcrypto file, when the engine is OpenSSL. */
  library?: string;
}

/** `COFFER_CRYPTO_ENGINE=openssl` and the library cannot be used. */
export class EngineUnavailableError extends Error {
  constructor(reason: string) {
    super(`Cannot use COFFER_CRYPTO_ENGINE=openssl: ${reason}`);
    this.name = "EngineUnavailableError";
  }
}

const hex = (text: string) => Uint8Array.from(text.match(/../g)!, (byte) => parseInt(byte, 16));

// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 14:
// AES-256, zero key, zero IV, 16 zero bytes.
const KAT_CIPHERTEXT = hex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");

/**
 * Runs the known-answer self-test: the engine must reproduce the reference
 * ciphertext and tag, open it, and refuse it with a flipped tag bit.
 *
 * @throws {Error} saying which check failed.
 */
export async function selfTest(engine: CryptoEngine): Promise<void> {
  const key = await engine.importKey(new Uint8Array(32));
  const nonce = new Uint8Array(12);
  const sealed = await key.sealChunks(nonce, 0, new Uint8Array(16));
  if (sealed.length !== KAT_CIPHERTEXT.length || !sealed.every((b, i) => b === KAT_CIPHERTEXT[i])) {
    throw new Error("self-test: wrong AES-256-GCM ciphertext");
  }
  const opened = await key.openChunks(nonce, 0, KAT_CIPHERTEXT);
  if (opened.length !== 16 || opened.some((b) => b !== 0)) {
    throw new Error("self-test: wrong AES-256-GCM plaintext");
  }
  const forged = KAT_CIPHERTEXT.slice();
  forged[forged.length - 1] ^= 1;
  const refused = await key.openChunks(nonce, 0, forged).then(
    () => false,
    (error) => error instanceof DecryptionError,
  );
  if (!refused) throw new Error("self-test: a forged tag was accepted");
}

function loadTested(libcrypto: string | undefined): Promise<SelectedEngine> {
  const openssl = loadOpenSslEngine(libcrypto);
  return selfTest(openssl).then(
    () => ({
      engine: openssl,
      library: openssl.path,
      [Symbol.dispose]: () => openssl[Symbol.dispose](),
    }),
    (error) => {
      openssl[Symbol.dispose]();
      throw error;
    },
  );
}

/**
 * Selects the engine as `settings` ask and logs the result once.
 *
 * @param settings The choice and the library path.
 * @param log Receives `crypto.engine` (info), or one warn line when `auto`
 *   falls back to WebCrypto.
 * @returns The engine, to be disposed when the process stops.
 * @throws {EngineUnavailableError} when `openssl` was asked for and cannot
 *   be loaded or fails its self-test.
 * @example
 * ```ts
 * import { silentLogger } from "./log.ts";
 * using selected = await selectCryptoEngine({ cryptoEngine: "auto" }, silentLogger);
 * console.log(selected.engine.name); // "openssl" where libcrypto 3 loads
 * ```
 */
export async function selectCryptoEngine(
  settings: EngineSettings,
  log: Logger,
): Promise<SelectedEngine> {
  if (settings.cryptoEngine !== "webcrypto") {
    try {
      const selected = await loadTested(settings.libcrypto);
      log.info("crypto.engine", { engine: "openssl", library: selected.library });
      return selected;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (settings.cryptoEngine === "openssl") throw new EngineUnavailableError(reason);
      log.warn("crypto.engine", { engine: "webcrypto", fallback_from: "openssl", reason });
      return { engine: webCryptoEngine, [Symbol.dispose]: () => {} };
    }
  }
  log.info("crypto.engine", { engine: "webcrypto" });
  return { engine: webCryptoEngine, [Symbol.dispose]: () => {} };
}
