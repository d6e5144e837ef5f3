/**
 * Scale-out on one machine: two API processes and two worker processes,
 * each started with the exact command of its `deno task api` / `deno task
 * worker`, share one Redis (a unique prefix), one bucket (fauxqs in this test
 * process), one staging dir and one set of keys. Twenty files uploaded
 * through both APIs at once must be processed by both workers, stored
 * exactly once each, and download intact through either API.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../../log.ts";
import { CIPHERTEXT_PREFIX } from "../../storage/object_keys.ts";
import { createS3ObjectStore } from "../../storage/s3_store.ts";
import {
  collect,
  flushPrefix,
  randomBytes,
  randomKeyBase64,
  startS3,
  tempDir,
  TEST_REDIS_URL,
  uniquePrefix,
} from "../helpers.ts";
import { CofferProcess, taskCommand } from "./_processes.ts";

const FILES = 20;
const KIB = 1024;

async function json(response: Response) {
  const body = await response.json();
  assert.ok(response.ok, `${response.url}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

Deno.test("2 API and 2 worker processes share Redis, bucket, staging and keys: every upload stored once", async () => {
  await using s3 = await startS3();
  await using data = await tempDir();
  const prefix = uniquePrefix();
  const env: Record<string, string> = {
    PATH: Deno.env.get("PATH") ?? "",
    NO_COLOR: "1",
    RUST_BACKTRACE: "0",
    HOST: "127.0.0.1",
    PORT: "0",
    COFFER_DATA_DIR: data.path,
    REDIS_URL: TEST_REDIS_URL,
    COFFER_REDIS_PREFIX: prefix,
    S3_ENDPOINT: s3.endpoint,
    S3_BUCKET: s3.bucket,
    S3_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    COFFER_MASTER_KEYS: `k1:${randomKeyBase64()}`,
    COFFER_JWT_SECRET: randomKeyBase64(),
    COFFER_WORKER_CONCURRENCY: "1",
    // All twenty uploads of one user at once: more than the default per-user limit of 8.
    COFFER_MAX_CONCURRENT_UPLOADS: String(FILES),
  };
  for (const name of ["HOME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const processes: CofferProcess[] = [];
  try {
    const apis = ["api-1", "api-2"].map((name) => new CofferProcess(name, taskCommand("api"), env));
    const workers = ["worker-1", "worker-2"].map((name) =>
      new CofferProcess(name, taskCommand("worker"), env)
    );
    processes.push(...apis, ...workers);
    const urls = await Promise.all(
      apis.map(async (api) => (await api.waitFor("api.listening")).url as string),
    );
    await Promise.all(workers.map((worker) => worker.waitFor("process.started")));

    const credentials = JSON.stringify({
      username: `scale-${crypto.randomUUID().slice(0, 8)}`,
      password: "correct horse battery staple",
    });
    const post = { method: "POST", headers: { "Content-Type": "application/json" } };
    const owner = await json(
      await fetch(`${urls[0]}/api/auth/register`, { ...post, body: credentials }),
    );
    // A token from one API must work on the other: both hold the same JWT secret.
    const { access_token: token } = await json(
      await fetch(`${urls[1]}/api/auth/token`, { ...post, body: credentials }),
    );
    const auth = { Authorization: `Bearer ${token}` };

    const plaintexts = Array.from({ length: FILES }, (_, i) => randomBytes((64 + 10 * i) * KIB));
    const records = await Promise.all(plaintexts.map(async (bytes, i) =>
      json(
        await fetch(`${urls[i % 2]}/api/files?name=file-${i}.bin`, {
          method: "POST",
          headers: { ...auth, "Content-Type": "application/octet-stream" },
          body: bytes as BodyInit,
        }),
      )
    ));
    const ids: string[] = records.map((record) => record.id);
    assert.equal(new Set(ids).size, FILES);

    const deadline = Date.now() + 30_000;
    for (const [i, id] of ids.entries()) {
      let status: string;
      do {
        ({ status } = await json(
          await fetch(`${urls[i % 2]}/api/files/${id}/status`, { headers: auth }),
        ));
        if (status !== "stored") await new Promise((resolve) => setTimeout(resolve, 50));
      } while (status !== "stored" && status !== "failed" && Date.now() < deadline);
      assert.equal(status, "stored", `file ${i}`);
    }

    const storedBy = workers.map((worker) =>
      worker.events("job.stored").map((line) => line.file_id)
    );
    for (const [i, stored] of storedBy.entries()) {
      assert.ok(
        stored.length >= 1,
        `worker-${i + 1} stored no file (${storedBy.map((s) => s.length)})`,
      );
    }
    assert.deepEqual(storedBy.flat().sort(), [...ids].sort(), "each file is stored exactly once");

    const store = await createS3ObjectStore(
      {
        endpoint: s3.endpoint,
        bucket: s3.bucket,
        region: "us-east-1",
        accessKeyId: "test",
        secretAccessKey: "test",
      },
      silentLogger,
    );
    try {
      const keys: string[] = [];
      for await (const object of store.list(CIPHERTEXT_PREFIX)) keys.push(object.key);
      assert.deepEqual(keys.sort(), ids.map((id) => `files/${owner.id}/${id}`).sort());
    } finally {
      await store.close();
    }

    for (const [i, id] of ids.entries()) {
      for (const url of urls) {
        const response = await fetch(`${url}/api/files/${id}/content`, { headers: auth });
        assert.equal(response.status, 200, `file ${i} from ${url}`);
        assert.deepEqual(await collect(response.body!), plaintexts[i], `file ${i} from ${url}`);
      }
    }
    assert.deepEqual([...Deno.readDirSync(`${data.path}/staging`)], [], "staging is empty");
    for (const process of processes) {
      const errors = process.lines.filter((line) => line.level === "error");
      assert.deepEqual(errors, [], `${process.name} logged errors`);
    }
  } finally {
    await Promise.all(processes.map((process) => process.stop()));
    await flushPrefix(prefix);
  }
});
