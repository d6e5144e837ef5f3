/**
 * Watching an upload: `GET /api/files/:id/status` polled while the worker
 * encrypts a 17 MiB file never goes backwards and ends at 100 %, and
 * `GET /api/files/:id/events` (Server-Sent Events, with a bearer header or
 * `?access_token=`) starts with the current state, ends with `stored` and
 * then closes, and keeps a long wait alive with comment lines. Another user
 * gets the same 404 as an unknown id.
 */
import assert from "node:assert/strict";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";
import { markedPlaintext, MIB, uploadAccepted } from "./_pipeline.ts";

interface StatusView {
  status: string;
  progress: { bytes_done: number; bytes_total: number; percent: number };
  error?: string;
}

/** Reads a whole SSE response (it must end by itself) into its `status` events. */
async function readEvents(response: Response, timeoutMs = 20_000): Promise<StatusView[]> {
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/event-stream/);
  const events: StatusView[] = [];
  let buffer = "";
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const timer = setTimeout(() => reader.cancel(new Error("SSE stream did not end")), timeoutMs);
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const lines = block.split("\n");
        const event = lines.find((line) => line.startsWith("event:"))?.slice(6).trim();
        const data = lines.filter((line) => line.startsWith("data:")).map((line) =>
          line.slice(5).trimStart()
        ).join("\n");
        if (event === "status") events.push(JSON.parse(data));
      }
    }
  } finally {
    clearTimeout(timer);
  }
  return events;
}

async function pollUntilDone(server: TestServer, user: TestUser, id: string) {
  const seen: StatusView[] = [];
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const response = await fetch(`${server.url}/api/files/${id}/status`, { headers: user.headers });
    assert.equal(response.status, 200);
    const view: StatusView = await response.json();
    seen.push(view);
    if (view.status === "stored" || view.status === "failed") return seen;
  }
  throw new Error(`File ${id} did not finish in time`);
}

function assertRisesTo100(seen: StatusView[], size: number): void {
  const percents = seen.map((view) => view.progress.percent);
  for (let i = 1; i < seen.length; i++) {
    assert.ok(
      seen[i].progress.bytes_done >= seen[i - 1].progress.bytes_done,
      `progress went backwards: ${percents.join(", ")}`,
    );
  }
  for (const view of seen) {
    assert.equal(view.progress.bytes_total, size);
    assert.ok(view.progress.percent >= 0 && view.progress.percent <= 100);
    assert.ok(["queued", "encrypting", "stored"].includes(view.status), view.status);
  }
  const last = seen.at(-1)!;
  assert.equal(last.status, "stored");
  assert.deepEqual(last.progress, { bytes_done: size, bytes_total: size, percent: 100 });
}

for (const s3 of [false, true]) {
  Deno.test(`GET /api/files/:id/status progress rises monotonically to 100 for a 17 MiB upload (${s3 ? "s3" : "local"} store)`, async () => {
    await using server = await startTestServer({ worker: true, s3 });
    const user = await signUp(server);
    const size = 17 * MIB;
    const record = await uploadAccepted(server, user, "raw", markedPlaintext(size));
    const seen = await pollUntilDone(server, user, record.id);
    assertRisesTo100(seen, size);
  });
}

Deno.test("GET /api/files/:id/events streams status changes, ends with stored and closes (bearer and ?access_token=)", async () => {
  await using server = await startTestServer({ worker: true, s3: true });
  const user = await signUp(server);
  const size = 17 * MIB;
  const record = await uploadAccepted(server, user, "raw", markedPlaintext(size));
  const [withHeader, withQuery] = await Promise.all([
    fetch(`${server.url}/api/files/${record.id}/events`, { headers: user.headers }),
    fetch(
      `${server.url}/api/files/${record.id}/events?access_token=${encodeURIComponent(user.token)}`,
    ),
  ]);
  for (const events of await Promise.all([readEvents(withHeader), readEvents(withQuery)])) {
    assert.ok(events.length >= 1);
    assertRisesTo100(events, size);
    assert.equal(events.filter((view) => view.status === "stored").length, 1, "one final event");
  }

  // A stream opened after the upload finished sends the final state once and ends.
  const late = await readEvents(
    await fetch(`${server.url}/api/files/${record.id}/events`, { headers: user.headers }),
  );
  assert.deepEqual(late, [{
    status: "stored",
    progress: { bytes_done: size, bytes_total: size, percent: 100 },
  }]);
});

Deno.test("GET /api/files/:id/status and /events answer another user the same 404 as an unknown id", async () => {
  await using server = await startTestServer();
  const owner = await signUp(server);
  const stranger = await signUp(server);
  const record = await uploadAccepted(server, owner, "raw", markedPlaintext(10));
  const answers = [];
  for (const path of ["status", "events"]) {
    for (const id of [record.id, "AAAAAAAAAAAAAAAAAAAAAA"]) {
      const response = await fetch(`${server.url}/api/files/${id}/${path}`, {
        headers: stranger.headers,
      });
      answers.push({ status: response.status, body: await response.json() });
    }
  }
  for (const answer of answers) assert.deepEqual(answer, answers[0]);
  assert.equal(answers[0].status, 404);
  const noToken = await fetch(`${server.url}/api/files/${record.id}/events`);
  assert.equal(noToken.status, 401);
  await noToken.body?.cancel();
});

Deno.test("GET /api/files/:id/events keeps a long wait alive with comments and no proxy buffering", async () => {
  await using server = await startTestServer(); // no worker: the file stays queued
  const user = await signUp(server);
  const record = await uploadAccepted(server, user, "raw", markedPlaintext(100));
  const response = await fetch(`${server.url}/api/files/${record.id}/events`, {
    headers: user.headers,
  });
  assert.equal(response.headers.get("X-Accel-Buffering"), "no");
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 15_000;
  try {
    while (!text.includes(": keep-alive\n\n") && Date.now() < deadline) {
      const { done, value } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    await reader.cancel();
  }
  assert.match(text, /^event: status\ndata: \{"status":"queued"/);
  assert.equal(text.match(/event: status/g)?.length, 1, "an unchanged state is not sent again");
  assert.ok(text.includes(": keep-alive\n\n"), `no keep-alive comment in ${JSON.stringify(text)}`);
});
