/**
 * What a client controls never becomes a metric label or a logged path:
 * thousands of requests with distinct method names and distinct unmatched
 * paths leave `/metrics` with the same series as before, and a refused
 * request is logged by its route pattern, not by the file name in its path.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../test_server.ts";

const DISTINCT = 1000;

/** Sends `count` requests built by `request`, a few at a time; answers must be 4xx. */
async function sendAll(
  server: TestServer,
  count: number,
  request: (i: number) => { method: string; path: string },
): Promise<void> {
  const CONCURRENCY = 16;
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < count) {
      const { method, path } = request(next++);
      const response = await fetch(`${server.url}${path}`, { method });
      await response.body?.cancel();
      assert.ok(response.status >= 400 && response.status < 500, `${method} ${path}`);
    }
  }));
}

/** The HTTP series lines of a scrape (samples, not comments). */
async function httpSeries(server: TestServer): Promise<{ lines: string[]; bytes: number }> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const lines = text.split("\n").filter((line) => line.startsWith("coffer_http_"));
  return { lines, bytes: text.length };
}

/** Label values of one label over the series lines. */
function labelValues(lines: string[], label: string): Set<string> {
  const pattern = new RegExp(`${label}="([^"]*)"`);
  return new Set(lines.map((line) => pattern.exec(line)?.[1]).filter((v) => v !== undefined));
}

Deno.test("coffer_http_* series stay bounded under thousands of distinct methods and paths", async () => {
  await using server = await startTestServer();
  // One request of each kind first, so every series the flood can touch exists.
  await sendAll(server, 1, () => ({ method: "M-FIRST", path: "/no/such/path" }));
  await sendAll(server, 1, () => ({ method: "M-FIRST", path: "/api/files" }));
  await sendAll(server, 1, () => ({ method: "GET", path: "/no/such/path" }));
  await sendAll(server, 1, () => ({ method: "GET", path: "/download/first.pdf" }));
  await httpSeries(server); // and the scrape's own
  const before = await httpSeries(server);

  await sendAll(server, DISTINCT, (i) => ({ method: `M${i}`, path: `/nothing-${i}` }));
  await sendAll(server, DISTINCT, (i) => ({ method: `PROP${i}`, path: "/api/files" }));
  await sendAll(server, DISTINCT, (i) => ({ method: "GET", path: `/unmatched/${i}/x` }));
  await sendAll(server, DISTINCT, (i) => ({ method: "GET", path: `/download/f${i}.pdf` }));

  const after = await httpSeries(server);
  const seriesNames = (lines: string[]) => lines.map((line) => line.replace(/ \S+$/, ""));
  assert.deepEqual(seriesNames(after.lines), seriesNames(before.lines), "no new series");
  assert.ok(after.bytes < before.bytes + 4096, `${before.bytes} → ${after.bytes} bytes`);
  const methods = labelValues(after.lines, "method");
  assert.ok(methods.has("OTHER"), [...methods].join());
  assert.ok([...methods].every((m) => /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|OTHER)$/.test(m)));
  const routes = labelValues(after.lines, "route");
  assert.ok(routes.has("unmatched"), [...routes].join());
  assert.ok(![...routes].some((route) => /\d|first/.test(route)), [...routes].join());
});

Deno.test("a refused request is logged by its route pattern, never by its raw path", async () => {
  await using server = await startTestServer();
  const paths = [
    "/download/tax-return-2026.pdf",
    "/download_decrypted/tax-return-2026.pdf",
    "/api/files/tax-return-2026.pdf/content",
    "/tax-return-2026.pdf",
  ];
  for (const path of paths) {
    const response = await fetch(`${server.url}${path}`);
    await response.body?.cancel();
    assert.ok(response.status === 401 || response.status === 404, `${path}: ${response.status}`);
  }
  const requestLines = server.logs.map((line) => JSON.parse(line))
    .filter((line) => line.event === "http.request");
  assert.equal(requestLines.length, paths.length);
  for (const line of requestLines) assert.equal(line.path, line.route);
  assert.ok(
    !server.logs.some((line) => line.includes("tax-return")),
    server.logs.filter((line) => line.includes("tax-return")).join("\n"),
  );
});
