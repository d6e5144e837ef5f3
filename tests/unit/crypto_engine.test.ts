/**
 * Engine selection at start-up: OpenSSL when it loads and passes its
 * self-test, one warn line and WebCrypto when `auto` cannot load it, a
 * one-line refusal when `openssl` was asked for, and a self-test that
 * catches an engine giving wrong answers.
 */
import assert from "node:assert/strict";
import { EngineUnavailableError, selectCryptoEngine, selfTest } from "../../crypto_engine.ts";
import { type CryptoEngine, webCryptoEngine } from "../../crypto/mod.ts";
import { createLogger } from "../../log.ts";

function capture() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: createLogger((line) => lines.push(JSON.parse(line))) };
}

const MISSING = "/nonexistent/libcrypto.so.3";

Deno.test("selectCryptoEngine() uses OpenSSL under auto where libcrypto 3 loads, and logs it", async () => {
  const { lines, log } = capture();
  using selected = await selectCryptoEngine({ cryptoEngine: "auto" }, log);
  assert.equal(selected.engine.name, "openssl");
  assert.equal(lines.length, 1);
  assert.equal(lines[0].event, "crypto.engine");
  assert.equal(lines[0].engine, "openssl");
  assert.match(String(lines[0].library), /libcrypto\.(so\.3|3\.dylib)$/);
});

Deno.test("selectCryptoEngine() falls back to WebCrypto under auto with one warn line", async () => {
  const { lines, log } = capture();
  using selected = await selectCryptoEngine({ cryptoEngine: "auto", libcrypto: MISSING }, log);
  assert.equal(selected.engine, webCryptoEngine);
  assert.equal(lines.length, 1);
  assert.equal(lines[0].level, "warn");
  assert.equal(lines[0].event, "crypto.engine");
  assert.equal(lines[0].engine, "webcrypto");
  assert.match(String(lines[0].reason), new RegExp(MISSING));
});

Deno.test("selectCryptoEngine() refuses an unloadable library under openssl, in one line", async () => {
  const { lines, log } = capture();
  const error = await selectCryptoEngine({ cryptoEngine: "openssl", libcrypto: MISSING }, log)
    .then(() => undefined, (e) => e);
  assert.ok(error instanceof EngineUnavailableError);
  assert.match(
    error.message,
    /^Cannot use COFFER_CRYPTO_ENGINE=openssl: Cannot load libcrypto 3: /,
  );
  assert.equal(error.message.split("\n").length, 1);
  assert.equal(lines.length, 0);
});

Deno.test("selectCryptoEngine() never loads FFI under webcrypto", async () => {
  const { lines, log } = capture();
  using selected = await selectCryptoEngine({ cryptoEngine: "webcrypto", libcrypto: MISSING }, log);
  assert.equal(selected.engine, webCryptoEngine);
  assert.deepEqual(lines.map((line) => [line.level, line.engine]), [["info", "webcrypto"]]);
});

Deno.test("selfTest() rejects an engine that gives wrong answers or accepts forgeries", async () => {
  await selfTest(webCryptoEngine);
  const wrong = (change: (key: Awaited<ReturnType<CryptoEngine["importKey"]>>) => void) => ({
    name: "broken",
    async importKey(key: Uint8Array) {
      const inner = await webCryptoEngine.importKey(key);
      change(inner);
      return inner;
    },
  });
  const flipsOutput = wrong((key) => {
    const seal = key.sealChunks.bind(key);
    key.sealChunks = async (...args) => {
      const out = await seal(...args);
      out[0] ^= 1;
      return out;
    };
  });
  await assert.rejects(() => selfTest(flipsOutput), /wrong AES-256-GCM ciphertext/);
  const acceptsAnything = wrong((key) => {
    key.openChunks = () => Promise.resolve(new Uint8Array(16));
  });
  await assert.rejects(() => selfTest(acceptsAnything), /forged tag was accepted/);
});
