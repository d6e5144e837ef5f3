/**
 * Private to bench/: the HTTP client side of the benchmarks — sign up, the
 * two upload forms, waiting for a file to be stored, timed downloads and
 * deletes — talking to a server subprocess over loopback.
 *
 * @module
 */
import { postSized } from "../cli/sized_upload.ts";
import { multipartBody } from "./_data.ts";
import { postStream } from "./_http_post.ts";

/** No single request of a benchmark may take longer than this. */
export const REQUEST_TIMEOUT_MS = 10 * 60_000;

const requestSignal = () => AbortSignal.timeout(REQUEST_TIMEOUT_MS);

/** A signed-in benchmark user. */
export interface BenchUser {
  id: string;
  /** The access token (also in `headers`), for clients that set it themselves. */
  token: string;
  headers: Record<string, string>;
}

/** The parts of a file record the benchmarks read. */
export interface BenchRecord {
  id: string;
  size: number;
  status: string;
  created_at: string;
  stored_at?: string;
  ciphertext_size?: number;
  error?: string;
}

async function expectStatus(response: Response, status: number, what: string): Promise<void> {
  if (response.status !== status) {
    throw new Error(`Cannot ${what}: HTTP ${response.status} ${await response.text()}`);
  }
}

/** Registers a user with a random name and signs in. */
export async function signUp(url: string): Promise<BenchUser> {
  const credentials = JSON.stringify({
    username: `bench-${crypto.randomUUID().slice(0, 8)}`,
    password: "correct horse battery staple",
  });
  const headers = { "Content-Type": "application/json" };
  const registered = await fetch(`${url}/api/auth/register`, {
    method: "POST",
    headers,
    body: credentials,
    signal: requestSignal(),
  });
  await expectStatus(registered, 201, "register");
  const { id } = await registered.json();
  const issued = await fetch(`${url}/api/auth/token`, {
    method: "POST",
    headers,
    body: credentials,
    signal: requestSignal(),
  });
  await expectStatus(issued, 200, "sign in");
  const { access_token: token } = await issued.json();
  return { id, token, headers: { Authorization: `Bearer ${token}` } };
}

/** An accepted upload and the time until its 202 answer was read. */
export interface Accepted {
  record: BenchRecord;
  ms: number;
}

function accepted(status: number, text: string, start: number, what: string): Accepted {
  if (status !== 202) throw new Error(`Cannot ${what}: HTTP ${status} ${text}`);
  return { record: JSON.parse(text) as BenchRecord, ms: performance.now() - start };
}

/**
 * Uploads `size` bytes as a raw request body (`POST /api/files?name=`) with
 * Content-Length, as curl sends a file; times it to the 202.
 */
export async function uploadRaw(
  url: string,
  user: BenchUser,
  body: ReadableStream<Uint8Array>,
  size: number,
  name = "bench.bin",
): Promise<Accepted> {
  const start = performance.now();
  const { status, text } = await postStream(
    `${url}/api/files?name=${encodeURIComponent(name)}`,
    { ...user.headers, "Content-Type": "application/octet-stream" },
    body,
    size,
    REQUEST_TIMEOUT_MS,
  );
  return accepted(status, text, start, "upload");
}

/**
 * Uploads `size` bytes as multipart/form-data (field `file`) with
 * Content-Length, as a browser sends a form; times it to the 202.
 */
export async function uploadMultipart(
  url: string,
  user: BenchUser,
  data: ReadableStream<Uint8Array>,
  size: number,
  name = "bench.bin",
): Promise<Accepted> {
  const boundary = `----coffer-bench-${crypto.randomUUID()}`;
  const { body, length } = multipartBody(data, size, boundary, name);
  const start = performance.now();
  const { status, text } = await postStream(
    `${url}/api/files`,
    { ...user.headers, "Content-Type": `multipart/form-data; boundary=${boundary}` },
    body,
    length,
    REQUEST_TIMEOUT_MS,
  );
  return accepted(status, text, start, "upload (multipart)");
}

/**
 * Uploads a raw body through the CLI's own client (`postSized`: node:http
 * with Content-Length), as `deno task cli upload` sends a file; times it to
 * the 202.
 */
export async function uploadRawCli(
  url: string,
  user: BenchUser,
  body: ReadableStream<Uint8Array>,
  length: number,
  name = "bench.bin",
): Promise<Accepted> {
  const start = performance.now();
  const response = await postSized(
    `${url}/api/files?name=${encodeURIComponent(name)}`,
    new Headers({ ...user.headers, "Content-Type": "application/octet-stream" }),
    { stream: body, length },
    requestSignal(),
  );
  return accepted(response.status, await response.text(), start, "upload (CLI client)");
}

/**
 * Polls a file's record until it is `stored` (bounded by `timeoutMs`).
 *
 * @throws {Error} if it failed or did not finish in time.
 */
export async function waitStored(
  url: string,
  user: BenchUser,
  id: string,
  timeoutMs: number,
  pollMs = 100,
): Promise<BenchRecord> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await fetch(`${url}/api/files/${id}`, {
      headers: user.headers,
      signal: requestSignal(),
    });
    await expectStatus(response, 200, "read the file record");
    const record: BenchRecord = await response.json();
    if (record.status === "stored") return record;
    if (record.status === "failed") throw new Error(`Upload ${id} failed: ${record.error}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  throw new Error(`Upload ${id} was not stored within ${timeoutMs} ms`);
}

/** Milliseconds from a record's `created_at` (queued) to its `stored_at`. */
export function queuedToStoredMs(record: BenchRecord): number {
  return Date.parse(record.stored_at ?? "") - Date.parse(record.created_at);
}

/** A drained download: bytes, total time and time to the first body byte. */
export interface Downloaded {
  bytes: number;
  ms: number;
  ttfbMs: number;
}

/** Downloads `path` (e.g. `/api/files/ID/content`), optionally with a Range header. */
export async function download(
  url: string,
  user: BenchUser,
  path: string,
  range?: string,
): Promise<Downloaded> {
  const headers: Record<string, string> = { ...user.headers };
  if (range) headers.Range = `bytes=${range}`;
  const start = performance.now();
  const response = await fetch(`${url}${path}`, { headers, signal: requestSignal() });
  await expectStatus(response, range ? 206 : 200, `download ${path}`);
  const reader = response.body!.getReader();
  let ttfbMs = NaN;
  let bytes = 0;
  for (let result = await reader.read(); !result.done; result = await reader.read()) {
    if (bytes === 0) ttfbMs = performance.now() - start;
    bytes += result.value.length;
  }
  return { bytes, ms: performance.now() - start, ttfbMs };
}

/** Deletes a file (its object, sidecar and record). */
export async function deleteFile(url: string, user: BenchUser, id: string): Promise<void> {
  const response = await fetch(`${url}/api/files/${id}`, {
    method: "DELETE",
    headers: user.headers,
    signal: requestSignal(),
  });
  await expectStatus(response, 204, "delete");
}
