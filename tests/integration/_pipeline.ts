/**
 * Private helpers of the upload pipeline tests: plaintexts carrying a
 * recognisable marker, the two upload forms, reading back what the worker
 * stored, the staging folder, and S3 listings the ObjectStore interface does
 * not expose (unfinished multipart uploads).
 */
import assert from "node:assert/strict";
import { ListMultipartUploadsCommand, type MultipartUpload } from "@aws-sdk/client-s3";
import { startFauxqs } from "fauxqs";
import type { Config } from "../../config.ts";
import { ciphertextKey } from "../../storage/object_keys.ts";
import type { ObjectStore } from "../../storage/object_store.ts";
import { S3ObjectStore } from "../../storage/s3_store.ts";
import { collect, freePort, randomBytes } from "../helpers.ts";
import type { TestServer, TestUser } from "../test_server.ts";

export const KIB = 1024;
export const MIB = 1024 * 1024;

/** An ASCII marker the ciphertext must never contain. */
export const MARKER = new TextEncoder().encode("COFFER-PLAINTEXT-MARKER-7f3a");

/**
 * Random bytes with {@linkcode MARKER} written at the start, middle and end
 * (as much of it as fits), so a plaintext leak anywhere is found.
 */
export function markedPlaintext(length: number): Uint8Array {
  const bytes = randomBytes(length);
  const marker = MARKER.subarray(0, Math.min(MARKER.length, length));
  for (const at of [0, Math.floor((length - marker.length) / 2), length - marker.length]) {
    bytes.set(marker, Math.max(0, at));
  }
  return bytes;
}

/** Whether `needle` occurs in `haystack`. */
export function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  if (needle.length === 0) return true;
  const first = needle[0];
  for (let i = haystack.indexOf(first); i !== -1; i = haystack.indexOf(first, i + 1)) {
    if (i + needle.length > haystack.length) return false;
    let match = true;
    for (let j = 1; j < needle.length && match; j++) match = haystack[i + j] === needle[j];
    if (match) return true;
  }
  return false;
}

/** How a test sends a file. */
export type UploadMethod = "multipart" | "raw";

/** An upload's answer: status and parsed JSON body. */
export interface UploadAnswer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** Uploads `bytes` by multipart (field `file`) or as a raw body with `?name=`. */
export async function upload(
  server: TestServer,
  user: TestUser,
  method: UploadMethod,
  bytes: Uint8Array,
  name = "file.bin",
  path = "/api/files",
): Promise<UploadAnswer> {
  let response: Response;
  if (method === "multipart") {
    const form = new FormData();
    form.append("file", new Blob([bytes as BlobPart], { type: "application/octet-stream" }), name);
    response = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: user.headers,
      body: form,
    });
  } else {
    response = await fetch(`${server.url}${path}?name=${encodeURIComponent(name)}`, {
      method: "POST",
      headers: { ...user.headers, "Content-Type": "application/octet-stream" },
      body: bytes as BodyInit,
    });
  }
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** Uploads and asserts the 202; returns the record. */
export async function uploadAccepted(
  server: TestServer,
  user: TestUser,
  method: UploadMethod,
  bytes: Uint8Array,
  name?: string,
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  const answer = await upload(server, user, method, bytes, name);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  assert.equal(answer.body.status, "queued");
  return answer.body;
}

/** The stored ciphertext of a file, read straight from the object store. */
export async function storedCiphertext(
  server: TestServer,
  ownerId: string,
  fileId: string,
): Promise<Uint8Array> {
  return await collect(await server.services.store.get(ciphertextKey(ownerId, fileId)));
}

/** Ids of everything in the staging folder. */
export async function stagedIds(server: TestServer): Promise<string[]> {
  return (await server.services.staging.list()).map((file) => file.id);
}

/** Every key under `prefix` in a store. */
export async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

