/** crypto/ must run unchanged in browsers: relative crypto/ imports only, no Deno APIs. */

import { assert, assertEquals } from "./_assert.ts";

const CRYPTO_DIR = new URL("../../../crypto/", import.meta.url);

function cryptoSources(): [string, string][] {
  const sources: [string, string][] = [];
  for (const entry of Deno.readDirSync(CRYPTO_DIR)) {
    if (entry.isFile && entry.name.endsWith(".ts")) {
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
