/**
 * Shared pieces of the share-link and file-request tests: making a link
 * through the owner API, and plain public requests (no token) against it.
 */
import assert from "node:assert/strict";
import type { TestServer, TestUser } from "../test_server.ts";

/** The owner API's view of a share link. */
export interface ShareView {
  id: string;
  url: string;
  file_id: string;
  created_at: string;
  expires_at: string;
  max_downloads: number | null;
  downloads: number;
  bytes_served: number;
  has_password: boolean;
  state: string;
  downloads_left: number | null;
}

/** POSTs JSON with the user's token (or none) and returns status and parsed body. */
export async function postJson(
  server: TestServer,
  path: string,
  body: unknown,
  user?: TestUser,
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...user?.headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? JSON.parse(text) : {},
    headers: response.headers,
  };
}

/** Makes a share link and asserts 201. */
export async function createShare(
  server: TestServer,
  user: TestUser,
  fileId: string,
  options: Record<string, unknown> = {},
): Promise<ShareView> {
  const { status, body } = await postJson(server, `/api/files/${fileId}/shares`, options, user);
  assert.equal(status, 201, JSON.stringify(body));
  return body as unknown as ShareView;
}

/** The owner's current view of a link. */
export async function getShare(server: TestServer, user: TestUser, id: string) {
  const response = await fetch(`${server.url}/api/shares/${id}`, { headers: user.headers });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body as ShareView;
}

/** A public GET (no token), optionally with headers. */
export function publicGet(
  server: TestServer,
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<Response> {
  return fetch(`${server.url}${path}`, { method, headers });
}

/** Reads a response body into bytes. */
export async function bytesOf(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

/** Waits until `check` holds (the counts commit just after a response ends). */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.fail(`Condition not met within ${timeoutMs} ms`);
}