/** Unfinished multipart uploads under `prefix` (S3 stores only). */
export async function unfinishedUploads(
  store: ObjectStore,
  prefix = "",
): Promise<MultipartUpload[]> {
  assert.ok(store instanceof S3ObjectStore, "unfinished uploads exist only on S3");
  const page = await store.client.send(
    new ListMultipartUploadsCommand({ Bucket: store.bucket, Prefix: prefix }),
  );
  return page.Uploads ?? [];
}

/** GET a JSON resource as the user and return status and body. */
export async function getJson(
  server: TestServer,
  user: TestUser,
  path: string,
): Promise<UploadAnswer> {
  const response = await fetch(`${server.url}${path}`, { headers: user.headers });
  return { status: response.status, body: await response.json() };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `intervalMs` until it returns a truthy value or the time runs out. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
  intervalMs = 25,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(intervalMs);
  }
}

/** An in-process S3 (fauxqs) that can be stopped and started again on the same port. */
export interface RestartableS3 extends AsyncDisposable {
  endpoint: string;
  bucket: string;
  /** The `s3` section of a config pointing at this server. */
  settings: NonNullable<Config["s3"]>;
  /** Stops the server (its objects are lost: fauxqs keeps them in memory). */
  stop(): Promise<void>;
  /** Starts an empty server on the same port and creates the bucket again. */
  start(): Promise<void>;
}

/** Starts fauxqs on a free port, restartable on that port. */
export async function startRestartableS3(bucket = "coffer-test"): Promise<RestartableS3> {
  const open = (port: number) => startFauxqs({ port, logger: false, host: "127.0.0.1" });
  let server: Awaited<ReturnType<typeof open>> | undefined = await open(0);
  server.createBucket(bucket);
  const port = server.port;
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    const running = server;
    server = undefined;
    await running?.stop();
  };
  return {
    endpoint,
    bucket,
    settings: {
      endpoint,
      bucket,
      region: "us-east-1",
      accessKeyId: "test",
      secretAccessKey: "test",
    },
    stop,
    async start() {
      if (server) return;
      server = await open(port);
      server.createBucket(bucket);
    },
    [Symbol.asyncDispose]: stop,
  };
}

function findOnPath(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/**
 * `moto_server` (Python `moto[server]`, which `.ci/run` installs when it is
 * missing): unlike fauxqs it implements ListMultipartUploads, which the
 * stale-upload cleanup and the janitor rely on.
 */
export const MOTO_SERVER = findOnPath("moto_server");

/**
 * Options for the tests that need moto_server. The spec asks only for Redis
 * and Chromium on a fresh machine, so where moto_server is missing these tests
 * are skipped with a message; `.ci/run` installs it, so CI runs them.
 */
export const NEEDS_MOTO = { ignore: MOTO_SERVER === undefined };
if (MOTO_SERVER === undefined) {
  console.log("Skipping the moto_server tests: not on PATH (pip install 'moto[server]')");
}

/** The moto_server binary (only called by tests that are not skipped). */
export function motoServerPath(): string {
  if (MOTO_SERVER) return MOTO_SERVER;
  throw new Error("moto_server is not on PATH: pip install 'moto[server]' (.ci/run does)");
}

/** An S3 server running as a subprocess. */
export interface S3Process extends AsyncDisposable {
  settings: NonNullable<Config["s3"]>;
}

/** Starts `moto_server` on a free loopback port and waits until it answers. */
export async function startMoto(bucket = "coffer-moto"): Promise<S3Process> {
  const port = freePort();
  const child = new Deno.Command(motoServerPath(), {
    args: ["-H", "127.0.0.1", "-p", String(port)],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
  };
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await eventually(
      "moto_server to answer",
      async () => {
        try {
          await (await fetch(endpoint)).body?.cancel();
          return true;
        } catch {
          return false;
        }
      },
      30_000,
      100,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    settings: {
      endpoint,
      bucket,
      region: "us-east-1",
      accessKeyId: "test",
      secretAccessKey: "test",
    },
    [Symbol.asyncDispose]: stop,
  };
}
