/**
 * An event stream lives no longer than the token that opened it: logout
 * (revocation) ends an open `GET /api/files/:id/events` within a recheck,
 * and a stream opened with a short-lived token ends at its `exp`, not at
 * the next recheck. The file stays `queued` (no worker), so only the token
 * can end these streams.
 */
import assert from "node:assert/strict";
import { issueToken } from "../../auth/tokens.ts";
import { signUp, startTestServer } from "../test_server.ts";
import { markedPlaintext, uploadAccepted } from "./_pipeline.ts";

/** The events route's recheck interval (routes/file_status.ts). */
const RECHECK_MS = 5_000;

/** Waits for the first `status` event of a stream, then resolves with the reader. */
async function openStream(url: string, headers: Record<string, string> = {}) {
  const response = await fetch(url, { headers });
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("event: status")) {
    const next = await reader.read();
    assert.ok(!next.done, "the stream ended before its first event");
    text += next.value;
  }
  return reader;
}

/** Resolves with the time the stream ended, or undefined if it was still open after `timeoutMs`. */
async function endTime(
  reader: ReadableStreamDefaultReader<string>,
  timeoutMs: number,
): Promise<number | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  const ended = (async () => {
    try {
      while (!(await reader.read()).done) { /* keep-alives */ }
    } catch {
      // An aborted stream has ended too.
    }
    return Date.now();
  })();
  try {
    return await Promise.race([ended, timedOut]);
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
}

Deno.test("GET /api/files/:id/events ends within a recheck after logout", async () => {
  await using server = await startTestServer(); // no worker: the file stays queued
  const user = await signUp(server);
  const record = await uploadAccepted(server, user, "raw", markedPlaintext(100));
  const reader = await openStream(`${server.url}/api/files/${record.id}/events`, user.headers);

  const logout = await fetch(`${server.url}/api/auth/logout`, {
    method: "POST",
    headers: user.headers,
  });
  assert.equal(logout.status, 204);
  const loggedOutAt = Date.now();
  const ended = await endTime(reader, RECHECK_MS * 3);
  assert.ok(ended !== undefined, "the stream was still open 15 s after logout");
  assert.ok(
    ended - loggedOutAt <= RECHECK_MS + 2_000,
    `ended ${ended - loggedOutAt} ms after logout`,
  );
});

Deno.test("GET /api/files/:id/events ends at the token's exp (?access_token= too)", async () => {
  await using server = await startTestServer();
  const user = await signUp(server);
  const record = await uploadAccepted(server, user, "raw", markedPlaintext(100));
  const url = `${server.url}/api/files/${record.id}/events`;
  const secret = server.services.secrets.jwtSecret;
  const [viaHeader, viaQuery] = await Promise.all([
    issueToken(secret, user.id, 2),
    issueToken(secret, user.id, 2),
  ]);
  const streams = await Promise.all([
    openStream(url, { Authorization: `Bearer ${viaHeader.token}` }),
    openStream(`${url}?access_token=${encodeURIComponent(viaQuery.token)}`),
  ]);
  const ends = await Promise.all(streams.map((reader) => endTime(reader, RECHECK_MS * 3)));
  for (const [i, issued] of [viaHeader, viaQuery].entries()) {
    const ended = ends[i];
    assert.ok(ended !== undefined, "the stream was still open 15 s after it opened");
    const afterExp = ended - issued.exp * 1000;
    // At exp: not before it, and well before the 5 s recheck would have noticed.
    assert.ok(afterExp >= -50, `ended ${-afterExp} ms before exp`);
    assert.ok(afterExp < 2_000, `ended ${afterExp} ms after exp`);
  }
});
