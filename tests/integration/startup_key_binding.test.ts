/**
 * A Redis prefix is bound to the master keys it was created with (SPEC §15,
 * issue 15 item 12): a second instance on the same prefix with other keys —
 * the quick start's defaults in another data dir — refuses to start with one
 * line naming the prefix, instead of taking the first one's jobs; rotation
 * (a new key first, the old one kept, later the new one alone) still starts.
 * Generated key ids come from the key's fingerprint, not `k1`.
 */
import assert from "node:assert/strict";
import type { MasterKeySpec } from "../../config.ts";
import { silentLogger } from "../../log.ts";
import { loadSecrets } from "../../storage/generated_secrets.ts";
import { generatedKeyId, keyFingerprint } from "../../storage/key_fingerprint.ts";
import {
  bindPrefixToKeyRing,
  KEY_RING_BINDING_KEY,
  KeyRingMismatchError,
} from "../../storage/key_ring_binding.ts";
import { connectMetadataRedis } from "../../storage/redis.ts";
import {
  flushPrefix,
  freePort,
  randomBytes,
  tempDir,
  TEST_REDIS_URL,
  testConfig,
  uniquePrefix,
} from "../helpers.ts";
import { startTestServer } from "../test_server.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const REPO = new URL("../..", import.meta.url).pathname;

const masterKey = (kid: string): MasterKeySpec => ({ kid, key: randomBytes(32) });
const keysEnv = (keys: MasterKeySpec[]) =>
  keys.map((k) => `${k.kid}:${btoa(String.fromCharCode(...k.key))}`).join(",");

/** A metadata connection on a fresh prefix, flushed and closed on dispose. */
function freshPrefix() {
  const prefix = uniquePrefix();
  const redis = connectMetadataRedis(TEST_REDIS_URL, prefix);
  return {
    prefix,
    redis,
    async [Symbol.asyncDispose]() {
      await redis.quit();
      await flushPrefix(prefix);
    },
  };
}

Deno.test("bindPrefixToKeyRing() records the first ring and admits only rings that share a key", async (t) => {
  await using fresh = freshPrefix();
  const { prefix, redis } = fresh;
  const [a, b] = [masterKey("a"), masterKey("b")];

  await t.step("the first process records its keys", async () => {
    assert.deepEqual(await bindPrefixToKeyRing(redis, prefix, [a, b]), {
      created: true,
      added: ["a", "b"],
    });
    assert.deepEqual(await redis.hgetall(KEY_RING_BINDING_KEY), {
      a: await keyFingerprint(a.key),
      b: await keyFingerprint(b.key),
    });
    assert.deepEqual(await bindPrefixToKeyRing(redis, prefix, [a, b]), {
      created: false,
      added: [],
    });
  });

  await t.step("a ring sharing no key is refused with one line naming the prefix", async () => {
    const error = await bindPrefixToKeyRing(redis, prefix, [masterKey("a2"), masterKey("c")])
      .then(() => undefined, (e) => e);
    assert.ok(error instanceof KeyRingMismatchError, String(error));
    assert.equal(error.prefix, prefix);
    assert.equal(error.message.split("\n").length, 1);
    assert.match(error.message, new RegExp(`Redis prefix "${prefix}" \\(COFFER_REDIS_PREFIX\\)`));
    assert.match(error.message, /holds none of its keys \(a, b\)/);
    assert.deepEqual(Object.keys(await redis.hgetall(KEY_RING_BINDING_KEY)).sort(), ["a", "b"]);
  });

  await t.step(
    "a known key id naming another key is refused, even beside a known key",
    async () => {
      await assert.rejects(
        bindPrefixToKeyRing(redis, prefix, [masterKey("a"), b]),
        (error: Error) =>
          error instanceof KeyRingMismatchError &&
          /knows key id "a" as a different key/.test(error.message),
      );
    },
  );

  await t.step(
    "rotation: a new key first with the old ones kept starts and is recorded",
    async () => {
      const next = masterKey("next");
      assert.deepEqual(await bindPrefixToKeyRing(redis, prefix, [next, a, b]), {
        created: false,
        added: ["next"],
      });
      // Once the old keys are retired, the new key alone still matches.
      assert.deepEqual(await bindPrefixToKeyRing(redis, prefix, [next]), {
        created: false,
        added: [],
      });
      // A key renamed keeps matching by its fingerprint.
      const renamed = { kid: "next-renamed", key: next.key };
      assert.deepEqual((await bindPrefixToKeyRing(redis, prefix, [renamed])).added, [
        "next-renamed",
      ]);
    },
  );
});

