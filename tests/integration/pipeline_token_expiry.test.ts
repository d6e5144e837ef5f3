/**
 * A transfer that started with a valid token is never cut because the token
 * expired meanwhile (SPEC section 11): the token is checked when the request
 * starts, so a raw upload whose token expires half-way is accepted, stored
 * and downloads intact — while the same token is refused afterwards.
 */
import assert from "node:assert/strict";
import { SignJWT } from "jose";
import { CLOCK_TOLERANCE_SECONDS } from "../../auth/tokens.ts";
import { postSized } from "../../cli/sized_upload.ts";
import { randomBytes } from "../helpers.ts";
import { signUp, startTestServer, waitForFile } from "../test_server.ts";
import { assertSameBytes, bodyBytes, request } from "./_files_fixture.ts";

const PIECE = 128 * 1024;
const PIECES = 40;
const PIECE_DELAY_MS = 250;

/** A body that trickles out over about `PIECES × PIECE_DELAY_MS`. */
function slowBody(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    async pull(controller) {
      if (offset >= bytes.length) return controller.close();
      await new Promise((resolve) => setTimeout(resolve, PIECE_DELAY_MS));
      controller.enqueue(bytes.slice(offset, offset + PIECE));
      offset += PIECE;
    },
  });
}

Deno.test("a raw upload whose token expires during the transfer is accepted and stored", async () => {
  const ttl = 60;
  await using server = await startTestServer({ worker: true, config: { tokenTtlSeconds: ttl } });
  const user = await signUp(server);
  // A genuine token that stops being accepted in about 5 s (the body takes about 10 s;
  // the margin lets a loaded machine start the request in time).
  const now = Math.floor(Date.now() / 1000);
  const exp = now - CLOCK_TOLERANCE_SECONDS + 5;
  const token = await new SignJWT({ sub: user.id, jti: crypto.randomUUID() })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer("coffer")
    .setAudience("coffer-api")
    .setIssuedAt(exp - ttl)
    .setExpirationTime(exp)
    .sign(server.services.secrets.jwtSecret);
  const bytes = randomBytes(PIECE * PIECES);
  const started = Date.now();
  const response = await postSized(
    `${server.url}/api/files?name=slow.bin`,
    new Headers({ Authorization: `Bearer ${token}`, "Content-Type": "application/octet-stream" }),
    { stream: slowBody(bytes), length: bytes.length },
    AbortSignal.timeout(60_000),
  );
  const record = await response.json();
  assert.equal(response.status, 202, JSON.stringify(record));
  const finished = Date.now();
  assert.ok(finished / 1000 > exp + CLOCK_TOLERANCE_SECONDS + 1, "the token expired mid-transfer");
  assert.ok(finished - started >= PIECES * PIECE_DELAY_MS);

  const expired = await fetch(`${server.url}/api/me`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  await expired.body?.cancel();
  assert.equal(expired.status, 401, "the same token is refused now");

  assert.equal((await waitForFile(server, user, record.id)).status, "stored");
  const download = await request(server, user, `/api/files/${record.id}/content`);
  assertSameBytes(await bodyBytes(download), bytes, "slow.bin");
});
