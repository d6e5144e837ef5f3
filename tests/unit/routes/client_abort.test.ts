/**
 * isClientAbort(): only a connection error while the request body was being
 * read counts as the client going away; any other failure stays a 500.
 */
import assert from "node:assert/strict";
import { isClientAbort } from "../../../routes/client_abort.ts";

async function readBody(request: Request): Promise<Request> {
  await request.body?.getReader().read();
  return request;
}

Deno.test("isClientAbort() tells a hung-up client from a server fault", async (t) => {
  const cut = () => new Deno.errors.BadResource("Cannot read request body");
  const cases: { name: string; error: unknown; bodyRead: boolean; expected: boolean }[] = [
    { name: "BadResource while reading the body", error: cut(), bodyRead: true, expected: true },
    {
      name: "Http (reset) while reading the body",
      error: new Deno.errors.Http("unexpected EOF while reading HTTP/1 body"),
      bodyRead: true,
      expected: true,
    },
    {
      name: "a connection error as the cause",
      error: new Error("Cannot stage upload", { cause: cut() }),
      bodyRead: true,
      expected: true,
    },
    { name: "a connection error, body never read", error: cut(), bodyRead: false, expected: false },
    { name: "a TypeError", error: new TypeError("bug"), bodyRead: true, expected: false },
    {
      name: "a disk error",
      error: new Deno.errors.PermissionDenied("staging"),
      bodyRead: true,
      expected: false,
    },
    { name: "not an Error", error: "BadResource", bodyRead: true, expected: false },
  ];
  for (const { name, error, bodyRead, expected } of cases) {
    await t.step(name, async () => {
      const request = new Request("http://x/api/files", { method: "POST", body: "bytes" });
      if (bodyRead) await readBody(request);
      assert.equal(isClientAbort(error, request), expected);
    });
  }
});
