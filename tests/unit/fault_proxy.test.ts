/**
 * The fault proxy the failure tests put between Coffer and S3: each fault
 * does what its name says against a small HTTP server, rules expire after
 * their count, and connections are released when clients let go.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { startFaultProxy } from "../fault_proxy.ts";
import { s3Operation } from "../s3_operation.ts";

const BODY = new Uint8Array(100_000).map((_, i) => i % 251);

/** An upstream that answers GET with {@linkcode BODY} and POST with the size of what it read. */
function startUpstream() {
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    hits++;
    if (req.method === "POST") {
      const size = (await req.arrayBuffer()).byteLength;
      return new Response(`read ${size}`);
    }
    return new Response(BODY, { headers: { "content-type": "application/octet-stream" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    hits: () => hits,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

async function readUpTo(body: ReadableStream<Uint8Array>, ms: number) {
  const reader = body.getReader();
  let bytes = 0;
  let ended: "done" | "error" | "silent" = "silent";
  const deadline = Date.now() + ms;
  while (true) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = await Promise.race([
      reader.read().then((result) => result, () => "error" as const),
      new Promise<"silent">((resolve) => timer = setTimeout(() => resolve("silent"), left)),
    ]);
    clearTimeout(timer);
    if (next === "error" || next === "silent") {
      ended = next;
      break;
    }
    if (next.done) {
      ended = "done";
      break;
    }
    bytes += next.value.length;
  }
  await reader.cancel().catch(() => {});
  return { bytes, ended };
}

async function eventuallyZero(count: () => number) {
  for (let i = 0; i < 200 && count() !== 0; i++) await new Promise((r) => setTimeout(r, 10));
  return count();
}

Deno.test("startFaultProxy() passes requests and answers through, one exchange per connection", async () => {
  await using upstream = startUpstream();
  await using proxy = startFaultProxy(upstream.url);
  const got = await fetch(`${proxy.endpoint}/bucket/key?x=1`);
  assert.equal(got.status, 200);
  assert.equal(got.headers.get("connection"), "close");
  assert.deepEqual(new Uint8Array(await got.arrayBuffer()), BODY);
  const posted = await fetch(`${proxy.endpoint}/bucket/key`, { method: "POST", body: BODY });
  assert.equal(await posted.text(), `read ${BODY.length}`);
  assert.deepEqual(proxy.requests.map((r) => [r.method, r.path, r.query.get("x"), r.fault]), [
    ["GET", "/bucket/key", "1", undefined],
    ["POST", "/bucket/key", null, undefined],
  ]);
  assert.equal(await eventuallyZero(proxy.openConnections), 0);
});

Deno.test("startFaultProxy() answers an S3 error for the next N matching requests, then passes", async () => {
  await using upstream = startUpstream();
  await using proxy = startFaultProxy(upstream.url);
  const rule = proxy.add({
    match: (r) => r.method === "POST",
    fault: { kind: "status", status: 503, code: "SlowDown" },
    times: 2,
  });
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    const answer = await fetch(`${proxy.endpoint}/b/k`, { method: "POST", body: BODY });
    const text = await answer.text();
    statuses.push(answer.status);
    if (answer.status === 503) assert.match(text, /<Code>SlowDown<\/Code>/);
  }
  assert.deepEqual(statuses, [503, 503, 200]);
  assert.equal(rule.hits, 2);
  assert.equal(upstream.hits(), 1, "faulted requests never reach the server");
  const got = await fetch(`${proxy.endpoint}/b/k`);
  assert.equal(got.status, 200, "a GET did not match the rule");
  await got.body?.cancel();
});

Deno.test("startFaultProxy() hangs: the request is read and never answered", async () => {
  await using upstream = startUpstream();
  await using proxy = startFaultProxy(upstream.url);
  proxy.add({ fault: { kind: "hang" }, times: 1 });
  await assert.rejects(
    fetch(`${proxy.endpoint}/b/k`, {
      method: "POST",
      body: BODY,
      signal: AbortSignal.timeout(300),
    }),
    (error: Error) => error.name === "TimeoutError",
  );
  assert.equal(upstream.hits(), 0);
  assert.equal(await eventuallyZero(proxy.openConnections), 0, "released once the client gives up");
});

Deno.test("startFaultProxy() drops a connection without an answer", async () => {
  await using upstream = startUpstream();
  await using proxy = startFaultProxy(upstream.url);
  proxy.add({ fault: { kind: "drop" } });
  await assert.rejects(fetch(`${proxy.endpoint}/b/k`));
  assert.equal(upstream.hits(), 0);
});

Deno.test("startFaultProxy() delays a request until a promise settles", async () => {
  await using upstream = startUpstream();
  await using proxy = startFaultProxy(upstream.url);
  const { promise: released, resolve: release } = Promise.withResolvers<void>();
  proxy.add({ fault: { kind: "delay", until: released }, times: 1 });
  let answered = false;
  const answer = fetch(`${proxy.endpoint}/b/k`).then((response) => {
    answered = true;
    return response;
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(answered, false);
  assert.equal(upstream.hits(), 0);
  release();
  const response = await answer;
  assert.equal((await response.arrayBuffer()).byteLength, BODY.length);
});

Deno.test("startFaultProxy() applies a delay's `then` fault once the wait is over", async () => {
  await using upstream = startUpstream();
  await using proxy = startFaultProxy(upstream.url);
  proxy.add({ fault: { kind: "delay", ms: 50, then: { kind: "drop" } }, times: 1 });
  await assert.rejects(fetch(`${proxy.endpoint}/b/k`));
  assert.equal(upstream.hits(), 0);
  const next = await fetch(`${proxy.endpoint}/b/k`);
  assert.equal(next.status, 200, "the rule is used up");
  await next.body?.cancel();
});

for (const afterBytes of [0, 1, 4096, 50_000]) {
  Deno.test(`startFaultProxy() stalls an answer after ${afterBytes} body bytes`, async () => {
    await using upstream = startUpstream();
    await using proxy = startFaultProxy(upstream.url);
    proxy.add({ fault: { kind: "stall", afterBytes } });
    const response = await fetch(`${proxy.endpoint}/b/k`);
    assert.equal(response.status, 200);
    assert.deepEqual(await readUpTo(response.body!, 300), { bytes: afterBytes, ended: "silent" });
    assert.equal(
      await eventuallyZero(proxy.openConnections),
      0,
      "released once the client cancels",
    );
  });

  Deno.test(`startFaultProxy() cuts an answer after ${afterBytes} body bytes`, async () => {
    await using upstream = startUpstream();
    await using proxy = startFaultProxy(upstream.url);
    proxy.add({ fault: { kind: "reset", afterBytes } });
    const response = await fetch(`${proxy.endpoint}/b/k`);
    assert.equal(response.status, 200);
    assert.deepEqual(await readUpTo(response.body!, 5000), { bytes: afterBytes, ended: "error" });
  });
}

Deno.test("startFaultProxy() passes 100 Continue through before the final answer", async () => {
  await using upstream = startUpstream();
  await using proxy = startFaultProxy(upstream.url);
  const { port } = new URL(proxy.endpoint);
  const seen: number[] = [];
  const text = await new Promise<string>((resolve, reject) => {
    const req = httpRequest({
      host: "127.0.0.1",
      port: Number(port),
      method: "POST",
      path: "/b/k",
      headers: { "content-length": String(BODY.length), expect: "100-continue" },
    }, (res) => {
      seen.push(res.statusCode!);
      let body = "";
      res.on("data", (chunk) => body += chunk);
      res.on("end", () => resolve(body));
    });
    req.on("continue", () => {
      seen.push(100);
      req.end(BODY);
    });
    req.on("error", reject);
  });
  assert.deepEqual(seen, [100, 200]);
  assert.equal(text, `read ${BODY.length}`);
});

Deno.test("s3Operation() names path-style S3 requests", () => {
  const cases: [string, string, string][] = [
    ["HEAD", "/b", "HeadBucket"],
    ["GET", "/b?list-type=2&prefix=files/", "ListObjectsV2"],
    ["GET", "/b?uploads&prefix=files/", "ListMultipartUploads"],
    ["HEAD", "/b/files/u/f", "HeadObject"],
    ["GET", "/b/files/u/f", "GetObject"],
    ["PUT", "/b/files/u/f", "PutObject"],
    ["DELETE", "/b/files/u/f", "DeleteObject"],
    ["POST", "/b/files/u/f?uploads", "CreateMultipartUpload"],
    ["PUT", "/b/files/u/f?partNumber=2&uploadId=x", "UploadPart"],
    ["POST", "/b/files/u/f?uploadId=x", "CompleteMultipartUpload"],
    ["DELETE", "/b/files/u/f?uploadId=x", "AbortMultipartUpload"],
  ];
  for (const [method, target, expected] of cases) {
    const url = new URL(target, "http://s3");
    assert.equal(
      s3Operation({ method, path: url.pathname, query: url.searchParams }),
      expected,
      `${method} ${target}`,
    );
  }
});
