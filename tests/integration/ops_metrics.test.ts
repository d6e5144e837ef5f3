/**
 * `GET /metrics`: Prometheus text with every series operators alert on,
 * counted by a real upload and download (HTTP requests by route pattern,
 * latency, uploads, bytes through the cipher, job durations, queue depth,
 * staging bytes), and the optional bearer token `COFFER_METRICS_TOKEN`.
 */
import assert from "node:assert/strict";
import { createOpsApp } from "../../app.ts";
import { collect, randomBytes } from "../helpers.ts";
import { eventually } from "./_pipeline.ts";
import {
  signUp,
  startTestServer,
  type TestServer,
  type TestUser,
  waitForFile,
} from "../test_server.ts";

const SIZE = 100 * 1024;

/** Every series Coffer promises, with its Prometheus type. */
const SERIES = {
  coffer_http_requests_total: "counter",
  coffer_http_request_duration_seconds: "histogram",
  coffer_uploads_accepted_total: "counter",
  coffer_uploads_stored_total: "counter",
  coffer_uploads_failed_total: "counter",
  coffer_bytes_encrypted_total: "counter",
  coffer_bytes_decrypted_total: "counter",
  coffer_job_duration_seconds: "histogram",
  coffer_queue_jobs: "gauge",
  coffer_staging_bytes: "gauge",
  coffer_integrity_failures_total: "counter",
  coffer_upload_retries_total: "counter",
  coffer_object_store_retries_total: "counter",
} as const;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (samples and `# TYPE` lines). */
function parseMetrics(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const type = line.match(/^# TYPE (\S+) (\S+)$/);
    if (type) types.set(type[1], type[2]);
    const sample = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
    if (!sample) continue;
    const labels = Object.fromEntries(
      [...(sample[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    samples.push({ name: sample[1], labels, value: Number(sample[3]) });
  }
  return { types, samples };
}

/** The one sample of `name` whose labels include `labels`. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((sample) =>
    sample.name === name &&
    Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
  );
  assert.equal(found.length, 1, `one ${name}${JSON.stringify(labels)} sample`);
  return found[0].value;
}

async function scrape(server: TestServer, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}/metrics`, { headers });
  assert.equal(response.status, 200);
  assert.match(response.headers.get("Content-Type") ?? "", /^text\/plain; version=0\.0\.4/);
  return parseMetrics(await response.text());
}

async function uploadFile(server: TestServer, user: TestUser, bytes: Uint8Array): Promise<string> {
  const response = await fetch(`${server.url}/api/files?name=metrics.bin`, {
    method: "POST",
    headers: { ...user.headers, "Content-Type": "application/octet-stream" },
    body: bytes as BodyInit,
  });
  assert.equal(response.status, 202);
  return (await response.json()).id;
}

Deno.test("GET /metrics exposes every series after an upload and a download", async () => {
  await using server = await startTestServer({ worker: true });
  const user = await signUp(server);
  const plaintext = randomBytes(SIZE);
  const id = await uploadFile(server, user, plaintext);
  assert.equal((await waitForFile(server, user, id)).status, "stored");
  // The record is stored inside the job; the job completes (and is counted) a moment later.
  await eventually("the job completed", async () => {
    return await (await server.services.queue.getJob(id))?.isCompleted() ?? false;
  });
  const download = await fetch(`${server.url}/api/files/${id}/content`, { headers: user.headers });
  assert.deepEqual(await collect(download.body!), plaintext);

  const { types, samples } = await scrape(server);
  for (const [name, type] of Object.entries(SERIES)) assert.equal(types.get(name), type, name);

  const requests = samples.filter((sample) => sample.name === "coffer_http_requests_total");
  const upload = { route: "/api/files", method: "POST", status: "202" };
  assert.equal(valueOf(samples, "coffer_http_requests_total", upload), 1);
  const content = requests.find((sample) =>
    sample.labels.method === "GET" && sample.labels.route.endsWith("/content")
  );
  assert.equal(content?.labels.status, "200");
  assert.ok(content.labels.route.includes(":id"), "routes are labelled by pattern");
  assert.ok(!JSON.stringify(samples).includes(id), "no file id becomes a label");
  assert.equal(
    valueOf(samples, "coffer_http_request_duration_seconds_count", {
      route: "/api/files",
      method: "POST",
    }),
    1,
  );

  assert.equal(valueOf(samples, "coffer_uploads_accepted_total"), 1);
  assert.equal(valueOf(samples, "coffer_uploads_stored_total"), 1);
  assert.equal(valueOf(samples, "coffer_uploads_failed_total"), 0);
  assert.equal(valueOf(samples, "coffer_bytes_encrypted_total"), SIZE);
  assert.equal(valueOf(samples, "coffer_bytes_decrypted_total"), SIZE);
  assert.equal(valueOf(samples, "coffer_integrity_failures_total"), 0);
  assert.equal(valueOf(samples, "coffer_upload_retries_total"), 0);
  assert.equal(valueOf(samples, "coffer_job_duration_seconds_count"), 1);
  assert.ok(valueOf(samples, "coffer_job_duration_seconds_sum") > 0);
  for (const state of ["waiting", "active", "failed"]) {
    assert.equal(valueOf(samples, "coffer_queue_jobs", { state }), 0, state);
  }
  assert.equal(valueOf(samples, "coffer_queue_jobs", { state: "completed" }), 1);
  assert.equal(valueOf(samples, "coffer_staging_bytes"), 0);
});

Deno.test("GET /metrics samples queue depth and staging bytes when scraped", async () => {
  await using server = await startTestServer(); // no worker: the job waits
  const user = await signUp(server);
  await uploadFile(server, user, randomBytes(SIZE));
  const { samples } = await scrape(server);
  assert.equal(valueOf(samples, "coffer_queue_jobs", { state: "waiting" }), 1);
  assert.equal(valueOf(samples, "coffer_staging_bytes"), SIZE);
  assert.equal(valueOf(samples, "coffer_uploads_accepted_total"), 1);
  assert.equal(valueOf(samples, "coffer_uploads_stored_total"), 0);
});

Deno.test("GET /metrics with COFFER_METRICS_TOKEN refuses a missing or wrong token and accepts the right one", async () => {
  const token = `metrics-${crypto.randomUUID()}`;
  await using server = await startTestServer({ config: { metricsToken: token } });
  const user = await signUp(server);
  const refused: Record<string, string>[] = [
    {},
    { Authorization: "Bearer" },
    { Authorization: "Bearer wrong-token" },
    { Authorization: `Bearer ${token.slice(0, -1)}` },
    { Authorization: `Bearer ${token}x` },
    { Authorization: `Basic ${btoa(`metrics:${token}`)}` },
    { Authorization: token },
    user.headers, // a user's access token is not the metrics token
  ];
  for (const headers of refused) {
    const response = await fetch(`${server.url}/metrics`, { headers });
    const body = await response.text();
    assert.equal(response.status, 401, JSON.stringify(headers));
    assert.match(response.headers.get("Content-Type") ?? "", /^application\/problem\+json/);
    assert.match(response.headers.get("WWW-Authenticate") ?? "", /^Bearer /);
    assert.ok(!body.includes("coffer_"), "no metrics in a refusal");
  }
  const { types } = await scrape(server, { Authorization: `Bearer ${token}` });
  assert.equal(types.get("coffer_http_requests_total"), "counter");
  assert.ok(!server.logs.some((line) => line.includes(token)), "the token is never logged");
});

/** Calls the app as Deno.serve would for a peer at `hostname` (no real socket needed). */
function scrapeAs(
  server: TestServer,
  hostname: string | undefined,
  headers: Record<string, string> = {},
): Promise<Response> {
  const app = createOpsApp(server.services);
  const info = hostname === undefined
    ? undefined
    : { remoteAddr: { transport: "tcp", hostname, port: 50000 }, completed: Promise.resolve() };
  return Promise.resolve(app.fetch(new Request("http://coffer.test/metrics", { headers }), info));
}

Deno.test("GET /metrics without COFFER_METRICS_TOKEN answers only unrelayed loopback peers", async (t) => {
  await using server = await startTestServer();
  const cases: { peer: string | undefined; headers?: Record<string, string>; status: number }[] = [
    { peer: "127.0.0.1", status: 200 },
    { peer: "127.0.0.2", status: 200 },
    { peer: "::1", status: 200 },
    { peer: "::ffff:127.0.0.1", status: 200 },
    { peer: "203.0.113.9", status: 403 },
    { peer: "10.0.0.5", status: 403 },
    { peer: "192.168.1.20", status: 403 },
    { peer: "2001:db8::1", status: 403 },
    { peer: "::ffff:203.0.113.9", status: 403 },
    { peer: undefined, status: 403 }, // not from Deno.serve: no peer to judge
    // A reverse proxy on this host relays remote clients from loopback.
    { peer: "127.0.0.1", headers: { "X-Forwarded-For": "203.0.113.9" }, status: 403 },
    { peer: "127.0.0.1", headers: { "Forwarded": "for=203.0.113.9" }, status: 403 },
    { peer: "127.0.0.1", headers: { "X-Forwarded-For": "127.0.0.1" }, status: 403 },
  ];
  for (const { peer, headers, status } of cases) {
    await t.step(`${peer} ${JSON.stringify(headers ?? {})} → ${status}`, async () => {
      const response = await scrapeAs(server, peer, headers);
      const body = await response.text();
      assert.equal(response.status, status);
      if (status === 403) {
        assert.match(response.headers.get("Content-Type") ?? "", /^application\/problem\+json/);
        assert.equal(JSON.parse(body).type, "https://coffer.invalid/problems/forbidden");
        assert.ok(!body.includes("coffer_"), "no metrics in a refusal");
      } else {
        assert.match(body, /coffer_http_requests_total/);
      }
    });
  }
  await t.step("through the real server, a relayed request is refused", async () => {
    const relayed = await fetch(`${server.url}/metrics`, {
      headers: { "X-Forwarded-For": "198.51.100.7" },
    });
    await relayed.body?.cancel();
    assert.equal(relayed.status, 403);
    await scrape(server); // and the direct one from 127.0.0.1 is answered
  });
});

Deno.test("GET /metrics with COFFER_METRICS_TOKEN answers the token from any peer, nothing without it", async () => {
  const token = `metrics-${crypto.randomUUID()}`;
  await using server = await startTestServer({ config: { metricsToken: token } });
  const withToken = { Authorization: `Bearer ${token}` };
  for (const peer of ["203.0.113.9", "127.0.0.1"]) {
    const allowed = await scrapeAs(server, peer, withToken);
    assert.equal(allowed.status, 200, peer);
    assert.match(await allowed.text(), /coffer_http_requests_total/);
    const refused = await scrapeAs(server, peer);
    await refused.body?.cancel();
    assert.equal(refused.status, 401, `${peer}: loopback alone is not enough once a token is set`);
  }
});
