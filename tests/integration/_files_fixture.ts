/**
 * Shared pieces of the files API tests (tests/integration/files_*.test.ts):
 * the two object stores every test runs against, uploading a file and
 * waiting until it is stored, and reading the stored ciphertext.
 */
import assert from "node:assert/strict";
import type { PublicFileRecord } from "../../storage/file_store.ts";
import { ciphertextKey } from "../../storage/object_keys.ts";
import { collect } from "../helpers.ts";
import {
  type TestServer,
  type TestServerOptions,
  type TestUser,
  waitForFile,
} from "../test_server.ts";

/** The object stores the files API must behave the same on. */
export const STORES: { name: string; options: TestServerOptions }[] = [
  { name: "local store", options: { worker: true } },
  { name: "S3 store", options: { worker: true, s3: true } },
];

/** Options of {@linkcode uploadFile}. */
export interface UploadOptions {
  name?: string;
  type?: string;
  /** Wait until the file is stored (default true). */
  wait?: boolean;
}

/** Uploads bytes as a raw body (`POST /api/files?name=`) and, by default, waits until stored. */
export async function uploadFile(
  server: TestServer,
  user: TestUser,
  bytes: Uint8Array,
  options: UploadOptions = {},
): Promise<PublicFileRecord> {
  const query = new URLSearchParams({
    name: options.name ?? "file.bin",
    type: options.type ?? "application/octet-stream",
  });
  const response = await fetch(`${server.url}/api/files?${query}`, {
    method: "POST",
    headers: user.headers,
    body: bytes as Uint8Array<ArrayBuffer>,
  });
  const record = await response.json();
  assert.equal(response.status, 202, JSON.stringify(record));
  if (options.wait === false) return record;
  const status = await waitForFile(server, user, record.id);
  assert.equal(status.status, "stored", JSON.stringify(status));
  return await getJson(server, user, `/api/files/${record.id}`);
}

/** GETs a JSON resource and asserts 200. */
export async function getJson<T>(server: TestServer, user: TestUser, path: string): Promise<T> {
  const response = await fetch(`${server.url}${path}`, { headers: user.headers });
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  return body;
}

/** A request with the user's token (the body must be consumed by the caller). */
export function request(
  server: TestServer,
  user: TestUser,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    ...init,
    headers: { ...user.headers, ...init.headers as Record<string, string> },
  });
}

/** Reads a response body into bytes. */
export async function bodyBytes(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

/** The stored ciphertext object of a file, read straight from the object store. */
export async function storedCiphertext(
  server: TestServer,
  ownerId: string,
  fileId: string,
): Promise<Uint8Array> {
  return await collect(await server.services.store.get(ciphertextKey(ownerId, fileId)));
}

/** Asserts two byte arrays are equal without printing megabytes on failure. */
export function assertSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}: first difference at byte ${i}`);
  }
}
