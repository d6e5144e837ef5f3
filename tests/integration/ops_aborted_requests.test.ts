/**
 * A client that hangs up mid-upload (Cancel, a reload, a lost network) is
 * not a server fault: the request is logged as `request.aborted` at warn
 * level, never `request.failed` at error level, and counted with status 499,
 * never 500 (which the 5xx alert in OPERATIONS would fire on). Sent over a
 * raw socket so the test controls exactly when the connection goes away:
 * after the headers with a declared Content-Length and part of the body.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { signUp, startTestServer, type TestServer, type TestUser } from "../test_server.ts";
import { eventually, sleep } from "./_pipeline.ts";

const DECLARED = 1024 * 1024;
const SENT = 64 * 1024;
const BOUNDARY = "coffer-abort-test";

/** How the client goes away: a close (FIN) or a reset (RST). */
type HangUp = "destroy" | "resetAndDestroy";

function requestHead(user: TestUser, form: "raw" | "multipart"): string {
  const type = form === "raw"
    ? "application/octet-stream"
    : `multipart/form-data; boundary=${BOUNDARY}`;
  const path = form === "raw" ? "/api/files?name=abandoned.bin" : "/api/files";
  const head = [
    `POST ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    `Authorization: Bearer ${user.token}`,
    `Content-Type: ${type}`,
    `Content-Length: ${DECLARED}`,
    "",
    "",
  ].join("\r\n");
  return form === "raw" ? head : head +
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="abandoned.bin"\r\n` +
    "Content-Type: application/octet-stream\r\n\r\n";
}

/** Sends the head and part of the body, waits until the server has read some, then hangs up. */
async function abandonUpload(
  server: TestServer,
  user: TestUser,
  form: "raw" | "multipart",
  hangUp: HangUp,
): Promise<void> {
  const socket: Socket = connect(Number(new URL(server.url).port), "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.on("error", () => {}); // a reset may report here; the test only hangs up
  socket.write(requestHead(user, form));
  socket.write(new Uint8Array(SENT).fill(7));
  await eventually("the upload being staged", async () => {
    return (await server.services.staging.list()).length > 0;
  });
  await sleep(50);
  socket[hangUp]();
}

async function httpRequestSamples(server: TestServer): Promise<string[]> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return text.split("\n").filter((line) => line.startsWith("coffer_http_requests_total{"));
}

const CASES: { form: "raw" | "multipart"; hangUp: HangUp }[] = [
  { form: "raw", hangUp: "destroy" },
  { form: "raw", hangUp: "resetAndDestroy" },
  { form: "multipart", hangUp: "destroy" },
  { form: "multipart", hangUp: "resetAndDestroy" },
];

Deno.test("an upload whose client hangs up is logged as request.aborted (warn) and not counted as 500", async (t) => {
  await using server = await startTestServer();
  const user = await signUp(server);
  for (const { form, hangUp } of CASES) {
    await t.step(`${form} body, ${hangUp}`, async () => {
      const before = server.logs.length;
      await abandonUpload(server, user, form, hangUp);
      const requestLine = await eventually("the request's log line", () => {
        const lines = server.logs.slice(before).map((line) => JSON.parse(line));
        return Promise.resolve(lines.find((line) => line.event === "http.request"));
      });
      const lines = server.logs.slice(before).map((line) => JSON.parse(line));
      const aborted = lines.filter((line) => line.event === "request.aborted");
      assert.equal(aborted.length, 1, JSON.stringify(lines));
      assert.equal(aborted[0].level, "warn");
      assert.equal(aborted[0].route, "/api/files");
      assert.equal(aborted[0].request_id, requestLine.request_id);
      assert.deepEqual(lines.filter((line) => line.level === "error"), []);
      assert.equal(requestLine.status, 499);
      await eventually("the staged part removed", async () => {
        return (await server.services.staging.list()).length === 0;
      });
    });
  }
  const samples = await httpRequestSamples(server);
  assert.ok(!samples.some((line) => /status="5\d\d"/.test(line)), samples.join("\n"));
  assert.ok(
    samples.includes(
      `coffer_http_requests_total{route="/api/files",method="POST",status="499"} ${CASES.length}`,
    ),
    samples.join("\n"),
  );
  assert.equal((await server.services.users.findById(user.id))?.used_bytes, 0);
});
