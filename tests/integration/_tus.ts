/**
 * Helpers for the tus tests: raw protocol requests (fetch, with the version
 * header and the token), a creation shortcut, and base64 of text for
 * `Upload-Metadata`.
 */
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import type { TestServer, TestUser } from "../test_server.ts";

/** Base64 of UTF-8 text (metadata values). */
export function b64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

/** One tus request: `Tus-Resumable: 1.0.0` and the user's token unless overridden. */
export async function tus(
  server: TestServer,
  user: TestUser | undefined,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: BodyInit,
): Promise<Response> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { "Tus-Resumable": "1.0.0", ...user?.headers, ...headers },
    body,
  });
  await response.body?.cancel();
  return response;
}

/** Creates an upload of `length` bytes named `name`; returns its path. */
export async function createUpload(
  server: TestServer,
  user: TestUser,
  length: number,
  name = "file.bin",
): Promise<string> {
  const created = await tus(server, user, "POST", "/api/uploads", {
    "Upload-Length": String(length),
    "Upload-Metadata": `filename ${b64(name)},filetype ${b64("application/octet-stream")}`,
  });
  assert.equal(created.status, 201);
  const location = created.headers.get("Location");
  assert.match(location ?? "", /^\/api\/uploads\/[A-Za-z0-9_-]{22}$/);
  return location!;
}

/** PATCHes `bytes` at `offset`. */
export function patch(
  server: TestServer,
  user: TestUser,
  path: string,
  offset: number,
  bytes: Uint8Array,
  headers: Record<string, string> = {},
): Promise<Response> {
  return tus(server, user, "PATCH", path, {
    "Upload-Offset": String(offset),
    "Content-Type": "application/offset+octet-stream",
    ...headers,
  }, bytes as BodyInit);
}

/** The upload's offset, as HEAD tells it. */
export async function offsetOf(server: TestServer, user: TestUser, path: string): Promise<number> {
  const head = await tus(server, user, "HEAD", path);
  assert.equal(head.status, 200);
  return Number(head.headers.get("Upload-Offset"));
}

/**
 * A PATCH sent with its Content-Length (through node:http: Deno's fetch
 * would send a stream chunked) whose body pauses half-way for `pauseMs`.
 * Resolves with the answer, even if the server cut the body short.
 */
export function pausingPatch(
  url: string,
  headers: Record<string, string>,
  offset: number,
  body: Uint8Array,
  pauseMs: number,
): Promise<{ status: number; offset: string | undefined; at: number }> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const request = httpRequest(url, {
      method: "PATCH",
      headers: {
        "Tus-Resumable": "1.0.0",
        ...headers,
        "Upload-Offset": String(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": String(body.length),
      },
    }, (answer) => {
      answered = true;
      answer.resume();
      answer.on("end", () => {
        resolve({
          status: answer.statusCode ?? 0,
          offset: answer.headers["upload-offset"] as string | undefined,
          at: Date.now(),
        });
        request.destroy();
      });
    });
    request.on("error", (error) => {
      if (!answered) reject(error);
    });
    const half = Math.floor(body.length / 2);
    request.write(body.subarray(0, half));
    setTimeout(() => {
      if (!answered && !request.destroyed) request.end(body.subarray(half));
    }, pauseMs);
  });
}