Deno.test("bindPrefixToKeyRing() lets exactly one of two different rings starting at once win", async () => {
  for (let round = 0; round < 10; round++) {
    await using fresh = freshPrefix();
    const rings = [[masterKey("x")], [masterKey("y")]];
    const outcomes = await Promise.allSettled(
      rings.map((ring) => bindPrefixToKeyRing(fresh.redis, fresh.prefix, ring)),
    );
    assert.deepEqual(outcomes.map((o) => o.status).sort(), ["fulfilled", "rejected"]);
  }
});

Deno.test("loadSecrets() names a generated master key after its fingerprint; an old k1 stays", async () => {
  await using dir = await tempDir();
  const config = { ...testConfig(dir.path), masterKeys: undefined, jwtSecret: undefined };
  const [generated] = (await loadSecrets(config, silentLogger)).masterKeys;
  assert.match(generated.kid, /^k-[0-9a-f]{16}$/);
  assert.equal(generated.kid, await generatedKeyId(generated.key));
  assert.equal(generated.kid, `k-${(await keyFingerprint(generated.key)).slice(0, 16)}`);

  await using old = await tempDir();
  const key = randomBytes(32);
  await Deno.writeTextFile(`${old.path}/master.keys`, `k1:${btoa(String.fromCharCode(...key))}\n`);
  const legacy = await loadSecrets({ ...config, dataDir: old.path }, silentLogger);
  assert.deepEqual(legacy.masterKeys, [{ kid: "k1", key }]);
});

function runMain(env: Record<string, string>, signal?: AbortSignal) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", REDIS_URL: TEST_REDIS_URL, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
}

async function waitForOk(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}

Deno.test("a second process with other master keys on the same Redis prefix refuses to start", async (t) => {
  const original = masterKey("2025-01");
  await using first = await startTestServer({ worker: true, config: { masterKeys: [original] } });
  const prefix = first.config.redisPrefix;

  await t.step("the quick start's defaults in another data dir: exit 1, one line", async () => {
    await using dir = await tempDir();
    const child = runMain(
      { PORT: String(freePort()), COFFER_DATA_DIR: dir.path, COFFER_REDIS_PREFIX: prefix },
      AbortSignal.timeout(30_000),
    );
    const { code, stderr } = await child.output();
    const message = new TextDecoder().decode(stderr).trim();
    assert.equal(code, 1, message);
    assert.equal(message.split("\n").length, 1, message);
    assert.match(message, new RegExp(`^Cannot start: the Redis prefix "${prefix}"`));
    assert.match(message, /holds none of its keys \(2025-01\)/);
    // The refused process recorded nothing and took no job.
    assert.deepEqual(Object.keys(await first.services.redis.hgetall(KEY_RING_BINDING_KEY)), [
      "2025-01",
    ]);
  });

  await t.step("an admin task with other keys refuses the same way", async () => {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "keys:rotate"],
      cwd: REPO,
      env: {
        RUST_BACKTRACE: "0",
        REDIS_URL: TEST_REDIS_URL,
        COFFER_REDIS_PREFIX: prefix,
        COFFER_DATA_DIR: first.config.dataDir,
        COFFER_MASTER_KEYS: keysEnv([masterKey("2025-01")]),
      },
      stdin: "null",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const message = new TextDecoder().decode(stderr);
    assert.equal(code, 1, message);
    assert.match(message, new RegExp(`^coffer: Cannot start: the Redis prefix "${prefix}".*\n$`));
    assert.match(message, /knows key id "2025-01" as a different key/);
  });

  await t.step("rotation (a new key first, the old one kept) starts", async () => {
    await using dir = await tempDir();
    const port = freePort();
    const child = runMain({
      PORT: String(port),
      COFFER_DATA_DIR: dir.path,
      COFFER_REDIS_PREFIX: prefix,
      COFFER_MASTER_KEYS: keysEnv([masterKey("2026-01"), original]),
    });
    try {
      await waitForOk(`http://127.0.0.1:${port}/readyz`, 20_000);
      child.kill("SIGTERM");
      assert.equal((await child.status).code, 0);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already stopped.
      }
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
    }
    assert.deepEqual(
      Object.keys(await first.services.redis.hgetall(KEY_RING_BINDING_KEY)).sort(),
      ["2025-01", "2026-01"],
    );
  });
});
