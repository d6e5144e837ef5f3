/**
 * crypto/ must run unchanged in browsers: relative crypto/ imports only, no
 * Deno APIs — except the one server-only engine, openssl_engine.ts, which no
 * browser-compatible module (and nothing in static/) may import.
 */

import { assert, assertEquals } from "./_assert.ts";

const CRYPTO_DIR = new URL("../../../crypto/", import.meta.url);
const STATIC_DIR = new URL("../../../static/", import.meta.url);
/** The only crypto/ module allowed to use Deno (FFI). */
const SERVER_ONLY = "openssl_engine.ts";

function cryptoSources(): [string, string][] {
  const sources: [string, string][] = [];
  for (const entry of Deno.readDirSync(CRYPTO_DIR)) {
    if (entry.isFile && entry.name.endsWith(".ts") && entry.name !== SERVER_ONLY) {
      sources.push([entry.name, Deno.readTextFileSync(new URL(entry.name, CRYPTO_DIR))]);
    }
  }
  return sources.sort();
}

/** Strips comments so that JSDoc examples do not count. */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
}

Deno.test("crypto/ modules import only relative crypto/ modules and use no Deno API", () => {
  const sources = cryptoSources();
  assert(sources.length >= 10, "crypto sources found");
  const names = new Set(sources.map(([name]) => name));
  for (const [name, source] of sources) {
    assertEquals(
      source.split("\n")[0],
      "// This module is browser compatible.",
      `${name}: first line`,
    );
    const body = code(source);
    const specifiers = [
      ...body.matchAll(/\b(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/g),
      ...body.matchAll(/\bimport\s*\(\s*["']([^"']+)["']/g),
      ...body.matchAll(/^\s*import\s*["']([^"']+)["']/gm),
    ].map((match) => match[1]);
    for (const specifier of specifiers) {
      assert(/^\.\/[\w.-]+\.ts$/.test(specifier), `${name} imports ${specifier}`);
      assert(names.has(specifier.slice(2)), `${name} imports missing ${specifier}`);
    }
    assert(!/\bDeno\s*\./.test(body), `${name} uses the Deno namespace`);
    assert(!/\brequire\s*\(/.test(body), `${name} uses require()`);
    assert(!/\bnode:/.test(body), `${name} mentions node: modules`);
  }
});

Deno.test("crypto/openssl_engine.ts is the one server-only module, imported by no browser code", () => {
  const engine = Deno.readTextFileSync(new URL(SERVER_ONLY, CRYPTO_DIR));
  assert(/\bDeno\.dlopen\b/.test(engine), "the OpenSSL engine uses FFI");
  assert(
    !engine.startsWith("// This module is browser compatible."),
    "not marked browser compatible",
  );
  for (const [name, source] of cryptoSources()) {
    assert(!code(source).includes(SERVER_ONLY), `${name} imports the server-only engine`);
  }
  const pending = [STATIC_DIR];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const entry of Deno.readDirSync(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) pending.push(url);
      else if (/\.(m?js|ts|html)$/.test(entry.name)) {
        assert(!Deno.readTextFileSync(url).includes(SERVER_ONLY), `static/${entry.name}`);
      }
    }
  }
});

Deno.test("deno.json tasks that load the OpenSSL engine may open exactly its library paths", async () => {
  const { LIBCRYPTO_CANDIDATES } = await import("../../../crypto/openssl_engine.ts");
  const config = JSON.parse(Deno.readTextFileSync(new URL("../../../deno.json", import.meta.url)));
  const expected = `--allow-ffi=${LIBCRYPTO_CANDIDATES.join(",")}`;
  for (const task of ["start", "api", "worker", "cli", "user:add", "keys:rotate", "reindex"]) {
    const flags = String(config.tasks[task]).split(" ").filter((flag) =>
      flag.startsWith("--allow-ffi")
    );
    assertEquals(flags, [expected], `deno task ${task}`);
  }
});
