/**
 * Download tickets (SPEC section 11): `POST /api/files/:id/ticket` gives a
 * URL that downloads one file in one variant without a token — within its
 * lifetime only, with the owner routes' headers and `Range`; another user's
 * file gets no ticket; a download started in time finishes after the ticket
 * expired; the ticket never appears in a log line.
 */
import assert from "node:assert/strict";
import { ciphertextSize } from "../../crypto/mod.ts";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";
import {
  assertSameBytes,
  bodyBytes,
  request,
  storedCiphertext,
  uploadFile,
} from "./_files_fixture.ts";

async function ticketFor(
  server: TestServer,
  user: TestUser,
  id: string,
  variant: string,
): Promise<Response> {
  return await request(server, user, `/api/files/${id}/ticket`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ variant }),
  });
}

async function ticketUrl(server: TestServer, user: TestUser, id: string, variant: string) {
  const response = await ticketFor(server, user, id, variant);
  const body = await response.json();
  assert.equal(response.status, 201, JSON.stringify(body));
  assert.match(body.url, /^\/api\/dl\/[A-Za-z0-9_-]{43}$/);
  assert.equal(body.expires_in, server.config.ticketTtlSeconds);
  assert.equal(response.headers.get("Cache-Control"), "no-store");
  return `${server.url}${body.url}`;
}

async function statusOf(response: Promise<Response>): Promise<number> {
  const answer = await response;
  await answer.body?.cancel();
  return answer.status;
}

Deno.test("tickets: an unauthenticated GET within the lifetime downloads the file, Range → 206", async (t) => {
  await using server = await startTestServer({ worker: true });
  const alice = await signUp(server);
  const bytes = randomBytes(300 * 1024 + 7);
  const record = await uploadFile(server, alice, bytes, { name: "report.txt", type: "text/plain" });
  const owner = await request(server, alice, `/api/files/${record.id}/content`);
  await owner.body?.cancel();

  await t.step("content: the plaintext, with the owner route's headers", async () => {
    const url = await ticketUrl(server, alice, record.id, "content");
    const response = await fetch(url); // no token
    assert.equal(response.status, 200);
    for (
      const header of [
        "Content-Type",
        "Content-Disposition",
        "Content-Security-Policy",
        "Cross-Origin-Resource-Policy",
        "X-Content-Type-Options",
        "Cache-Control",
        "Accept-Ranges",
        "ETag",
        "Content-Length",
      ]
    ) assert.equal(response.headers.get(header), owner.headers.get(header), header);
    assertSameBytes(await bodyBytes(response), bytes, "content");
    // Usable again within its lifetime (a download manager's HEAD, GET, resume).
    const head = await fetch(url, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("Content-Length"), String(bytes.length));
    const ranged = await fetch(url, { headers: { Range: "bytes=100000-200000" } });
    assert.equal(ranged.status, 206);
    assert.equal(ranged.headers.get("Content-Range"), `bytes 100000-200000/${bytes.length}`);
    assertSameBytes(await bodyBytes(ranged), bytes.subarray(100000, 200001), "range");
    assert.equal(await statusOf(fetch(url, { headers: { Range: "bytes=999999999-" } })), 416);
  });

  await t.step("ciphertext: the stored object, Range passed through", async () => {
    const url = await ticketUrl(server, alice, record.id, "ciphertext");
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("Content-Disposition") ?? "", /report\.txt\.cbl/);
    const sealed = await bodyBytes(response);
    assert.equal(sealed.length, ciphertextSize(bytes.length));
    assertSameBytes(sealed, await storedCiphertext(server, alice.id, record.id), "ciphertext");
    const ranged = await fetch(url, { headers: { Range: "bytes=-100" } });
    assert.equal(ranged.status, 206);
    assertSameBytes(await bodyBytes(ranged), sealed.subarray(sealed.length - 100), "tail");
  });

  await t.step("no ticket appears in any log line", async () => {
    const url = await ticketUrl(server, alice, record.id, "content");
    await statusOf(fetch(url));
    const ticket = url.split("/").pop()!;
    assert.ok(!server.logs.some((line) => line.includes(ticket)));
    assert.ok(server.logs.some((line) => line.includes('"route":"/api/dl/:ticket"')));
  });
});

