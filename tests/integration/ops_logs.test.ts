/**
 * Structured logs: through a whole session — register, a failed and a good
 * login, upload (multipart and raw), progress over SSE with `?access_token=`,
 * downloads, key export, the compatible endpoints, logout — every captured
 * line is one JSON object, every request line carries the request id the
 * response returned in `X-Request-Id`, and no line holds a secret: the token,
 * the passwords, the exported data key, the master key, the JWT secret or a
 * byte of the plaintext.
 */
import assert from "node:assert/strict";
import { collect } from "../helpers.ts";
import { startTestServer, type TestServer, waitForFile } from "../test_server.ts";
import { markedPlaintext, MARKER } from "./_pipeline.ts";

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromHex = (text: string) => Uint8Array.from(text.match(/../g)!, (pair) => parseInt(pair, 16));

/** Sends requests and remembers each response's status and `X-Request-Id`. */
class Session {
  readonly answered: { id: string; status: number; path: string }[] = [];
  token = "";

  constructor(readonly server: TestServer) {}

  async send(path: string, init: RequestInit = {}, auth = true): Promise<Response> {
    const headers = new Headers(init.headers);
    if (auth && this.token) headers.set("Authorization", `Bearer ${this.token}`);
    const response = await fetch(`${this.server.url}${path}`, { ...init, headers });
    const id = response.headers.get("X-Request-Id");
    assert.ok(id, `${path} answered without X-Request-Id`);
    this.answered.push({ id, status: response.status, path: new URL(response.url).pathname });
    return response;
  }

  json(path: string, body: unknown): Promise<Response> {
    return this.send(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  }
}

Deno.test("logs are JSON lines with the response's request id and never a secret or plaintext", async () => {
  await using server = await startTestServer({ worker: true, s3: true });
  const session = new Session(server);
  const username = `logs-${crypto.randomUUID().slice(0, 8)}`;
  const password = `pw-${crypto.randomUUID()}`;
  const wrongPassword = `wrong-${crypto.randomUUID()}`;
  const plaintext = markedPlaintext(200 * 1024);

  assert.equal((await session.json("/api/auth/register", { username, password })).status, 201);
  const refused = await session.json("/api/auth/token", { username, password: wrongPassword });
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  const login = await session.json("/api/auth/token", { username, password });
  session.token = (await login.json()).access_token;
  assert.ok(session.token);
  await (await session.send("/api/me")).body?.cancel();

  const form = new FormData();
  form.append("file", new Blob([plaintext as BlobPart]), "secret-report.pdf");
  const chosenId = "ops-log-test.request-1";
  const uploaded = await session.send("/api/files", {
    method: "POST",
    body: form,
    headers: { "X-Request-Id": chosenId },
  });
  assert.equal(uploaded.status, 202);
  assert.equal(uploaded.headers.get("X-Request-Id"), chosenId, "a well-formed incoming id is kept");
  const { id } = await uploaded.json();

  // EventSource cannot send headers, so the SSE route takes the token in the query string.
  const events = await session.send(
    `/api/files/${id}/events?access_token=${encodeURIComponent(session.token)}`,
    {},
    false,
  );
  assert.equal(events.status, 200);
  assert.match(await events.text(), /"status":"stored"/);
  const user = {
    id: "",
    username,
    token: session.token,
    headers: { Authorization: `Bearer ${session.token}` },
  };
  assert.equal((await waitForFile(server, user, id)).status, "stored");

  const content = await session.send(`/api/files/${id}/content`);
  assert.deepEqual(await collect(content.body!), plaintext);
  await (await session.send(`/api/files/${id}/ciphertext`)).arrayBuffer();
  const ranged = await session.send(`/api/files/${id}/content`, {
    headers: { Range: "bytes=10-99" },
  });
  assert.equal(ranged.status, 206);
  await ranged.arrayBuffer();
  const exported = await (await session.send(`/api/files/${id}/key`)).json();
  assert.match(exported.key, /^[0-9a-f]{64}$/);
  const raw = await session.send("/api/files?name=raw.bin", {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream" },
    body: plaintext as BodyInit,
  });
  assert.equal(raw.status, 202);
  await raw.body?.cancel();
  await (await session.send("/list_files")).body?.cancel();
  await (await session.send("/download_decrypted/secret-report.pdf")).arrayBuffer();
  const forged = await session.send("/api/me", { headers: { "X-Request-Id": "bad id <script>" } });
  assert.notEqual(
    forged.headers.get("X-Request-Id"),
    "bad id <script>",
    "a malformed id is replaced",
  );
  await forged.body?.cancel();
  assert.equal((await session.send("/api/auth/logout", { method: "POST" })).status, 204);

  const lines = server.logs.map((line, i) => {
    let parsed;
    assert.doesNotThrow(() => parsed = JSON.parse(line), `line ${i} is not JSON: ${line}`);
    assert.ok(!line.includes("\n"), "one event per line");
    return parsed as unknown as Record<string, unknown>;
  });
  for (const line of lines) {
    assert.equal(typeof line.time, "string");
    assert.match(String(line.level), /^(info|warn|error)$/);
    assert.equal(typeof line.event, "string");
  }
  assert.deepEqual(
    lines.filter((line) => line.level === "error"),
    [],
    "a normal session logs no error",
  );

  const requestLines = lines.filter((line) => line.event === "http.request");
  for (const answer of session.answered) {
    const matching = requestLines.filter((line) => line.request_id === answer.id);
    assert.equal(matching.length, 1, `one request line for ${answer.path} (${answer.id})`);
    assert.equal(matching[0].status, answer.status, answer.path);
    // The compatible download routes name a file in the path: only their pattern is logged.
    const logged = answer.path.startsWith("/download")
      ? answer.path.replace(/\/[^/]+$/, "/:filename")
      : answer.path;
    assert.equal(matching[0].path, logged);
  }
  for (const line of requestLines) assert.match(String(line.request_id), /^[A-Za-z0-9._-]{1,64}$/);
  assert.ok(
    requestLines.every((line) => !String(line.path).includes("secret-report")),
    "file names from compatible download paths stay out of the logs",
  );
  for (
    const event of [
      "auth.registered",
      "auth.token_issued",
      "upload.accepted",
      "job.started",
      "job.stored",
    ]
  ) {
    assert.ok(lines.some((line) => line.event === event), `${event} is logged`);
  }

  const { masterKeys, jwtSecret } = server.config;
  const secrets: Record<string, string> = {
    "access token": session.token,
    "token signature": session.token.split(".")[2],
    password,
    "wrong password": wrongPassword,
    "exported key (hex)": exported.key,
    "exported key (base64)": base64(fromHex(exported.key)),
    "master key (base64)": base64(masterKeys![0].key),
    "master key (hex)": hex(masterKeys![0].key),
    "JWT secret (base64)": base64(jwtSecret!),
    "JWT secret (hex)": hex(jwtSecret!),
    "plaintext marker": new TextDecoder().decode(MARKER),
    "query token": "access_token=",
  };
  const everything = server.logs.join("\n");
  for (const [what, secret] of Object.entries(secrets)) {
    assert.ok(secret.length >= 12, `${what} is long enough to search for`);
    assert.ok(!everything.includes(secret), `the logs contain the ${what}`);
  }
});