Deno.test("tickets: bound to their file and variant; another user's file gets none", async () => {
  await using server = await startTestServer({ worker: true });
  const alice = await signUp(server);
  const mallory = await signUp(server);
  const secret = await uploadFile(server, alice, randomBytes(4096), { name: "a.bin" });
  const mine = await uploadFile(server, mallory, randomBytes(100), { name: "m.bin" });

  // Another user's file, an unknown id: the same 404 as every file route, and no ticket.
  for (const id of [secret.id, "AAAAAAAAAAAAAAAAAAAAAA"]) {
    const response = await ticketFor(server, mallory, id, "content");
    const body = await response.json();
    assert.equal(response.status, 404);
    assert.equal(body.type, "https://coffer.invalid/problems/file-not-found");
  }
  assert.equal(await statusOf(ticketFor(server, alice, secret.id, "everything")), 400);
  assert.equal(
    await statusOf(fetch(`${server.url}/api/files/${secret.id}/ticket`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: '{"variant":"content"}',
    })),
    401,
  );

  // Mallory's own ticket opens Mallory's file only, in the variant asked for.
  const url = await ticketUrl(server, mallory, mine.id, "content");
  const plain = await fetch(url);
  assert.equal(plain.status, 200);
  assert.equal((await bodyBytes(plain)).length, 100, "the plaintext, not the ciphertext");
  for (
    const other of [
      `${url}/ciphertext`,
      url.replace(/.$/, (c) => (c === "A" ? "B" : "A")),
      `${server.url}/api/dl/${secret.id}`,
      `${server.url}/api/dl/`,
    ]
  ) {
    const response = await fetch(other);
    const bytes = await bodyBytes(response);
    assert.notEqual(response.status, 200, other);
    assert.notEqual(bytes.length, 100, other);
  }
  // A query cannot change the variant.
  const asked = await fetch(`${url}?variant=ciphertext`);
  assert.equal((await bodyBytes(asked)).length, 100);
  // The ticket is no token: it opens no other route.
  const ticket = url.split("/").pop()!;
  assert.equal(
    await statusOf(fetch(`${server.url}/api/files`, {
      headers: { Authorization: `Bearer ${ticket}` },
    })),
    401,
  );
  // Deleting the file ends the ticket too.
  assert.equal(
    await statusOf(request(server, mallory, `/api/files/${mine.id}`, { method: "DELETE" })),
    204,
  );
  assert.equal(await statusOf(fetch(url)), 404);
});

Deno.test("tickets: refused after their lifetime; a download started in time still finishes", async () => {
  await using server = await startTestServer({ worker: true, config: { ticketTtlSeconds: 2 } });
  const alice = await signUp(server);
  const bytes = randomBytes(2 * 1024 * 1024);
  const record = await uploadFile(server, alice, bytes);
  const expiring = await ticketUrl(server, alice, record.id, "content");
  const started = await ticketUrl(server, alice, record.id, "ciphertext");

  // Start a download, then read it slowly past the ticket's expiry.
  const response = await fetch(started);
  assert.equal(response.status, 200);
  const reader = response.body!.getReader();
  let received = 0;
  const first = await reader.read();
  received += first.value?.length ?? 0;
  await new Promise((resolve) => setTimeout(resolve, 2500));
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    received += next.value.length;
  }
  assert.equal(received, ciphertextSize(bytes.length));

  const late = await fetch(expiring);
  const problem = await late.json();
  assert.equal(late.status, 404);
  assert.equal(problem.type, "https://coffer.invalid/problems/ticket-not-found");
  assert.equal(await statusOf(fetch(started)), 404);
});
